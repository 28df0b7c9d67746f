// Which process runs each registered service: the machine's name, the process id and a random
// id the process drew when it started. A compute host refuses to start under a name that a
// live process elsewhere still runs (issue 12, "Bad input and faults").
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('services').addColumn('machine', 'varchar(255)').execute();
  await db.schema.alterTable('services').addColumn('pid', 'integer').execute();
  await db.schema.alterTable('services').addColumn('boot_id', 'varchar(64)').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('services').dropColumn('boot_id').execute();
  await db.schema.alterTable('services').dropColumn('pid').execute();
  await db.schema.alterTable('services').dropColumn('machine').execute();
}
