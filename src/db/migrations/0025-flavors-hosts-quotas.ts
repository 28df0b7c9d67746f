// Flavors an admin makes (description, swap, ephemeral disk, extra specs, private flavors and
// the projects that may use them), host aggregates (hosts grouped under metadata; the
// `availability_zone` key puts their hosts in that zone), a service's forced-down flag, and
// the quota classes whose `default` class holds the default quotas an admin may change.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('flavors').addColumn('description', 'text').execute();
  await db.schema
    .alterTable('flavors')
    .addColumn('ephemeral_gb', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('flavors')
    .addColumn('swap_mb', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('flavors')
    .addColumn('rxtx_factor', 'double precision', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema
    .createTable('flavor_extra_specs')
    .addColumn('flavor_id', 'varchar(64)', (c) =>
      c.notNull().references('flavors.id').onDelete('cascade'),
    )
    .addColumn('key', 'varchar(255)', (c) => c.notNull())
    .addColumn('value', 'varchar(255)', (c) => c.notNull())
    .addPrimaryKeyConstraint('flavor_extra_specs_pk', ['flavor_id', 'key'])
    .execute();
  await db.schema
    .createTable('flavor_access')
    .addColumn('flavor_id', 'varchar(64)', (c) =>
      c.notNull().references('flavors.id').onDelete('cascade'),
    )
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addPrimaryKeyConstraint('flavor_access_pk', ['flavor_id', 'project_id'])
    .execute();

  await db.schema
    .alterTable('services')
    .addColumn('forced_down', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema
    .createTable('aggregates')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('uuid', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint')
    .execute();
  await db.schema
    .createTable('aggregate_hosts')
    .addColumn('aggregate_id', 'integer', (c) =>
      c.notNull().references('aggregates.id').onDelete('cascade'),
    )
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addPrimaryKeyConstraint('aggregate_hosts_pk', ['aggregate_id', 'host'])
    .execute();
  await db.schema
    .createTable('aggregate_metadata')
    .addColumn('aggregate_id', 'integer', (c) =>
      c.notNull().references('aggregates.id').onDelete('cascade'),
    )
    .addColumn('key', 'varchar(255)', (c) => c.notNull())
    .addColumn('value', 'varchar(255)', (c) => c.notNull())
    .addPrimaryKeyConstraint('aggregate_metadata_pk', ['aggregate_id', 'key'])
    .execute();

  await db.schema
    .createTable('quota_classes')
    .addColumn('class_name', 'varchar(255)', (c) => c.notNull())
    .addColumn('resource', 'varchar(64)', (c) => c.notNull())
    .addColumn('hard_limit', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('quota_classes_pk', ['class_name', 'resource'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('quota_classes').execute();
  await db.schema.dropTable('aggregate_metadata').execute();
  await db.schema.dropTable('aggregate_hosts').execute();
  await db.schema.dropTable('aggregates').execute();
  await db.schema.alterTable('services').dropColumn('forced_down').execute();
  await db.schema.dropTable('flavor_access').execute();
  await db.schema.dropTable('flavor_extra_specs').execute();
  await db.schema.alterTable('flavors').dropColumn('rxtx_factor').execute();
  await db.schema.alterTable('flavors').dropColumn('swap_mb').execute();
  await db.schema.alterTable('flavors').dropColumn('ephemeral_gb').execute();
  await db.schema.alterTable('flavors').dropColumn('description').execute();
}
