// Who may run a compute host's name: the decision from the services row (machine, pid, boot
// id, heartbeat), the compare-and-set that lets one of two racing starts win, on every
// database back end, and a second compute service of one name in one process.
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { TEST_BACKENDS, openTestDatabase } from '../../test/support/databases.js';
import { needs } from '../../test/support/capabilities.js';
import { stratusError } from '../../test/support/expect.js';
import { InProcessBus } from '../bus/index.js';
import { ServiceRepo, type Database, type ServiceRow } from '../db/index.js';
import { silentLogger } from '../log.js';
import { otherLiveOwner, ServiceRunner } from './service-runner.js';

const AT = 1_000_000;
const DOWN_AFTER = 60_000;
const SELF = { machine: 'here', pid: process.pid, bootId: 'boot-self' };

function row(fields: Partial<ServiceRow>): ServiceRow {
  return {
    id: 'x',
    host: 'node1',
    binary: 'compute',
    topic: 'compute.node1',
    disabled: 0,
    disabledReason: null,
    forcedDown: 0,
    reportCount: 0,
    heartbeatAt: AT - 1000,
    createdAt: 0,
    machine: 'here',
    pid: 1,
    bootId: 'boot-other',
    ...fields,
  };
}

describe('otherLiveOwner', () => {
  // Process 1 (init) is alive on every Linux machine; a pid past pid_max never is.
  const cases: [string, Partial<ServiceRow>, RegExp | undefined][] = [
    ['a fresh heartbeat from another machine', { machine: 'there' }, /machine 'there'/],
    ['a fresh heartbeat from a live process here', { pid: 1 }, /process 1 on this machine/],
    ['a process here that is gone', { pid: 2 ** 22 + 1 }, undefined],
    ['a stale heartbeat from another machine', { machine: 'there', heartbeatAt: 0 }, undefined],
    ['an earlier start of this process', { pid: process.pid, bootId: 'boot-self' }, undefined],
    ['a row from before owners were recorded', { machine: null, pid: null }, undefined],
  ];
  for (const [what, fields, expected] of cases) {
    it(`${expected ? 'refuses' : 'allows'} ${what}`, () => {
      const other = otherLiveOwner(row(fields), AT, DOWN_AFTER, SELF);
      if (expected) assert.match(other ?? '', expected);
      else assert.equal(other, undefined);
    });
  }
});

for (const backend of TEST_BACKENDS) {
  describe(`service ownership on ${backend.name}`, needs(...backend.needs), () => {
    let database: Database;
    before(async () => {
      database = await openTestDatabase(backend);
    });
    after(() => database.close());

    it('register takes a row over only from the owner it read', async () => {
      const repo = new ServiceRepo(database.db);
      const a = { machine: 'm1', pid: 10, bootId: 'a' };
      const b = { machine: 'm2', pid: 20, bootId: 'b' };
      const c = { machine: 'm3', pid: 30, bootId: 'c' };
      assert.equal((await repo.register('h', 'compute', 't', 1, a, null)).bootId, 'a');
      // Both read owner 'a'; b takes over first, so c's compare-and-set finds 'b' and fails.
      assert.equal((await repo.register('h', 'compute', 't', 2, b, 'a')).bootId, 'b');
      const lost = await repo.register('h', 'compute', 't', 3, c, 'a');
      assert.equal(lost.bootId, 'b');
      assert.equal(lost.machine, 'm2');
      assert.equal(lost.heartbeatAt, 2);
    });

    it('refuses a second compute service of one name in this process, until the first stops', async () => {
      const bus = new InProcessBus({ logger: silentLogger(), callTimeoutMs: 1000 });
      const runner = () =>
        new ServiceRunner({
          db: database.db,
          bus,
          logger: silentLogger(),
          host: 'twice',
          heartbeatMs: 1000,
          downAfterMs: DOWN_AFTER,
        });
      const service = { binary: 'compute' as const, topics: [] };
      const first = runner();
      await first.start(service);
      const second = runner();
      await assert.rejects(
        second.refuseDuplicate('compute'),
        stratusError('conflict', { resource: 'host', id: 'twice' }),
      );
      await assert.rejects(
        second.start(service),
        /The host name 'twice' is already in use: its compute service is running in this process/,
      );
      const r = await new ServiceRepo(database.db).get('twice', 'compute');
      assert.equal(r.machine, os.hostname());
      assert.equal(r.pid, process.pid);
      await first.stop();
      await second.refuseDuplicate('compute');
      await second.start(service);
      await second.stop();
      await bus.close();
    });

    it('stops beating for a host name another process took over', async () => {
      const bus = new InProcessBus({ logger: silentLogger(), callTimeoutMs: 1000 });
      const runner = new ServiceRunner({
        db: database.db,
        bus,
        logger: silentLogger(),
        host: 'frozen',
        heartbeatMs: 20,
        downAfterMs: DOWN_AFTER,
      });
      await runner.start({ binary: 'compute', topics: [] });
      const repo = new ServiceRepo(database.db);
      await database.db
        .updateTable('services')
        .set({ machine: 'elsewhere', pid: 7, bootId: 'new-owner', heartbeatAt: 5 })
        .where('host', '=', 'frozen')
        .execute();
      await new Promise((r) => setTimeout(r, 200));
      const r = await repo.get('frozen', 'compute');
      assert.equal(r.bootId, 'new-owner');
      assert.equal(r.heartbeatAt, 5, 'the old process no longer beats for it');
      await runner.stop();
      await bus.close();
    });
  });
}
