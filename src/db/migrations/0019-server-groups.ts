// Server groups: the one model behind the Compute API's server groups and EC2's placement
// groups. A group has a policy (affinity, anti-affinity and their soft forms) and rules
// (max_server_per_host), and each instance is a member of at most one group. The scheduler
// reads the hosts of a group's members from their capacity claims, so launches in flight count.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('server_groups')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('policy', 'varchar(32)', (c) => c.notNull())
    // JSON object: {"max_server_per_host": N} or {}.
    .addColumn('rules', 'varchar(1024)', (c) => c.notNull().defaultTo('{}'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('server_groups_project')
    .on('server_groups')
    .columns(['project_id', 'name'])
    .execute();
  await db.schema
    .createTable('server_group_members')
    .addColumn('instance_id', 'varchar(64)', (c) =>
      c.primaryKey().references('instances.id').onDelete('cascade'),
    )
    .addColumn('group_id', 'varchar(64)', (c) =>
      c.notNull().references('server_groups.id').onDelete('cascade'),
    )
    .execute();
  await db.schema
    .createIndex('server_group_members_group')
    .on('server_group_members')
    .column('group_id')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('server_group_members').execute();
  await db.schema.dropTable('server_groups').execute();
}
