// `stratus manage backup` and `restore`: a consistent copy of a SQLite cloud database taken
// while it runs, and bringing the cloud back from one while it is stopped.
import type { Command } from 'commander';
import { StratusError } from '../errors.js';
import {
  backupSqlite,
  checkStratusDatabase,
  now,
  openDatabase,
  restoreSqlite,
  ServiceRepo,
  sqliteFile,
} from '../db/index.js';
import { serviceState } from '../service/index.js';
import { configFrom } from './config-options.js';
import { printRecord, type Format } from './output.js';

const IMAGES_NOTE = (dir: string) =>
  `Image files are not in the database: back up the image directory (--image-dir, here ${dir}) as well.`;

export function addBackupCommands(
  manage: Command,
  leaf: (parent: Command, name: string, description: string) => Command,
): void {
  const backup = leaf(
    manage,
    'backup',
    'Copy the SQLite database to a new file, consistently, while the cloud runs.',
  ).requiredOption('--file <path>', 'The backup file to write (must not exist).');
  backup.action(async () => {
    const config = configFrom(backup);
    const format = (backup.optsWithGlobals() as { format?: Format }).format ?? 'table';
    const o = backup.opts() as { file: string };
    const r = await backupSqlite(config.database, o.file, config.db.busyTimeoutMs);
    printRecord(format, { file: r.file, bytes: r.bytes, migrations: r.migrations });
    process.stderr.write(`${IMAGES_NOTE(config.image.directory)}\n`);
  });

  const restore = leaf(
    manage,
    'restore',
    'Replace the SQLite database with a backup; every service must be stopped.',
  ).requiredOption('--file <path>', 'The backup file to restore from.');
  restore.action(async () => {
    const config = configFrom(restore);
    const format = (restore.optsWithGlobals() as { format?: Format }).format ?? 'table';
    const o = restore.opts() as { file: string };
    sqliteFile(config.database);
    // A file that cannot be restored is told first, whether or not the cloud runs.
    checkStratusDatabase(o.file);
    const database = await openDatabase(config.database, {
      busyTimeoutMs: config.db.busyTimeoutMs,
    });
    let up: string[];
    try {
      const at = now();
      up = (await new ServiceRepo(database.db).list())
        .filter((s) => serviceState(s, at, config.service.downAfterSeconds * 1000) === 'up')
        .map((s) => `${s.binary} on ${s.host}`);
    } finally {
      await database.close();
    }
    if (up.length > 0) {
      throw new StratusError(
        'conflict',
        `The cloud is running (${up.join(', ')} sent a heartbeat within the last ` +
          `${config.service.downAfterSeconds} s). Stop every service before restoring.`,
        { resource: 'database' },
      );
    }
    const r = await restoreSqlite(config.database, o.file);
    printRecord(format, {
      database: r.database,
      restored_from: o.file,
      migrations_applied: r.migrationsApplied,
    });
    process.stderr.write(`${IMAGES_NOTE(config.image.directory)}\n`);
  });
}
