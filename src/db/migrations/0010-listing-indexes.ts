// Indexes for listings done by the query (InstanceRepo.page): a project's instances, or every
// project's, in listing order (created_at, launch_index, id) so a page is a range read from the
// index in either direction, and tags by key and value for tag and name filters. The project
// index replaces 0002's (project_id, created_at), of which it is an extension.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('instances_project_listing')
    .on('instances')
    .columns(['project_id', 'created_at', 'launch_index', 'id'])
    .execute();
  await db.schema.dropIndex('instances_project').execute();
  await db.schema
    .createIndex('instances_listing')
    .on('instances')
    .columns(['created_at', 'launch_index', 'id'])
    .execute();
  await db.schema.createIndex('tags_key_value').on('tags').columns(['key', 'value']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('tags_key_value').execute();
  await db.schema.dropIndex('instances_listing').execute();
  await db.schema
    .createIndex('instances_project')
    .on('instances')
    .columns(['project_id', 'created_at'])
    .execute();
  await db.schema.dropIndex('instances_project_listing').execute();
}
