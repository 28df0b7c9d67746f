// Opens the database named by a URL (sqlite:PATH or postgres://...) and brings its schema
// up to date. An unreachable database raises `unavailable` errors (see outage.ts).
import fs from 'node:fs';
import path from 'node:path';
import { CamelCasePlugin, Kysely, Migrator, sql, type MigrationProvider } from 'kysely';
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
  /** PostgreSQL: the most connections the pool holds open (default 10). */
  maxConnections?: number;
  /** How long connecting to a database server may take (PostgreSQL; default 5 s). */
  connectTimeoutMs?: number;
  /**
   * Run pending migrations before returning (default true). Either way, a database that
   * cannot be reached is refused here, naming it.
   */
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
      dialect: withOutageErrors(
        postgresDialect(url, options.connectTimeoutMs ?? 5000, options.maxConnections ?? 10),
      ),
      plugins: [new CamelCasePlugin()],
    });
    dialect = 'postgres';
  } else {
    throw new StratusError('invalid', `Unsupported database URL '${url}'.`, {
      resource: 'database',
    });
  }
  const database: Database = { db, dialect, close: () => db.destroy() };
  try {
    await reachable(db, url, options.connectTimeoutMs ?? 5000);
    if (options.migrate !== false) await migrate(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return database;
}

/** A URL as messages may show it: without its password. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/**
 * Fails with a message naming the database (its URL without the password) and why, when it
 * cannot be reached: the first thing a process does with it, so a wrong URL or a server that
 * is down is told at start, within the connect timeout.
 */
async function reachable(db: Db, url: string, connectTimeoutMs: number): Promise<void> {
  try {
    await sql`select 1`.execute(db);
  } catch (err) {
    if (!(err instanceof StratusError) || err.kind !== 'unavailable') throw err;
    const cause = err.cause instanceof Error ? err.cause.message : err.message;
    const why = /timeout/i.test(cause)
      ? `no answer within ${connectTimeoutMs / 1000} s (${cause})`
      : cause || 'no answer';
    throw new StratusError(
      'unavailable',
      `Cannot reach the database at ${redactUrl(url)}: ${why}.`,
      { resource: 'database', cause: err },
    );
  }
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
