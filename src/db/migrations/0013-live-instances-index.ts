// A partial index of the live instances (building, active, stopped) by project: a launch
// counts its project's live instances under the project's row lock, and without it that count
// read every instance the project ever had, terminated ones included, so it grew with churn.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX instances_project_live ON instances (project_id)
    WHERE vm_state IN ('building', 'active', 'stopped')`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('instances_project_live').execute();
}
