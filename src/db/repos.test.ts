// Repository behaviour, run on every database back end.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StratusError } from '../errors.js';
import { migrate } from './database.js';
import { EndpointRepo, ProjectRepo, ServiceRepo } from './index.js';
import { MIGRATIONS } from './migrations/index.js';
import { openTestDatabase, schemaSnapshot, TEST_BACKENDS } from '../../test/support/databases.js';
import { needs } from '../../test/support/capabilities.js';
import type { Database } from './database.js';

const MIGRATION_NAMES = Object.keys(MIGRATIONS).sort();

for (const backend of TEST_BACKENDS) {
  describe(`repositories on ${backend.name}`, needs(...backend.needs), () => {
    let database: Database;
    before(async () => {
      database = await openTestDatabase(backend);
    });
    after(async () => {
      await database?.close();
    });

    it('running the migrations again changes nothing', async () => {
      const before = await schemaSnapshot(database);
      assert.deepEqual(
        before.migrations.map((m) => m.split(' ')[0]),
        MIGRATION_NAMES,
        'every migration ran once, in order',
      );
      assert.ok(Object.keys(before.tables).includes('instances'), 'the tables exist');
      assert.ok(Object.keys(before.indexes).length > 0, 'the indexes exist');
      await migrate(database.db);
      await migrate(database.db);
      assert.deepEqual(await schemaSnapshot(database), before);
    });

    it('refuses a second project with the same name as already_exists', async () => {
      const repo = new ProjectRepo(database.db);
      await repo.create({ id: 'p1', name: 'demo', description: '', enabled: 1, createdAt: 1 });
      await assert.rejects(
        repo.create({ id: 'p2', name: 'demo', description: '', enabled: 1, createdAt: 2 }),
        (err: unknown) =>
          err instanceof StratusError &&
          err.kind === 'already_exists' &&
          err.resource === 'project',
      );
      assert.equal((await repo.get('demo')).id, 'p1');
      await assert.rejects(
        repo.get('nope'),
        (err: unknown) => err instanceof StratusError && err.kind === 'not_found',
      );
    });

    it('compares stored times as numbers, not as text', async () => {
      // The seed's bug: times stored as text compared as strings, so '99999' > '100000'.
      const services = new ServiceRepo(database.db);
      await services.register('h-old', 'compute', 'compute.h-old', 99_999);
      await services.register('h-new', 'compute', 'compute.h-new', 100_000);
      const newer = await database.db
        .selectFrom('services')
        .select('host')
        .where('heartbeatAt', '>', 99_999)
        .execute();
      assert.deepEqual(
        newer.map((r) => r.host),
        ['h-new'],
      );
      const row = await services.get('h-new', 'compute');
      assert.equal(typeof row.heartbeatAt, 'number');
      assert.equal(row.heartbeatAt, 100_000);
    });

    it('keeps large millisecond times exact', async () => {
      const services = new ServiceRepo(database.db);
      const t = Date.UTC(2099, 11, 31, 23, 59, 59, 999);
      const row = await services.register('h-future', 'network', 'network', t);
      assert.equal(row.heartbeatAt, t);
    });

    it('registers a service once per host and binary and counts heartbeats', async () => {
      const services = new ServiceRepo(database.db);
      const first = await services.register('h1', 'scheduler', 'scheduler', 1000);
      await services.setDisabled('h1', 'scheduler', true, 'maintenance');
      const again = await services.register('h1', 'scheduler', 'scheduler', 2000);
      assert.equal(again.id, first.id);
      assert.equal(again.disabled, 1, 'an operator’s disable survives a restart');
      assert.equal(again.disabledReason, 'maintenance');
      await services.beat(first.id, 3000);
      await services.beat(first.id, 4000);
      const row = await services.get('h1', 'scheduler');
      assert.equal(row.heartbeatAt, 4000);
      assert.equal(row.reportCount, 2);
    });

    it('replaces an endpoint in place', async () => {
      const endpoints = new EndpointRepo(database.db);
      await endpoints.put({
        serviceType: 'ec2',
        interface: 'public',
        region: 'r1',
        url: 'http://a/',
        updatedAt: 1,
      });
      await endpoints.put({
        serviceType: 'ec2',
        interface: 'public',
        region: 'r1',
        url: 'http://b/',
        updatedAt: 2,
      });
      assert.equal(await endpoints.publicUrl('ec2', 'r1'), 'http://b/');
      assert.equal((await endpoints.list('r1')).length, 1);
      assert.equal(await endpoints.publicUrl('ec2', 'elsewhere'), undefined);
    });

    it('serves 200 concurrent writes from one process without losing any', async () => {
      const repo = new ProjectRepo(database.db);
      const before = await repo.count();
      await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          repo.create({
            id: `c${i}`,
            name: `concurrent-${i}`,
            description: '',
            enabled: 1,
            createdAt: i,
          }),
        ),
      );
      assert.equal(await repo.count(), before + 200);
    });
  });
}
