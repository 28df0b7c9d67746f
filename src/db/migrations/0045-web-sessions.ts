// The dashboard's sign-in sessions and the one-time serial console URLs, in the database so
// that every api process behind one address honours them. A session is found by the SHA-256
// of the id its cookie carries, and its Identity token is kept sealed under a key derived from
// that id: the table alone holds nothing a reader could present. A console URL's token is kept
// only as its SHA-256 and is deleted by the one connection that uses it. The key the cookies
// are signed with is made once, by whichever process asks first.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('web_sessions')
    .addColumn('id_hash', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('sealed_token', 'text', (c) => c.notNull())
    .addColumn('csrf', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_name', 'varchar(255)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('project_name', 'varchar(255)', (c) => c.notNull())
    .addColumn('roles', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('web_sessions_expires_at')
    .on('web_sessions')
    .column('expires_at')
    .execute();
  await db.schema
    .createTable('web_session_keys')
    .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
    .addColumn('secret', 'varchar(128)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('console_grants')
    .addColumn('token_hash', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('instance_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)')
    .addColumn('project_id', 'varchar(64)')
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('console_grants_expires_at')
    .on('console_grants')
    .column('expires_at')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('console_grants').execute();
  await db.schema.dropTable('web_session_keys').execute();
  await db.schema.dropTable('web_sessions').execute();
}
