// The OpenStack Image API v2 on SQLite and PostgreSQL, with fetch and real disk images made by
// qemu-img: version discovery, create then upload then download and delete, the checks an
// upload gets (corrupt, cut short, the wrong format: refused, the image killed, no file left),
// tenancy (private images, who may create public ones), filters and paging, and every bad
// request answered with the API's error JSON and a 4xx. Then python-openstackclient.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IdentityService } from '../src/identity/index.js';
import { assertSchema } from './support/api-schema.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { disconnected } from './support/expect.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { adminEnv, login, openstack, PASSWORD } from './support/openstack.js';
import { imageErrorSchema, imageListSchema, imageSchema } from './support/schemas/image.js';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  bytes: Buffer;
}

interface ImageBody {
  id: string;
  name: string;
  status: string;
  visibility: string;
  disk_format: string;
  container_format: string;
  size: number | null;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  owner: string | null;
  self: string;
  file: string;
  schema: string;
  protected: boolean;
  tags: string[];
  min_disk: number;
  min_ram: number;
  created_at: string;
  kernel_id?: string;
}

/** The error body every refusal must have. */
function assertImageError(a: Answer, code: number, message?: RegExp): void {
  assert.equal(a.status, code, a.bytes.toString());
  assertSchema(imageErrorSchema, a.body, `an error ${code}`);
  const e = a.body.error as { code: number; title: string; message: string };
  assert.equal(e.code, code);
  assert.equal(typeof e.title, 'string');
  assert.ok(e.message.length > 0);
  if (message) assert.match(e.message, message);
}

