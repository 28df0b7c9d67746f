// Two api processes on one database and one bus, and a compute host of its own: a dashboard
// session signed in on one is accepted by the other, a console URL one issued is honoured by
// the other once, and the serial port is reached over TCP on the guest's host with a secret
// from the bus (the api holds no path of the host's). The database holds neither a usable
// Identity token nor a console token.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { loadConfig } from '../src/config/index.js';
import { IdentityService } from '../src/identity/index.js';
import { silentLogger } from '../src/log.js';
import { startCloud, type Cloud } from '../src/main.js';
import { FakeDriver } from '../src/virt/index.js';
import { removeBusExchange, testBusExchange } from './support/amqp.js';
import { AMQP_URL, needs } from './support/capabilities.js';
import { postgresBackend } from './support/databases.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { login, PASSWORD } from './support/openstack.js';
import { FREE_PORTS } from './support/ports.js';

const suffix = randomBytes(4).toString('hex');
const exchange = testBusExchange('dashboard-shared');
const computeHost = `dash-node-${suffix}`;

describe('the dashboard behind two api processes', needs('postgres', 'rabbitmq'), () => {
  let db: { url: string; remove(): Promise<void> };
  let t: TestCloud;
  let api2: Cloud;
  let node: Cloud;
  let stateDir: string;
  let dash1: string;
  let dash2: string;
  let token: string;
  let serverId: string;
  const common = () => ({
    database: db.url,
    transport: AMQP_URL,
    'bus-exchange': exchange,
    'service-heartbeat-seconds': '0.5',
    'bus-call-timeout-ms': '5000',
  });
  const origin = (u: string) => new URL(u).origin;

  const signIn = async (url: string) => {
    const r = await fetch(`${url}api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: origin(url) },
      body: JSON.stringify({ username: 'dana', password: PASSWORD, project: 'dana-project' }),
    });
    assert.equal(r.status, 201, await r.clone().text());
    const body = (await r.json()) as { csrf: string };
    return { cookie: (r.headers.get('set-cookie') ?? '').split(';')[0] as string, csrf: body.csrf };
  };
  const consoleUrl = async () => {
    const r = await fetch(`${t.cloud.urls?.compute}/servers/${serverId}/remote-consoles`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-auth-token': token,
        'x-openstack-nova-api-version': '2.6',
      },
      body: JSON.stringify({ remote_console: { protocol: 'serial', type: 'serial' } }),
    });
    assert.equal(r.status, 200, await r.clone().text());
    return ((await r.json()) as { remote_console: { url: string } }).remote_console.url;
  };
  const connect = (url: string) =>
    new Promise<WebSocket | number>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (req, res) => {
        req.destroy();
        resolve(res.statusCode ?? 0);
      });
      ws.once('error', reject);
    });
  /** The same URL on the other api process's dashboard listener. */
  const onApi2 = (url: string) => {
    const u = new URL(url);
    u.host = new URL(dash2).host;
    return u.toString();
  };

  before(async () => {
    db = await postgresBackend.create();
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-dashboard-shared-'));
    t = await startTestCloud(
      { ...common(), host: `dash-control-${suffix}` },
      { services: ['network', 'scheduler', 'api'] },
    );
    const config = (host: string, flags: Record<string, string> = {}) =>
      loadConfig({
        env: {},
        flags: {
          ...FREE_PORTS,
          ...common(),
          'log-level': 'warn',
          'state-dir': path.join(stateDir, host),
          host,
          ...flags,
        },
      });
    api2 = await startCloud(config(`dash-api2-${suffix}`), ['api'], { logger: silentLogger() });
    node = await startCloud(config(computeHost, { 'serial-address': '127.0.0.1' }), ['compute'], {
      logger: silentLogger(),
      driver: new FakeDriver(),
    });
    dash1 = t.cloud.urls?.dashboard as string;
    dash2 = api2.urls?.dashboard as string;
    assert.notEqual(dash1, dash2);
    const identity = new IdentityService(t.cloud.database.db);
    await identity.createUser({ name: 'dana', password: PASSWORD });
    await identity.createProject({ name: 'dana-project' });
    await identity.grantRole('dana', 'dana-project', 'member');
    token = await login(t.cloud.urls?.identity as string, 'dana', 'dana-project');
    const image = await t.addImage({ name: 'shared-image' });
    const compute = t.cloud.urls?.compute as string;
    await waitUntil(
      async () => {
        const r = await fetch(`${compute}/servers`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-auth-token': token },
          body: JSON.stringify({ server: { name: 'tty', imageRef: image.id, flavorRef: '1' } }),
        });
        if (r.status !== 202) return false;
        serverId = ((await r.json()) as { server: { id: string } }).server.id;
        return true;
      },
      15_000,
      'a launch the compute host takes',
    );
    await waitUntil(
      async () => {
        const s = await fetch(`${compute}/servers/${serverId}`, {
          headers: { 'x-auth-token': token, 'x-openstack-nova-api-version': '2.47' },
        });
        const server = (await s.json()) as {
          server: { status: string; 'OS-EXT-SRV-ATTR:host'?: string };
        };
        return server.server.status === 'ACTIVE';
      },
      30_000,
      'the server to be ACTIVE',
    );
  });
  after(async () => {
    await node?.stop();
    await api2?.stop();
    await t?.stop();
    await removeBusExchange(exchange, [computeHost]);
    await db?.remove();
    if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('accepts a session signed in on one api process on the other, and a sign-out on either ends it', async () => {
    const { cookie, csrf } = await signIn(dash1);
    const me = await fetch(`${dash2}api/session`, { headers: { cookie } });
    assert.equal(me.status, 200);
    assert.equal(((await me.json()) as { user: { name: string } }).user.name, 'dana');
    const list = await fetch(`${dash2}api/compute/servers`, { headers: { cookie } });
    assert.equal(list.status, 200);
    assert.match(await list.text(), new RegExp(serverId));
    // A change through the second process, with the CSRF token the first gave.
    const made = await fetch(`${dash2}api/compute/os-keypairs`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        cookie,
        origin: origin(dash2),
        'x-csrf-token': csrf,
      },
      body: JSON.stringify({ keypair: { name: 'shared-key' } }),
    });
    assert.equal(made.status, 200, await made.clone().text());
    const out = await fetch(`${dash2}api/session`, {
      method: 'DELETE',
      headers: { cookie, origin: origin(dash2), 'x-csrf-token': csrf },
    });
    assert.equal(out.status, 204);
    assert.equal((await fetch(`${dash1}api/session`, { headers: { cookie } })).status, 401);
  });

  it('keeps no usable Identity token or console token in the database', async () => {
    const { cookie } = await signIn(dash1);
    const sessionId = decodeURIComponent(cookie.split('=')[1] as string).replace(/\.[^.]*$/, '');
    const rows = await t.cloud.database.db.selectFrom('webSessions').selectAll().execute();
    assert.ok(rows.length > 0);
    for (const row of rows) {
      assert.notEqual(row.idHash, sessionId);
      assert.ok(!row.sealedToken.includes(token.slice(0, 16)));
    }
    const url = await consoleUrl();
    const consoleToken = new URL(url).searchParams.get('token') as string;
    const grants = await t.cloud.database.db.selectFrom('consoleGrants').selectAll().execute();
    assert.ok(grants.length > 0);
    assert.ok(grants.every((g) => g.tokenHash !== consoleToken));
  });

  it('honours a console URL issued by one api process on the other, once, over the compute host', async () => {
    const url = await consoleUrl();
    const ws = await connect(onApi2(url));
    assert.ok(ws instanceof WebSocket, `refused with ${String(ws)}`);
    let got = '';
    ws.on('message', (d: Buffer) => (got += d.toString()));
    ws.send('echo across\r');
    await waitUntil(async () => got.includes('echo across'), 10_000, 'the echo');
    ws.close();
    // Used up, on either process.
    assert.equal(await connect(url), 403);
    assert.equal(await connect(onApi2(url)), 403);
  });

  it('gives a console URL taken on both api processes at once to exactly one of them', async () => {
    const url = await consoleUrl();
    const both = await Promise.all([connect(url), connect(onApi2(url))]);
    const open = both.filter((x) => x instanceof WebSocket);
    assert.equal(
      open.length,
      1,
      `answers: ${both.map((x) => (typeof x === 'number' ? x : 'open')).join(', ')}`,
    );
    assert.deepEqual(
      both.filter((x) => typeof x === 'number'),
      [403],
    );
    for (const ws of open) ws.close();
  });

  it('refuses a console when the compute host is down', async () => {
    const url = await consoleUrl();
    await node.stop();
    try {
      assert.equal(await connect(onApi2(url)), 403);
    } finally {
      node = await startCloud(
        loadConfig({
          env: {},
          flags: {
            ...FREE_PORTS,
            ...common(),
            'log-level': 'warn',
            'state-dir': path.join(stateDir, computeHost),
            host: computeHost,
          },
        }),
        ['compute'],
        { logger: silentLogger(), driver: new FakeDriver() },
      );
    }
  });
});
