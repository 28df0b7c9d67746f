// The key IMDSv2 session tokens are signed with, on every database back end: readers in
// different processes (here, several readers asking at once) all end up with the one key
// the database keeps, and a reader started later reads the same.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../db/index.js';
import { openTestDatabase, TEST_BACKENDS } from '../../test/support/databases.js';
import { needs } from '../../test/support/capabilities.js';
import { InstanceMetadataReader } from './instance-metadata.js';

for (const backend of TEST_BACKENDS) {
  describe(`the metadata token key on ${backend.name}`, needs(...backend.needs), () => {
    let database: Database;
    before(async () => {
      database = await openTestDatabase(backend);
    });
    after(async () => {
      await database?.close();
    });

    it('is one key for every reader, made by whichever asks first', async () => {
      const keys = await Promise.all(
        Array.from({ length: 6 }, () => new InstanceMetadataReader(database.db).tokenKey()),
      );
      assert.equal(keys[0]?.length, 32);
      for (const k of keys) assert.ok(k.equals(keys[0] as Buffer));
      const later = await new InstanceMetadataReader(database.db).tokenKey();
      assert.ok(later.equals(keys[0] as Buffer));
      const rows = await database.db.selectFrom('metadataTokenKeys').selectAll().execute();
      assert.equal(rows.length, 1);
    });
  });
}
