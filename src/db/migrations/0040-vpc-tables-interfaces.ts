// EC2 VPC route tables beyond the main one, interface attachments and launch addresses
// (issue 16). A route table made by CreateRouteTable is EC2's alone (the VPC's router stays
// its main table unless another is made main); its routes live in vpc_routes under its id.
// An association ties a table to a subnet (unique: a subnet has one table) or makes it its
// VPC's main table (`main_of`, unique: a VPC has one main association). What EC2 says of an
// interface's attachment (device index, delete on termination, source/destination check) and
// the public addresses given at launch, released with their instance, complete it.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('vpc_route_tables')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('network_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('vpc_route_tables_network')
    .on('vpc_route_tables')
    .column('network_id')
    .execute();
  await db.schema
    .createTable('vpc_route_table_associations')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('route_table_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('network_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('subnet_id', 'varchar(64)', (c) => c.unique())
    .addColumn('main_of', 'varchar(64)', (c) => c.unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('vpc_interface_attributes')
    .addColumn('port_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('device_index', 'integer', (c) => c.notNull())
    .addColumn('delete_on_termination', 'integer', (c) => c.notNull())
    .addColumn('source_dest_check', 'integer', (c) => c.notNull())
    .addColumn('attachment_id', 'varchar(64)')
    .addColumn('attached_at', 'bigint')
    .execute();
  await db.schema
    .createTable('vpc_launch_addresses')
    .addColumn('allocation_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('instance_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('port_id', 'varchar(64)', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('vpc_launch_addresses_instance')
    .on('vpc_launch_addresses')
    .column('instance_id')
    .execute();
  await db.schema
    .createTable('vpc_address_bindings')
    .addColumn('association_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('port_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('private_ip', 'varchar(64)', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of [
    'vpc_address_bindings',
    'vpc_launch_addresses',
    'vpc_interface_attributes',
    'vpc_route_table_associations',
    'vpc_route_tables',
  ]) {
    await db.schema.dropTable(t).execute();
  }
}
