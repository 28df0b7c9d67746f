// Names of users and projects are unique per domain, not cloud-wide (issue 14), as groups'
// already are: two domains may each have a user `alice` and a project `web`. Migration 0001
// declared `name ... unique` on both tables. PostgreSQL drops those constraints and adds
// (domain_id, name) ones. SQLite cannot drop a column's UNIQUE, so it rebuilds each table
// (SQLite's documented twelve steps): a copy made without it, filled, swapped in, and its
// triggers made again. The swap must not run with foreign keys on, or dropping the old table
// would delete the rows of every table that refers to it (ON DELETE CASCADE), and SQLite
// ignores `PRAGMA foreign_keys` inside a transaction: so this migration ends the migrations'
// transaction, rebuilds in one of its own with foreign keys off (checking every reference
// before committing), and opens a new one for the migrations after it.
//
// Tokens may also be scoped to a domain or to the system (issue 14): each remembers which.
// Role assignments on the system (target `system`, id `all`) need no new table; the users who
// hold admin on the bootstrap `admin` project get admin on the system, as Keystone's
// bootstrap gives its admin, so the cloud's operators keep their cloud-wide powers.
import { sql, SqliteAdapter, type Kysely } from 'kysely';

const TABLES = ['users', 'projects'] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tokens').addColumn('domain_id', 'varchar(64)').execute();
  await db.schema
    .alterTable('tokens')
    .addColumn('system_scope', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`insert into assignments (actor_type, actor_id, target_type, target_id, role_id, created_at)
            select a.actor_type, a.actor_id, 'system', 'all', a.role_id, a.created_at
            from assignments a
            join roles r on r.id = a.role_id
            join projects p on p.id = a.target_id
            where a.target_type = 'project' and r.name = 'admin'
              and p.name = 'admin' and p.domain_id = 'default'`.execute(db);
  await uniqueNamesPerDomain(db);
}

async function uniqueNamesPerDomain(db: Kysely<unknown>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof SqliteAdapter)) {
    for (const table of TABLES) {
      await sql.raw(`ALTER TABLE ${table} DROP CONSTRAINT ${table}_name_key`).execute(db);
      await sql
        .raw(`ALTER TABLE ${table} ADD CONSTRAINT ${table}_domain_name UNIQUE (domain_id, name)`)
        .execute(db);
    }
    return;
  }
  await rebuildSqlite(db, (create, table) => {
    const without = create.replace(/("name" varchar\(255\) not null) unique/, '$1');
    if (without === create) throw new Error(`The ${table} table has no unique name to drop.`);
    return without.replace(
      /\)\s*$/,
      `, constraint "${table}_domain_name" unique ("domain_id", "name"))`,
    );
  });
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`delete from assignments where target_type = 'system'`.execute(db);
  await db.schema.alterTable('tokens').dropColumn('system_scope').execute();
  await db.schema.alterTable('tokens').dropColumn('domain_id').execute();
  if (!(db.getExecutor().adapter instanceof SqliteAdapter)) {
    for (const table of TABLES) {
      await sql.raw(`ALTER TABLE ${table} DROP CONSTRAINT ${table}_domain_name`).execute(db);
      await sql
        .raw(`ALTER TABLE ${table} ADD CONSTRAINT ${table}_name_key UNIQUE (name)`)
        .execute(db);
    }
    return;
  }
  await rebuildSqlite(db, (create, table) =>
    create
      .replace(`, constraint "${table}_domain_name" unique ("domain_id", "name"))`, ')')
      .replace(/("name" varchar\(255\) not null)/, '$1 unique'),
  );
}

/** Rebuilds `users` and `projects` with the CREATE TABLE statement `change` makes of each. */
async function rebuildSqlite(
  db: Kysely<unknown>,
  change: (create: string, table: string) => string,
): Promise<void> {
  await sql`commit`.execute(db);
  await sql`pragma foreign_keys = off`.execute(db);
  await sql`begin immediate`.execute(db);
  try {
    for (const table of TABLES) {
      const schema = await sql<{ type: string; name: string; sql: string | null }>`
        select type, name, sql from sqlite_master where tbl_name = ${table}`.execute(db);
      const create = schema.rows.find((r) => r.type === 'table')?.sql;
      if (!create) throw new Error(`The ${table} table is missing.`);
      const rebuilt = change(create, table).replace(
        `CREATE TABLE "${table}"`,
        `CREATE TABLE "${table}_new"`,
      );
      await sql.raw(rebuilt).execute(db);
      await sql.raw(`INSERT INTO "${table}_new" SELECT * FROM "${table}"`).execute(db);
      await sql.raw(`DROP TABLE "${table}"`).execute(db);
      await sql.raw(`ALTER TABLE "${table}_new" RENAME TO "${table}"`).execute(db);
      // Dropping the table dropped its triggers and indexes; the autoindexes come back by themselves.
      for (const r of schema.rows) {
        if (r.type !== 'table' && r.sql) await sql.raw(r.sql).execute(db);
      }
    }
    const broken = await sql`pragma foreign_key_check`.execute(db);
    if (broken.rows.length > 0) {
      throw new Error(`Rebuilding users and projects broke ${broken.rows.length} references.`);
    }
    await sql`commit`.execute(db);
  } catch (err) {
    await sql`rollback`.execute(db);
    throw err;
  } finally {
    await sql`pragma foreign_keys = on`.execute(db);
    await sql`begin immediate`.execute(db);
  }
}
