// First schema: identity (projects, users, roles, EC2 credentials), the service registry and
// the endpoint catalog.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('projects')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('users')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('password_hash', 'text')
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('role_assignments')
    .addColumn('user_id', 'varchar(64)', (c) =>
      c.notNull().references('users.id').onDelete('cascade'),
    )
    .addColumn('project_id', 'varchar(64)', (c) =>
      c.notNull().references('projects.id').onDelete('cascade'),
    )
    .addColumn('role', 'varchar(32)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('role_assignments_pk', ['user_id', 'project_id', 'role'])
    .execute();

  await db.schema
    .createTable('ec2_credentials')
    .addColumn('access_key', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('secret_key', 'varchar(128)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)', (c) =>
      c.notNull().references('users.id').onDelete('cascade'),
    )
    .addColumn('project_id', 'varchar(64)', (c) =>
      c.notNull().references('projects.id').onDelete('cascade'),
    )
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('ec2_credentials_user_project')
    .on('ec2_credentials')
    .columns(['user_id', 'project_id'])
    .execute();

  await db.schema
    .createTable('services')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('binary', 'varchar(64)', (c) => c.notNull())
    .addColumn('topic', 'varchar(255)', (c) => c.notNull())
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('disabled_reason', 'text')
    .addColumn('report_count', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('services_host_binary', ['host', 'binary'])
    .execute();

  await db.schema
    .createTable('endpoints')
    .addColumn('service_type', 'varchar(64)', (c) => c.notNull())
    .addColumn('interface', 'varchar(16)', (c) => c.notNull())
    .addColumn('region', 'varchar(64)', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('endpoints_pk', ['service_type', 'interface', 'region'])
    .execute();
}
