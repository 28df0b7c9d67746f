// Volumes made by a launch from its block device mappings: whether the volume goes when the
// instance it was made for is terminated (EC2's DeleteOnTermination, Compute's
// delete_on_termination).
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('volumes')
    .addColumn('delete_on_termination', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('volumes').dropColumn('delete_on_termination').execute();
}
