// Backup and restore of a SQLite cloud database (`stratus manage backup` / `restore`).
// A backup is SQLite's online backup: a consistent copy taken while the cloud runs. A restore
// checks the file is a Stratus database, swaps it in atomically, and brings its schema up to date.
// PostgreSQL is backed up with its own tools (pg_dump -Fc / pg_restore); see the README.
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { StratusError } from '../errors.js';
import { openDatabase } from './database.js';

/** How to back up and restore a PostgreSQL cloud: what the CLI tells an operator. */
export const POSTGRES_BACKUP_HELP =
  'stratus manage backup/restore work on SQLite only. For PostgreSQL use its own tools: ' +
  "'pg_dump -Fc -f stratus.dump DATABASE_URL' while the cloud runs, and " +
  "'pg_restore --clean --if-exists -d DATABASE_URL stratus.dump' with the cloud stopped.";

/** The file of a sqlite: URL; refuses other databases with the PostgreSQL advice. */
export function sqliteFile(url: string): string {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length);
    if (file === ':memory:') {
      throw new StratusError('invalid', 'An in-memory database cannot be backed up or restored.', {
        resource: 'database',
      });
    }
    return path.resolve(file);
  }
  throw new StratusError('invalid', POSTGRES_BACKUP_HELP, { resource: 'database' });
}

export interface BackupResult {
  file: string;
  bytes: number;
  migrations: number;
}

/** Copies the live database at `url` into `target` (a new file), consistently, while it runs. */
export async function backupSqlite(
  url: string,
  target: string,
  busyTimeoutMs: number,
): Promise<BackupResult> {
  const source = sqliteFile(url);
  if (!fs.existsSync(source)) {
    throw new StratusError('missing', `There is no database at ${source} to back up.`, {
      resource: 'database',
    });
  }
  const file = path.resolve(target);
  if (file === source) {
    throw new StratusError('invalid', 'The backup file cannot be the database itself.', {
      resource: 'database',
    });
  }
  if (fs.existsSync(file)) {
    throw new StratusError('conflict', `${file} already exists; name a new file.`, {
      resource: 'database',
    });
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new BetterSqlite3(source, { fileMustExist: true, timeout: busyTimeoutMs });
  try {
    await db.backup(file);
  } finally {
    db.close();
  }
  const migrations = checkStratusDatabase(file).length;
  return { file, bytes: fs.statSync(file).size, migrations };
}

/**
 * Fails unless `file` is a sound SQLite file holding a Stratus database; returns the names of
 * the migrations it has.
 */
export function checkStratusDatabase(file: string): string[] {
  let db: BetterSqlite3.Database;
  try {
    if (!fs.statSync(file).isFile()) throw new Error('not a file');
    db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new StratusError('invalid', `Cannot open ${file}: ${(err as Error).message}.`, {
      resource: 'database',
    });
  }
  try {
    let result: unknown[];
    try {
      result = db.pragma('integrity_check') as unknown[];
    } catch (err) {
      throw new StratusError(
        'invalid',
        `${file} is not a SQLite database (${(err as Error).message}).`,
        { resource: 'database' },
      );
    }
    const first = result[0] as { integrity_check?: string } | undefined;
    if (result.length !== 1 || first?.integrity_check !== 'ok') {
      throw new StratusError('invalid', `${file} fails SQLite's integrity check.`, {
        resource: 'database',
      });
    }
    const table = db
      .prepare("select 1 from sqlite_master where type = 'table' and name = 'stratus_migrations'")
      .get();
    const names = table
      ? (db.prepare('select name from stratus_migrations order by name').all() as {
          name: string;
        }[])
      : [];
    if (names.length === 0) {
      throw new StratusError(
        'invalid',
        `${file} is not a Stratus database (no migrations table).`,
        {
          resource: 'database',
        },
      );
    }
    return names.map((n) => n.name);
  } finally {
    db.close();
  }
}

export interface RestoreResult {
  database: string;
  migrationsBefore: number;
  /** Migrations run on it because the backup was older than this version. */
  migrationsApplied: number;
}

/**
 * Replaces the database at `url` with the backup `from`: copied beside it, fsynced, renamed
 * over it, its stale -wal and -shm removed; then migrations run if the backup is older. The
 * caller checks first that no service is using it.
 */
export async function restoreSqlite(url: string, from: string): Promise<RestoreResult> {
  const target = sqliteFile(url);
  const source = path.resolve(from);
  const migrationsBefore = checkStratusDatabase(source).length;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const temp = `${target}.restore-${process.pid}`;
  try {
    fs.copyFileSync(source, temp);
    const fd = fs.openSync(temp, 'r+');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // The old database's log must not be replayed into the new file.
    for (const suffix of ['-wal', '-shm']) fs.rmSync(`${target}${suffix}`, { force: true });
    fs.renameSync(temp, target);
  } finally {
    fs.rmSync(temp, { force: true });
  }
  const dir = fs.openSync(path.dirname(target), 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
  const database = await openDatabase(`sqlite:${target}`);
  await database.close();
  const migrationsApplied = checkStratusDatabase(target).length - migrationsBefore;
  return { database: target, migrationsBefore, migrationsApplied };
}
