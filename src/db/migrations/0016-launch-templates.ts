// EC2 launch templates: a named, per-project template with numbered versions, each version the
// launch parameters it holds (JSON, in the compute domain's words). A template's name is unique
// in its project; its ClientToken (and each version's) makes a retried create answer the first.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('launch_templates')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('name', 'varchar(128)', (c) => c.notNull())
    .addColumn('default_version', 'integer', (c) => c.notNull())
    .addColumn('latest_version', 'integer', (c) => c.notNull())
    .addColumn('last_version', 'integer', (c) => c.notNull())
    .addColumn('created_by', 'varchar(64)', (c) => c.notNull())
    .addColumn('client_token', 'varchar(128)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('launch_templates_project_name', ['project_id', 'name'])
    .execute();
  await db.schema
    .createIndex('launch_templates_project_token')
    .on('launch_templates')
    .columns(['project_id', 'client_token'])
    .unique()
    .execute();
  await db.schema
    .createTable('launch_template_versions')
    .addColumn('template_id', 'varchar(64)', (c) =>
      c.notNull().references('launch_templates.id').onDelete('cascade'),
    )
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('description', 'varchar(255)')
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('created_by', 'varchar(64)', (c) => c.notNull())
    .addColumn('client_token', 'varchar(128)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('launch_template_versions_pk', ['template_id', 'version'])
    .execute();
  await db.schema
    .createIndex('launch_template_versions_token')
    .on('launch_template_versions')
    .columns(['template_id', 'client_token'])
    .unique()
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('launch_template_versions').execute();
  await db.schema.dropTable('launch_templates').execute();
}
