// What the Compute API keeps of a server beyond the instance and its metadata: its description
// (2.19), the hostname it was given (2.90), the admin password made at create (served to the
// guest in OpenStack's meta_data.json as `admin_pass`), and its tags (2.26: plain strings, not
// EC2's key/value tags). Kept apart from `instances`, which EC2 shares, one row per server.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('server_details')
    .addColumn('instance_id', 'varchar(64)', (c) =>
      c.primaryKey().references('instances.id').onDelete('cascade'),
    )
    .addColumn('description', 'varchar(255)')
    .addColumn('hostname', 'varchar(255)')
    .addColumn('admin_pass', 'varchar(255)')
    .execute();
  await db.schema
    .createTable('server_tags')
    .addColumn('instance_id', 'varchar(64)', (c) =>
      c.notNull().references('instances.id').onDelete('cascade'),
    )
    .addColumn('tag', 'varchar(60)', (c) => c.notNull())
    .addPrimaryKeyConstraint('server_tags_pk', ['instance_id', 'tag'])
    .execute();
  await db.schema.createIndex('server_tags_tag').on('server_tags').column('tag').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('server_tags').execute();
  await db.schema.dropTable('server_details').execute();
}