/** Small real disk images to upload. */
function makeFiles(dir: string) {
  const at = (name: string) => path.join(dir, name);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', at('disk.qcow2'), '64M']);
  fs.writeFileSync(at('disk.raw'), Buffer.alloc(2 * 1024 * 1024 + 5, 3));
  fs.writeFileSync(at('cut.qcow2'), fs.readFileSync(at('disk.qcow2')).subarray(0, 1000));
  return { qcow2: at('disk.qcow2'), raw: at('disk.raw'), cut: at('cut.qcow2') };
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(
    `Image API v2 on ${backend.name}`,
    // qemu-img checks every uploaded file.
    needs('qemu-img', ...backend.needs),
    () => {
      let t: TestCloud;
      let database: { url: string; remove(): Promise<void> };
      let url: string;
      let dir: string;
      let files: ReturnType<typeof makeFiles>;
      const tokens: Record<'admin' | 'alice' | 'bob', string> = { admin: '', alice: '', bob: '' };
      const projects: Record<'alice' | 'bob', string> = { alice: '', bob: '' };

      const call = async (
        method: string,
        p: string,
        options: {
          token?: string;
          body?: unknown;
          raw?: string | Buffer;
          type?: string;
        } = {},
      ): Promise<Answer> => {
        const headers: Record<string, string> = {};
        if (options.token) headers['x-auth-token'] = options.token;
        if (options.body !== undefined) headers['content-type'] = 'application/json';
        if (options.type) headers['content-type'] = options.type;
        const r = await fetch(`${url}${p}`, {
          method,
          headers,
          body:
            options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
        });
        const bytes = Buffer.from(await r.arrayBuffer());
        const json = (r.headers.get('content-type') ?? '').includes('application/json');
        return {
          status: r.status,
          headers: r.headers,
          body:
            json && bytes.length > 0
              ? (JSON.parse(bytes.toString()) as Record<string, unknown>)
              : {},
          bytes,
        };
      };
      const create = async (who: keyof typeof tokens, body: Record<string, unknown>) => {
        const a = await call('POST', '/v2/images', { token: tokens[who], body });
        assert.equal(a.status, 201, a.bytes.toString());
        assertSchema(imageSchema, a.body, 'POST /v2/images');
        return a.body as unknown as ImageBody;
      };
      const upload = (who: keyof typeof tokens, id: string, file: string) =>
        call('PUT', `/v2/images/${id}/file`, {
          token: tokens[who],
          raw: fs.readFileSync(file),
          type: 'application/octet-stream',
        });
      const show = async (who: keyof typeof tokens, id: string) => {
        const a = await call('GET', `/v2/images/${id}`, { token: tokens[who] });
        if (a.status === 200) assertSchema(imageSchema, a.body, 'GET /v2/images/{id}');
        return a.body as unknown as ImageBody;
      };
      const storedFiles = () =>
        fs.existsSync(path.join(t.cloud.config.stateDir, 'images'))
          ? fs.readdirSync(path.join(t.cloud.config.stateDir, 'images'))
          : [];

      before(async () => {
        database = await backend.create();
        t = await startTestCloud({ database: database.url });
        url = t.cloud.urls?.image as string;
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-image-api-'));
        files = makeFiles(dir);
        const identity = new IdentityService(t.cloud.database.db);
        await identity.setPassword('admin', PASSWORD);
        for (const name of ['alice', 'bob'] as const) {
          await identity.createUser({ name, password: PASSWORD });
          projects[name] = (await identity.createProject({ name: `${name}-project` })).id;
          await identity.grantRole(name, `${name}-project`, 'member');
        }
        tokens.admin = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
        tokens.alice = await login(t.cloud.urls?.identity as string, 'alice', 'alice-project');
        tokens.bob = await login(t.cloud.urls?.identity as string, 'bob', 'bob-project');
      });
      after(async () => {
        await t.stop();
        if (backend.name === 'postgres') await disconnected(database.url);
        await database.remove();
        fs.rmSync(dir, { recursive: true, force: true });
      });

      it('answers version discovery at / (300) and /versions, and is in the catalog', async () => {
        const root = await call('GET', '/');
        assert.equal(root.status, 300);
        const versions = root.body.versions as {
          id: string;
          status: string;
          links: { href: string }[];
        }[];
        const current = versions.find((v) => v.status === 'CURRENT');
        assert.match(current?.id ?? '', /^v2\.\d+$/);
        assert.equal(current?.links[0]?.href, `${url}/v2/`);
        assert.equal((await call('GET', '/versions')).status, 200);
        const catalog = await fetch(`${t.cloud.urls?.identity}/auth/catalog`, {
          headers: { 'x-auth-token': tokens.alice },
        });
        const entries = (
          (await catalog.json()) as {
            catalog: { type: string; name: string; endpoints: { url: string }[] }[];
          }
        ).catalog;
        const image = entries.find((e) => e.type === 'image');
        assert.equal(image?.name, 'glance');
        assert.equal(image?.endpoints[0]?.url, url);
      });

      it('refuses requests without a valid project token with 401', async () => {
        assertImageError(await call('GET', '/v2/images'), 401, /requires authentication/);
        assertImageError(await call('GET', '/v2/images', { token: 'not-a-token' }), 401);
        assertImageError(await call('POST', '/v2/images', { body: { name: 'x' } }), 401);
        assertImageError(
          await call('PUT', `/v2/images/${'0'.repeat(8)}/file`, {
            raw: 'data',
            type: 'application/octet-stream',
          }),
          401,
        );
      });

      it('creates a queued image, takes its data, shows it active with its MD5 and SHA-512, serves the same bytes and deletes it', async () => {
        const created = await create('alice', {
          name: 'alice-disk',
          disk_format: 'qcow2',
          container_format: 'bare',
          'owner_specified.openstack.sha256': 'kept',
        });
        assert.equal(
          (created as unknown as Record<string, unknown>)['owner_specified.openstack.sha256'],
          'kept',
        );
        assert.equal(created.status, 'queued');
        assert.equal(created.visibility, 'private');
        assert.equal(created.owner, projects.alice);
        assert.equal(created.size, null);
        assert.equal(created.self, `/v2/images/${created.id}`);
        assert.equal(created.file, `/v2/images/${created.id}/file`);
        assert.equal(created.schema, '/v2/schemas/image');
        assert.equal(created.protected, false);
        assert.deepEqual(created.tags, []);
        assert.equal((await call('GET', created.file, { token: tokens.alice })).status, 204);

        const put = await upload('alice', created.id, files.qcow2);
        assert.equal(put.status, 204, put.bytes.toString());
        const bytes = fs.readFileSync(files.qcow2);
        const shown = await show('alice', created.id);
        assert.equal(shown.status, 'active');
        assert.equal(shown.disk_format, 'qcow2');
        assert.equal(shown.container_format, 'bare');
        assert.equal(shown.size, bytes.length);
        assert.equal(shown.checksum, createHash('md5').update(bytes).digest('hex'));
        assert.equal(shown.os_hash_algo, 'sha512');
        assert.equal(shown.os_hash_value, createHash('sha512').update(bytes).digest('hex'));
        const virtualSize = (shown as unknown as { virtual_size: number }).virtual_size;
        assert.equal(virtualSize, 64 * 1024 * 1024);

        const got = await call('GET', shown.file, { token: tokens.alice });
        assert.equal(got.status, 200);
        assert.equal(got.headers.get('content-type'), 'application/octet-stream');
        assert.equal(got.headers.get('content-md5'), shown.checksum);
        assert.match(got.headers.get('x-openstack-request-id') ?? '', /^req-/);
        assert.ok(got.bytes.equals(bytes));

        assertImageError(await upload('alice', created.id, files.qcow2), 409, /is active/);
        const del = await call('DELETE', `/v2/images/${created.id}`, { token: tokens.alice });
        assert.equal(del.status, 204);
        assertImageError(
          await call('GET', `/v2/images/${created.id}`, { token: tokens.alice }),
          404,
        );
        assert.ok(!storedFiles().includes(created.id));
      });

      it('refuses a corrupt upload and one in the wrong format: the image is killed and no file is left', async () => {
        const before = storedFiles();
        const bad = await create('alice', {
          name: 'cut',
          disk_format: 'qcow2',
          container_format: 'bare',
        });
        assertImageError(
          await upload('alice', bad.id, files.cut),
          400,
          /uploaded data is a damaged or incomplete qcow2 image.*marked killed/,
        );
        const killed = await show('alice', bad.id);
        assert.equal(killed.status, 'killed');
        assert.equal(killed.os_hash_value, null);
        assert.equal((await call('GET', killed.file, { token: tokens.alice })).status, 204);
        assertImageError(await upload('alice', bad.id, files.qcow2), 409, /killed/);

        const raw = await create('alice', {
          name: 'not-raw',
          disk_format: 'raw',
          container_format: 'bare',
        });
        const wrong = await upload('alice', raw.id, files.qcow2);
        assertImageError(wrong, 400, /is a qcow2 image, but the image's disk format is raw/);
        assert.doesNotMatch(
          wrong.body.error ? JSON.stringify(wrong.body) : '',
          /\.part|\/images\//,
        );
        assert.equal((await show('alice', raw.id)).status, 'killed');

        const empty = await create('alice', {
          name: 'empty',
          disk_format: 'raw',
          container_format: 'bare',
        });
        assertImageError(
          await call('PUT', `/v2/images/${empty.id}/file`, {
            token: tokens.alice,
            raw: '',
            type: 'application/octet-stream',
          }),
          400,
          /empty/,
        );
        assertImageError(
          await call('PUT', `/v2/images/${empty.id}/file`, { token: tokens.alice, body: {} }),
          415,
          /application\/octet-stream/,
        );
        assert.equal((await show('alice', empty.id)).status, 'queued');
        assert.deepEqual(storedFiles(), before);
      });

      it('leaves an upload cut off by the client killed, with no partial file', async () => {
        const image = await create('alice', {
          name: 'cut-off',
          disk_format: 'raw',
          container_format: 'bare',
        });
        const { hostname, port } = new URL(url);
        const req = http.request({
          host: hostname,
          port,
          method: 'PUT',
          path: `/v2/images/${image.id}/file`,
          headers: {
            'x-auth-token': tokens.alice,
            'content-type': 'application/octet-stream',
            'content-length': String(4 * 1024 * 1024),
          },
        });
        const closed = new Promise<void>((resolve) => req.once('close', () => resolve()));
        req.on('error', () => undefined);
        req.write(Buffer.alloc(512 * 1024, 1));
        // Cut it off once the server is taking it in, not after a guessed pause.
        await waitUntil(
          async () => (await show('alice', image.id)).status === 'saving',
          10_000,
          'the upload to start',
        );
        req.destroy();
        await closed;
        await waitUntil(
          async () => (await show('alice', image.id)).status === 'killed',
          10_000,
          'the cut-off upload to be killed',
        );
        assert.ok(!storedFiles().some((f) => f.startsWith(image.id)));
      });

      it('refuses bad create requests with 400 (or 403 for read-only attributes) and creates nothing', async () => {
        const cases: [unknown, number, RegExp][] = [
          [
            { name: 'x', disk_format: 'floppy', container_format: 'bare' },
            400,
            /disk_format 'floppy' is not supported/,
          ],
          [
            { name: 'x', disk_format: 'qcow2', container_format: 'ovf' },
            400,
            /container_format 'ovf'/,
          ],
          [{ name: 'x', disk_format: 'aki', container_format: 'bare' }, 400, /kernel image/],
          [{ name: 'x', container_format: 'bare' }, 400, /needs 'disk_format'/],
          [{ disk_format: 'raw', container_format: 'bare' }, 400, /needs 'name'/],
          [
            { name: 7, disk_format: 'raw', container_format: 'bare' },
            400,
            /'name' must be a string/,
          ],
          [
            { name: 'x', disk_format: 'raw', container_format: 'bare', visibility: 'friends' },
            400,
            /visibility 'friends'/,
          ],
          [
            { name: 'x', disk_format: 'raw', container_format: 'bare', hw_disk_bus: 7 },
            400,
            /'hw_disk_bus' must have a string value/,
          ],
          [
            { name: 'x', disk_format: 'raw', container_format: 'bare', min_ram: -1 },
            400,
            /'min_ram' must be an integer/,
          ],
          [
            { name: 'x', disk_format: 'raw', container_format: 'bare', protected: 'yes' },
            400,
            /'protected' must be true or false/,
          ],
          [
            { name: 'x', disk_format: 'raw', container_format: 'bare', tags: 'a,b' },
            400,
            /'tags' must be a list/,
          ],
          [
            { name: 'x', disk_format: 'raw', container_format: 'bare', deleted: 'x' },
            403,
            /'deleted' is reserved/,
          ],
          [
            { name: 'x', disk_format: 'raw', container_format: 'bare', os_glance_x: 'x' },
            403,
            /'os_glance_x' is reserved/,
          ],
          [
            { name: 'x', disk_format: 'raw', container_format: 'bare', status: 'active' },
            403,
            /'status' is read-only/,
          ],
          [['x'], 400, /JSON object/],
        ];
        for (const [body, code, message] of cases) {
          assertImageError(
            await call('POST', '/v2/images', { token: tokens.alice, body }),
            code,
            message,
          );
        }
        assertImageError(
          await call('POST', '/v2/images', {
            token: tokens.alice,
            raw: '{"name": ',
            type: 'application/json',
          }),
          400,
        );
        assertImageError(
          await call('POST', '/v2/images', {
            token: tokens.alice,
            raw: 'name=x',
            type: 'text/csv',
          }),
          415,
        );
        assertImageError(
          await call('POST', '/v2/images', {
            token: tokens.alice,
            body: {
              name: 'x',
              disk_format: 'raw',
              container_format: 'bare',
              description: 'y'.repeat(2 * 1024 * 1024),
            },
          }),
          413,
        );
        const mine = await call('GET', '/v2/images?name=x', { token: tokens.alice });
        assert.deepEqual(mine.body.images, []);
        await create('alice', { name: 'twice', disk_format: 'raw', container_format: 'bare' });
        assertImageError(
          await call('POST', '/v2/images', {
            token: tokens.alice,
            body: { name: 'twice', disk_format: 'raw', container_format: 'bare' },
          }),
          409,
          /already exists/,
        );
      });

      it("keeps a project's private images from other projects, and only lets admins create public ones", async () => {
        const secret = await create('alice', {
          name: 'secret',
          disk_format: 'raw',
          container_format: 'bare',
        });
        assert.equal((await upload('alice', secret.id, files.raw)).status, 204);
        for (const [method, p] of [
          ['GET', `/v2/images/${secret.id}`],
          ['GET', `/v2/images/${secret.id}/file`],
          ['DELETE', `/v2/images/${secret.id}`],
        ] as const) {
          assertImageError(await call(method, p, { token: tokens.bob }), 404);
        }
        assertImageError(await upload('bob', secret.id, files.raw), 404);
        const bobs = (await call('GET', '/v2/images', { token: tokens.bob })).body
          .images as ImageBody[];
        assert.ok(!bobs.some((i) => i.id === secret.id));
        const admins = (await call('GET', '/v2/images', { token: tokens.admin })).body
          .images as ImageBody[];
        assert.ok(admins.some((i) => i.id === secret.id));

        assertImageError(
          await call('POST', '/v2/images', {
            token: tokens.bob,
            body: {
              name: 'mine-for-all',
              disk_format: 'raw',
              container_format: 'bare',
              visibility: 'public',
            },
          }),
          403,
          /Only an admin may create a public image/,
        );
        assert.deepEqual(
          (await call('GET', '/v2/images?name=mine-for-all', { token: tokens.admin })).body.images,
          [],
        );

        const shared = await create('admin', {
          name: 'for-everyone',
          disk_format: 'raw',
          container_format: 'bare',
          visibility: 'public',
        });
        assert.equal(shared.visibility, 'public');
        assert.equal((await show('bob', shared.id)).name, 'for-everyone');
        assertImageError(
          await call('DELETE', `/v2/images/${shared.id}`, { token: tokens.bob }),
          403,
        );
        assertImageError(await upload('bob', shared.id, files.raw), 403);
        assert.equal((await show('bob', shared.id)).status, 'queued');
      });

      it('filters by name, visibility, status and owner, and pages with limit, marker and next', async () => {
        const ids: string[] = [];
        for (const n of [1, 2, 3, 4, 5]) {
          ids.push(
            (
              await create('bob', {
                name: `page-${n}`,
                disk_format: 'raw',
                container_format: 'bare',
              })
            ).id,
          );
        }
        const seen: string[] = [];
        let next: string | undefined =
          `/v2/images?owner=${projects.bob}&sort_key=name&sort_dir=asc&limit=2`;
        let pages = 0;
        while (next) {
          const page = await call('GET', next, { token: tokens.bob });
          assert.equal(page.status, 200, page.bytes.toString());
          assertSchema(imageListSchema, page.body, 'GET /v2/images');
          const images = page.body.images as ImageBody[];
          assert.ok(images.length <= 2);
          seen.push(...images.map((i) => i.name));
          next = page.body.next as string | undefined;
          pages++;
        }
        assert.deepEqual(seen, ['page-1', 'page-2', 'page-3', 'page-4', 'page-5']);
        assert.equal(pages, 3);
        // The default order is newest first.
        const newest = (
          await call('GET', `/v2/images?owner=${projects.bob}&limit=1`, { token: tokens.bob })
        ).body;
        assert.equal((newest.images as ImageBody[])[0]?.name, 'page-5');

        const byName = (await call('GET', '/v2/images?name=page-3', { token: tokens.bob })).body
          .images as ImageBody[];
        assert.deepEqual(
          byName.map((i) => i.id),
          [ids[2]],
        );
        const pub = (await call('GET', '/v2/images?visibility=public', { token: tokens.bob })).body
          .images as ImageBody[];
        assert.ok(pub.length > 0 && pub.every((i) => i.visibility === 'public'));
        const priv = (await call('GET', '/v2/images?visibility=private', { token: tokens.bob }))
          .body.images as ImageBody[];
        assert.ok(priv.every((i) => i.owner === projects.bob));
        assert.equal(priv.length, 5);
        const active = (await call('GET', '/v2/images?status=active', { token: tokens.alice })).body
          .images as ImageBody[];
        assert.ok(active.length > 0 && active.every((i) => i.status === 'active'));
        assert.deepEqual(
          (await call('GET', '/v2/images?visibility=community', { token: tokens.bob })).body.images,
          [],
        );
        // No image is hidden yet; openstacksdk asks for hidden ones when it finds an image by name.
        assert.deepEqual(
          (await call('GET', '/v2/images?os_hidden=True', { token: tokens.bob })).body.images,
          [],
        );
        // Any other parameter filters on a custom property, which these images lack.
        assert.deepEqual(
          (await call('GET', '/v2/images?colour=blue', { token: tokens.bob })).body.images,
          [],
        );

        for (const [q, message] of [
          ['limit=0', /limit '0'/],
          ['limit=ten', /limit 'ten'/],
          ['marker=no-such-image', /marker 'no-such-image'/],
          ['status=lost', /status 'lost'/],
          ['visibility=friends', /visibility 'friends'/],
          ['sort_key=colour', /sort_key 'colour'/],
          ['sort_dir=up', /sort_dir 'up'/],
          ['name=a&name=b', /may be given once/],
          ['os_hidden=maybe', /os_hidden 'maybe'/],
        ] as const) {
          assertImageError(
            await call('GET', `/v2/images?${q}`, { token: tokens.bob }),
            400,
            message,
          );
        }
      });

      it('links kernels to machine images and refuses to delete a kernel in use (409)', async () => {
        const kernel = await create('alice', {
          name: 'vmlinuz',
          disk_format: 'aki',
          container_format: 'aki',
        });
        assert.equal(kernel.disk_format, 'aki');
        assert.equal((await upload('alice', kernel.id, files.raw)).status, 204);
        const machine = await create('alice', {
          name: 'with-kernel',
          disk_format: 'qcow2',
          container_format: 'bare',
          kernel_id: kernel.id,
        });
        assert.equal(machine.kernel_id, kernel.id);
        assertImageError(
          await call('DELETE', `/v2/images/${kernel.id}`, { token: tokens.alice }),
          409,
          /used by the machine image 'with-kernel'/,
        );
        assertImageError(
          await call('POST', '/v2/images', {
            token: tokens.bob,
            body: {
              name: 'x',
              disk_format: 'qcow2',
              container_format: 'bare',
              kernel_id: kernel.id,
            },
          }),
          404,
        );
      });

      it('answers unknown images and routes with 404 JSON', async () => {
        assertImageError(
          await call('GET', '/v2/images/7a7a7a7a-0000-4000-8000-000000000000', {
            token: tokens.alice,
          }),
          404,
          /does not exist/,
        );
        assertImageError(
          await call('GET', '/v2/images/not-an-id/file', { token: tokens.alice }),
          404,
        );
        assertImageError(
          await call('DELETE', '/v2/images/not-an-id', { token: tokens.alice }),
          404,
        );
        assertImageError(
          await call('GET', '/v2/flavors', { token: tokens.alice }),
          404,
          /not part of the Image API/,
        );
        // Odd ids and query values are client errors on every database, never a 500.
        for (const p of ['/v2/images/%00', '/v2/images/%00/file', `/v2/images/${'a'.repeat(80)}`]) {
          assertImageError(await call('GET', p, { token: tokens.alice }), 404);
        }
        assertImageError(
          await call('GET', `/v2/images/${'a'.repeat(5000)}`, { token: tokens.alice }),
          414,
          /too long/,
        );
        assertImageError(await call('GET', '/v2/images/%E0%A4%A', { token: tokens.alice }), 400);
        for (const q of ['name=%00', 'owner=%00', 'marker=%01']) {
          assertImageError(
            await call('GET', `/v2/images?${q}`, { token: tokens.alice }),
            400,
            /control characters/,
          );
        }
        assertImageError(
          await call('POST', '/v2/images', {
            token: tokens.alice,
            body: { name: 'k', disk_format: 'raw', container_format: 'bare', kernel_id: 'x\u0000' },
          }),
          400,
          /'kernel_id' must be an image id/,
        );
        assertImageError(
          await call('PATCH', '/v2/images/x', { token: tokens.alice, body: [] }),
          404,
        );
      });
    },
  );
}

describe(
  'python-openstackclient against the Image API',
  // openstackclient as users run it; qemu-img checks the uploads.
  needs('openstackclient', 'qemu-img'),
  () => {
    let t: TestCloud;
    let env: NodeJS.ProcessEnv;
    let dir: string;
    let files: ReturnType<typeof makeFiles>;

    before(async () => {
      t = await startTestCloud();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-image-osc-'));
      files = makeFiles(dir);
      const identity = new IdentityService(t.cloud.database.db);
      await identity.setPassword('admin', PASSWORD);
      await identity.createUser({ name: 'carol', password: PASSWORD });
      await identity.createProject({ name: 'carol-project' });
      await identity.grantRole('carol', 'carol-project', 'member');
      env = adminEnv(t, dir);
    });
    after(async () => {
      await t?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('creates from a file, lists, shows, saves the same bytes and deletes', async () => {
      const created = await openstack(env, [
        'image',
        'create',
        '--disk-format',
        'qcow2',
        '--container-format',
        'bare',
        '--file',
        files.qcow2,
        'osc-disk',
        '-f',
        'json',
      ]);
      assert.equal(created.code, 0, created.err);
      const id = (JSON.parse(created.out) as { id: string }).id;

      const listed = await openstack(env, ['image', 'list', '-f', 'json']);
      assert.equal(listed.code, 0, listed.err);
      const rows = JSON.parse(listed.out) as { ID: string; Name: string; Status: string }[];
      assert.deepEqual(
        rows.filter((r) => r.ID === id).map((r) => [r.Name, r.Status]),
        [['osc-disk', 'active']],
      );

      const shown = await openstack(env, ['image', 'show', 'osc-disk', '-f', 'json']);
      assert.equal(shown.code, 0, shown.err);
      const image = JSON.parse(shown.out) as Record<string, unknown>;
      const bytes = fs.readFileSync(files.qcow2);
      assert.equal(image.id, id);
      assert.equal(image.status, 'active');
      assert.equal(image.disk_format, 'qcow2');
      assert.equal(image.size, bytes.length);
      assert.equal(image.visibility, 'private');

      const out = path.join(dir, 'saved.qcow2');
      const saved = await openstack(env, ['image', 'save', '--file', out, 'osc-disk']);
      assert.equal(saved.code, 0, saved.err);
      assert.ok(fs.readFileSync(out).equals(bytes));

      const deleted = await openstack(env, ['image', 'delete', 'osc-disk']);
      assert.equal(deleted.code, 0, deleted.err);
      const gone = await openstack(env, ['image', 'show', id]);
      assert.notEqual(gone.code, 0);
      assert.match(gone.err, /No Image found|not found|does not exist/i);
    });

    it('shows a member the refusals: no public images, and a corrupt file fails', async () => {
      const member = { ...env, OS_USERNAME: 'carol', OS_PROJECT_NAME: 'carol-project' };
      const denied = await openstack(member, [
        'image',
        'create',
        '--public',
        '--disk-format',
        'raw',
        '--container-format',
        'bare',
        '--file',
        files.raw,
        'carol-public',
      ]);
      assert.notEqual(denied.code, 0);
      assert.match(denied.err, /Only an admin may create a public image/);
      const corrupt = await openstack(member, [
        'image',
        'create',
        '--disk-format',
        'qcow2',
        '--container-format',
        'bare',
        '--file',
        files.cut,
        'carol-cut',
      ]);
      assert.notEqual(corrupt.code, 0);
      assert.match(corrupt.err, /damaged or incomplete qcow2 image/);
      // openstacksdk deletes an image whose upload failed: nothing is left.
      const listed = await openstack(member, ['image', 'list', '-f', 'value', '-c', 'Name']);
      assert.equal(listed.code, 0, listed.err);
      assert.doesNotMatch(listed.out, /carol-/);
    });
  },
);
