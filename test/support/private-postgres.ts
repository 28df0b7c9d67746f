// Test support: a PostgreSQL server of the test's own (a temp data dir, a free loopback port),
// for fault tests that stop the database under a running cloud and start it again. The
// machine's shared server is never touched.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { POSTGRES_BIN as BIN } from './capabilities.js';
import { freePort } from '../../src/ports.js';

export interface PrivatePostgres {
  /** A URL for the database `postgres` on this server. */
  url: string;
  /** Stops the server at once (clients see their connections end). */
  stop(): void;
  /** Starts it again on the same port and data. */
  start(): void;
  /** Stops it if running and removes its data. */
  remove(): void;
}

/** `settings` are server settings (`max_connections: '400'`), given as `-c NAME=VALUE`. */
export async function startPrivatePostgres(
  settings: Readonly<Record<string, string>> = {},
): Promise<PrivatePostgres> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-pg-'));
  const data = path.join(dir, 'data');
  const port = await freePort();
  // PostgreSQL refuses to run as root: as root, the server runs as the postgres user.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync('chown', ['postgres', dir]);
  const run = (cmd: string, args: string[]) =>
    execFileSync(
      asRoot ? 'runuser' : path.join(BIN, cmd),
      asRoot ? ['-u', 'postgres', '--', path.join(BIN, cmd), ...args] : args,
      { stdio: 'ignore', cwd: dir },
    );
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres']);
  const start = () =>
    run('pg_ctl', [
      '-D',
      data,
      '-w',
      '-o',
      [
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
        ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`),
      ].join(' '),
      '-l',
      path.join(dir, 'log'),
      'start',
    ]);
  const running = () => fs.existsSync(path.join(data, 'postmaster.pid'));
  const stop = () => run('pg_ctl', ['-D', data, '-w', '-m', 'immediate', 'stop']);
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop,
    start,
    remove() {
      if (running()) stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
