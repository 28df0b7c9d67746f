// Compute API servers at microversions 2.1 to 2.93, raw HTTP on SQLite and PostgreSQL: version
// documents, extensions and protocol headers; create with the fields of each microversion
// (description, tags, hostname, personality through 2.56, networks required from 2.37) and the
// admin password handed to the guest through meta_data.json; show, list and update in each
// microversion's shape, every answer checked against the schemas written from the API
// reference; server tags; listing filters, sorting, paging and 2.75's strict parameters; and
// the refusals (406, 400 with words, 403, 404 for another project's server).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AnySchema } from 'ajv';
import { MetadataServer, MetadataService } from '../src/api/metadata/index.js';
import { InstanceMetadataReader } from '../src/compute/index.js';
import { InstanceRepo, TagRepo } from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { assertSchema } from './support/api-schema.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { disconnected } from './support/expect.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { login, PASSWORD } from './support/openstack.js';
import {
  createServerSchema,
  extensionListSchema,
  extensionSchema,
  faultSchema,
  metadataItemSchema,
  metadataSchema,
  reservationSchema,
  serverBodySchema,
  serverDetailListSchema,
  serverListSchema,
  tagsSchema,
  versionListSchema,
  versionSchema,
} from './support/schemas/compute-servers.js';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

type Server = Record<string, unknown> & { id: string; name: string };

