// A database outage under running APIs: with the cloud's PostgreSQL stopped, checking a token
// is a 503 in each API's own error format (Identity, Compute, Image) and EC2 says Unavailable;
// never "not found" or "unauthenticated", which would tell clients their token is dead. When
// the database is back, the same token works again. Under load too: with requests of every
// API in flight when the server stops, each answers 2xx or a 503 in its own format (never a
// 500, 401 or 404, never a hang), and the cloud serves again once the server is back, without
// restarting Stratus.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { needs } from './support/capabilities.js';
import {
  CreateKeyPairCommand,
  DeleteKeyPairCommand,
  DescribeInstancesCommand,
} from '@aws-sdk/client-ec2';
import { IdentityService } from '../src/identity/index.js';
import { failure } from './support/expect.js';
import { startTestCloud, type TestCloud } from './support/ec2.js';
import { PASSWORD } from './support/openstack.js';
import { startPrivatePostgres, type PrivatePostgres } from './support/private-postgres.js';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function call(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const r = await fetch(url, { headers });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : {} };
}

function assertErrorJson(a: Answer, code: number): void {
  assert.equal(a.status, code, JSON.stringify(a.body));
  const e = a.body.error as { code: number; title: string; message: string };
  assert.equal(e.code, code);
  assert.ok(e.message.length > 0);
}

