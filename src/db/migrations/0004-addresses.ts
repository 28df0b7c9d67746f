// Floating IPs: each allocation of a floating address gets its own id and domain, and an
// association remembers the fixed address the floating one is mapped onto.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('floating_ips').addColumn('allocation_id', 'varchar(64)').execute();
  await db.schema.alterTable('floating_ips').addColumn('domain', 'varchar(16)').execute();
  await db.schema.alterTable('floating_ips').addColumn('fixed_address', 'varchar(64)').execute();
  await db.schema
    .createIndex('floating_ips_allocation')
    .on('floating_ips')
    .column('allocation_id')
    .unique()
    .execute();
  await db.schema
    .createIndex('floating_ips_instance')
    .on('floating_ips')
    .column('instance_id')
    .execute();
  await db.schema
    .createIndex('floating_ips_free')
    .on('floating_ips')
    .columns(['pool', 'project_id', 'seq'])
    .execute();
}
