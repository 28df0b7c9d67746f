// The OpenStack Compute API v2.1 on SQLite and PostgreSQL, driven with fetch and a token from
// the Identity API: version documents and microversion headers, flavors, key pairs, the
// server life cycle (create, list with filters and paging, show, stop, start, reboot, console
// output, delete) with states and addresses, limits, and every refusal as a Compute fault
// with a 4xx that leaves nothing behind. Then python-openstackclient, as users run it.
import { AllocateAddressCommand, AssociateAddressCommand } from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ec2Id } from '../src/ids/index.js';
import {
  EndpointRepo,
  InstanceRepo,
  KeypairRepo,
  QuotaRepo,
  TagRepo,
  type InstanceRow,
} from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { disconnected } from './support/expect.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { instanceRow } from './support/instances.js';
import { adminEnv, login, openstack, PASSWORD } from './support/openstack.js';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

interface ServerBody {
  id: string;
  name: string;
  status: string;
  tenant_id: string;
  key_name: string | null;
  image: { id: string };
  flavor: { id: string };
  addresses: Record<string, { addr: string; version: number; 'OS-EXT-IPS:type': string }[]>;
  security_groups: { name: string }[];
  'OS-EXT-STS:vm_state': string;
  'OS-EXT-STS:task_state': string | null;
}

