// Image sharing, copying and deprecation. `image_members` holds the projects an image is
// shared with: one model behind EC2's launch permissions (accepted at once) and the Image
// API's members (pending until the member accepts or rejects). Images gain the time from
// which they count as deprecated, and the ClientToken of the CopyImage that made them.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('image_members')
    .addColumn('image_id', 'varchar(64)', (c) =>
      c.notNull().references('images.id').onDelete('cascade'),
    )
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('image_members_pk', ['image_id', 'project_id'])
    .execute();
  await db.schema
    .createIndex('image_members_project')
    .on('image_members')
    .columns(['project_id', 'status'])
    .execute();
  await db.schema.alterTable('images').addColumn('deprecate_at', 'bigint').execute();
  await db.schema.alterTable('images').addColumn('client_token', 'varchar(64)').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('images').dropColumn('client_token').execute();
  await db.schema.alterTable('images').dropColumn('deprecate_at').execute();
  await db.schema.dropTable('image_members').execute();
}
