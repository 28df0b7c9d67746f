// Opens the database named by a URL (sqlite:PATH or postgres://...) and brings its schema
// up to date. An unreachable database raises `unavailable` errors (see outage.ts).
import fs from 'node:fs';
import path from 'node:path';
import { CamelCasePlugin, Kysely, Migrator, type MigrationProvider } from 'kysely';
import { StratusError } from '../errors.js';
import { MIGRATIONS } from './migrations/index.js';
import { withOutageErrors } from './outage.js';
import { postgresDialect } from './postgres.js';
import type { Db } from './schema.js';
import { StratusSqliteDialect } from './sqlite.js';

export type DialectName = 'sqlite' | 'postgres';

export interface Database {
  readonly db: Db;
  readonly dialect: DialectName;
  close(): Promise<void>;
}

export interface OpenOptions {
  busyTimeoutMs?: number;
  /** Run pending migrations before returning (default true). */
  migrate?: boolean;
}

export async function openDatabase(url: string, options: OpenOptions = {}): Promise<Database> {
  let db: Db;
  let dialect: DialectName;
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length);
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    db = new Kysely({
      dialect: withOutageErrors(new StratusSqliteDialect(file, options.busyTimeoutMs ?? 10_000)),
      plugins: [new CamelCasePlugin()],
    });
    dialect = 'sqlite';
  } else if (/^postgres(ql)?:\/\//.test(url)) {
    db = new Kysely({
      dialect: withOutageErrors(postgresDialect(url)),
      plugins: [new CamelCasePlugin()],
    });
    dialect = 'postgres';
  } else {
    throw new StratusError('invalid', `Unsupported database URL '${url}'.`, {
      resource: 'database',
    });
  }
  const database: Database = { db, dialect, close: () => db.destroy() };
  if (options.migrate !== false) {
    try {
      await migrate(db);
    } catch (err) {
      await db.destroy();
      throw err;
    }
  }
  return database;
}

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/** Applies pending migrations; safe when several processes start at once. */
export async function migrate(db: Db): Promise<void> {
  const migrator = new Migrator({
    db: db as Kysely<unknown>,
    provider,
    migrationTableName: 'stratus_migrations',
    migrationLockTableName: 'stratus_migrations_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new StratusError(
      'unavailable',
      `Database migration${failed ? ` '${failed}'` : ''} failed: ${(error as Error).message ?? String(error)}`,
      { resource: 'database', cause: error },
    );
  }
}

/** Milliseconds since the epoch: the one way times are stored. */
export function now(): number {
  return Date.now();
}