describe('APIs during a database outage', needs('postgres-server'), () => {
  let pg: PrivatePostgres;
  let t: TestCloud;
  let identityUrl: string;
  let token: string;

  /** A password login for the admin, as the raw response (the token is in a header). */
  const login = () =>
    fetch(`${identityUrl}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: 'admin', domain: { id: 'default' }, password: PASSWORD } },
          },
          scope: { project: { name: 'admin', domain: { id: 'default' } } },
        },
      }),
    });
  const check = (subject: string, caller = token) =>
    call(`${identityUrl}/auth/tokens`, { 'x-auth-token': caller, 'x-subject-token': subject });

  before(async () => {
    pg = await startPrivatePostgres();
    t = await startTestCloud({ database: pg.url });
    identityUrl = t.cloud.urls?.identity as string;
    await new IdentityService(t.cloud.database.db).setPassword('admin', PASSWORD);
    const r = await login();
    assert.equal(r.status, 201);
    token = r.headers.get('x-subject-token') as string;
  });
  after(async () => {
    await t?.stop();
    pg?.remove();
  });

  it('tells a dead token from a live one while the database is up', async () => {
    assert.equal((await check(token)).status, 200);
    assertErrorJson(await check('st-no-such-token'), 404);
    assertErrorJson(await check(token, 'st-no-such-token'), 401);
  });

  it('answers 503, not 401 or 404, while the database is down, and recovers', async () => {
    pg.stop();
    // Identity: the subject token, the caller's token and a password login.
    assertErrorJson(await check(token), 503);
    assertErrorJson(await check('st-no-such-token'), 503);
    const refused = await login();
    assertErrorJson(
      { status: refused.status, body: (await refused.json()) as Answer['body'] },
      503,
    );
    // Compute: its own fault body.
    const servers = await call(`${t.cloud.urls?.compute}/servers`, { 'x-auth-token': token });
    assert.equal(servers.status, 503, JSON.stringify(servers.body));
    assert.equal((servers.body.serviceUnavailable as { code: number }).code, 503);
    // Image: Identity's error JSON.
    assertErrorJson(await call(`${t.cloud.urls?.image}/v2/images`, { 'x-auth-token': token }), 503);
    // EC2: the access key cannot be checked either.
    const ec2 = await failure(() => t.admin.send(new DescribeInstancesCommand({})));
    assert.equal(ec2.status, 503, `${ec2.code}: ${ec2.message}`);
    assert.equal(ec2.code, 'Unavailable');

    pg.start();
    assert.equal((await check(token)).status, 200);
    assert.equal((await login()).status, 201);
  });

  it('under load: requests in flight when it stops get 2xx or 503, and it recovers', async (tc) => {
    type Outcome = 'ok' | 'unavailable';
    const tally = new Map<string, Record<Outcome, number>>();
    const bad: string[] = [];
    let phase: 'before' | 'down' | 'after' = 'before';
    const downSeen = new Map<string, number>();
    const note = (kind: string, outcome: Outcome | string) => {
      if (outcome !== 'ok' && outcome !== 'unavailable') {
        bad.push(`${kind} (${phase}): ${outcome}`);
        return;
      }
      const row = tally.get(kind) ?? { ok: 0, unavailable: 0 };
      row[outcome] += 1;
      tally.set(kind, row);
      if (outcome === 'unavailable') downSeen.set(kind, (downSeen.get(kind) ?? 0) + 1);
    };
    // Every request has its own bound: a hang is a failure, not a wait.
    const bounded = { signal: () => AbortSignal.timeout(20_000) };
    const openstack = async (
      kind: string,
      url: string,
      faultKey: string,
      headers: Record<string, string> = {},
    ) => {
      try {
        const r = await fetch(url, {
          headers: { 'x-auth-token': token, ...headers },
          signal: bounded.signal(),
        });
        const body = (await r.json().catch(() => ({}))) as Record<string, unknown>;
        if (r.status === 200) return note(kind, 'ok');
        const fault = body[faultKey] as { code?: number } | undefined;
        if (r.status === 503 && fault?.code === 503) return note(kind, 'unavailable');
        note(kind, `${r.status} ${JSON.stringify(body).slice(0, 200)}`);
      } catch (err) {
        note(kind, `no answer: ${String(err)}`);
      }
    };
    const ec2 = async (kind: string, send: () => Promise<unknown>) => {
      try {
        await send();
        note(kind, 'ok');
      } catch (err) {
        const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
        const status = e.$metadata?.httpStatusCode;
        if (status === 503 && e.name === 'Unavailable') note(kind, 'unavailable');
        else note(kind, `${status ?? 'no answer'} ${e.name}: ${e.message}`);
      }
    };
    let n = 0;
    const kinds: Record<string, () => Promise<void>> = {
      'identity token check': () =>
        openstack('identity token check', `${identityUrl}/auth/tokens`, 'error', {
          'x-subject-token': token,
        }),
      'compute GET /servers': () =>
        openstack('compute GET /servers', `${t.cloud.urls?.compute}/servers`, 'serviceUnavailable'),
      'image GET /v2/images': () =>
        openstack('image GET /v2/images', `${t.cloud.urls?.image}/v2/images`, 'error'),
      'ec2 DescribeInstances': () =>
        ec2('ec2 DescribeInstances', () =>
          t.admin.send(new DescribeInstancesCommand({}), { abortSignal: bounded.signal() }),
        ),
      'ec2 CreateKeyPair+DeleteKeyPair': () =>
        ec2('ec2 CreateKeyPair+DeleteKeyPair', async () => {
          const KeyName = `outage-${n++}`;
          await t.admin.send(new CreateKeyPairCommand({ KeyName }), {
            abortSignal: bounded.signal(),
          });
          await t.admin.send(new DeleteKeyPairCommand({ KeyName }), {
            abortSignal: bounded.signal(),
          });
        }),
    };
    let running = true;
    const workers = Object.values(kinds).flatMap((request) =>
      Array.from({ length: 3 }, async () => {
        while (running) await request();
      }),
    );
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    try {
      await sleep(1000);
      pg.stop();
      phase = 'down';
      await sleep(2000);
      pg.start();
      phase = 'after';
      // Back without restarting anything: every kind of request succeeds again, in time.
      const backAt = Date.now();
      const okAfter = new Map<string, number>();
      const seen = () => new Map([...tally].map(([k, v]) => [k, v.ok]));
      const baseline = seen();
      while (
        Object.keys(kinds).some((k) => (seen().get(k) ?? 0) <= (baseline.get(k) ?? 0)) &&
        Date.now() - backAt < 15_000
      ) {
        await sleep(50);
      }
      const recoveredMs = Date.now() - backAt;
      for (const k of Object.keys(kinds))
        okAfter.set(k, (seen().get(k) ?? 0) - (baseline.get(k) ?? 0));
      await sleep(500);
      running = false;
      await Promise.all(workers);
      tc.diagnostic(
        `answers by kind (ok/503): ${[...tally]
          .map(([k, v]) => `${k} ${v.ok}/${v.unavailable}`)
          .join(', ')}; every kind answered 2xx again within ${recoveredMs} ms of the restart`,
      );
      assert.deepEqual(bad, [], "every answer is 2xx or a 503 in its API's format");
      for (const k of Object.keys(kinds)) {
        assert.ok((downSeen.get(k) ?? 0) > 0, `${k} saw the outage`);
        assert.ok((okAfter.get(k) ?? 0) > 0, `${k} served again after the restart`);
      }
    } finally {
      running = false;
      await Promise.all(workers);
    }
  });
});
