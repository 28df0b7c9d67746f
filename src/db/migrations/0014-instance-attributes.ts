// The attributes an EC2 client sets on an instance (RunInstances, ModifyInstanceAttribute):
// termination and stop protection, what a shutdown from inside the guest does (stop or
// terminate), the source/destination check flag, and the password data a guest posts to the
// metadata service (GetPasswordData answers it).
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('instances')
    .addColumn('disable_api_termination', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('instances')
    .addColumn('disable_api_stop', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('instances')
    .addColumn('shutdown_behavior', 'text', (c) => c.notNull().defaultTo('stop'))
    .execute();
  await db.schema
    .alterTable('instances')
    .addColumn('source_dest_check', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema.alterTable('instances').addColumn('password_data', 'text').execute();
  await db.schema.alterTable('instances').addColumn('password_data_at', 'bigint').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const column of [
    'password_data_at',
    'password_data',
    'source_dest_check',
    'shutdown_behavior',
    'disable_api_stop',
    'disable_api_termination',
  ]) {
    await db.schema.alterTable('instances').dropColumn(column).execute();
  }
}
