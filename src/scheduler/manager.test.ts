// The scheduler manager on SQLite and PostgreSQL: it picks hosts through its filters and
// weigher, claims capacity atomically (two schedulers racing over one database never overfill
// a host), gives back claims when a request cannot be placed whole, and never writes instances.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { insertBuildingInstances } from '../../test/support/instances.js';
import {
  CapacityClaimRepo,
  ComputeNodeRepo,
  InstanceRepo,
  openDatabase,
  ServiceRepo,
  type Database,
} from '../db/index.js';
import { TEST_BACKENDS } from '../../test/support/databases.js';
import { needs } from '../../test/support/capabilities.js';
import { StratusError } from '../errors.js';
import { SchedulerManager, type SchedulerOptions } from './manager.js';

const RATIOS = { cpuAllocationRatio: 1, ramAllocationRatio: 1, diskAllocationRatio: 1 };
const TINY = { vcpus: 1, memoryMb: 1024, diskGb: 1 };

const noValidHost = (err: unknown) =>
  err instanceof StratusError && err.kind === 'unavailable' && err.reason === 'no_valid_host';

for (const backend of TEST_BACKENDS) {
  describe(`scheduler manager (${backend.name})`, needs(...backend.needs), () => {
    let remove: () => Promise<void>;
    /**
     * Two handles on one database, as two scheduler processes have. On SQLite the two share
     * one handle: better-sqlite3 blocks its thread while it waits for a lock, so a second
     * connection in the same process would wait on the first forever (separate processes are
     * what `test/regressions/sqlite-lock-multiprocess.test.ts` covers); their requests still
     * interleave on it.
     */
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

    const scheduler = (db: Database, over: Partial<SchedulerOptions> = {}) =>
      new SchedulerManager({
        db: db.db,
        host: 'control',
        downAfterMs: 60_000,
        ratios: RATIOS,
        weigher: 'spread',
        ...over,
      });

    /** Registers a compute host that is up; each test gets hosts of its own. */
    async function addHost(
      memoryMb: number,
      over: { zone?: string; architecture?: string; disabled?: boolean; vcpus?: number } = {},
    ): Promise<string> {
      const host = `${backend.name}-h${++hostSeq}`;
      const at = Date.now();
      await new ServiceRepo(one.db).register(host, 'compute', `compute.${host}`, at);
      if (over.disabled) await new ServiceRepo(one.db).setDisabled(host, 'compute', true, 'test');
      await new ComputeNodeRepo(one.db).report({
        host,
        vcpus: over.vcpus ?? 64,
        memoryMb,
        diskGb: 1000,
        availabilityZone: over.zone ?? `zone-${hostSeq}`,
        architecture: over.architecture ?? 'x86_64',
        updatedAt: at,
      });
      return host;
    }

    // Hosts of earlier tests stay registered: each test asks for its own zone.
    let zone: string;
    beforeEach(() => {
      zone = `z-${Math.random().toString(36).slice(2, 8)}`;
    });
    const request = async (count: number, over: { architecture?: string | null } = {}) => ({
      instanceIds: await insertBuildingInstances(one.db, count, TINY),
      availabilityZone: zone,
      architecture: over.architecture ?? 'x86_64',
      ...TINY,
    });

    it('claims the capacity of each instance on the host it picks, and leaves instances alone', async () => {
      const host = await addHost(8192, { zone });
      const args = await request(2);
      const { hosts, zones } = await scheduler(one).selectDestinations(args);
      assert.deepEqual(hosts, [host, host]);
      assert.deepEqual(zones, [zone, zone], 'each host with its zone, so callers need not look');
      const claims = await new CapacityClaimRepo(one.db).ofInstances(args.instanceIds);
      assert.deepEqual(
        claims.map((c) => [c.host, c.vcpus, c.memoryMb, c.diskGb]),
        [
          [host, 1, 1024, 1],
          [host, 1, 1024, 1],
        ],
      );
      const rows = await new InstanceRepo(one.db).list({ ids: args.instanceIds });
      assert.deepEqual(
        rows.map((r) => [r.host, r.taskState]),
        [
          [null, 'scheduling'],
          [null, 'scheduling'],
        ],
        'the scheduler does not write instances',
      );
    });

    it('requests that arrive together are weighed against each other (three at once spread 2/2/2)', async () => {
      const hosts = [
        await addHost(8192, { zone }),
        await addHost(8192, { zone }),
        await addHost(8192, { zone }),
      ];
      const s = scheduler(one);
      const requests = [await request(2), await request(2), await request(2)];
      const placed = (await Promise.all(requests.map((r) => s.selectDestinations(r)))).flatMap(
        (r) => r.hosts,
      );
      assert.deepEqual(
        hosts.map((h) => placed.filter((p) => p === h).length),
        [2, 2, 2],
      );
    });

    it('requests that arrive a little apart spread 2/2/2 too, whatever the gap', async () => {
      // Three clients' requests a few milliseconds apart: a later one may join a read that
      // began before an earlier one's claims were committed, and must still count them.
      for (const gapMs of [
        0, 0.5, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 13, 0.7, 1.2, 2.5, 3.5, 4.5, 7, 9, 11,
      ]) {
        zone = `z-${Math.random().toString(36).slice(2, 8)}`;
        const hosts = [
          await addHost(8192, { zone }),
          await addHost(8192, { zone }),
          await addHost(8192, { zone }),
        ];
        const s = scheduler(one);
        const requests = [await request(2), await request(2), await request(2)];
        const placed = (
          await Promise.all(
            requests.map(async (r, i) => {
              await new Promise((resolve) => setTimeout(resolve, i * gapMs));
              return s.selectDestinations(r);
            }),
          )
        ).flatMap((r) => r.hosts);
        assert.deepEqual(
          hosts.map((h) => placed.filter((p) => p === h).length),
          [2, 2, 2],
          `${gapMs} ms apart: ${placed.join(' ')}`,
        );
      }
    });

    it('spreads over the freest hosts, or packs onto the fullest that fits', async () => {
      const big = await addHost(8192, { zone });
      const small = await addHost(4096, { zone });
      const spread = await scheduler(one).selectDestinations(await request(3));
      assert.deepEqual(spread.hosts, [big, big, big], '8 GiB free stays ahead of 4 GiB');
      const packed = await scheduler(one, { weigher: 'pack' }).selectDestinations(await request(3));
      // Now big has 5 GiB free and small 4 GiB: pack fills small first.
      assert.deepEqual(packed.hosts, [small, small, small]);
    });

    it('passes hosts through the filters: down or disabled, zone, architecture', async () => {
      await addHost(8192, { zone, disabled: true });
      await addHost(8192, { zone, architecture: 'arm64' });
      const x86 = await addHost(1024, { zone });
      const { hosts } = await scheduler(one).selectDestinations(await request(1));
      assert.deepEqual(hosts, [x86]);
      await assert.rejects(scheduler(one).selectDestinations(await request(1)), (err) => {
        return noValidHost(err) && /1024 MiB of memory/.test((err as Error).message);
      });
      const arm = await scheduler(one).selectDestinations(
        await request(1, { architecture: 'arm64' }),
      );
      assert.equal(arm.hosts.length, 1);
      assert.notEqual(arm.hosts[0], x86);
    });

    it('places all or nothing: claims taken for a request that cannot be placed are given back', async () => {
      await addHost(2048, { zone });
      const args = await request(3);
      await assert.rejects(scheduler(one).selectDestinations(args), noValidHost);
      assert.deepEqual(await new CapacityClaimRepo(one.db).ofInstances(args.instanceIds), []);
      // The room is still there for a request that fits.
      const { hosts } = await scheduler(one).selectDestinations(await request(2));
      assert.equal(hosts.length, 2);
    });

    it('claims nothing for an instance whose launch was undone', async () => {
      await addHost(8192, { zone });
      const args = await request(2);
      await new InstanceRepo(one.db).deleteMany([args.instanceIds[1] as string]);
      await assert.rejects(
        scheduler(one).selectDestinations(args),
        (err) => err instanceof StratusError && err.kind === 'conflict',
      );
      assert.deepEqual(await new CapacityClaimRepo(one.db).ofInstances(args.instanceIds), []);
    });

    it('spreads decisions taken at once over the hosts, counting the claims still being taken', async () => {
      // Four equal hosts: eight decisions at once share a read in which all are empty, and
      // each counts the claims the others are taking, so they go two per host instead of all
      // to the first by name.
      const equal = [await addHost(8192, { zone }), await addHost(8192, { zone })];
      equal.push(await addHost(8192, { zone }), await addHost(8192, { zone }));
      const s = scheduler(one);
      const requests = await Promise.all(Array.from({ length: 8 }, () => request(1)));
      const placed = (await Promise.all(requests.map((args) => s.selectDestinations(args)))).map(
        (r) => r.hosts[0],
      );
      for (const host of equal) {
        assert.equal(placed.filter((h) => h === host).length, 2, `${host} in ${placed.join(' ')}`);
      }
    });

    it('never overfills a host when two schedulers place 24 instances at once', async () => {
      // Two hosts with room for 5 and 3 instances of 1 GiB: 8 of 24 fit.
      const a = await addHost(5 * 1024, { zone });
      const b = await addHost(3 * 1024, { zone });
      const schedulers = [scheduler(one), scheduler(two)];
      const requests = await Promise.all(Array.from({ length: 24 }, () => request(1)));
      const results = await Promise.allSettled(
        requests.map((args, i) => (schedulers[i % 2] as SchedulerManager).selectDestinations(args)),
      );
      const placed = results.flatMap((r) => (r.status === 'fulfilled' ? r.value.hosts : []));
      const refused = results.filter((r) => r.status === 'rejected');
      assert.equal(placed.length, 8);
      assert.equal(placed.filter((h) => h === a).length, 5);
      assert.equal(placed.filter((h) => h === b).length, 3);
      for (const r of refused) assert.ok(noValidHost((r as PromiseRejectedResult).reason));
      const usage = await new CapacityClaimRepo(one.db).usageByHost();
      assert.equal(usage.get(a)?.memoryMb, 5 * 1024);
      assert.equal(usage.get(b)?.memoryMb, 3 * 1024);
    });
  });
}
