// The health report on every database back end: each part that fails says so in its own field.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../db/index.js';
import { needs } from '../../test/support/capabilities.js';
import { openTestDatabase, TEST_BACKENDS } from '../../test/support/databases.js';
import { ServiceHealth } from './health.js';

for (const backend of TEST_BACKENDS) {
  describe(`service health on ${backend.name}`, needs(...backend.needs), () => {
    let database: Database;
    before(async () => {
      database = await openTestDatabase(backend);
    });
    after(async () => {
      await database?.close();
    });

    it('reports a database that answers and takes a write, and a connected bus, as ok', async () => {
      const report = await new ServiceHealth(database.db, 10_000, { connected: true }).report();
      assert.equal(report.database, 'ok');
      assert.equal(report.bus, 'ok');
      const row = await database.db
        .selectFrom('generations')
        .select('value')
        .where('name', '=', 'health')
        .executeTakeFirstOrThrow();
      assert.ok(Number(row.value) >= 1, 'the check wrote');
    });

    it('names a disconnected bus', async () => {
      const report = await new ServiceHealth(database.db, 10_000, { connected: false }).report();
      assert.equal(report.bus, 'error: disconnected');
      assert.equal(report.database, 'ok');
    });
  });
}
