// Test support: domain errors as services throw them, EC2 errors as the SDK reports them, and waiting for a stopped cloud's
// PostgreSQL connections to close before its test database is dropped.
import assert from 'node:assert/strict';
import pg from 'pg';
import { StratusError } from '../../src/errors.js';
import { POSTGRES_ADMIN_URL } from './capabilities.js';
import { waitUntil } from './ec2.js';

/** A check for `assert.rejects`: a StratusError of this kind (and resource, reason, id). */
export function stratusError(
  kind: string,
  more: { resource?: string; reason?: string; id?: string } = {},
): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof StratusError, `expected a StratusError, got ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    for (const [k, v] of Object.entries(more)) assert.equal(err[k as keyof typeof more], v);
    return true;
  };
}

/** Runs `send` and returns the EC2 error it fails with (code and HTTP status). */
export async function failure(
  send: () => Promise<unknown>,
): Promise<{ code: string; status: number; message: string }> {
  try {
    await send();
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { code: e.name, status: e.$metadata?.httpStatusCode ?? 0, message: e.message };
  }
  assert.fail('the request was expected to fail');
}

/** Asserts that `send` fails with this EC2 code and HTTP 400. */
export async function expectError(send: () => Promise<unknown>, code: string): Promise<void> {
  const e = await failure(send);
  assert.equal(e.code, code, e.message);
  assert.equal(e.status, 400);
}

/**
 * Waits until the connections to a test database are really closed (a pool's end() returns
 * before its sockets are), so dropping the database cannot cut one off.
 */
export async function disconnected(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  try {
    await waitUntil(
      async () => {
        const r = await admin.query<{ n: string }>(
          'select count(*) as n from pg_stat_activity where datname = $1',
          [name],
        );
        return Number(r.rows[0]?.n) === 0;
      },
      10_000,
      'the connections to the test database to close',
    );
  } finally {
    await admin.end();
  }
}
