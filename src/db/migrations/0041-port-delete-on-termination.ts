// Whether a project port goes with its instance (issue 16): a port a launch made for the
// instance (Compute's `networks` with a network, EC2's RunInstances) is deleted when the
// instance is; a port passed in by the caller is only unbound and stays.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('project_ports')
    .addColumn('delete_on_termination', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // Every port an instance held before this was made for it by its launch.
  await sql`update project_ports set delete_on_termination = 1 where device_owner like 'compute:%'`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('project_ports').dropColumn('delete_on_termination').execute();
}
