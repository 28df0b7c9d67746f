// Project networks (issue 16): networks a project makes for itself, their subnets, ports with
// their fixed addresses, and routers with their interfaces. Each network has a segmentation id
// (the VXLAN VNI) that no other network has. A port's address row is keyed by (subnet,
// address), so no two ports ever hold one address; a released address keeps its row, with no
// port, until `reusable_at`, so an address a guest may still hold a lease on is not handed out
// again. A subnet is attached to at most one router (unique subnet_id).
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('project_networks')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'varchar(255)', (c) => c.notNull())
    .addColumn('admin_state_up', 'integer', (c) => c.notNull())
    .addColumn('shared', 'integer', (c) => c.notNull())
    .addColumn('external', 'integer', (c) => c.notNull())
    .addColumn('mtu', 'integer', (c) => c.notNull())
    .addColumn('segmentation_id', 'integer', (c) => c.notNull().unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('project_networks_project')
    .on('project_networks')
    .columns(['project_id', 'created_at'])
    .execute();
  await db.schema
    .createTable('project_subnets')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('network_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'varchar(255)', (c) => c.notNull())
    .addColumn('cidr', 'varchar(64)', (c) => c.notNull())
    .addColumn('gateway', 'varchar(64)')
    .addColumn('enable_dhcp', 'integer', (c) => c.notNull())
    // JSON arrays: [{start, end}], ["8.8.8.8"], [{destination, nexthop}].
    .addColumn('allocation_pools', 'text', (c) => c.notNull())
    .addColumn('dns_nameservers', 'text', (c) => c.notNull())
    .addColumn('host_routes', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('project_subnets_network')
    .on('project_subnets')
    .column('network_id')
    .execute();
  await db.schema
    .createTable('project_ports')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('network_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'varchar(255)', (c) => c.notNull())
    .addColumn('mac_address', 'varchar(32)', (c) => c.notNull().unique())
    .addColumn('admin_state_up', 'integer', (c) => c.notNull())
    .addColumn('device_owner', 'varchar(255)', (c) => c.notNull())
    .addColumn('device_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('port_security_enabled', 'integer', (c) => c.notNull())
    // JSON arrays: security group ids; [{ip_address, mac_address}].
    .addColumn('security_groups', 'text', (c) => c.notNull())
    .addColumn('allowed_address_pairs', 'text', (c) => c.notNull())
    .addColumn('binding_host', 'varchar(255)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('project_ports_network')
    .on('project_ports')
    .column('network_id')
    .execute();
  await db.schema
    .createIndex('project_ports_device')
    .on('project_ports')
    .column('device_id')
    .execute();
  await db.schema
    .createTable('project_port_ips')
    .addColumn('subnet_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('address', 'varchar(64)', (c) => c.notNull())
    .addColumn('network_id', 'varchar(64)', (c) => c.notNull())
    // Null while the address rests after its port let it go.
    .addColumn('port_id', 'varchar(64)')
    .addColumn('reusable_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('project_port_ips_pk', ['subnet_id', 'address'])
    .execute();
  await db.schema
    .createIndex('project_port_ips_port')
    .on('project_port_ips')
    .column('port_id')
    .execute();
  await db.schema
    .createTable('project_routers')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'varchar(255)', (c) => c.notNull())
    .addColumn('admin_state_up', 'integer', (c) => c.notNull())
    .addColumn('external_network_id', 'varchar(64)')
    .addColumn('enable_snat', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('project_router_interfaces')
    .addColumn('subnet_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('router_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('port_id', 'varchar(64)', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('project_router_interfaces_router')
    .on('project_router_interfaces')
    .column('router_id')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of [
    'project_router_interfaces',
    'project_routers',
    'project_port_ips',
    'project_ports',
    'project_subnets',
    'project_networks',
  ]) {
    await db.schema.dropTable(t).execute();
  }
}
