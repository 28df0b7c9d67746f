// Security groups of a VPC (issue 16): a group made with EC2's VpcId records the VPC's network;
// a group without one belongs to the default VPC and the flat network, as every group before.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('security_groups').addColumn('vpc_id', 'varchar(64)').execute();
  await db.schema
    .createIndex('security_groups_vpc')
    .on('security_groups')
    .column('vpc_id')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('security_groups_vpc').execute();
  await db.schema.alterTable('security_groups').dropColumn('vpc_id').execute();
}
