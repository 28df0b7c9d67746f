// What a service refuses at start, before it changes anything: a compute host name another live
// process runs, and a database or message broker that cannot be reached (issue 12, "Bad input
// and faults"). Each runs the real binary, as an operator starts it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { AmqpBus } from '../src/bus/index.js';
import { openDatabase, ServiceRepo, type Database } from '../src/db/index.js';
import { silentLogger } from '../src/log.js';
import { startStratus, stratus, type RunningStratus } from './support/cli.js';

/** A TCP port that accepts connections and never says a word, as a hung server does. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => sockets.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = await silentServer();
  await s.close();
  return s.port;
}

describe('a service refuses an unreachable database or message broker at start', () => {
  let stateDir: string;
  let silent: Awaited<ReturnType<typeof silentServer>>;
  before(async () => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-refuse-'));
    silent = await silentServer();
  });
  after(async () => {
    await silent.close();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  const cases: [string, () => Promise<string[]>, RegExp][] = [
    [
      'a database that refuses connections',
      async () => ['--database', `postgres://stratus:s3cret@127.0.0.1:${await closedPort()}/x`],
      /^stratus: Cannot reach the database at postgres:\/\/stratus:\*\*\*@127\.0\.0\.1:\d+\/x: connect ECONNREFUSED/m,
    ],
    [
      'a database server that never answers',
      async () => ['--database', `postgres://stratus:s3cret@127.0.0.1:${silent.port}/x`],
      /^stratus: Cannot reach the database at postgres:\/\/stratus:\*\*\*@127\.0\.0\.1:\d+\/x: no answer within 5 s/m,
    ],
    [
      'a broker that refuses connections',
      async () => ['--transport', `amqp://stratus:s3cret@127.0.0.1:${await closedPort()}`],
      /^stratus: Cannot connect to the message broker at amqp:\/\/stratus:\*\*\*@127\.0\.0\.1:\d+: connect ECONNREFUSED/m,
    ],
    [
      'a broker that never answers',
      async () => ['--transport', `amqp://stratus:s3cret@127.0.0.1:${silent.port}`],
      /^stratus: Cannot connect to the message broker at amqp:\/\/stratus:\*\*\*@127\.0\.0\.1:\d+: connect ETIMEDOUT/m,
    ],
  ];
  for (const [what, args, message] of cases) {
    it(`names ${what} without its password, and changes nothing`, async () => {
      const dir = fs.mkdtempSync(path.join(stateDir, 'case-'));
      const started = Date.now();
      const r = await stratus(['compute', '--state-dir', dir, ...(await args())]);
      const took = Date.now() - started;
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /s3cret/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      // Bounded, not hung (the connect timeouts are 5 s; a loaded machine starts node slowly,
      // so the tight bounds are checked in-process below).
      assert.ok(took < 45_000, `refused after ${took} ms`);
      // With the broker unreachable, the local database it did reach got no schema.
      const sqlite = path.join(dir, 'stratus.sqlite');
      if (fs.existsSync(sqlite)) {
        const database = await openDatabase(`sqlite:${sqlite}`, { migrate: false });
        const { rows } = await sql<{
          name: string;
        }>`select name from sqlite_master where type = 'table'`.execute(database.db);
        await database.close();
        assert.deepEqual(rows, []);
      }
    });
  }
});

describe('connecting gives up on a server that never answers after the connect timeout', () => {
  let silent: Awaited<ReturnType<typeof silentServer>>;
  before(async () => {
    silent = await silentServer();
  });
  after(() => silent.close());

  const within = async (what: string, connect: () => Promise<unknown>, message: RegExp) => {
    const started = Date.now();
    await assert.rejects(connect(), (err: Error) => {
      assert.match(err.message, message);
      return true;
    });
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 6000, `${what} gave up after ${took} ms`);
  };

  it('PostgreSQL', () =>
    within(
      'the database',
      () =>
        openDatabase(`postgres://stratus:s3cret@127.0.0.1:${silent.port}/x`, {
          connectTimeoutMs: 1000,
        }),
      /^Cannot reach the database at postgres:\/\/stratus:\*\*\*@127\.0\.0\.1:\d+\/x: no answer within 1 s/,
    ));

  it('RabbitMQ', () =>
    within(
      'the broker',
      () =>
        AmqpBus.connect({
          url: `amqp://stratus:s3cret@127.0.0.1:${silent.port}`,
          logger: silentLogger(),
          callTimeoutMs: 1000,
          connectTimeoutMs: 1000,
        }),
      /^Cannot connect to the message broker at amqp:\/\/stratus:\*\*\*@127\.0\.0\.1:\d+: connect ETIMEDOUT/,
    ));
});

describe('a compute host refuses a name another live process runs', () => {
  let stateDir: string;
  let database: Database;
  const running: RunningStratus[] = [];
  const HOST = 'node-a';
  const compute = (extra: string[] = []) => [
    'compute',
    '--state-dir',
    stateDir,
    '--host',
    HOST,
    '--service-heartbeat-seconds',
    '0.2',
    '--service-down-after-seconds',
    '30',
    ...extra,
  ];
  const start = async () => {
    const p = startStratus(compute());
    running.push(p);
    await p.waitFor(/is running compute on host 'node-a'/);
    return p;
  };
  const row = () => new ServiceRepo(database.db).get(HOST, 'compute');

  before(async () => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-dup-'));
    database = await openDatabase(`sqlite:${path.join(stateDir, 'stratus.sqlite')}`);
  });
  after(async () => {
    for (const p of running) await p.stop('SIGKILL');
    await database.close();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('records which machine and process run the service', async () => {
    const first = await start();
    const r = await row();
    assert.equal(r.machine, os.hostname());
    assert.equal(r.pid, first.child.pid);
    assert.match(r.bootId ?? '', /^[0-9a-f-]{36}$/);
  });

  it('refuses a second process on this machine while the first lives, changing nothing', async () => {
    const before = await row();
    const r = await stratus(compute());
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^stratus: The host name 'node-a' is already in use: its compute service is running in process ${before.pid} on this machine`,
        'm',
      ),
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    const afterRow = await row();
    assert.equal(afterRow.bootId, before.bootId);
    assert.equal(afterRow.pid, before.pid);
  });

  it('lets a restart take over from a process that died (its heartbeat still fresh)', async () => {
    const first = running.pop() as RunningStratus;
    const beforeRow = await row();
    await first.stop('SIGKILL');
    assert.ok(Date.now() - (await row()).heartbeatAt < 30_000, 'heartbeat still fresh');
    const second = await start();
    const r = await row();
    assert.equal(r.pid, second.child.pid);
    assert.notEqual(r.bootId, beforeRow.bootId);
  });

  it('refuses while another machine beats under the name, and takes over once it stopped', async () => {
    const own = running.pop() as RunningStratus;
    await own.stop('SIGKILL');
    await database.db
      .updateTable('services')
      .set({ machine: 'rack2-node7', pid: 4242, bootId: 'elsewhere', heartbeatAt: Date.now() })
      .where('host', '=', HOST)
      .execute();
    const r = await stratus(compute());
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /running in process 4242 on the machine 'rack2-node7'/);
    assert.equal((await row()).bootId, 'elsewhere');

    // The other machine's heartbeat is older than --service-down-after-seconds: it is down.
    await database.db
      .updateTable('services')
      .set({ heartbeatAt: Date.now() - 60_000 })
      .where('host', '=', HOST)
      .execute();
    const third = await start();
    assert.equal((await row()).pid, third.child.pid);
  });
});
