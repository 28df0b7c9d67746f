// Which database errors are outages: an unreachable server is `unavailable`; a bad query or a
// constraint violation passes through unchanged, whatever the dialect.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { StratusError } from '../errors.js';
import { openDatabase } from './database.js';
import { isDatabaseOutage } from './outage.js';
import { sqliteBackend } from '../../test/support/databases.js';
import { isUniqueViolation } from './constraint.js';

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('database outages', () => {
  it('reports a PostgreSQL server that is not there as unavailable', async () => {
    const url = `postgres://postgres@127.0.0.1:${await closedPort()}/postgres`;
    await assert.rejects(openDatabase(url), (err: unknown) => {
      assert.ok(err instanceof StratusError, String(err));
      assert.equal(err.kind, 'unavailable');
      assert.equal(err.resource, 'database');
      return true;
    });
  });

  it('lets query errors and constraint violations through unchanged', async () => {
    const { url, remove } = await sqliteBackend.create();
    const database = await openDatabase(url);
    try {
      const bad = await sql`select * from no_such_table`.execute(database.db).catch((e) => e);
      assert.ok(!(bad instanceof StratusError));
      assert.equal(isDatabaseOutage(bad), false);
      const row = {
        serviceType: 'ec2',
        interface: 'public' as const,
        region: 'r',
        url: 'u',
        updatedAt: 1,
      };
      await database.db.insertInto('endpoints').values(row).execute();
      const dup = await database.db
        .insertInto('endpoints')
        .values(row)
        .execute()
        .catch((e) => e);
      assert.ok(isUniqueViolation(dup), String(dup));
      assert.equal(isDatabaseOutage(dup), false);
    } finally {
      await database.close();
      await remove();
    }
  });

  it('classifies the codes of both dialects', () => {
    const withCode = (code: string) => Object.assign(new Error('x'), { code });
    for (const code of ['ECONNREFUSED', '57P01', '08006', 'SQLITE_BUSY', 'SQLITE_IOERR_READ']) {
      assert.equal(isDatabaseOutage(withCode(code)), true, code);
    }
    for (const code of ['23505', '42P01', 'SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_ERROR']) {
      assert.equal(isDatabaseOutage(withCode(code)), false, code);
    }
    assert.equal(isDatabaseOutage(new Error('Connection terminated unexpectedly')), true);
    // node-postgres when a new connection gets no answer within its connect timeout.
    assert.equal(isDatabaseOutage(new Error('timeout expired')), true);
    assert.equal(isDatabaseOutage(new Error('statement timeout expired here')), false);
  });
});
