// What the Compute API keeps of a server beyond the instance itself: its metadata (key/value
// pairs the owner sets, at create or later, shown with the server; as Nova keeps them, apart
// from the instance's tags, which EC2 shows) and the access addresses a user may record for it
// (`accessIPv4`/`accessIPv6`, which the cloud stores and shows but does not route).
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('server_metadata')
    .addColumn('instance_id', 'varchar(64)', (c) =>
      c.notNull().references('instances.id').onDelete('cascade'),
    )
    .addColumn('key', 'varchar(255)', (c) => c.notNull())
    .addColumn('value', 'varchar(255)', (c) => c.notNull())
    .addPrimaryKeyConstraint('server_metadata_pk', ['instance_id', 'key'])
    .execute();
  await db.schema.alterTable('instances').addColumn('access_ipv4', 'varchar(64)').execute();
  await db.schema.alterTable('instances').addColumn('access_ipv6', 'varchar(64)').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('instances').dropColumn('access_ipv6').execute();
  await db.schema.alterTable('instances').dropColumn('access_ipv4').execute();
  await db.schema.dropTable('server_metadata').execute();
}
