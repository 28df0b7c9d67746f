// The compute domain: flavors, images, keypairs, security groups, instances and what hangs
// off them, networks with their fixed and floating addresses, quotas and host capacity.
import type { ColumnDefinitionBuilder, Kysely } from 'kysely';

const FLAVORS: [string, number, number, number][] = [
  // name, vcpus, memory MiB, disk GiB
  ['m1.nano', 1, 128, 1],
  ['m1.tiny', 1, 512, 1],
  ['m1.small', 1, 2048, 20],
  ['m1.medium', 2, 4096, 40],
  ['m1.large', 4, 8192, 80],
  ['m1.xlarge', 8, 16384, 160],
];

export async function up(db: Kysely<unknown>): Promise<void> {
  const id = (t: string) =>
    db.schema.createTable(t).addColumn('id', 'varchar(64)', (c) => c.primaryKey());
  const fk = (table: string) => (c: ColumnDefinitionBuilder) =>
    c.references(`${table}.id`).onDelete('cascade');

  await id('flavors')
    .addColumn('name', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('vcpus', 'integer', (c) => c.notNull())
    .addColumn('memory_mb', 'integer', (c) => c.notNull())
    .addColumn('disk_gb', 'integer', (c) => c.notNull())
    .addColumn('is_public', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  const at = Date.now();
  await db
    .insertInto('flavors' as never)
    .values(
      FLAVORS.map(([name, vcpus, memoryMb, diskGb], i) => ({
        id: String(i + 1),
        name,
        vcpus,
        memory_mb: memoryMb,
        disk_gb: diskGb,
        is_public: 1,
        created_at: at,
      })) as never,
    )
    .execute();

  await id('images')
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('kind', 'varchar(16)', (c) => c.notNull())
    .addColumn('owner_project_id', 'varchar(64)')
    .addColumn('is_public', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('disk_format', 'varchar(16)')
    .addColumn('size_bytes', 'bigint')
    .addColumn('checksum', 'varchar(128)')
    .addColumn('location', 'text')
    .addColumn('architecture', 'varchar(16)', (c) => c.notNull().defaultTo('x86_64'))
    .addColumn('kernel_id', 'varchar(64)')
    .addColumn('ramdisk_id', 'varchar(64)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('deleted_at', 'bigint')
    .execute();

  await id('keypairs')
    .addColumn('project_id', 'varchar(64)', (c) => fk('projects')(c.notNull()))
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('key_type', 'varchar(16)', (c) => c.notNull())
    .addColumn('fingerprint', 'varchar(128)', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('keypairs_project_name', ['project_id', 'name'])
    .execute();

  await id('security_groups')
    .addColumn('project_id', 'varchar(64)', (c) => fk('projects')(c.notNull()))
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('security_groups_project_name', ['project_id', 'name'])
    .execute();

  await id('security_group_rules')
    .addColumn('group_id', 'varchar(64)', (c) => fk('security_groups')(c.notNull()))
    .addColumn('direction', 'varchar(8)', (c) => c.notNull())
    .addColumn('protocol', 'varchar(8)', (c) => c.notNull())
    .addColumn('from_port', 'integer')
    .addColumn('to_port', 'integer')
    .addColumn('cidr', 'varchar(64)')
    .addColumn('source_group_id', 'varchar(64)', (c) => fk('security_groups')(c))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('security_group_rules_group')
    .on('security_group_rules')
    .column('group_id')
    .execute();

  await id('instances')
    .addColumn('reservation_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('image_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('kernel_id', 'varchar(64)')
    .addColumn('ramdisk_id', 'varchar(64)')
    .addColumn('flavor_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('vcpus', 'integer', (c) => c.notNull())
    .addColumn('memory_mb', 'integer', (c) => c.notNull())
    .addColumn('disk_gb', 'integer', (c) => c.notNull())
    .addColumn('key_name', 'varchar(255)')
    .addColumn('key_data', 'text')
    .addColumn('user_data', 'text')
    .addColumn('host', 'varchar(255)')
    .addColumn('availability_zone', 'varchar(255)', (c) => c.notNull())
    .addColumn('vm_state', 'varchar(16)', (c) => c.notNull())
    .addColumn('task_state', 'varchar(16)')
    .addColumn('power_state', 'varchar(16)', (c) => c.notNull())
    .addColumn('launch_index', 'integer', (c) => c.notNull())
    .addColumn('client_token', 'varchar(64)')
    .addColumn('private_ip', 'varchar(64)')
    .addColumn('mac_address', 'varchar(32)')
    .addColumn('state_reason', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('launched_at', 'bigint')
    .addColumn('terminated_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('instances_project')
    .on('instances')
    .columns(['project_id', 'created_at'])
    .execute();
  await db.schema
    .createIndex('instances_reservation')
    .on('instances')
    .column('reservation_id')
    .execute();
  await db.schema.createIndex('instances_host').on('instances').column('host').execute();

  await db.schema
    .createTable('instance_security_groups')
    .addColumn('instance_id', 'varchar(64)', (c) => fk('instances')(c.notNull()))
    .addColumn('group_id', 'varchar(64)', (c) => c.notNull())
    .addPrimaryKeyConstraint('instance_security_groups_pk', ['instance_id', 'group_id'])
    .execute();

  await db.schema
    .createTable('tags')
    .addColumn('resource_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('resource_type', 'varchar(32)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('key', 'varchar(128)', (c) => c.notNull())
    .addColumn('value', 'varchar(256)', (c) => c.notNull())
    .addPrimaryKeyConstraint('tags_pk', ['resource_id', 'key'])
    .execute();
  await db.schema.createIndex('tags_project').on('tags').columns(['project_id', 'key']).execute();

  await id('instance_actions')
    .addColumn('instance_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('action', 'varchar(32)', (c) => c.notNull())
    .addColumn('request_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)')
    .addColumn('project_id', 'varchar(64)')
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint')
    .addColumn('result', 'varchar(16)')
    .addColumn('message', 'text')
    .execute();
  await db.schema
    .createIndex('instance_actions_instance')
    .on('instance_actions')
    .columns(['instance_id', 'started_at'])
    .execute();

  await id('networks')
    .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('cidr', 'varchar(64)', (c) => c.notNull())
    .addColumn('gateway', 'varchar(64)', (c) => c.notNull())
    .addColumn('dhcp_start', 'varchar(64)', (c) => c.notNull())
    .addColumn('dhcp_end', 'varchar(64)', (c) => c.notNull())
    .addColumn('dns', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  // One row per address of a network's DHCP range. `reusable_at` keeps an address given up by
  // an instance out of circulation until its DHCP lease is surely gone.
  await db.schema
    .createTable('fixed_ips')
    .addColumn('network_id', 'varchar(64)', (c) => fk('networks')(c.notNull()))
    .addColumn('address', 'varchar(64)', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('instance_id', 'varchar(64)')
    .addColumn('mac_address', 'varchar(32)')
    .addColumn('allocated_at', 'bigint')
    .addColumn('released_at', 'bigint')
    .addColumn('leased_at', 'bigint')
    .addColumn('reusable_at', 'bigint', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('fixed_ips_pk', ['network_id', 'address'])
    .execute();
  await db.schema.createIndex('fixed_ips_instance').on('fixed_ips').column('instance_id').execute();
  await db.schema
    .createIndex('fixed_ips_free')
    .on('fixed_ips')
    .columns(['network_id', 'instance_id', 'reusable_at', 'seq'])
    .execute();

  await id('floating_ips')
    .addColumn('address', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('pool', 'varchar(64)', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)')
    .addColumn('instance_id', 'varchar(64)')
    .addColumn('association_id', 'varchar(64)')
    .addColumn('allocated_at', 'bigint')
    .addColumn('associated_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('floating_ips_project')
    .on('floating_ips')
    .column('project_id')
    .execute();

  await db.schema
    .createTable('quotas')
    .addColumn('project_id', 'varchar(64)', (c) => fk('projects')(c.notNull()))
    .addColumn('resource', 'varchar(32)', (c) => c.notNull())
    .addColumn('hard_limit', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('quotas_pk', ['project_id', 'resource'])
    .execute();

  await db.schema
    .createTable('compute_nodes')
    .addColumn('host', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('vcpus', 'integer', (c) => c.notNull())
    .addColumn('memory_mb', 'bigint', (c) => c.notNull())
    .addColumn('disk_gb', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}