const REQUEST_ID = /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function assertFault(a: Answer, status: number, name: string, message?: RegExp): void {
  assert.equal(a.status, status, JSON.stringify(a.body));
  assertSchema(faultSchema(name), a.body, `fault ${status}`);
  const f = a.body[name] as { message: string };
  if (message) assert.match(f.message, message);
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(`Compute API servers 2.1-2.93 on ${backend.name}`, needs(...backend.needs), () => {
    let t: TestCloud;
    let database: { url: string; remove(): Promise<void> };
    let url: string;
    let admin: string;
    let alice: string;
    let bob: string;
    let imageId: string;
    let dir: string;
    let socket: string;
    let metadata: MetadataServer;

    const call = async (
      method: string,
      p: string,
      o: {
        token?: string | null;
        body?: unknown;
        minor?: number;
        headers?: Record<string, string>;
      } = {},
    ): Promise<Answer> => {
      const headers: Record<string, string> = { ...o.headers };
      const token = o.token === undefined ? alice : o.token;
      if (token) headers['x-auth-token'] = token;
      if (o.minor !== undefined) headers['openstack-api-version'] = `compute 2.${o.minor}`;
      if (o.body !== undefined) headers['content-type'] = 'application/json';
      const r = await fetch(`${url}${p}`, {
        method,
        headers,
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
      });
      const text = await r.text();
      return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : {} };
    };
    const checked = async (
      schema: AnySchema,
      method: string,
      p: string,
      o: Parameters<typeof call>[2] & { status?: number } = {},
    ) => {
      const a = await call(method, p, o);
      assert.equal(a.status, o.status ?? 200, JSON.stringify(a.body));
      assertSchema(schema, a.body, `${method} ${p} at 2.${o.minor ?? 1}`);
      return a;
    };
    const create = async (server: Record<string, unknown>, minor = 1, token?: string) => {
      const a = await call('POST', '/v2.1/servers', {
        token,
        minor,
        body: {
          server: {
            name: 'vm',
            imageRef: imageId,
            flavorRef: 'm1.nano',
            ...(minor >= 37 ? { networks: 'auto' } : {}),
            ...server,
          },
        },
      });
      if (a.status === 202 && a.body.server) {
        assertSchema(createServerSchema, a.body, `POST /servers at 2.${minor}`);
      }
      return a;
    };
    const active = (id: string) =>
      waitUntil(
        async () => {
          const s = (await call('GET', `/v2.1/servers/${id}`)).body.server as Server | undefined;
          return s?.status === 'ACTIVE' && s['OS-EXT-STS:task_state'] === null && s;
        },
        10_000,
        `server ${id} ACTIVE`,
      );
    /** meta_data.json as the guest at `address` reads it from the metadata service. */
    const metaData = (address: string) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const req = http.request(
          {
            socketPath: socket,
            path: '/openstack/latest/meta_data.json',
            headers: { 'x-forwarded-for': address },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
          },
        );
        req.on('error', reject);
        req.end();
      });

    before(async () => {
      database = await backend.create();
      t = await startTestCloud({ database: database.url, 'quota-instances': '40' });
      url = (t.cloud.urls?.compute as string).replace(/\/v2\.1$/, '');
      const identity = new IdentityService(t.cloud.database.db);
      await identity.setPassword('admin', PASSWORD);
      await identity.createUser({ name: 'alice', password: PASSWORD });
      await identity.createProject({ name: 'alice-project' });
      await identity.grantRole('alice', 'alice-project', 'member');
      await identity.createUser({ name: 'bob', password: PASSWORD });
      await identity.createProject({ name: 'bob-project' });
      await identity.grantRole('bob', 'bob-project', 'member');
      const identityUrl = t.cloud.urls?.identity as string;
      admin = await login(identityUrl, 'admin', 'admin');
      alice = await login(identityUrl, 'alice', 'alice-project');
      bob = await login(identityUrl, 'bob', 'bob-project');
      imageId = (await t.addImage({ name: 'cirros' })).id;
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-servers-'));
      socket = path.join(dir, 'md.sock');
      metadata = new MetadataServer(
        new MetadataService(new InstanceMetadataReader(t.cloud.database.db), t.region),
      );
      await metadata.listen(socket);
    });
    after(async () => {
      await metadata.close();
      await t.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      if (backend.name === 'postgres') await disconnected(database.url);
      await database.remove();
    });

    it('answers the version documents, extensions and protocol headers as Nova does', async () => {
      const root = await checked(versionListSchema, 'GET', '/', { token: null });
      const versions = root.body.versions as { id: string; version: string; min_version: string }[];
      assert.deepEqual(
        versions.map((v) => [v.id, v.min_version, v.version]),
        [
          ['v2.0', '', ''],
          ['v2.1', '2.1', '2.93'],
        ],
      );
      const v21 = await checked(versionSchema, 'GET', '/v2.1/', { token: null });
      assert.equal((v21.body.version as { version: string }).version, '2.93');
      const v20 = await checked(versionSchema, 'GET', '/v2/', { token: null });
      assert.equal((v20.body.version as { status: string }).status, 'SUPPORTED');

      const asked = await call('GET', '/v2.1/servers', { minor: 93 });
      assert.equal(asked.headers.get('openstack-api-version'), 'compute 2.93');
      assert.equal(asked.headers.get('x-openstack-nova-api-version'), '2.93');
      assert.match(asked.headers.get('vary') ?? '', /OpenStack-API-Version/);
      assert.match(asked.headers.get('x-openstack-request-id') ?? '', REQUEST_ID);
      assert.equal(
        asked.headers.get('x-compute-request-id'),
        asked.headers.get('x-openstack-request-id'),
      );
      // A refusal names its request too.
      const missing = await call('GET', '/v2.1/servers/nope');
      assertFault(missing, 404, 'itemNotFound');
      assert.match(missing.headers.get('x-compute-request-id') ?? '', REQUEST_ID);
      // The compatibility API v2.0 has no microversions: a header asking one is not honoured.
      const legacy = await call('GET', '/v2/servers', { minor: 93 });
      assert.equal(legacy.status, 200);
      assert.equal(legacy.headers.get('openstack-api-version'), null);
      assertSchema(serverListSchema, legacy.body, 'GET /v2/servers');

      assertFault(await call('GET', '/v2.1/servers', { minor: 94 }), 406, 'computeFault', /2\.94/);
      assertFault(
        await call('GET', '/v2.1/servers', { headers: { 'openstack-api-version': 'compute 2.0' } }),
        406,
        'computeFault',
      );

      const ext = await checked(extensionListSchema, 'GET', '/v2.1/extensions');
      const aliases = (ext.body.extensions as { alias: string }[]).map((e) => e.alias);
      assert.ok(aliases.includes('os-keypairs') && aliases.includes('OS-EXT-SRV-ATTR'));
      await checked(extensionSchema, 'GET', '/v2.1/extensions/os-keypairs');
      assertFault(await call('GET', '/v2.1/extensions/os-nothing'), 404, 'itemNotFound');
    });

    it('accepts a DELETE or GET with Content-Type: application/json and no body on Compute, Identity and Image', async () => {
      const json = { 'content-type': 'application/json' };
      const made = await create({ name: 'empty-body' });
      const id = (made.body.server as Server).id;
      const got = await call('GET', `/v2.1/servers/${id}`, { headers: json });
      assert.equal(got.status, 200);
      const deleted = await call('DELETE', `/v2.1/servers/${id}`, { headers: json });
      assert.equal(deleted.status, 204);
      const identityUrl = t.cloud.urls?.identity as string;
      const token = await fetch(`${identityUrl}/auth/tokens`, {
        headers: { ...json, 'x-auth-token': admin, 'x-subject-token': alice },
      });
      assert.equal(token.status, 200);
      assert.match(token.headers.get('x-openstack-request-id') ?? '', REQUEST_ID);
      const image = await t.addImage({ name: 'to-delete' });
      const imageUrl = (t.cloud.urls?.image as string).replace(/\/$/, '');
      const shown = await fetch(`${imageUrl}/v2/images/${image.id}`, {
        headers: { ...json, 'x-auth-token': admin },
      });
      assert.equal(shown.status, 200);
      const gone = await fetch(`${imageUrl}/v2/images/${image.id}`, {
        method: 'DELETE',
        headers: { ...json, 'x-auth-token': admin },
      });
      assert.equal(gone.status, 204);
      assert.match(gone.headers.get('x-openstack-request-id') ?? '', REQUEST_ID);
    });

    it('creates servers with the fields of each microversion and hands the guest its admin password', async () => {
      // Apache Libcloud's body: personality is always there, empty (through 2.56).
      const libcloud = await create({ name: 'libcloud', personality: [], metadata: {} });
      assert.equal(libcloud.status, 202, JSON.stringify(libcloud.body));
      const lc = libcloud.body.server as Server & { adminPass: string };
      assert.match(lc.adminPass, /^[A-Za-z0-9]{12}$/);
      const row = await new InstanceRepo(t.cloud.database.db).get(lc.id);
      await active(lc.id);
      const running = await new InstanceRepo(t.cloud.database.db).get(row.id);
      const md = await metaData(running.privateIp as string);
      assert.equal(md.uuid, lc.id);
      assert.equal(md.admin_pass, lc.adminPass, 'the guest reads the password it was given');

      const full = await create(
        {
          name: 'full',
          description: 'a web server',
          tags: ['web', 'prod'],
          hostname: 'web-01',
          adminPass: 'my own secret',
          metadata: { role: 'web' },
          security_groups: [{ name: 'default' }],
          user_data: Buffer.from('#!/bin/sh\n').toString('base64'),
          accessIPv4: '192.0.2.10',
          config_drive: false,
          'OS-DCF:diskConfig': 'AUTO',
        },
        90,
      );
      assert.equal(full.status, 202, JSON.stringify(full.body));
      const f = full.body.server as Server;
      assert.equal(f.adminPass, 'my own secret');
      const shown = (
        await checked(
          serverBodySchema(93, { serverGroups: true }),
          'GET',
          `/v2.1/servers/${f.id}`,
          {
            minor: 93,
          },
        )
      ).body.server as Server;
      assert.equal(shown.description, 'a web server');
      assert.deepEqual(shown.tags, ['prod', 'web']);
      assert.equal(shown['OS-EXT-SRV-ATTR:hostname'], 'web-01');
      assert.deepEqual(shown.metadata, { role: 'web' });
      assert.equal(shown.accessIPv4, '192.0.2.10');
      const fullRow = await active(f.id);
      const fullMd = await metaData(
        (await new InstanceRepo(t.cloud.database.db).get(fullRow.id)).privateIp as string,
      );
      assert.equal(fullMd.admin_pass, 'my own secret');

      // min_count/max_count: name-1 .. name-N, by the documented template; a reservation id.
      const many = await create({
        name: 'batch',
        min_count: 3,
        max_count: 3,
        return_reservation_id: true,
      });
      assert.equal(many.status, 202);
      assertSchema(reservationSchema, many.body, 'POST /servers return_reservation_id');
      const batch = await checked(
        serverListSchema,
        'GET',
        `/v2.1/servers?reservation_id=${String(many.body.reservation_id)}`,
      );
      assert.deepEqual((batch.body.servers as Server[]).map((s) => s.name).sort(), [
        'batch-1',
        'batch-2',
        'batch-3',
      ]);

      const cases: [Record<string, unknown>, number, RegExp][] = [
        [{ personality: [] }, 57, /additional properties.*personality/],
        [{ description: 'x' }, 18, /additional properties.*description/],
        [{ tags: ['a'] }, 51, /additional properties.*tags/],
        [{ hostname: 'h1' }, 89, /additional properties.*hostname/],
        [{ tags: ['a/b'] }, 52, /tags/],
        [{ tags: Array.from({ length: 51 }, (_, i) => `t${i}`) }, 52, /at most 50/],
        [{ description: 'd'.repeat(256) }, 19, /description/],
        [{ hostname: '-bad-' }, 90, /hostname/],
        [{ hostname: 'one', max_count: 2 }, 90, /hostname/],
        [{ personality: [{ path: '/etc/x', contents: 'eA==' }] }, 2, /injection/],
        [{ networks: [{ uuid: '3e5a4b9c-0000-4000-8000-000000000000' }] }, 37, /network/],
        [{ trusted_image_certificates: ['abc'] }, 63, /trusted_image_certificates/],
        [{ flavorRef: 'nope' }, 1, /[Ff]lavor/],
      ];
      for (const [server, minor, message] of cases) {
        assertFault(await create(server, minor), 400, 'badRequest', message);
      }
      // From 2.37 networks is required.
      const noNetworks = await call('POST', '/v2.1/servers', {
        minor: 37,
        body: { server: { name: 'n', imageRef: imageId, flavorRef: 'm1.nano' } },
      });
      assertFault(noNetworks, 400, 'badRequest', /networks/);
      // 2.74: choosing a host is an admin's.
      assertFault(await create({ host: 'compute-1' }, 74), 403, 'forbidden', /host/);
    });

    it('shows, lists and updates servers in the shape of each microversion', async () => {
      const made = await create({ name: 'shapes', tags: ['x'], description: 'shaped' }, 52);
      assert.equal(made.status, 202, JSON.stringify(made.body));
      const id = (made.body.server as Server).id;
      await active(id);
      let description = 'shaped';
      for (const minor of [1, 2, 3, 9, 16, 19, 26, 47, 52, 63, 71, 73, 75, 89, 90, 93]) {
        for (const [who, token] of [
          ['admin', admin],
          ['member', alice],
        ] as const) {
          const o = { admin: who === 'admin', serverGroups: true };
          const shown = (
            await checked(serverBodySchema(minor, o), 'GET', `/v2.1/servers/${id}`, {
              token,
              minor,
            })
          ).body.server as Server;
          assert.equal('locked' in shown, minor >= 9);
          assert.equal('description' in shown, minor >= 19);
          assert.equal('tags' in shown, minor >= 26);
          assert.equal('server_groups' in shown, minor >= 71);
          assert.equal('OS-EXT-SRV-ATTR:reservation_id' in shown, who === 'admin' && minor >= 3);
          assert.equal(
            'OS-EXT-SRV-ATTR:hostname' in shown,
            minor >= 90 || (who === 'admin' && minor >= 3),
          );
          assert.equal('host_status' in shown, who === 'admin' && minor >= 16);
          // The host's compute service is up and enabled in the test cloud.
          if ('host_status' in shown) assert.equal(shown.host_status, 'UP');
          assert.equal('id' in (shown.flavor as object), minor < 47);
          if (minor >= 19) assert.equal(shown.description, description);
          if (minor >= 26) assert.deepEqual(shown.tags, ['x']);
          const detail = await checked(
            serverDetailListSchema(minor, { admin: who === 'admin' }),
            'GET',
            `/v2.1/servers/detail?name=^shapes$${who === 'admin' ? '&all_tenants=1' : ''}`,
            { token, minor },
          );
          assert.equal((detail.body.servers as Server[]).length, 1);
        }
        const updated = await checked(
          serverBodySchema(minor, { core: minor < 75, serverGroups: true }),
          'PUT',
          `/v2.1/servers/${id}`,
          {
            minor,
            body: {
              server: { name: 'shapes', ...(minor >= 19 ? { description: `v${minor}` } : {}) },
            },
          },
        );
        if (minor >= 19) {
          description = `v${minor}`;
          assert.equal((updated.body.server as Server).description, description);
        }
      }
      const renamed = await checked(
        serverBodySchema(90, { core: false, serverGroups: true }),
        'PUT',
        `/v2.1/servers/${id}`,
        {
          minor: 90,
          body: { server: { hostname: 'renamed-host', description: null } },
        },
      );
      assert.equal((renamed.body.server as Server)['OS-EXT-SRV-ATTR:hostname'], 'renamed-host');
      assert.equal((renamed.body.server as Server).description, null);
      assertFault(
        await call('PUT', `/v2.1/servers/${id}`, {
          minor: 18,
          body: { server: { description: 'x' } },
        }),
        400,
        'badRequest',
        /additional properties/,
      );
      // Another project's server is not there; a malformed body is a 400 with words.
      assertFault(await call('GET', `/v2.1/servers/${id}`, { token: bob }), 404, 'itemNotFound');
      assertFault(
        await call('PUT', `/v2.1/servers/${id}`, { token: bob, body: { server: { name: 'x' } } }),
        404,
        'itemNotFound',
      );
      assertFault(await call('DELETE', `/v2.1/servers/${id}`, { token: bob }), 404, 'itemNotFound');
      assertFault(
        await call('PUT', `/v2.1/servers/${id}`, { body: { server: { name: 7 } } }),
        400,
        'badRequest',
        /name/,
      );
    });

    it('keeps server tags and metadata through their endpoints', async () => {
      const made = await create({ name: 'tagged' });
      const id = (made.body.server as Server).id;
      await active(id);
      const tags = `/v2.1/servers/${id}/tags`;
      assertFault(await call('GET', tags, { minor: 25 }), 404, 'itemNotFound');
      assert.deepEqual((await checked(tagsSchema, 'GET', tags, { minor: 26 })).body.tags, []);
      const replaced = await checked(tagsSchema, 'PUT', tags, {
        minor: 26,
        body: { tags: ['b', 'a'] },
      });
      assert.deepEqual(replaced.body.tags, ['a', 'b']);
      const added = await call('PUT', `${tags}/c`, { minor: 26 });
      assert.equal(added.status, 201);
      assert.match(added.headers.get('location') ?? '', /\/tags\/c$/);
      assert.equal((await call('PUT', `${tags}/c`, { minor: 26 })).status, 204);
      assert.equal((await call('GET', `${tags}/c`, { minor: 26 })).status, 204);
      assertFault(await call('GET', `${tags}/zz`, { minor: 26 }), 404, 'itemNotFound');
      assert.equal((await call('DELETE', `${tags}/c`, { minor: 26 })).status, 204);
      assertFault(await call('DELETE', `${tags}/c`, { minor: 26 }), 404, 'itemNotFound');
      assertFault(await call('PUT', tags, { minor: 26, body: { tags: 'a' } }), 400, 'badRequest');
      assertFault(await call('PUT', `${tags}/a,b`, { minor: 26 }), 400, 'badRequest', /','/);
      assertFault(await call('GET', tags, { minor: 26, token: bob }), 404, 'itemNotFound');
      const fifty = Array.from({ length: 50 }, (_, i) => `t${i}`);
      await checked(tagsSchema, 'PUT', tags, { minor: 26, body: { tags: fifty } });
      assertFault(await call('PUT', `${tags}/one-more`, { minor: 26 }), 400, 'badRequest', /50/);
      assert.equal((await call('DELETE', tags, { minor: 26 })).status, 204);
      assert.deepEqual((await call('GET', tags, { minor: 26 })).body.tags, []);
      // The name (an EC2 tag, Name) is not among the Compute API's tags, nor they among EC2's.
      const ec2Tags = await new TagRepo(t.cloud.database.db).of([id]);
      assert.deepEqual(
        (ec2Tags.get(id) ?? []).map((x) => x.key),
        ['Name'],
      );

      const meta = `/v2.1/servers/${id}/metadata`;
      await checked(metadataSchema, 'PUT', meta, { body: { metadata: { a: '1', b: '2' } } });
      const merged = await checked(metadataSchema, 'POST', meta, {
        body: { metadata: { c: '3' } },
      });
      assert.deepEqual(merged.body.metadata, { a: '1', b: '2', c: '3' });
      const item = await checked(metadataItemSchema, 'PUT', `${meta}/d`, {
        body: { meta: { d: '4' } },
      });
      assert.deepEqual(item.body.meta, { d: '4' });
      await checked(metadataItemSchema, 'GET', `${meta}/d`);
      assert.equal((await call('DELETE', `${meta}/d`)).status, 204);
      assertFault(await call('GET', `${meta}/d`), 404, 'itemNotFound');
      assertFault(
        await call('PUT', `${meta}/e`, { body: { meta: { f: '1' } } }),
        400,
        'badRequest',
        /mismatch/,
      );
      assertFault(await call('GET', meta, { token: bob }), 404, 'itemNotFound');
    });

    it('filters, sorts and pages listings, strictly from 2.75', async () => {
      const ids: string[] = [];
      for (const [name, tags] of [
        ['lst-a', ['red', 'big']],
        ['lst-b', ['red']],
        ['lst-c', ['blue']],
      ] as const) {
        const a = await create({ name, tags: [...tags] }, 52);
        assert.equal(a.status, 202, JSON.stringify(a.body));
        ids.push((a.body.server as Server).id);
      }
      for (const id of ids) await active(id);
      const names = async (query: string, minor = 26, token?: string) => {
        const a = await checked(serverListSchema, 'GET', `/v2.1/servers?${query}`, {
          minor,
          token,
        });
        return (a.body.servers as Server[]).map((s) => s.name);
      };
      assert.deepEqual((await names('name=^lst-&tags=red')).sort(), ['lst-a', 'lst-b']);
      assert.deepEqual((await names('name=^lst-&tags=red,big')).sort(), ['lst-a']);
      assert.deepEqual((await names('name=^lst-&tags-any=big,blue')).sort(), ['lst-a', 'lst-c']);
      assert.deepEqual((await names('name=^lst-&not-tags=red,big')).sort(), ['lst-b', 'lst-c']);
      assert.deepEqual((await names('name=^lst-&not-tags-any=red')).sort(), ['lst-c']);
      assert.deepEqual(await names('name=^lst-&sort_key=display_name&sort_dir=asc'), [
        'lst-a',
        'lst-b',
        'lst-c',
      ]);
      assert.deepEqual(await names('name=^lst-&sort_key=display_name&sort_dir=desc'), [
        'lst-c',
        'lst-b',
        'lst-a',
      ]);
      assert.deepEqual(
        await names(`name=^lst-&image=${imageId}&status=ACTIVE&flavor=1`).then((n) => n.length),
        3,
      );
      assert.deepEqual(await names('name=^lst-&status=SHUTOFF'), []);
      const first = await call(
        'GET',
        '/v2.1/servers/detail?name=^lst-&sort_key=display_name&sort_dir=asc&limit=2',
      );
      assertSchema(serverDetailListSchema(1), first.body, 'paged detail');
      assert.deepEqual(
        (first.body.servers as Server[]).map((s) => s.name),
        ['lst-a', 'lst-b'],
      );
      const next = (first.body.servers_links as { href: string }[])[0]?.href as string;
      assert.match(next, /marker=/);
      const rest = await call('GET', next.slice(url.length));
      assert.deepEqual(
        (rest.body.servers as Server[]).map((s) => s.name),
        ['lst-c'],
      );
      assert.equal(rest.body.servers_links, undefined);
      // changes-since shows what changed since; changes-before (2.66) what changed before.
      const future = new Date(Date.now() + 3600_000).toISOString();
      assert.deepEqual(await names(`name=^lst-&changes-since=${future}`), []);
      assert.equal((await names(`name=^lst-&changes-before=${future}`, 66)).length, 3);
      const past = new Date(Date.now() - 3600_000).toISOString();
      assert.equal((await names(`name=^lst-&changes-since=${past}`)).length, 3);
      // An address filter (a regular expression over the server's addresses).
      const row = await new InstanceRepo(t.cloud.database.db).get(ids[0] as string);
      assert.deepEqual(await names(`ip=^${row.privateIp as string}$`), ['lst-a']);

      // Before 2.75 an unknown parameter is ignored; from 2.75 it is a 400.
      assert.equal((await names('name=^lst-&bogus=1', 74)).length, 3);
      assertFault(
        await call('GET', '/v2.1/servers?bogus=1', { minor: 75 }),
        400,
        'badRequest',
        /bogus/,
      );
      // Before 2.66 changes-before is not a filter (ignored, as any unknown one then).
      assert.equal((await names('name=^lst-&changes-before=2020-01-01T00:00:00Z', 65)).length, 3);
      const refusals: [string, number, RegExp][] = [
        ['sort_key=shoe_size', 1, /sort_key/],
        ['sort_dir=sideways', 1, /sort_dir/],
        ['limit=-1', 1, /limit/],
        ['marker=3e5a4b9c-0000-4000-8000-000000000000', 1, /marker/],
        ['changes-since=yesterday', 1, /changes-since/],
        [`changes-since=${future}&changes-before=${past}`, 66, /changes-since/],
        ['tags=a/b', 26, /tags/],
      ];
      for (const [query, minor, message] of refusals) {
        assertFault(
          await call('GET', `/v2.1/servers?${query}`, { minor }),
          400,
          'badRequest',
          message,
        );
      }
      // Every project's servers are an admin's to list (403 for a member).
      assertFault(
        await call('GET', '/v2.1/servers?all_tenants=1'),
        403,
        'forbidden',
        /all_tenants/,
      );
      assert.equal((await names('name=^lst-&all_tenants=1', 26, admin)).length, 3);
      assert.equal((await names('name=^lst-', 26, admin)).length, 0, 'the admin project has none');
      assert.equal((await names('name=^lst-', 26, bob)).length, 0);
    });
  });
}