/** Asserts a Compute fault: `{"<name>": {"code": status, "message": ...}}`. */
function assertFault(a: Answer, status: number, name: string, message?: RegExp): void {
  assert.equal(a.status, status, JSON.stringify(a.body));
  const f = a.body[name] as { code: number; message: string } | undefined;
  assert.ok(f, `expected a '${name}' fault, got ${JSON.stringify(a.body)}`);
  assert.equal(f.code, status);
  assert.ok(f.message.length > 0);
  assert.doesNotMatch(f.message, /\n\s+at /, 'no stack traces');
  if (message) assert.match(f.message, message);
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(`Compute API v2.1 on ${backend.name}`, needs(...backend.needs), () => {
    let t: TestCloud;
    let database: { url: string; remove(): Promise<void> };
    let url: string;
    let admin: string;
    let alice: string;
    let bob: string;
    let aliceProject: string;
    let imageId: string;

    const call = async (
      method: string,
      path: string,
      options: {
        token?: string | null;
        body?: unknown;
        raw?: string;
        headers?: Record<string, string>;
      } = {},
    ): Promise<Answer> => {
      const headers: Record<string, string> = { ...options.headers };
      const token = options.token === undefined ? admin : options.token;
      if (token) headers['x-auth-token'] = token;
      if (options.body !== undefined || options.raw !== undefined) {
        headers['content-type'] ??= 'application/json';
      }
      const r = await fetch(`${url}${path}`, {
        method,
        headers,
        body:
          options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
      });
      const text = await r.text();
      return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : {} };
    };
    const create = (server: Record<string, unknown>, token?: string) =>
      call('POST', '/v2.1/servers', {
        token,
        body: { server: { name: 'vm', imageRef: imageId, flavorRef: 'm1.nano', ...server } },
      });
    const show = async (id: string, token?: string) =>
      (await call('GET', `/v2.1/servers/${id}`, { token })).body.server as ServerBody;
    const waitStatus = (id: string, status: string, token?: string) =>
      waitUntil(
        async () => {
          const s = await show(id, token);
          return s?.status === status && s['OS-EXT-STS:task_state'] === null && s;
        },
        10_000,
        `server ${id} ${status}`,
      );
    /** Alice's instance records, whatever their state. */
    const instanceCount = async () =>
      (await new InstanceRepo(t.cloud.database.db).list({ projectId: aliceProject })).length;

    before(async () => {
      database = await backend.create();
      t = await startTestCloud({ database: database.url, 'quota-instances': '4' });
      url = (t.cloud.urls?.compute as string).replace(/\/v2\.1$/, '');
      const identity = new IdentityService(t.cloud.database.db);
      await identity.setPassword('admin', PASSWORD);
      await identity.createUser({ name: 'alice', password: PASSWORD });
      aliceProject = (await identity.createProject({ name: 'alice-project' })).id;
      await identity.grantRole('alice', 'alice-project', 'member');
      await identity.createUser({ name: 'bob', password: PASSWORD });
      await identity.createProject({ name: 'bob-project' });
      await identity.grantRole('bob', 'bob-project', 'member');
      const identityUrl = t.cloud.urls?.identity as string;
      admin = await login(identityUrl, 'admin', 'admin');
      alice = await login(identityUrl, 'alice', 'alice-project');
      bob = await login(identityUrl, 'bob', 'bob-project');
      imageId = (await t.addImage({ name: 'cirros' })).id;
    });
    after(async () => {
      await t.stop();
      if (backend.name === 'postgres') await disconnected(database.url);
      await database.remove();
    });

    it('lists itself in the catalog and answers the version documents', async () => {
      const endpoint = await new EndpointRepo(t.cloud.database.db).publicUrl('compute', t.region);
      assert.equal(endpoint, `${url}/v2.1`);
      const root = await call('GET', '/', { token: null });
      assert.equal(root.status, 200);
      const versions = root.body.versions as { id: string; min_version: string; version: string }[];
      assert.deepEqual(
        versions.map((v) => [v.id, v.min_version, v.version]),
        [
          ['v2.0', '', ''],
          ['v2.1', '2.1', '2.93'],
        ],
      );
      const v21 = await call('GET', '/v2.1', { token: null });
      assert.equal((v21.body.version as { status: string }).status, 'CURRENT');
    });

    it('answers the microversion headers and refuses versions it does not implement', async () => {
      const plain = await call('GET', '/v2.1/flavors');
      assert.equal(plain.headers.get('openstack-api-version'), 'compute 2.1');
      const asked = await call('GET', '/v2.1/flavors', {
        headers: { 'openstack-api-version': 'compute 2.2' },
      });
      assert.equal(asked.status, 200);
      assert.equal(asked.headers.get('openstack-api-version'), 'compute 2.2');
      assert.equal(asked.headers.get('x-openstack-nova-api-version'), '2.2');
      const latest = await call('GET', '/v2.1/flavors', {
        headers: { 'x-openstack-nova-api-version': 'latest' },
      });
      assert.equal(latest.headers.get('x-openstack-nova-api-version'), '2.93');
      const tooNew = await call('GET', '/v2.1/flavors', {
        headers: { 'openstack-api-version': 'compute 2.94' },
      });
      assertFault(tooNew, 406, 'computeFault', /Version 2\.94 is not supported.*maximum is 2\.93/);
      const garbage = await call('GET', '/v2.1/flavors', {
        headers: { 'x-openstack-nova-api-version': 'two' },
      });
      assertFault(garbage, 400, 'badRequest', /invalid format/);
    });

    it('refuses requests without a valid token with 401', async () => {
      for (const token of [null, 'not-a-token']) {
        const a = await call('GET', '/v2.1/servers', { token });
        assert.equal(a.status, 401);
        assert.equal((a.body.error as { code: number }).code, 401);
      }
      const post = await call('POST', '/v2.1/servers', { token: null, body: { server: {} } });
      assert.equal(post.status, 401);
    });

    it('lists and shows flavors by id and by name', async () => {
      const list = await call('GET', '/v2.1/flavors');
      const names = (list.body.flavors as { name: string }[]).map((f) => f.name);
      assert.ok(names.includes('m1.nano') && names.includes('m1.small'), names.join());
      const detail = await call('GET', '/v2.1/flavors/detail', { token: alice });
      const nano = (detail.body.flavors as { id: string; name: string; ram: number }[]).find(
        (f) => f.name === 'm1.nano',
      );
      assert.equal(nano?.ram, 128);
      const byId = await call('GET', `/v2.1/flavors/${nano?.id}`);
      assert.equal((byId.body.flavor as { name: string }).name, 'm1.nano');
      const byName = await call('GET', '/v2.1/flavors/m1.nano');
      assert.equal((byName.body.flavor as { id: string }).id, nano?.id);
      assertFault(await call('GET', '/v2.1/flavors/m9.huge'), 404, 'itemNotFound', /m9\.huge/);
    });

    it('creates, imports, shows and deletes key pairs, and refuses duplicates and bad names', async () => {
      const made = await call('POST', '/v2.1/os-keypairs', {
        token: alice,
        body: { keypair: { name: 'k1' } },
      });
      assert.equal(made.status, 200);
      const k1 = made.body.keypair as { private_key: string; public_key: string; name: string };
      assert.match(k1.private_key, /BEGIN (RSA|OPENSSH) PRIVATE KEY/);
      assert.match(k1.public_key, /^ssh-rsa /);

      const imported = await call('POST', '/v2.1/os-keypairs', {
        token: alice,
        headers: { 'openstack-api-version': 'compute 2.2' },
        body: { keypair: { name: 'k2', public_key: k1.public_key, type: 'ssh' } },
      });
      assert.equal(imported.status, 201);
      const k2 = imported.body.keypair as Record<string, unknown>;
      assert.equal(k2.type, 'ssh');
      assert.equal(k2.private_key, undefined);

      const dup = await call('POST', '/v2.1/os-keypairs', {
        token: alice,
        body: { keypair: { name: 'k1' } },
      });
      assertFault(dup, 409, 'conflictingRequest', /k1/);
      const badName = await call('POST', '/v2.1/os-keypairs', {
        token: alice,
        body: { keypair: { name: 'bad/name' } },
      });
      assertFault(badName, 400, 'badRequest');
      const badKey = await call('POST', '/v2.1/os-keypairs', {
        token: alice,
        body: { keypair: { name: 'k3', public_key: 'ssh-rsa not-a-key' } },
      });
      assertFault(badKey, 400, 'badRequest');

      const list = await call('GET', '/v2.1/os-keypairs', { token: alice });
      assert.deepEqual(
        (list.body.keypairs as { keypair: { name: string } }[]).map((k) => k.keypair.name),
        ['k1', 'k2'],
      );
      // Another project does not see them.
      assertFault(await call('GET', '/v2.1/os-keypairs/k1', { token: bob }), 404, 'itemNotFound');
      assert.deepEqual((await call('GET', '/v2.1/os-keypairs', { token: bob })).body.keypairs, []);
      const one = await call('GET', '/v2.1/os-keypairs/k2', { token: alice });
      // The imported key is stored without its comment.
      const stored = (one.body.keypair as { public_key: string }).public_key;
      assert.equal(stored, k1.public_key.split(' ').slice(0, 2).join(' '));
      assert.equal((await call('DELETE', '/v2.1/os-keypairs/k2', { token: alice })).status, 202);
      assertFault(
        await call('DELETE', '/v2.1/os-keypairs/k2', { token: alice }),
        404,
        'itemNotFound',
      );
      const rows = await new KeypairRepo(t.cloud.database.db).findByName(aliceProject, 'k3');
      assert.equal(rows, undefined, 'a refused import leaves no key pair');
    });

    it('runs a server through its life cycle: BUILD, ACTIVE, SHUTOFF, ACTIVE, reboot, console, deleted', async () => {
      const made = await create({ name: 'web-1', key_name: 'k1', networks: 'auto' }, alice);
      assert.equal(made.status, 202, JSON.stringify(made.body));
      const id = (made.body.server as { id: string }).id;
      assert.equal(made.headers.get('location'), `${url}/v2.1/servers/${id}`);

      const active = await waitStatus(id, 'ACTIVE', alice);
      assert.equal(active.name, 'web-1');
      assert.equal(active.tenant_id, aliceProject);
      assert.equal(active.key_name, 'k1');
      assert.equal(active.image.id, imageId);
      assert.equal(active['OS-EXT-STS:vm_state'], 'active');
      assert.deepEqual(active.security_groups, [{ name: 'default' }]);
      const addrs = Object.values(active.addresses).flat();
      assert.equal(addrs.length, 1, JSON.stringify(active.addresses));
      assert.equal(addrs[0]?.['OS-EXT-IPS:type'], 'fixed');
      assert.match(addrs[0]?.addr ?? '', /^\d+\.\d+\.\d+\.\d+$/);
      const row = (await new InstanceRepo(t.cloud.database.db).list({ ids: [id] }))[0];
      assert.equal(addrs[0]?.addr, row?.privateIp);

      // Renamed, it shows the new name (the EC2 API's Name tag too).
      const renamed = await call('PUT', `/v2.1/servers/${id}`, {
        token: alice,
        body: { server: { name: 'web-one' } },
      });
      assert.equal((renamed.body.server as ServerBody).name, 'web-one');
      assertFault(
        await call('PUT', `/v2.1/servers/${id}`, {
          token: alice,
          body: { server: { flavorRef: '2' } },
        }),
        400,
        'badRequest',
      );

      // Other projects do not see it; admins do.
      assertFault(await call('GET', `/v2.1/servers/${id}`, { token: bob }), 404, 'itemNotFound');
      assertFault(await call('DELETE', `/v2.1/servers/${id}`, { token: bob }), 404, 'itemNotFound');
      assert.equal((await show(id)).tenant_id, aliceProject);

      const act = (action: unknown) =>
        call('POST', `/v2.1/servers/${id}/action`, { token: alice, body: action });
      assert.equal((await act({ 'os-stop': null })).status, 202);
      await waitStatus(id, 'SHUTOFF', alice);
      assertFault(await act({ 'os-stop': null }), 409, 'conflictingRequest', /vm_state stopped/);
      assertFault(await act({ reboot: { type: 'SOFT' } }), 409, 'conflictingRequest');
      assert.equal((await act({ 'os-start': null })).status, 202);
      await waitStatus(id, 'ACTIVE', alice);
      assert.equal((await act({ reboot: { type: 'HARD' } })).status, 202);
      await waitStatus(id, 'ACTIVE', alice);
      assert.equal((await act({ reboot: { type: 'SOFT' } })).status, 202);
      await waitStatus(id, 'ACTIVE', alice);
      assertFault(await act({ reboot: { type: 'GENTLE' } }), 400, 'badRequest');
      assertFault(await act({ 'os-migrate': null }), 400, 'badRequest', /no such action/);

      const console = await act({ 'os-getConsoleOutput': { length: null } });
      assert.equal(console.status, 200);
      const output = console.body.output as string;
      assert.match(output, new RegExp(id));
      const tail = await act({ 'os-getConsoleOutput': { length: 1 } });
      assert.equal((tail.body.output as string).trim().split('\n').length, 1);

      const deleted = await call('DELETE', `/v2.1/servers/${id}`, { token: alice });
      assert.equal(deleted.status, 204);
      await waitUntil(
        async () => (await call('GET', `/v2.1/servers/${id}`, { token: alice })).status === 404,
        10_000,
        'the server to be gone',
      );
      const list = await call('GET', '/v2.1/servers', { token: alice });
      assert.deepEqual(list.body.servers, []);
      assertFault(
        await call('DELETE', `/v2.1/servers/${id}`, { token: alice }),
        404,
        'itemNotFound',
      );
    });

    it('lists servers newest first, filtered by name and status, a page at a time', async () => {
      const ids: string[] = [];
      for (const name of ['db-1', 'db-2', 'app-1']) {
        const made = await create({ name });
        assert.equal(made.status, 202, JSON.stringify(made.body));
        ids.push((made.body.server as { id: string }).id);
        await waitStatus(ids[ids.length - 1] as string, 'ACTIVE');
      }
      await call('POST', `/v2.1/servers/${ids[0]}/action`, { body: { 'os-stop': null } });
      await waitStatus(ids[0] as string, 'SHUTOFF');

      const all = await call('GET', '/v2.1/servers');
      assert.deepEqual(
        (all.body.servers as { id: string }[]).map((s) => s.id),
        [...ids].reverse(),
      );
      const named = await call('GET', '/v2.1/servers/detail?name=^db-');
      assert.deepEqual((named.body.servers as ServerBody[]).map((s) => s.name).sort(), [
        'db-1',
        'db-2',
      ]);
      // Only the common part of regular expressions counts, so none takes long.
      const nested = await call('GET', `/v2.1/servers?name=${encodeURIComponent('(d+)+$')}`);
      assert.deepEqual(nested.body.servers, []);
      assertFault(
        await call('GET', `/v2.1/servers?name=${encodeURIComponent('a*b*c*d*e*')}`),
        400,
        'badRequest',
      );
      const off = await call('GET', '/v2.1/servers/detail?status=SHUTOFF');
      assert.deepEqual(
        (off.body.servers as ServerBody[]).map((s) => [s.name, s.status]),
        [['db-1', 'SHUTOFF']],
      );
      const first = await call('GET', '/v2.1/servers?limit=2');
      assert.equal((first.body.servers as unknown[]).length, 2);
      const next = (first.body.servers_links as { rel: string; href: string }[])[0];
      assert.equal(next?.rel, 'next');
      const second = await call(
        'GET',
        new URL(next?.href as string).pathname + new URL(next?.href as string).search,
      );
      assert.deepEqual(
        (second.body.servers as { id: string }[]).map((s) => s.id),
        [ids[0]],
      );
      assert.equal(second.body.servers_links, undefined);
      assertFault(
        await call('GET', '/v2.1/servers?marker=00000000-0000-0000-0000-000000000000'),
        400,
        'badRequest',
        /marker/,
      );

      // An Elastic IP given to the instance through the EC2 API shows as its floating address.
      const eip = await t.admin.send(new AllocateAddressCommand({ Domain: 'vpc' }));
      await t.admin.send(
        new AssociateAddressCommand({
          AllocationId: eip.AllocationId,
          InstanceId: ec2Id('i', ids[2] as string),
        }),
      );
      const withFloating = Object.values((await show(ids[2] as string)).addresses).flat();
      assert.deepEqual(withFloating.map((a) => [a.addr, a['OS-EXT-IPS:type']]).slice(1), [
        [eip.PublicIp, 'floating'],
      ]);
      assert.equal(withFloating[0]?.['OS-EXT-IPS:type'], 'fixed');
      for (const id of ids) await call('DELETE', `/v2.1/servers/${id}`);
    });

    it('pages servers across live and deleted ones, with filters, inside the visibility window', async () => {
      const identity = new IdentityService(t.cloud.database.db);
      await identity.createUser({ name: 'carol', password: PASSWORD });
      const project = await identity.createProject({ name: 'carol-project' });
      await identity.grantRole('carol', 'carol-project', 'member');
      const carol = await login(t.cloud.urls?.identity as string, 'carol', 'carol-project');
      const now = Date.now();
      const hour = 3600_000;
      const states: [Partial<InstanceRow>, string | undefined][] = [
        [{ vmState: 'active' }, 'ACTIVE'],
        [{ vmState: 'deleted', terminatedAt: now - 60_000 }, undefined],
        [{ vmState: 'stopped' }, 'SHUTOFF'],
        [{ vmState: 'error', terminatedAt: now - 2 * hour }, undefined], // before the window
        [{ vmState: 'active', taskState: 'rebooting' }, 'REBOOT'],
        [{ vmState: 'error', terminatedAt: now - 1000 }, 'ERROR'],
        [{ vmState: 'building', taskState: 'spawning' }, 'BUILD'],
      ];
      const rows = Array.from({ length: 35 }, (_, i) =>
        instanceRow({
          projectId: project.id,
          imageId,
          createdAt: now - 3 * hour + i * 1000,
          ...states[i % states.length]?.[0],
        }),
      );
      const names = rows.map((_, i) => (i % 3 === 0 ? `web-${i}` : `db-${i}`));
      const db = t.cloud.database.db;
      await new InstanceRepo(db).insert(rows, []);
      await new TagRepo(db).put(
        rows.map((r, i) => ({
          resourceId: r.id,
          resourceType: 'instance',
          projectId: r.projectId,
          key: 'Name',
          value: names[i] as string,
        })),
      );
      /** The listing made in code: newest first, the deleted and the long-gone left out. */
      const expected = (keep: (status: string, name: string) => boolean) =>
        rows
          .map((r, i) => ({ id: r.id, status: states[i % states.length]?.[1], name: names[i] }))
          .filter((x) => x.status !== undefined && keep(x.status, x.name as string))
          .reverse()
          .map((x) => x.id);
      /** Every page, following the `next` links. */
      const allPages = async (query: string) => {
        const seen: string[] = [];
        let path: string | undefined = `/v2.1/servers/detail?${query}`;
        while (path) {
          const page = await call('GET', path, { token: carol });
          assert.equal(page.status, 200, JSON.stringify(page.body));
          seen.push(...(page.body.servers as ServerBody[]).map((x) => x.id));
          const next = (page.body.servers_links as { href: string }[] | undefined)?.[0]?.href;
          path = next ? new URL(next).pathname + new URL(next).search : undefined;
        }
        return seen;
      };
      const cases: [string, (status: string, name: string) => boolean][] = [
        ['limit=4', () => true],
        ['limit=3&status=active', (status) => status === 'ACTIVE'],
        ['limit=2&status=ERROR', (status) => status === 'ERROR'],
        ['limit=3&name=%5Eweb-1', (_s, name) => /^web-1/.test(name)],
        ['limit=3&name=db-.*2%24', (_s, name) => /db-.*2$/.test(name)],
        ['limit=3&name=B-1', () => false],
      ];
      for (const [query, keep] of cases) {
        assert.deepEqual(await allPages(query), expected(keep), query);
      }
      const all = expected(() => true);
      assert.equal(all.length, 25);
      // A marker must be a server the listing shows: a deleted one, or one the filter leaves out, is not.
      for (const [query, marker] of [
        ['', rows[1]?.id],
        ['&status=SHUTOFF', all[0]],
      ]) {
        assertFault(
          await call('GET', `/v2.1/servers?marker=${marker}${query}`, { token: carol }),
          400,
          'badRequest',
          /marker/,
        );
      }
      const afterMarker = await call('GET', `/v2.1/servers?limit=1000&marker=${all[20]}`, {
        token: carol,
      });
      assert.deepEqual(
        (afterMarker.body.servers as { id: string }[]).map((x) => x.id),
        all.slice(21),
      );
      assert.equal(afterMarker.body.servers_links, undefined);
      await new InstanceRepo(db).deleteMany(rows.map((r) => r.id));
    });

    it('refuses bad requests with a 400 and creates nothing', async () => {
      const before = await instanceCount();
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ flavorRef: 'm9.huge' }, /Flavor m9\.huge could not be found/],
        [{ imageRef: '11111111-2222-3333-4444-555555555555' }, /image/],
        [{ imageRef: 'cirros' }, /imageRef/],
        [{ key_name: 'nope' }, /nope/],
        [{ security_groups: [{ name: 'nope' }] }, /nope/],
        [{ name: '' }, /name/],
        [{ min_count: 0 }, /min_count/],
        [{ min_count: 3, max_count: 2 }, /min_count/],
        [{ user_data: 'not base64!' }, /base64/],
        [{ networks: [{ uuid: 'x' }] }, /networks/],
        [{ flavour: 'm1.nano' }, /additional properties.*flavour/],
      ];
      for (const [server, message] of cases) {
        assertFault(await create(server, alice), 400, 'badRequest', message);
      }
      const noName = await call('POST', '/v2.1/servers', {
        token: alice,
        body: { server: { imageRef: imageId, flavorRef: 'm1.nano' } },
      });
      assertFault(noName, 400, 'badRequest', /name/);
      const malformed = await call('POST', '/v2.1/servers', { token: alice, raw: '{"server": ' });
      assertFault(malformed, 400, 'badRequest', /JSON/);
      const notJson = await call('POST', '/v2.1/servers', {
        token: alice,
        raw: 'name=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      assertFault(notJson, 415, 'badMediaType');
      const tooBig = await call('POST', '/v2.1/servers', {
        token: alice,
        raw: JSON.stringify({ server: { name: 'x'.repeat(2 * 1024 * 1024) } }),
      });
      assertFault(tooBig, 413, 'overLimit');
      assert.equal(await instanceCount(), before, 'nothing was created');

      assertFault(await call('GET', '/v2.1/servers/not-a-uuid'), 404, 'itemNotFound');
      assertFault(
        await call('GET', '/v2.1/servers/11111111-2222-3333-4444-555555555555'),
        404,
        'itemNotFound',
        /could not be found/,
      );
      assertFault(
        await call('POST', '/v2.1/servers/11111111-2222-3333-4444-555555555555/action', {
          body: { 'os-stop': null },
        }),
        404,
        'itemNotFound',
      );
      assertFault(await call('GET', '/v2.1/os-fping'), 404, 'itemNotFound');
      assertFault(await call('PATCH', '/v2.1/servers'), 404, 'itemNotFound');
    });

    it('names every answer of the OpenStack APIs with x-openstack-request-id and takes empty JSON bodies', async () => {
      const identityUrl = t.cloud.urls?.identity as string;
      const imageUrl = t.cloud.urls?.image as string;
      const seen = new Set<string>();
      const requestId = (r: { headers: Headers }) => {
        const id = r.headers.get('x-openstack-request-id') ?? '';
        assert.match(id, /^req-[0-9a-f-]{36}$/);
        assert.ok(!seen.has(id), 'a request id per request');
        seen.add(id);
      };
      // Compute: documents, listings, faults (404, 401, 400) and a route that does not exist.
      requestId(await call('GET', '/', { token: null }));
      requestId(await call('GET', '/v2.1/flavors'));
      requestId(await call('GET', '/v2.1/servers/11111111-2222-3333-4444-555555555555'));
      requestId(await call('GET', '/v2.1/servers', { token: null }));
      requestId(await call('POST', '/v2.1/servers', { raw: '{' }));
      requestId(await call('GET', '/v2.1/nothing-here'));
      // Identity and Image, as fetch sees them.
      const json = { 'content-type': 'application/json' };
      const raw = async (u: string, method: string, headers: Record<string, string>) => {
        const r = await fetch(u, { method, headers, body: method === 'GET' ? undefined : '' });
        requestId(r);
        return r;
      };
      assert.equal((await raw(`${identityUrl}`, 'GET', {})).status, 200);
      assert.equal((await raw(`${identityUrl}/auth/tokens`, 'GET', json)).status, 401);
      assert.equal(
        (await raw(`${imageUrl}/v2/images`, 'GET', { 'x-auth-token': alice })).status,
        200,
      );

      // A DELETE (or GET) with Content-Type: application/json and no body, on every API.
      const doomed = await login(identityUrl, 'alice', 'alice-project');
      const revoked = await raw(`${identityUrl}/auth/tokens`, 'DELETE', {
        ...json,
        'x-auth-token': admin,
        'x-subject-token': doomed,
      });
      assert.equal(revoked.status, 204);
      const image = await t.addImage({ name: 'doomed' });
      const gone = await raw(`${imageUrl}/v2/images/${image.id}`, 'DELETE', {
        ...json,
        'x-auth-token': admin,
      });
      assert.equal(gone.status, 204, await gone.text());
      await call('POST', '/v2.1/os-keypairs', { token: alice, body: { keypair: { name: 'kd' } } });
      const listed = await call('GET', '/v2.1/os-keypairs', { token: alice, headers: json });
      assert.equal(listed.status, 200);
      // A GET that says its (empty) body is JSON, as some tools send it.
      const emptyGet = (u: string, headers: Record<string, string>) =>
        new Promise<number>((resolve, reject) => {
          const req = http.request(
            u,
            { method: 'GET', headers: { ...json, 'content-length': '0', ...headers } },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          );
          req.on('error', reject);
          req.end();
        });
      assert.equal(await emptyGet(`${url}/v2.1/flavors`, { 'x-auth-token': alice }), 200);
      assert.equal(await emptyGet(`${imageUrl}/v2/images`, { 'x-auth-token': alice }), 200);
      assert.equal(
        await emptyGet(`${identityUrl}/auth/tokens`, {
          'x-auth-token': alice,
          'x-subject-token': alice,
        }),
        200,
      );
      const deleted = await call('DELETE', '/v2.1/os-keypairs/kd', { token: alice, raw: '  ' });
      assert.equal(deleted.status, 202, JSON.stringify(deleted.body));
      // Malformed JSON is still the caller's fault, in each API's format.
      assertFault(await call('POST', '/v2.1/os-keypairs', { raw: '{"x"' }), 400, 'badRequest');
      const badIdentity = await fetch(`${identityUrl}/auth/tokens`, {
        method: 'POST',
        headers: json,
        body: '{"auth"',
      });
      assert.equal(badIdentity.status, 400);
      assert.equal(((await badIdentity.json()) as { error: { code: number } }).error.code, 400);
    });

    it('lists v2.0 then v2.1 and serves v2.1 under /v2/ too', async () => {
      const root = await call('GET', '/', { token: null });
      const [v20, v21] = root.body.versions as {
        id: string;
        status: string;
        links: { href: string }[];
      }[];
      assert.equal(v20?.id, 'v2.0');
      assert.equal(v20?.status, 'SUPPORTED');
      assert.equal(v20?.links[0]?.href, `${url}/v2/`);
      assert.equal(v21?.id, 'v2.1');
      assert.equal(v21?.status, 'CURRENT');
      const doc = await call('GET', '/v2/', { token: null });
      assert.equal((doc.body.version as { id: string }).id, 'v2.0');
      const flavors = await call('GET', '/v2/flavors');
      assert.equal(flavors.status, 200);
      assert.ok((flavors.body.flavors as unknown[]).length > 0);
    });

    it('filters, sorts and pages flavors', async () => {
      const names = async (query: string, token?: string) => {
        const a = await call('GET', `/v2.1/flavors${query}`, { token });
        assert.equal(a.status, 200, JSON.stringify(a.body));
        return (a.body.flavors as { name: string }[]).map((f) => f.name);
      };
      const all = ['m1.nano', 'm1.tiny', 'm1.small', 'm1.medium', 'm1.large', 'm1.xlarge'];
      assert.deepEqual(await names(''), all, 'by flavor id');
      assert.deepEqual(await names('?minRam=2048'), all.slice(2));
      assert.deepEqual(await names('?minDisk=40&minRam=8192'), all.slice(4));
      assert.deepEqual(await names('/detail?minDisk=100'), ['m1.xlarge']);
      assert.deepEqual(await names('?sort_key=memory_mb&sort_dir=desc&limit=2'), [
        'm1.xlarge',
        'm1.large',
      ]);
      assert.deepEqual(await names('?is_public=false'), []);
      assert.deepEqual(await names('?is_public=none'), all);
      assert.deepEqual(await names('?is_public=false', alice), all, 'members see public ones');
      const page = await call('GET', '/v2.1/flavors/detail?limit=4');
      assert.deepEqual(
        (page.body.flavors as { name: string }[]).map((f) => f.name),
        all.slice(0, 4),
      );
      const next = (page.body.flavors_links as { rel: string; href: string }[])[0];
      assert.equal(next?.rel, 'next');
      assert.match(next?.href ?? '', /\/v2\.1\/flavors\/detail\?limit=4&marker=4$/);
      assert.deepEqual(await names('?limit=4&marker=4'), all.slice(4));
      const last = await call('GET', '/v2.1/flavors?limit=4&marker=4');
      assert.equal(last.body.flavors_links, undefined);
      for (const [query, message] of [
        ['?minRam=abc', /Invalid minRam filter \[abc\]/],
        ['?minDisk=-1', /Invalid minDisk filter/],
        ['?is_public=maybe', /is_public/],
        ['?limit=x', /limit/],
        ['?marker=nope', /marker \[nope\] not found/],
        ['?sort_key=colour', /sort_key/],
        ['?sort_dir=up', /sort_dir/],
      ] as const) {
        assertFault(await call('GET', `/v2.1/flavors${query}`), 400, 'badRequest', message);
      }
    });

    it('shows key pairs in the fields of each microversion', async () => {
      const v22 = { 'openstack-api-version': 'compute 2.2' };
      const made = await call('POST', '/v2.1/os-keypairs', {
        token: alice,
        body: { keypair: { name: 'kf' } },
      });
      assert.deepEqual(Object.keys(made.body.keypair as object).sort(), [
        'fingerprint',
        'name',
        'private_key',
        'public_key',
        'user_id',
      ]);
      const keysOf = async (path: string, headers?: Record<string, string>) => {
        const a = await call('GET', path, { token: alice, headers });
        assert.equal(a.status, 200);
        return a.body;
      };
      const listed = (await keysOf('/v2.1/os-keypairs')).keypairs as { keypair: object }[];
      assert.deepEqual(Object.keys(listed[0]?.keypair ?? {}).sort(), [
        'fingerprint',
        'name',
        'public_key',
      ]);
      const listed22 = (await keysOf('/v2.1/os-keypairs', v22)).keypairs as {
        keypair: object;
      }[];
      assert.deepEqual(Object.keys(listed22[0]?.keypair ?? {}).sort(), [
        'fingerprint',
        'name',
        'public_key',
        'type',
      ]);
      const shown = (await keysOf('/v2.1/os-keypairs/kf')).keypair as Record<string, unknown>;
      assert.deepEqual(Object.keys(shown).sort(), [
        'created_at',
        'deleted',
        'deleted_at',
        'fingerprint',
        'id',
        'name',
        'public_key',
        'updated_at',
        'user_id',
      ]);
      assert.ok(Number.isSafeInteger(shown.id) && (shown.id as number) > 0, 'an integer id');
      assert.equal(shown.deleted, false);
      assert.match(shown.created_at as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
      const shown22 = (await keysOf('/v2.1/os-keypairs/kf', v22)).keypair as Record<
        string,
        unknown
      >;
      assert.equal(shown22.type, 'ssh');
      assert.equal(shown22.id, shown.id, 'the same id every time');
      await call('DELETE', '/v2.1/os-keypairs/kf', { token: alice });
    });

    it('creates servers with every create field of 2.1-2.2 and names servers created together', async () => {
      const zones = (await call('GET', '/v2.1/os-availability-zone')).body.availabilityZoneInfo as {
        zoneName: string;
      }[];
      const made = await create({
        name: 'full',
        personality: [],
        config_drive: false,
        accessIPv4: '192.0.2.10',
        accessIPv6: '2001:db8::10',
        metadata: { role: 'web', 'tier:x': '1' },
        security_groups: [{ name: 'default' }],
        availability_zone: zones[0]?.zoneName,
        user_data: Buffer.from('#!/bin/sh\n').toString('base64'),
        'OS-DCF:diskConfig': 'AUTO',
        block_device_mapping_v2: [],
      });
      assert.equal(made.status, 202, JSON.stringify(made.body));
      assert.ok(made.headers.get('x-openstack-request-id'));
      const server = made.body.server as { id: string; adminPass: string };
      assert.match(server.adminPass, /^[A-Za-z0-9]{12}$/, 'a made-up password');
      const shown = (await show(server.id)) as ServerBody & Record<string, unknown>;
      assert.deepEqual(shown.metadata, { role: 'web', 'tier:x': '1' });
      assert.equal(shown.accessIPv4, '192.0.2.10');
      assert.equal(shown.accessIPv6, '2001:db8::10');
      const detail = (await call('GET', '/v2.1/servers/detail?name=^full$')).body.servers as {
        metadata: Record<string, string>;
      }[];
      assert.deepEqual(detail[0]?.metadata, { role: 'web', 'tier:x': '1' });

      const given = await create({ name: 'pw', adminPass: 'my own secret', personality: [] });
      assert.equal(given.status, 202);
      const pw = given.body.server as { id: string; adminPass: string };
      assert.equal(pw.adminPass, 'my own secret');
      const updated = await call('PUT', `/v2.1/servers/${pw.id}`, {
        body: { server: { accessIPv4: '198.51.100.1' } },
      });
      assert.equal((updated.body.server as { accessIPv4: string }).accessIPv4, '198.51.100.1');

      const reservation = await create({
        name: 'many',
        min_count: 2,
        max_count: 2,
        return_reservation_id: true,
      });
      assert.equal(reservation.status, 202);
      assert.deepEqual(Object.keys(reservation.body), ['reservation_id']);
      assert.match(reservation.body.reservation_id as string, /^r-[0-9a-f]{8}$/);
      const many = (await call('GET', '/v2.1/servers?name=^many')).body.servers as {
        id: string;
        name: string;
      }[];
      assert.deepEqual(many.map((x) => x.name).sort(), ['many-1', 'many-2']);

      const before = await instanceCount();
      const cases: [Record<string, unknown>, number, string, RegExp][] = [
        [{ personality: [{ path: '/etc/x', contents: 'eA==' }] }, 400, 'badRequest', /injection/],
        [{ config_drive: true }, 400, 'badRequest', /[Cc]onfig drive/],
        [{ accessIPv4: 'not-an-ip' }, 400, 'badRequest', /accessIPv4/],
        [{ metadata: { k: 'v'.repeat(256) } }, 400, 'badRequest', /255/],
        [{ metadata: { k: 1 } }, 400, 'badRequest', /string/],
        [{ block_device_mapping_v2: [{ boot_index: 0 }] }, 400, 'badRequest', /needs its uuid/],
        [
          { metadata: Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, 'v'])) },
          403,
          'overLimit',
          /metadata_items/,
        ],
      ];
      for (const [server, status, name, message] of cases) {
        assertFault(await create(server, alice), status, name, message);
      }
      assert.equal(await instanceCount(), before, 'nothing was created');

      for (const id of [server.id, pw.id, ...many.map((x) => x.id)]) {
        assert.equal((await call('DELETE', `/v2.1/servers/${id}`)).status, 204);
      }
    });

    it('keeps server metadata: list, merge, replace, items, limits and errors', async () => {
      const made = await create({ name: 'meta', metadata: { a: '1' } }, alice);
      assert.equal(made.status, 202);
      const id = (made.body.server as { id: string }).id;
      await waitStatus(id, 'ACTIVE', alice);
      const path = `/v2.1/servers/${id}/metadata`;
      const as = (method: string, p: string, body?: unknown) =>
        call(method, p, { token: alice, ...(body === undefined ? {} : { body }) });

      assert.deepEqual((await as('GET', path)).body, { metadata: { a: '1' } });
      const merged = await as('POST', path, { metadata: { b: '2', a: 'one' } });
      assert.equal(merged.status, 200);
      assert.deepEqual(merged.body, { metadata: { a: 'one', b: '2' } });
      const replaced = await as('PUT', path, { metadata: { c: '3' } });
      assert.deepEqual(replaced.body, { metadata: { c: '3' } });
      const item = await as('PUT', `${path}/d`, { meta: { d: '4' } });
      assert.equal(item.status, 200);
      assert.deepEqual(item.body, { meta: { d: '4' } });
      assert.deepEqual((await as('GET', `${path}/d`)).body, { meta: { d: '4' } });
      assert.deepEqual(((await show(id, alice)) as unknown as { metadata: object }).metadata, {
        c: '3',
        d: '4',
      });
      assert.equal((await as('DELETE', `${path}/c`)).status, 204);
      assert.deepEqual((await as('GET', path)).body, { metadata: { d: '4' } });

      assertFault(await as('GET', `${path}/c`), 404, 'itemNotFound', /Metadata item was not found/);
      assertFault(await as('DELETE', `${path}/c`), 404, 'itemNotFound');
      assertFault(
        await as('PUT', `${path}/e`, { meta: { f: '1' } }),
        400,
        'badRequest',
        /mismatch/,
      );
      assertFault(
        await as('PUT', `${path}/e`, { meta: { e: '1', f: '2' } }),
        400,
        'badRequest',
        /at most 1/,
      );
      assertFault(await as('PUT', path, { meta: { e: '1' } }), 400, 'badRequest', /'meta'/);
      assertFault(await as('POST', path, { metadata: { e: 'x'.repeat(256) } }), 400, 'badRequest');
      const longKey = 'k'.repeat(256);
      assertFault(
        await as('PUT', `${path}/${longKey}`, { meta: { [longKey]: 'v' } }),
        400,
        'badRequest',
      );
      const key255 = 'k'.repeat(255);
      assert.equal((await as('PUT', `${path}/${key255}`, { meta: { [key255]: 'v' } })).status, 200);
      assert.equal((await as('DELETE', `${path}/${key255}`)).status, 204);
      // At most 128 items, by merge or by replace: 403 overLimit, and nothing changes.
      const items = (n: number, prefix: string) =>
        Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, 'v']));
      assert.equal((await as('PUT', path, { metadata: items(128, 'm') })).status, 200);
      assertFault(await as('POST', path, { metadata: { extra: 'v' } }), 403, 'overLimit', /128/);
      assertFault(await as('PUT', `${path}/extra`, { meta: { extra: 'v' } }), 403, 'overLimit');
      assertFault(await as('PUT', path, { metadata: items(129, 'n') }), 403, 'overLimit');
      assert.equal(
        Object.keys((await as('GET', path)).body.metadata as object).length,
        128,
        'a refused change changes nothing',
      );
      assert.equal((await as('PUT', path, { metadata: { z: '26' } })).status, 200);
      // Another project's server is not found; a server with a task under way is a conflict.
      assertFault(await call('GET', path, { token: bob }), 404, 'itemNotFound');
      assertFault(
        await call('POST', path, { token: bob, body: { metadata: { x: 'y' } } }),
        404,
        'itemNotFound',
      );
      const repo = new InstanceRepo(t.cloud.database.db);
      await repo.update(id, { taskState: 'rebooting' });
      assertFault(await as('POST', path, { metadata: { x: 'y' } }), 409, 'conflictingRequest');
      await repo.update(id, { taskState: null });
      // It is kept with the server, stopped or not.
      assert.equal(
        (await as('POST', `/v2.1/servers/${id}/action`, { 'os-stop': null })).status,
        202,
      );
      await waitStatus(id, 'SHUTOFF', alice);
      assert.equal((await as('POST', path, { metadata: { y: 'stopped' } })).status, 200);
      assert.deepEqual((await as('GET', path)).body, { metadata: { y: 'stopped', z: '26' } });

      // Its security groups, as the Compute API shows them.
      const groups = await as('GET', `/v2.1/servers/${id}/os-security-groups`);
      assert.equal(groups.status, 200);
      const [group] = groups.body.security_groups as {
        name: string;
        tenant_id: string;
        rules: unknown[];
      }[];
      assert.equal(group?.name, 'default');
      assert.equal(group?.tenant_id, aliceProject);
      assert.ok(Array.isArray(group?.rules));
      assertFault(
        await call('GET', `/v2.1/servers/${id}/os-security-groups`, { token: bob }),
        404,
        'itemNotFound',
      );
      assert.equal((await as('DELETE', `/v2.1/servers/${id}`)).status, 204);
      await waitUntil(
        async () => (await call('GET', path, { token: alice })).status === 404,
        10_000,
        'deleted',
      );
    });

    it('refuses a launch over quota with 403 and shows the limits and usage', async () => {
      const db = t.cloud.database.db;
      await new QuotaRepo(db).set(aliceProject, 'instances', 2);
      const limits = async () =>
        (
          (await call('GET', '/v2.1/limits', { token: alice })).body.limits as {
            absolute: Record<string, number>;
          }
        ).absolute;
      const first = await limits();
      assert.equal(first.maxTotalInstances, 2);
      assert.equal(first.totalInstancesUsed, 0);
      assert.equal(first.maxTotalKeypairs, 100);
      assert.equal(first.totalRAMUsed, 0);

      const made = await create({ name: 'q1', min_count: 1, max_count: 2 }, alice);
      assert.equal(made.status, 202, JSON.stringify(made.body));
      const used = await limits();
      assert.equal(used.totalInstancesUsed, 2, 'max_count launched as many as quota allows');
      assert.equal(used.totalRAMUsed, 256);
      assert.equal(used.totalCoresUsed, 2);

      // Admins list every project's servers only when they ask to; members never do.
      const ids = async (path: string, token?: string) =>
        ((await call('GET', path, { token })).body.servers as { name: string }[]).map(
          (x) => x.name,
        );
      assert.deepEqual(await ids('/v2.1/servers?name=^q1'), []);
      // Servers created together are named as the Compute API names them: name-1 ... name-N.
      assert.deepEqual((await ids('/v2.1/servers?name=^q1&all_tenants=1')).sort(), [
        'q1-1',
        'q1-2',
      ]);
      // A member asking for every project's servers is refused (403), as the policy answers.
      const others = await call('GET', '/v2.1/servers?all_tenants=1', { token: bob });
      assertFault(others, 403, 'forbidden', /all_tenants/);

      const before = await instanceCount();
      assertFault(await create({ name: 'q2' }, alice), 403, 'overLimit', /quota/i);
      assert.equal(await instanceCount(), before, 'a refused launch leaves nothing behind');

      const mine = (await call('GET', '/v2.1/servers', { token: alice })).body.servers as {
        id: string;
      }[];
      assert.equal(mine.length, 2);
      for (const s of mine) await call('DELETE', `/v2.1/servers/${s.id}`, { token: alice });
    });
  });
}

