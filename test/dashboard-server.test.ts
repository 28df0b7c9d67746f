// The dashboard's server without a browser: sign-in into a server-side session behind a signed,
// HttpOnly, SameSite=Strict cookie; forged and cross-site requests refused; the proxy carrying
// the user's token to the public APIs; the catalog, banner and rc file naming the dashboard.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IdentityService, renderRcFile } from '../src/identity/index.js';
import { startTestCloud, type TestCloud } from './support/ec2.js';
import { login, PASSWORD } from './support/openstack.js';

describe('the dashboard server', () => {
  let t: TestCloud;
  let url: string;
  let origin: string;

  before(async () => {
    t = await startTestCloud();
    url = t.cloud.urls?.dashboard as string;
    origin = new URL(url).origin;
    const identity = new IdentityService(t.cloud.database.db);
    await identity.setPassword('admin', PASSWORD);
    await identity.createUser({ name: 'carol', password: PASSWORD });
    await identity.createProject({ name: 'carol-project' });
    await identity.grantRole('carol', 'carol-project', 'member');
  });
  after(async () => {
    await t?.stop();
  });

  /** Signs in as carol; returns the cookie header and CSRF token. */
  async function signIn(): Promise<{
    cookie: string;
    csrf: string;
    body: Record<string, unknown>;
  }> {
    const r = await fetch(`${url}api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin },
      body: JSON.stringify({ username: 'carol', password: PASSWORD, project: 'carol-project' }),
    });
    assert.equal(r.status, 201);
    const setCookie = r.headers.get('set-cookie') ?? '';
    const body = (await r.json()) as Record<string, unknown>;
    return { cookie: setCookie.split(';')[0] as string, csrf: body.csrf as string, body };
  }

  it('is in the catalog as type dashboard, and the rc file names it', async () => {
    const token = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
    const r = await fetch(`${t.cloud.urls?.identity}/auth/catalog`, {
      headers: { 'x-auth-token': token },
    });
    const catalog = (await r.json()) as {
      catalog: { type: string; endpoints: { url: string }[] }[];
    };
    const entry = catalog.catalog.find((c) => c.type === 'dashboard');
    assert.equal(entry?.endpoints[0]?.url, url);
    const rc = renderRcFile({
      ec2Url: 'http://127.0.0.1:8773/',
      identityUrl: 'http://127.0.0.1:5000/v3',
      dashboardUrl: url,
      accessKey: 'a',
      secretKey: 's',
      region: 'r',
      username: 'admin',
      password: null,
      projectName: 'admin',
    });
    assert.match(rc, new RegExp(`export STRATUS_DASHBOARD_URL='${url}'`));
  });

  it('serves the built page with a policy that lets no inline script run', async () => {
    const r = await fetch(url);
    assert.equal(r.status, 200);
    assert.match(await r.text(), /<div id="app">/);
    assert.match(r.headers.get('content-security-policy') ?? '', /script-src 'self';/);
    assert.equal(r.headers.get('x-frame-options'), 'DENY');
  });

  it('signs in with a password into a signed HttpOnly SameSite=Strict cookie and never shows the token', async () => {
    const r = await fetch(`${url}api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin },
      body: JSON.stringify({ username: 'carol', password: PASSWORD, project: 'carol-project' }),
    });
    assert.equal(r.status, 201);
    const setCookie = r.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    const text = await r.text();
    const body = JSON.parse(text) as {
      user: { name: string };
      project: { name: string };
      admin: boolean;
    };
    assert.equal(body.user.name, 'carol');
    assert.equal(body.project.name, 'carol-project');
    assert.equal(body.admin, false);
    assert.doesNotMatch(text, /token/i);
    const cookie = setCookie.split(';')[0] as string;
    const me = await fetch(`${url}api/session`, { headers: { cookie } });
    assert.equal(me.status, 200);
  });

  it('answers a wrong password with the Identity API message, and makes no session', async () => {
    const r = await fetch(`${url}api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin },
      body: JSON.stringify({ username: 'carol', password: 'wrong', project: 'carol-project' }),
    });
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('set-cookie'), null);
    const body = (await r.json()) as { error: { message: string } };
    assert.ok(body.error.message.length > 10, body.error.message);
  });

  it('refuses a sign-in posted from another site', async () => {
    const r = await fetch(`${url}api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'http://evil.example' },
      body: JSON.stringify({ username: 'carol', password: PASSWORD, project: 'carol-project' }),
    });
    assert.equal(r.status, 403);
    assert.equal(r.headers.get('set-cookie'), null);
  });

  it('proxies to the Compute API with the user token, and refuses changes without the CSRF token or from another origin', async () => {
    const { cookie, csrf } = await signIn();
    const list = await fetch(`${url}api/compute/os-keypairs`, { headers: { cookie } });
    assert.equal(list.status, 200);
    assert.deepEqual(await list.json(), { keypairs: [] });
    const body = JSON.stringify({ keypair: { name: 'k1' } });
    const json = { 'content-type': 'application/json', cookie, origin };
    const noToken = await fetch(`${url}api/compute/os-keypairs`, {
      method: 'POST',
      headers: json,
      body,
    });
    assert.equal(noToken.status, 403);
    const wrongToken = await fetch(`${url}api/compute/os-keypairs`, {
      method: 'POST',
      headers: { ...json, 'x-csrf-token': `${csrf}x` },
      body,
    });
    assert.equal(wrongToken.status, 403);
    const otherOrigin = await fetch(`${url}api/compute/os-keypairs`, {
      method: 'POST',
      headers: { ...json, 'x-csrf-token': csrf, origin: 'http://evil.example' },
      body,
    });
    assert.equal(otherOrigin.status, 403);
    // Nothing was made by the refused requests.
    const still = await fetch(`${url}api/compute/os-keypairs`, { headers: { cookie } });
    assert.deepEqual(await still.json(), { keypairs: [] });
    const ok = await fetch(`${url}api/compute/os-keypairs`, {
      method: 'POST',
      headers: { ...json, 'x-csrf-token': csrf },
      body,
    });
    assert.equal(ok.status, 200);
    const bad = await fetch(`${url}api/compute/os-keypairs`, {
      method: 'POST',
      headers: { ...json, 'x-csrf-token': csrf },
      body: JSON.stringify({ keypair: { name: 'k1' } }),
    });
    assert.equal(bad.status, 409);
    assert.match(await bad.text(), /k1/);
  });

  it('refuses a cookie whose signature does not match, and requests without one', async () => {
    const { cookie } = await signIn();
    const [name, value] = cookie.split('=') as [string, string];
    const forged = `${name}=${decodeURIComponent(value).replace(/\..*$/, '.AAAA')}`;
    assert.equal((await fetch(`${url}api/session`, { headers: { cookie: forged } })).status, 401);
    assert.equal((await fetch(`${url}api/compute/servers`)).status, 401);
  });

  it('signs in with an application credential', async () => {
    const token = await login(t.cloud.urls?.identity as string, 'carol', 'carol-project');
    const me = await fetch(`${t.cloud.urls?.identity}/auth/tokens`, {
      headers: { 'x-auth-token': token, 'x-subject-token': token },
    });
    const userId = ((await me.json()) as { token: { user: { id: string } } }).token.user.id;
    const made = await fetch(`${t.cloud.urls?.identity}/users/${userId}/application_credentials`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-auth-token': token },
      body: JSON.stringify({ application_credential: { name: 'dash' } }),
    });
    assert.equal(made.status, 201, await made.clone().text());
    const ac = ((await made.json()) as { application_credential: { id: string; secret: string } })
      .application_credential;
    const r = await fetch(`${url}api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin },
      body: JSON.stringify({ method: 'application_credential', id: ac.id, secret: ac.secret }),
    });
    assert.equal(r.status, 201);
    const body = (await r.json()) as { user: { name: string }; project: { name: string } };
    assert.equal(body.user.name, 'carol');
    assert.equal(body.project.name, 'carol-project');
  });

  it('signing out ends the session', async () => {
    const { cookie, csrf } = await signIn();
    const out = await fetch(`${url}api/session`, {
      method: 'DELETE',
      headers: { cookie, origin, 'x-csrf-token': csrf },
    });
    assert.equal(out.status, 204);
    assert.equal((await fetch(`${url}api/session`, { headers: { cookie } })).status, 401);
  });

  it('streams the project instances as server-sent events', async () => {
    const { cookie } = await signIn();
    const ac = new AbortController();
    const r = await fetch(`${url}api/events`, { headers: { cookie }, signal: ac.signal });
    assert.equal(r.headers.get('content-type'), 'text/event-stream');
    const reader = (r.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('event: servers')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    ac.abort();
    assert.match(text, /event: servers\ndata: \{"servers":\[\]\}/);
  });
});
