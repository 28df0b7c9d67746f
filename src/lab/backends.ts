// The lab's share of the PostgreSQL and RabbitMQ servers: checks that they answer (saying how
// to start them when they do not), its own database, and its own vhost, so that it never
// shares tables or queues with another cloud on the same servers.
import { execFile } from 'node:child_process';
import amqp from 'amqplib';
import pg from 'pg';
import { StratusError } from '../errors.js';

const CONNECT_TIMEOUT_MS = 3000;

function where(url: string, defaultPort: number): string {
  const u = new URL(url);
  return `${u.hostname || '127.0.0.1'}:${u.port || defaultPort}`;
}

function reason(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.code ?? e.message ?? String(err);
}

/** Resolves when PostgreSQL answers at `adminUrl`; otherwise an `unavailable` error saying how to start it. */
export async function checkPostgres(adminUrl: string): Promise<void> {
  const client = new pg.Client({
    connectionString: adminUrl,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
  } catch (err) {
    throw new StratusError(
      'unavailable',
      `PostgreSQL is not reachable at ${where(adminUrl, 5432)} (${reason(err)}). ` +
        'Start it (as root: service postgresql start) or point --postgres at a running server; nothing was changed.',
      { resource: 'database', cause: err },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Resolves when RabbitMQ accepts an AMQP connection at `url` and rabbitmqctl can manage it. */
export async function checkRabbitmq(url: string): Promise<void> {
  const remedy =
    'Start it (as root: service rabbitmq-server start) or point --rabbitmq at a running server; nothing was changed.';
  try {
    const conn = await amqp.connect(url, { timeout: CONNECT_TIMEOUT_MS });
    await conn.close();
  } catch (err) {
    throw new StratusError(
      'unavailable',
      `RabbitMQ is not reachable at ${where(url, 5672)} (${reason(err)}). ${remedy}`,
      { resource: 'transport', cause: err },
    );
  }
  try {
    await rabbitmqctl(['list_vhosts']);
  } catch (err) {
    throw new StratusError(
      'unavailable',
      `rabbitmqctl cannot manage the RabbitMQ server (${(err as Error).message}). The lab makes its own vhost with it: run the lab as root on the broker's machine; nothing was changed.`,
      { resource: 'transport', cause: err },
    );
  }
}

export function rabbitmqctl(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('rabbitmqctl', ['-q', ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err)
        reject(new Error(`rabbitmqctl ${args.join(' ')}: ${`${stderr}`.trim() || err.message}`));
      else resolve(`${stdout}`);
    });
  });
}

async function withAdmin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Database names the lab makes are [a-z0-9_] only (plan.ts), so they need no quoting. */
function checkedName(name: string): string {
  if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`unexpected database name '${name}'`);
  return name;
}

export async function databaseExists(adminUrl: string, name: string): Promise<boolean> {
  return withAdmin(adminUrl, async (c) => {
    const r = await c.query('select 1 from pg_database where datname = $1', [name]);
    return (r.rowCount ?? 0) > 0;
  });
}

export async function createDatabase(adminUrl: string, name: string): Promise<void> {
  await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE ${checkedName(name)}`));
}

/** Drops the database, ending its connections. Succeeds when it does not exist. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withAdmin(adminUrl, (c) =>
    c.query(`DROP DATABASE IF EXISTS ${checkedName(name)} WITH (FORCE)`),
  );
}

export async function vhostExists(name: string): Promise<boolean> {
  const out = await rabbitmqctl(['list_vhosts', 'name']);
  return out
    .split('\n')
    .map((l) => l.trim())
    .includes(name);
}

/** Makes the vhost and gives the URL's user every permission in it. */
export async function createVhost(name: string, amqpUrl: string): Promise<void> {
  const user = decodeURIComponent(new URL(amqpUrl).username || 'guest');
  await rabbitmqctl(['add_vhost', name]);
  await rabbitmqctl(['set_permissions', '-p', name, user, '.*', '.*', '.*']);
}

/** Deletes the vhost with its queues and exchanges. Succeeds when it does not exist. */
export async function deleteVhost(name: string): Promise<void> {
  if (await vhostExists(name)) await rabbitmqctl(['delete_vhost', name]);
}
