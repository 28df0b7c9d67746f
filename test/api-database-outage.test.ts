// A database outage under running APIs: with the cloud's PostgreSQL stopped, checking a token
// is a 503 in each API's own error format (Identity, Compute, Image) and EC2 says Unavailable;
// never "not found" or "unauthenticated", which would tell clients their token is dead. When
// the database is back, the same token works again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { needs } from './support/capabilities.js';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
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
});
