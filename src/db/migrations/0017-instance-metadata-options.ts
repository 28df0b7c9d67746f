// The instance metadata service's options per instance (EC2's MetadataOptions, set at launch
// or by ModifyInstanceMetadataOptions): whether a guest must present an IMDSv2 session token,
// whether the service answers it at all, the hop limit of the service's replies (their IP TTL)
// and whether the instance's tags are in its metadata. Also the key IMDSv2 session tokens are
// signed with, shared by every process that serves metadata, so a token one host's process
// issued is good wherever the guest's next request lands and after a restart.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('instances')
    .addColumn('metadata_http_tokens', 'varchar(16)', (c) => c.notNull().defaultTo('optional'))
    .execute();
  await db.schema
    .alterTable('instances')
    .addColumn('metadata_http_endpoint', 'varchar(16)', (c) => c.notNull().defaultTo('enabled'))
    .execute();
  await db.schema
    .alterTable('instances')
    .addColumn('metadata_hop_limit', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema
    .alterTable('instances')
    .addColumn('metadata_tags', 'varchar(16)', (c) => c.notNull().defaultTo('disabled'))
    .execute();
  await db.schema
    .createTable('metadata_token_keys')
    .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
    .addColumn('secret', 'varchar(128)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('metadata_token_keys').execute();
  for (const column of [
    'metadata_tags',
    'metadata_hop_limit',
    'metadata_http_endpoint',
    'metadata_http_tokens',
  ]) {
    await db.schema.alterTable('instances').dropColumn(column).execute();
  }
}