describe(
  'python-openstackclient against the Compute API',
  // The client users drive servers with.
  needs('openstackclient'),
  () => {
    let t: TestCloud;
    let env: NodeJS.ProcessEnv;
    let imageId: string;
    let computeUrl: string;
    let token: string;

    const ok = async (args: string[]) => {
      const r = await openstack(env, args);
      assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.err}`);
      return r.out;
    };
    const serverStatus = async (id: string) => {
      const r = await fetch(`${computeUrl}/servers/${id}`, { headers: { 'x-auth-token': token } });
      if (r.status === 404) return 'gone';
      return ((await r.json()) as { server: { status: string } }).server.status;
    };

    before(async () => {
      t = await startTestCloud();
      const identity = new IdentityService(t.cloud.database.db);
      await identity.setPassword('admin', PASSWORD);
      imageId = (await t.addImage({ name: 'cirros' })).id;
      computeUrl = t.cloud.urls?.compute as string;
      env = adminEnv(t);
      token = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
    });
    after(() => t?.stop());

    it('lists flavors and creates, lists and deletes key pairs', async () => {
      const flavors = JSON.parse(await ok(['flavor', 'list', '-f', 'json'])) as {
        Name: string;
        RAM: number;
      }[];
      assert.equal(flavors.find((f) => f.Name === 'm1.nano')?.RAM, 128);
      const privateKey = await ok(['keypair', 'create', 'k']);
      assert.match(privateKey, /BEGIN (RSA|OPENSSH) PRIVATE KEY/);
      const keys = JSON.parse(await ok(['keypair', 'list', '-f', 'json'])) as { Name: string }[];
      assert.deepEqual(
        keys.map((k) => k.Name),
        ['k'],
      );
      const dup = await openstack(env, ['keypair', 'create', 'k']);
      assert.notEqual(dup.code, 0);
      assert.match(dup.err, /409.*The key pair 'k' already exists/);
    });

    it('reboots, shows the console log of and deletes a server', async () => {
      // Created over HTTP: `server create` looks the image up through the Image API.
      const r = await fetch(`${computeUrl}/servers`, {
        method: 'POST',
        headers: { 'x-auth-token': token, 'content-type': 'application/json' },
        body: JSON.stringify({
          server: { name: 'vm1', imageRef: imageId, flavorRef: 'm1.nano', key_name: 'k' },
        }),
      });
      assert.equal(r.status, 202);
      const id = ((await r.json()) as { server: { id: string } }).server.id;
      await waitUntil(async () => (await serverStatus(id)) === 'ACTIVE', 10_000, 'ACTIVE');

      await ok(['server', 'reboot', '--hard', '--wait', 'vm1']);
      assert.equal(await serverStatus(id), 'ACTIVE');
      const log = await ok(['console', 'log', 'show', 'vm1']);
      assert.match(log, new RegExp(`booted ${id}`));
      await ok(['server', 'delete', '--wait', 'vm1']);
      assert.equal(await serverStatus(id), 'gone');
      const missing = await openstack(env, ['console', 'log', 'show', 'vm1']);
      assert.notEqual(missing.code, 0);
      assert.match(missing.err, /No Server found for vm1/);
    });

    it('creates servers with properties and together, sets their properties, filters flavors and shows key pairs', async () => {
      const created = JSON.parse(
        await ok([
          'server',
          'create',
          '--flavor',
          'm1.nano',
          '--image',
          imageId,
          '--property',
          'role=web',
          '--property',
          'tier=1',
          '-f',
          'json',
          'props',
        ]),
      ) as { id: string; adminPass: string };
      assert.match(created.adminPass, /^[A-Za-z0-9]{12}$/);
      await waitUntil(async () => (await serverStatus(created.id)) === 'ACTIVE', 10_000, 'ACTIVE');
      await ok(['server', 'set', '--property', 'extra=yes', 'props']);
      await ok(['server', 'unset', '--property', 'tier', 'props']);
      const shown = JSON.parse(await ok(['server', 'show', 'props', '-f', 'json'])) as {
        properties: unknown;
      };
      const properties = JSON.stringify(shown.properties);
      assert.match(properties, /role.*web/);
      assert.match(properties, /extra.*yes/);
      assert.doesNotMatch(properties, /tier/);

      await ok([
        'server',
        'create',
        '--flavor',
        'm1.nano',
        '--image',
        imageId,
        '--min',
        '2',
        '--max',
        '2',
        'multi',
      ]);
      const listed = JSON.parse(await ok(['server', 'list', '--name', '^multi', '-f', 'json'])) as {
        Name: string;
      }[];
      assert.deepEqual(listed.map((x) => x.Name).sort(), ['multi-1', 'multi-2']);

      const flavorNames = async (args: string[]) =>
        (JSON.parse(await ok(['flavor', 'list', ...args, '-f', 'json'])) as { Name: string }[]).map(
          (f) => f.Name,
        );
      assert.deepEqual(await flavorNames(['--min-disk', '40']), [
        'm1.medium',
        'm1.large',
        'm1.xlarge',
      ]);
      // A page at a time: the first after the marker (m1.large is flavor 5).
      assert.deepEqual(await flavorNames(['--min-ram', '8192', '--limit', '1']), ['m1.large']);
      assert.deepEqual(await flavorNames(['--min-ram', '8192', '--marker', '5']), ['m1.xlarge']);
      assert.deepEqual(await flavorNames(['--private']), []);

      await ok(['keypair', 'create', 'kp']);
      const key = JSON.parse(await ok(['keypair', 'show', 'kp', '-f', 'json'])) as Record<
        string,
        unknown
      >;
      assert.equal(key.name, 'kp');
      assert.match(String(key.fingerprint), /^([0-9a-f]{2}:)+[0-9a-f]{2}$/);
      assert.ok(key.user_id);
      assert.match(await ok(['keypair', 'show', '--public-key', 'kp']), /^ssh-rsa /);
      await ok(['keypair', 'delete', 'kp']);

      await ok(['server', 'delete', '--wait', 'props', 'multi-1', 'multi-2']);
    });

    // The client looks the image up through the Image API, even by id, for these commands.
    it('creates, lists, shows, stops and starts a server by image id', async () => {
      const created = JSON.parse(
        await ok([
          'server',
          'create',
          '--flavor',
          'm1.nano',
          '--image',
          imageId,
          '--key-name',
          'k',
          '--wait',
          '-f',
          'json',
          'vm2',
        ]),
      ) as { id: string; status: string; key_name: string };
      assert.equal(created.status, 'ACTIVE');
      assert.equal(created.key_name, 'k');
      const listed = JSON.parse(await ok(['server', 'list', '-f', 'json'])) as {
        ID: string;
        Status: string;
      }[];
      assert.deepEqual(
        listed.map((s) => [s.ID, s.Status]),
        [[created.id, 'ACTIVE']],
      );
      await ok(['server', 'stop', 'vm2']);
      await waitUntil(
        async () => (await serverStatus(created.id)) === 'SHUTOFF',
        10_000,
        'SHUTOFF',
      );
      const shown = JSON.parse(await ok(['server', 'show', 'vm2', '-f', 'json'])) as {
        status: string;
      };
      assert.equal(shown.status, 'SHUTOFF');
      await ok(['server', 'start', 'vm2']);
      await waitUntil(async () => (await serverStatus(created.id)) === 'ACTIVE', 10_000, 'ACTIVE');
      await ok(['server', 'delete', '--wait', 'vm2']);
    });
  },
);
