// Capacity claims on every database back end: what `claim` answers, that a claim goes with
// its instance, and that migration 0008 gives instances placed before it their claims.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kysely, Migrator, type MigrationProvider } from 'kysely';
import { insertBuildingInstances, instanceRow } from '../../../test/support/instances.js';
import { openDatabase, type Database } from '../database.js';
import { CapacityClaimRepo, ComputeNodeRepo, InstanceRepo } from '../index.js';
import { MIGRATIONS } from '../migrations/index.js';
import { TEST_BACKENDS, type TestBackend } from '../../../test/support/databases.js';
import { needs } from '../../../test/support/capabilities.js';

const limits = () => ({ vcpus: 4, memoryMb: 4096, diskGb: 40 });

for (const backend of TEST_BACKENDS) {
  describe(`capacity claims on ${backend.name}`, needs(...backend.needs), () => {
    let created: Awaited<ReturnType<TestBackend['create']>>;
    let database: Database;

    before(async () => {
      created = await backend.create();
      // Up to the migration before claims, with a host and a placed instance, then the rest.
      database = await openDatabase(created.url, { migrate: false });
      const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };
      const migrator = new Migrator({
        db: database.db as unknown as Kysely<unknown>,
        provider,
        migrationTableName: 'stratus_migrations',
        migrationLockTableName: 'stratus_migrations_lock',
      });
      const to7 = await migrator.migrateTo('0007-state-reasons');
      assert.equal(to7.error, undefined);
      await (database.db as unknown as Kysely<Record<string, Record<string, unknown>>>)
        .insertInto('compute_nodes')
        .values({ host: 'old', vcpus: 8, memory_mb: 8192, disk_gb: 80, updated_at: 1 })
        .execute();
      // Rows as the schema was then: without the columns later migrations add.
      const old = (['active', 'stopped', 'deleted'] as const).map((vmState) => {
        const {
          metadataFetchedAt: _m,
          networkObserved: _n,
          disableApiTermination: _t,
          disableApiStop: _s,
          shutdownBehavior: _b,
          sourceDestCheck: _c,
          passwordData: _p,
          passwordDataAt: _a,
          accessIpv4: _a4,
          accessIpv6: _a6,
          metadataHttpTokens: _ht,
          metadataHttpEndpoint: _he,
          metadataHopLimit: _hl,
          metadataTags: _mt,
          lockedBy: _lb,
          lockedReason: _lr,
          resizeSource: _rs,
          ...row
        } = instanceRow({
          vcpus: 2,
          memoryMb: 2048,
          diskGb: 20,
          host: 'old',
          vmState,
        });
        return row;
      });
      await (database.db as unknown as Kysely<Record<string, Record<string, unknown>>>)
        .insertInto('instances')
        .values(old)
        .execute();
      const latest = await migrator.migrateToLatest();
      assert.equal(latest.error, undefined);
    });
    after(async () => {
      await database.close();
      await created.remove();
    });

    it('migration 0008 gives live placed instances their claims', async () => {
      const usage = await new CapacityClaimRepo(database.db).usageByHost();
      assert.deepEqual(usage.get('old'), { vcpus: 4, memoryMb: 4096, diskGb: 40 });
      const [node] = await new ComputeNodeRepo(database.db).list();
      assert.equal(node?.architecture, 'x86_64');
      assert.equal(node?.availabilityZone, '');
    });

    it('claims within the limits, refuses beyond them, and knows unknown hosts', async () => {
      const claims = new CapacityClaimRepo(database.db);
      await new ComputeNodeRepo(database.db).report({
        host: 'h',
        vcpus: 4,
        memoryMb: 4096,
        diskGb: 40,
        availabilityZone: 'az',
        architecture: 'x86_64',
        updatedAt: 2,
      });
      const ids = await insertBuildingInstances(database.db, 3, {
        vcpus: 2,
        memoryMb: 1024,
        diskGb: 10,
      });
      const req = (instanceId: string, host = 'h') => ({
        instanceId,
        host,
        vcpus: 2,
        memoryMb: 1024,
        diskGb: 10,
      });
      assert.equal(await claims.claim(req(ids[0] as string), limits), 'claimed');
      assert.equal(await claims.claim(req(ids[1] as string), limits), 'claimed');
      assert.equal(await claims.claim(req(ids[2] as string), limits), 'no_room', '6 > 4 vCPUs');
      assert.equal(await claims.claim(req(ids[2] as string, 'nowhere'), limits), 'unknown_host');
      // Claiming again for the same instance replaces its claim instead of adding one.
      assert.equal(await claims.claim(req(ids[1] as string), limits), 'claimed');
      assert.deepEqual((await claims.usageByHost()).get('h'), {
        vcpus: 4,
        memoryMb: 2048,
        diskGb: 20,
      });
      // The same sums, with the claims created since a moment named by instance.
      const before = await claims.usageWithRecent(0);
      assert.deepEqual(before.usage, await claims.usageByHost());
      assert.ok(before.recent.has(ids[0] as string) && before.recent.has(ids[1] as string));
      assert.equal(before.recent.has(ids[2] as string), false, 'refused: no claim');
      const none = await claims.usageWithRecent(Date.now() + 60_000);
      assert.deepEqual(none.usage, before.usage);
      assert.equal(none.recent.size, 0);
    });

    it('claims nothing for an instance that is not building, and a claim goes with its record', async () => {
      const claims = new CapacityClaimRepo(database.db);
      const [running, removed] = await insertBuildingInstances(database.db, 2);
      await new InstanceRepo(database.db).update(running as string, { vmState: 'active' });
      const req = (instanceId: string) => ({
        instanceId,
        host: 'old',
        vcpus: 1,
        memoryMb: 1,
        diskGb: 1,
      });
      const roomy = () => ({ vcpus: 100, memoryMb: 100_000, diskGb: 1000 });
      assert.equal(await claims.claim(req(running as string), roomy), 'not_building');
      assert.equal(await claims.claim(req(removed as string), roomy), 'claimed');
      await new InstanceRepo(database.db).deleteMany([removed as string]);
      assert.deepEqual(await claims.ofInstances([running as string, removed as string]), []);
    });
  });
}
