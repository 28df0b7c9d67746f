// The dashboard's server without a browser: sign-in into a server-side session behind a signed,
// HttpOnly, SameSite=Strict cookie; forged and cross-site requests refused; the proxy carrying
// the user's token to the public APIs; the catalog, banner and rc file naming the dashboard.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { IdentityService, renderRcFile } from '../src/identity/index.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { login, PASSWORD } from './support/openstack.js';

describe('the dashboard server', () => {
  let t: TestCloud;
  let url: string;
  let origin: string;

  before(async () => {
    t = await startTestCloud({ 'console-token-seconds': '2' });
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

  describe('serial consoles', () => {
    let token: string;
    let compute: string;
    let serverId: string;
    const consoleUrl = async (version: string, body: object, path = 'remote-consoles') => {
      const r = await fetch(`${compute}/servers/${serverId}/${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-auth-token': token,
          'x-openstack-nova-api-version': version,
        },
        body: JSON.stringify(body),
      });
      return { status: r.status, body: (await r.json()) as Record<string, Record<string, string>> };
    };
    const SERIAL = { remote_console: { protocol: 'serial', type: 'serial' } };
    /** Opens the URL; resolves with the socket once open, or the HTTP status it was refused with. */
    const connect = (url: string, headers: Record<string, string> = {}) =>
      new Promise<WebSocket | number>((resolve, reject) => {
        const ws = new WebSocket(url, { headers });
        ws.once('open', () => resolve(ws));
        ws.once('unexpected-response', (req, res) => {
          req.destroy();
          resolve(res.statusCode ?? 0);
        });
        ws.once('error', reject);
      });

    before(async () => {
      compute = t.cloud.urls?.compute as string;
      token = await login(t.cloud.urls?.identity as string, 'carol', 'carol-project');
      const image = await t.addImage({ name: 'serial-image' });
      const r = await fetch(`${compute}/servers`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-auth-token': token },
        body: JSON.stringify({ server: { name: 'tty', imageRef: image.id, flavorRef: '1' } }),
      });
      assert.equal(r.status, 202, await r.clone().text());
      serverId = ((await r.json()) as { server: { id: string } }).server.id;
      await waitUntil(
        async () => {
          const s = await fetch(`${compute}/servers/${serverId}`, {
            headers: { 'x-auth-token': token },
          });
          return ((await s.json()) as { server: { status: string } }).server.status === 'ACTIVE';
        },
        30_000,
        'the server to be ACTIVE',
      );
    });

    it('answers remote-consoles at 2.6 with a one-time WebSocket URL on the dashboard listener', async () => {
      const r = await consoleUrl('2.6', SERIAL);
      assert.equal(r.status, 200);
      const rc = r.body.remote_console as Record<string, string>;
      assert.equal(rc.protocol, 'serial');
      assert.equal(rc.type, 'serial');
      const u = new URL(rc.url as string);
      assert.equal(u.protocol, 'ws:');
      assert.equal(u.host, new URL(url).host);
      assert.equal(u.pathname, '/serial');
      const ws = await connect(rc.url as string);
      assert.ok(ws instanceof WebSocket);
      let got = '';
      ws.on('message', (d: Buffer) => (got += d.toString()));
      ws.send('echo hi\r');
      await waitUntil(async () => got.includes('echo hi'), 10_000, 'the echo');
      ws.close();
      // The same URL again: used up.
      assert.equal(await connect(rc.url as string), 403);
    });

    it('refuses other console kinds, microversions before 2.6, and a bad body in the Compute API format', async () => {
      const vnc = await consoleUrl('2.6', { remote_console: { protocol: 'vnc', type: 'novnc' } });
      assert.equal(vnc.status, 400);
      assert.match(vnc.body.badRequest?.message ?? '', /serial/);
      assert.equal((await consoleUrl('2.5', SERIAL)).status, 404);
      assert.equal((await consoleUrl('2.6', { remote_console: 'x' })).status, 400);
    });

    it('answers the os-getSerialConsole action too', async () => {
      const r = await consoleUrl('2.1', { 'os-getSerialConsole': { type: 'serial' } }, 'action');
      assert.equal(r.status, 200);
      assert.equal(r.body.console?.type, 'serial');
      assert.match(r.body.console?.url ?? '', /^ws:\/\/.*\/serial\?token=/);
      const bad = await consoleUrl('2.1', { 'os-getSerialConsole': { type: 'novnc' } }, 'action');
      assert.equal(bad.status, 400);
    });

    it('refuses an expired URL, an unknown token, another site, and another signed-in user', async () => {
      const expired = (await consoleUrl('2.6', SERIAL)).body.remote_console?.url as string;
      await new Promise((r) => setTimeout(r, 2200));
      assert.equal(await connect(expired), 403);
      assert.equal(await connect(`${expired.replace(/token=.*/, 'token=nothing')}`), 403);
      const fresh = (await consoleUrl('2.6', SERIAL)).body.remote_console?.url as string;
      assert.equal(await connect(fresh, { origin: 'http://evil.example' }), 403);
      // The admin signed in to the dashboard may not use carol's URL.
      const r = await fetch(`${url}api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin },
        body: JSON.stringify({ username: 'admin', password: PASSWORD, project: 'admin' }),
      });
      const cookie = (r.headers.get('set-cookie') ?? '').split(';')[0] as string;
      const other = (await consoleUrl('2.6', SERIAL)).body.remote_console?.url as string;
      assert.equal(await connect(other, { cookie }), 403);
    });

    it('refuses a console for a server of another project', async () => {
      const adminToken = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
      const eveToken = token;
      token = adminToken;
      try {
        // The admin sees every project's servers; a member of another project does not.
        const identity = new IdentityService(t.cloud.database.db);
        await identity.createUser({ name: 'frank', password: PASSWORD });
        await identity.createProject({ name: 'frank-project' });
        await identity.grantRole('frank', 'frank-project', 'member');
        token = await login(t.cloud.urls?.identity as string, 'frank', 'frank-project');
        assert.equal((await consoleUrl('2.6', SERIAL)).status, 404);
      } finally {
        token = eveToken;
      }
    });
  });
});
