// Server actions beyond power (issue 15): a lock (who locked the instance, and why), the
// instance before a resize that waits to be confirmed, task states longer than 16 characters
// (`resize_confirming`), and the live-instances index taking in the new live vm states
// (paused, suspended, rescued, resized).
import { SqliteAdapter, sql, type Kysely } from 'kysely';

const LIVE = `'building', 'active', 'stopped', 'paused', 'suspended', 'rescued', 'resized'`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('instances').addColumn('locked_by', 'varchar(16)').execute();
  await db.schema.alterTable('instances').addColumn('locked_reason', 'text').execute();
  await db.schema.alterTable('instances').addColumn('resize_source', 'text').execute();
  // SQLite does not enforce varchar lengths; PostgreSQL does.
  if (!(db.getExecutor().adapter instanceof SqliteAdapter)) {
    await sql`ALTER TABLE instances ALTER COLUMN task_state TYPE varchar(32)`.execute(db);
  }
  await db.schema.dropIndex('instances_project_live').execute();
  await sql
    .raw(
      `CREATE INDEX instances_project_live ON instances (project_id) WHERE vm_state IN (${LIVE})`,
    )
    .execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('instances_project_live').execute();
  await sql`CREATE INDEX instances_project_live ON instances (project_id)
    WHERE vm_state IN ('building', 'active', 'stopped')`.execute(db);
  for (const column of ['resize_source', 'locked_reason', 'locked_by']) {
    await db.schema.alterTable('instances').dropColumn(column).execute();
  }
}
