// Host aggregates on every database back end: ids in order, names unique, hosts and metadata
// kept, and the `availability_zone` key as the zone ComputeNodeRepo gives a host (the one the
// scheduler, the zone listings and launches read); a flavor's extra specs and access list and
// the default quota class, which the same migration (0025) brings.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openDatabase, type Database } from '../database.js';
import { AggregateRepo, ComputeNodeRepo, FlavorRepo, ProjectRepo, QuotaRepo } from '../index.js';
import { TEST_BACKENDS, type TestBackend } from '../../../test/support/databases.js';
import { needs } from '../../../test/support/capabilities.js';

const node = (host: string, availabilityZone: string) => ({
  host,
  vcpus: 4,
  memoryMb: 4096,
  diskGb: 40,
  availabilityZone,
  architecture: 'x86_64',
  updatedAt: 1,
});

for (const backend of TEST_BACKENDS) {
  describe(
    `aggregates, flavor specs and quota classes on ${backend.name}`,
    needs(...backend.needs),
    () => {
      let created: Awaited<ReturnType<TestBackend['create']>>;
      let database: Database;

      before(async () => {
        created = await backend.create();
        database = await openDatabase(created.url);
        const nodes = new ComputeNodeRepo(database.db);
        await nodes.report(node('h1', 'nova'));
        await nodes.report(node('h2', 'nova'));
      });
      after(async () => {
        await database.close();
        await created.remove();
      });

      it("puts an aggregate's hosts in its zone, and back in their own when they leave", async () => {
        const repo = new AggregateRepo(database.db);
        const nodes = new ComputeNodeRepo(database.db);
        const a = await repo.create('fast', 'zf', 10);
        const b = await repo.create('plain', null, 11);
        assert.deepEqual([a.id, b.id], [1, 2]);
        assert.deepEqual(a.metadata, { availability_zone: 'zf' });
        await assert.rejects(repo.create('fast', null, 12), { kind: 'already_exists' });

        await repo.addHost(a.id, 'h1', 13);
        await repo.addHost(b.id, 'h2', 13);
        await assert.rejects(repo.addHost(a.id, 'h1', 14), { kind: 'already_exists' });
        const zones = new Map((await nodes.list()).map((n) => [n.host, n.availabilityZone]));
        assert.deepEqual(Object.fromEntries(zones), { h1: 'zf', h2: 'nova' });
        assert.equal(await nodes.zoneExists('zf'), true);
        assert.deepEqual(Object.fromEntries(await nodes.zonesOf(['h1', 'h2'])), {
          h1: 'zf',
          h2: 'nova',
        });

        await repo.setMetadata(a.id, { availability_zone: 'zg', ssd: 'yes' }, 15);
        assert.deepEqual((await repo.get(a.id)).metadata, { availability_zone: 'zg', ssd: 'yes' });
        assert.equal(await nodes.zoneExists('zf'), false);
        await repo.setMetadata(a.id, { ssd: null }, 16);
        assert.deepEqual((await repo.get(a.id)).metadata, { availability_zone: 'zg' });

        await assert.rejects(repo.delete(a.id), { kind: 'invalid' });
        await repo.removeHost(a.id, 'h1', 17);
        await assert.rejects(repo.removeHost(a.id, 'h1', 18), { kind: 'not_found' });
        assert.equal((await nodes.zonesOf(['h1'])).get('h1'), 'nova');
        await repo.delete(a.id);
        await assert.rejects(repo.get(a.id), { kind: 'not_found' });
        const c = await repo.create('later', null, 19);
        assert.equal(c.id, 3, 'ids are not reused while a higher one exists');
      });

      it("keeps a flavor's extra specs and access list, and drops them with the flavor", async () => {
        const flavors = new FlavorRepo(database.db);
        await flavors.create(
          {
            id: 'p1',
            name: 'private.one',
            vcpus: 1,
            memoryMb: 64,
            diskGb: 1,
            ephemeralGb: 0,
            swapMb: 0,
            rxtxFactor: 1.5,
            isPublic: false,
            description: null,
          },
          20,
        );
        await flavors.setExtraSpecs('p1', { a: '1', b: '2' });
        await flavors.setExtraSpecs('p1', { a: '3' });
        assert.deepEqual((await flavors.extraSpecs(['p1'])).get('p1'), { a: '3', b: '2' });
        await flavors.addAccess('p1', 'proj');
        await assert.rejects(flavors.addAccess('p1', 'proj'), { kind: 'already_exists' });
        assert.ok((await flavors.usableBy('proj')).some((f) => f.id === 'p1'));
        assert.ok(!(await flavors.usableBy('other')).some((f) => f.id === 'p1'));
        assert.equal((await flavors.getUsableByName('private.one', 'proj')).rxtxFactor, 1.5);
        await assert.rejects(flavors.getUsableByName('private.one', 'other'), {
          kind: 'not_found',
        });
        assert.equal(await flavors.delete('p1'), true);
        assert.deepEqual(await flavors.extraSpecs(['p1']), new Map());
        assert.deepEqual(await flavors.accessList('p1'), []);
      });

      it('gives every project the default class under its own limits, and forgets them on reset', async () => {
        const quotas = new QuotaRepo(database.db);
        await new ProjectRepo(database.db).create({
          id: 'proj',
          name: 'proj',
          description: '',
          enabled: 1,
          createdAt: 1,
        });
        await quotas.setClass('default', 'cores', 40);
        await quotas.setClass('default', 'instances', -1);
        await quotas.set('proj', 'instances', 7);
        assert.deepEqual(await quotas.overrides('proj'), { cores: 40, instances: 7 });
        assert.deepEqual(await quotas.overrides('other'), { cores: 40, instances: -1 });
        await quotas.reset('proj');
        assert.deepEqual(await quotas.overrides('proj'), { cores: 40, instances: -1 });
      });
    },
  );
}
