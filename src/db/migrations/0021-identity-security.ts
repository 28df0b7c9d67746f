// Identity security (issue 14): each SQL user's failed-login counter and last failure (for
// lockout), when its password was set (for expiry and minimum age), the hashes of its
// previous passwords (for history), and the ids of users that live in an LDAP directory
// mapped to the local ids that role assignments, tokens and EC2 credentials refer to.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('user_security')
    .addColumn('user_id', 'varchar(64)', (c) =>
      c.primaryKey().references('users.id').onDelete('cascade'),
    )
    .addColumn('failed_auth_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('failed_auth_at', 'bigint')
    .addColumn('password_set_at', 'bigint')
    .execute();
  // Passwords set before this migration count as set now: turning expiry on does not
  // expire every existing password at once.
  const at = Date.now();
  await sql`insert into user_security (user_id, failed_auth_count, password_set_at)
    select id, 0, ${at} from users where password_hash is not null`.execute(db);

  await db.schema
    .createTable('password_history')
    .addColumn('user_id', 'varchar(64)', (c) =>
      c.notNull().references('users.id').onDelete('cascade'),
    )
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('password_history_user')
    .on('password_history')
    .columns(['user_id', 'created_at'])
    .execute();

  await db.schema
    .createTable('id_mappings')
    .addColumn('public_id', 'varchar(64)', (c) =>
      c.primaryKey().references('users.id').onDelete('cascade'),
    )
    .addColumn('domain', 'varchar(64)', (c) => c.notNull())
    .addColumn('local_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addUniqueConstraint('id_mappings_domain_local', ['domain', 'local_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('id_mappings').execute();
  await db.schema.dropTable('password_history').execute();
  await db.schema.dropTable('user_security').execute();
}
