// A security group rule's description: EC2 keeps one per IP range and per source group of a
// permission (each of which is a rule here), shows it in DescribeSecurityGroups and
// DescribeSecurityGroupRules, and Terraform's AWS provider sets it on most rules it writes.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('security_group_rules').addColumn('description', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('security_group_rules').dropColumn('description').execute();
}
