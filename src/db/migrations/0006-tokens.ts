// Identity API tokens. Only a token's SHA-256 is kept, so the table holds nothing a reader
// could present; roles are looked up when a token is used, so a revoked role takes effect at
// once. Times are integer milliseconds, compared as numbers.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('tokens')
    .addColumn('id_hash', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(64)', (c) =>
      c.notNull().references('users.id').onDelete('cascade'),
    )
    .addColumn('project_id', 'varchar(64)', (c) => c.references('projects.id').onDelete('cascade'))
    .addColumn('methods', 'varchar(64)', (c) => c.notNull())
    .addColumn('audit_id', 'varchar(32)', (c) => c.notNull())
    .addColumn('issued_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('tokens_expires_at').on('tokens').column('expires_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('tokens').execute();
}
