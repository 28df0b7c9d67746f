// The scheduler keeps server groups' policies on SQLite and PostgreSQL: anti-affinity gives
// each member a host of its own, affinity puts them together, soft anti-affinity prefers empty
// hosts, and members placed at the same moment (by one scheduler or two) count each other,
// through the capacity claims they take before their instances record a host.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { insertBuildingInstances } from '../../test/support/instances.js';
import {
  CapacityClaimRepo,
  ComputeNodeRepo,
  groupPlacement,
  openDatabase,
  ServerGroupRepo,
  ServiceRepo,
  type Database,
  type ServerGroupPolicy,
} from '../db/index.js';
import { TEST_BACKENDS } from '../../test/support/databases.js';
import { needs } from '../../test/support/capabilities.js';
import { StratusError } from '../errors.js';
import { SchedulerManager } from './manager.js';

const RATIOS = { cpuAllocationRatio: 1, ramAllocationRatio: 1, diskAllocationRatio: 1 };
const TINY = { vcpus: 1, memoryMb: 1024, diskGb: 1 };

const noValidHost = (err: unknown) =>
  err instanceof StratusError && err.kind === 'unavailable' && err.reason === 'no_valid_host';

for (const backend of TEST_BACKENDS) {
  describe(`scheduler with server groups (${backend.name})`, needs(...backend.needs), () => {
    let remove: () => Promise<void>;
    /** Two handles on one database, as two scheduler processes have (one on SQLite). */
    let one: Database;
    let two: Database;
    let hostSeq = 0;

    before(async () => {
      const created = await backend.create();
      remove = created.remove;
      one = await openDatabase(created.url);
      two = backend.name === 'sqlite' ? one : await openDatabase(created.url);
    });
    after(async () => {
      await one.close();
      if (two !== one) await two.close();
      await remove();
    });

    const scheduler = (db: Database) =>
      new SchedulerManager({
        db: db.db,
        host: 'control',
        downAfterMs: 60_000,
        ratios: RATIOS,
        weigher: 'spread',
      });

    // Hosts of earlier tests stay registered: each test asks for its own zone.
    let zone: string;
    beforeEach(() => {
      zone = `z-${Math.random().toString(36).slice(2, 8)}`;
    });

    async function addHost(memoryMb = 8192): Promise<string> {
      const host = `${backend.name}-g${++hostSeq}`;
      const at = Date.now();
      await new ServiceRepo(one.db).register(host, 'compute', `compute.${host}`, at);
      await new ComputeNodeRepo(one.db).report({
        host,
        vcpus: 64,
        memoryMb,
        diskGb: 1000,
        availabilityZone: zone,
        architecture: 'x86_64',
        updatedAt: at,
      });
      return host;
    }

    async function group(policy: ServerGroupPolicy, rules = '{}'): Promise<string> {
      const id = randomUUID();
      await new ServerGroupRepo(one.db).insert({
        id,
        projectId: 'test-project',
        userId: 'test-user',
        name: `g-${policy}`,
        policy,
        rules,
        createdAt: Date.now(),
      });
      return id;
    }

    /** `count` new instances, members of `groupId`, as one request. */
    const request = async (groupId: string, count = 1) => {
      const instanceIds = await insertBuildingInstances(one.db, count, TINY);
      await new ServerGroupRepo(one.db).addMembers(
        instanceIds.map((instanceId) => ({ instanceId, groupId })),
      );
      return {
        instanceIds,
        availabilityZone: zone,
        architecture: 'x86_64',
        group: groupId,
        ...TINY,
      };
    };

    it('anti-affinity gives each member a host of its own, and refuses one too many', async () => {
      const hosts = [await addHost(), await addHost(), await addHost()];
      const g = await group('anti-affinity');
      const s = scheduler(one);
      const first = await s.selectDestinations(await request(g, 2));
      const second = await s.selectDestinations(await request(g, 1));
      const placed = [...first.hosts, ...second.hosts];
      assert.deepEqual([...placed].sort(), [...hosts].sort(), placed.join(' '));
      await assert.rejects(
        s.selectDestinations(await request(g, 1)),
        (err) => noValidHost(err) && /anti-affinity/.test((err as Error).message),
      );
    });

    it('anti-affinity with max_server_per_host 2 puts at most two on a host', async () => {
      const hosts = [await addHost(), await addHost()];
      const g = await group('anti-affinity', '{"max_server_per_host":2}');
      const { hosts: placed } = await scheduler(one).selectDestinations(await request(g, 4));
      for (const h of hosts) assert.equal(placed.filter((p) => p === h).length, 2);
      await assert.rejects(scheduler(one).selectDestinations(await request(g, 1)), noValidHost);
    });

    it('members placed at once by two schedulers never share a host in an anti-affinity group', async () => {
      const hosts = [await addHost(), await addHost(), await addHost(), await addHost()];
      const g = await group('anti-affinity');
      const schedulers = [scheduler(one), scheduler(two)];
      const requests = await Promise.all(Array.from({ length: 7 }, () => request(g)));
      const results = await Promise.allSettled(
        requests.map((args, i) => (schedulers[i % 2] as SchedulerManager).selectDestinations(args)),
      );
      const placed = results.flatMap((r) => (r.status === 'fulfilled' ? r.value.hosts : []));
      assert.equal(placed.length, 4, placed.join(' '));
      assert.deepEqual([...placed].sort(), [...hosts].sort());
      for (const r of results) {
        if (r.status === 'rejected') assert.ok(noValidHost(r.reason), String(r.reason));
      }
    });

    it('affinity puts every member on one host, also when two schedulers place them at once', async () => {
      await addHost();
      await addHost();
      await addHost();
      const g = await group('affinity');
      const schedulers = [scheduler(one), scheduler(two)];
      const requests = await Promise.all(Array.from({ length: 6 }, () => request(g)));
      const placed = (
        await Promise.all(
          requests.map((args, i) =>
            (schedulers[i % 2] as SchedulerManager).selectDestinations(args),
          ),
        )
      ).flatMap((r) => r.hosts);
      assert.equal(new Set(placed).size, 1, placed.join(' '));
    });

    it('affinity refuses a member when the group host is full, though other hosts have room', async () => {
      await addHost(2048);
      await addHost(8192);
      const g = await group('affinity');
      // Spread puts the first member on the roomier host; fill it up to its 8 GiB.
      const { hosts } = await scheduler(one).selectDestinations(await request(g, 8));
      assert.equal(new Set(hosts).size, 1);
      await assert.rejects(
        scheduler(one).selectDestinations(await request(g, 1)),
        (err) => noValidHost(err) && /affinity/.test((err as Error).message),
      );
    });

    it('soft anti-affinity prefers hosts without members but never refuses for them', async () => {
      const hosts = [await addHost(), await addHost()];
      const g = await group('soft-anti-affinity');
      const { hosts: placed } = await scheduler(one).selectDestinations(await request(g, 4));
      for (const h of hosts) assert.equal(placed.filter((p) => p === h).length, 2);
    });

    it('soft affinity prefers the host its members are on', async () => {
      await addHost(8192);
      await addHost(8192);
      const g = await group('soft-affinity');
      const { hosts: placed } = await scheduler(one).selectDestinations(await request(g, 3));
      assert.equal(new Set(placed).size, 1, placed.join(' '));
    });

    it('the claim itself refuses a host that breaks a hard policy, whatever the scheduler read', async () => {
      const host = await addHost();
      const other = await addHost();
      const limits = () => ({ vcpus: 64, memoryMb: 8192, diskGb: 1000 });
      const claims = new CapacityClaimRepo(one.db);
      const repo = new ServerGroupRepo(one.db);
      const spread = await group('anti-affinity');
      const [a, b] = (await request(spread, 2)).instanceIds as [string, string];
      const sg = groupPlacement((await repo.find(spread))!);
      assert.equal(
        await claims.claim({ instanceId: a, host, ...TINY, group: sg }, limits),
        'claimed',
      );
      assert.equal(
        await claims.claim({ instanceId: b, host, ...TINY, group: sg }, limits),
        'group_conflict',
      );
      assert.equal(
        await claims.claim({ instanceId: b, host: other, ...TINY, group: sg }, limits),
        'claimed',
      );
      const together = await group('affinity');
      const [c, d] = (await request(together, 2)).instanceIds as [string, string];
      const tg = groupPlacement((await repo.find(together))!);
      assert.equal(
        await claims.claim({ instanceId: c, host, ...TINY, group: tg }, limits),
        'claimed',
      );
      assert.equal(
        await claims.claim({ instanceId: d, host: other, ...TINY, group: tg }, limits),
        'group_conflict',
      );
    });

    it('places members of a group that was deleted as if there were no group', async () => {
      await addHost();
      const g = await group('anti-affinity');
      const args = await request(g, 2);
      await new ServerGroupRepo(one.db).delete(g);
      const { hosts } = await scheduler(one).selectDestinations(args);
      assert.equal(hosts.length, 2);
    });
  });
}
