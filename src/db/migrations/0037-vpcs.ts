// EC2 VPCs over the project network model (issue 16): what EC2 knows of a network that the
// Networking API does not, kept beside it. A VPC is a project network plus the router that is
// its main route table; its CIDR block, DNS attributes and whether it is the project's default
// live here. The default VPC is claimed per project by a keyed insert (one claim wins when two
// first calls race). A subnet's zone and launch attributes, internet gateways (attached to at
// most one VPC each, a VPC having at most one) and the routes of a route table complete it.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('vpcs')
    .addColumn('network_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('cidr', 'varchar(64)', (c) => c.notNull())
    .addColumn('router_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('is_default', 'integer', (c) => c.notNull())
    .addColumn('enable_dns_support', 'integer', (c) => c.notNull())
    .addColumn('enable_dns_hostnames', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('vpcs_project').on('vpcs').column('project_id').execute();
  await db.schema
    .createTable('default_vpcs')
    .addColumn('project_id', 'varchar(64)', (c) => c.primaryKey())
    // Null while the claimant is still making it.
    .addColumn('network_id', 'varchar(64)')
    .addColumn('claimed_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('vpc_subnets')
    .addColumn('subnet_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('network_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('availability_zone', 'varchar(255)', (c) => c.notNull())
    .addColumn('map_public_ip', 'integer', (c) => c.notNull())
    .addColumn('default_for_az', 'integer', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('internet_gateways')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    // The VPC (network) it is attached to; unique, so a VPC has one gateway at most.
    .addColumn('network_id', 'varchar(64)', (c) => c.unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('vpc_routes')
    .addColumn('router_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('destination', 'varchar(64)', (c) => c.notNull())
    .addColumn('gateway_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('vpc_routes_pk', ['router_id', 'destination'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['vpc_routes', 'internet_gateways', 'vpc_subnets', 'default_vpcs', 'vpcs']) {
    await db.schema.dropTable(t).execute();
  }
}
