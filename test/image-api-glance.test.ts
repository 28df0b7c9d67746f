// The Image API v2 as a recent Glance serves it, on SQLite and PostgreSQL, with fetch: JSON
// patch (both media types) of core and custom properties with Glance's refusals, tags,
// protected images, deactivate and reactivate (downloads and launches refused in both APIs),
// min_disk/min_ram against flavors in both APIs, community images (listed only when asked
// for, launchable by all, EC2 included), the glance-direct import with store discovery, the
// list filters and sorting, the schemas, and the protocol details. Every answer is checked
// against the JSON schemas written from the API reference.
import {
  DeregisterImageCommand,
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  ModifyImageAttributeCommand,
  RunInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IdentityService } from '../src/identity/index.js';
import { assertSchema } from './support/api-schema.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { ec2Client, startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { disconnected } from './support/expect.js';
import { login, PASSWORD } from './support/openstack.js';
import {
  imageErrorSchema,
  imageListSchema,
  imageSchema,
  importInfoSchema,
  memberSchema,
  storesInfoSchema,
} from './support/schemas/image.js';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  bytes: Buffer;
}

type Image = Record<string, unknown> & { id: string; status: string; tags: string[] };

const PATCH_21 = 'application/openstack-images-v2.1-json-patch';
const PATCH_20 = 'application/openstack-images-v2.0-json-patch';
const ami = (id: string) => `ami-${id.replace(/-/g, '').slice(0, 17)}`;

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(
    `Image API v2 (Glance's features) on ${backend.name}`,
    // qemu-img checks every uploaded file.
    needs('qemu-img', ...backend.needs),
    () => {
      let t: TestCloud;
      let database: { url: string; remove(): Promise<void> };
      let url: string;
      let computeUrl: string;
      let dir: string;
      let raw: Buffer;
      const tokens = { admin: '', alice: '', bob: '' };
      const projects = { alice: '', bob: '' };
      const ec2 = {} as Record<'alice' | 'bob', ReturnType<typeof ec2Client>>;
      type Who = keyof typeof tokens;

      const call = async (
        method: string,
        p: string,
        who: Who,
        options: { body?: unknown; raw?: Buffer | string; type?: string } = {},
      ): Promise<Answer> => {
        const headers: Record<string, string> = { 'x-auth-token': tokens[who] };
        if (options.body !== undefined) headers['content-type'] = 'application/json';
        if (options.type) headers['content-type'] = options.type;
        const r = await fetch(`${url}${p}`, {
          method,
          headers,
          body:
            options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
        });
        const bytes = Buffer.from(await r.arrayBuffer());
        const json = (r.headers.get('content-type') ?? '').includes('json') && bytes.length > 0;
        const body = json ? (JSON.parse(bytes.toString()) as Record<string, unknown>) : {};
        // Every answer names its request, and every refusal is the API's error JSON.
        assert.match(r.headers.get('x-openstack-request-id') ?? '', /^req-/);
        if (r.status >= 400) assertSchema(imageErrorSchema, body, `${method} ${p}`);
        return { status: r.status, headers: r.headers, body, bytes };
      };
      const ok = (a: Answer, status = 200): Image => {
        assert.equal(a.status, status, a.bytes.toString());
        return a.body as Image;
      };
      const refused = (a: Answer, status: number, message?: RegExp) => {
        assert.equal(a.status, status, a.bytes.toString());
        if (message) assert.match((a.body.error as { message: string }).message, message);
      };
      const image = async (who: Who, id: string): Promise<Image> => {
        const body = ok(await call('GET', `/v2/images/${id}`, who));
        assertSchema(imageSchema, body, 'GET /v2/images/{id}');
        return body;
      };
      const create = async (who: Who, body: Record<string, unknown>): Promise<Image> => {
        const a = await call('POST', '/v2/images', who, {
          body: { disk_format: 'raw', container_format: 'bare', ...body },
        });
        const created = ok(a, 201);
        assertSchema(imageSchema, created, 'POST /v2/images');
        assert.equal(a.headers.get('openstack-image-import-methods'), 'glance-direct');
        return created;
      };
      const withData = async (who: Who, body: Record<string, unknown>): Promise<Image> => {
        const created = await create(who, body);
        const put = await call('PUT', `/v2/images/${created.id}/file`, who, {
          raw,
          type: 'application/octet-stream',
        });
        assert.equal(put.status, 204, put.bytes.toString());
        return image(who, created.id);
      };
      const patch = (who: Who, id: string, ops: unknown, type = PATCH_21) =>
        call('PATCH', `/v2/images/${id}`, who, { raw: JSON.stringify(ops), type });
      const patched = async (who: Who, id: string, ops: unknown, type = PATCH_21) => {
        const body = ok(await patch(who, id, ops, type));
        assertSchema(imageSchema, body, 'PATCH /v2/images/{id}');
        return body;
      };
      const list = async (who: Who, query: string): Promise<Image[]> => {
        const body = ok(await call('GET', `/v2/images${query}`, who));
        assertSchema(imageListSchema, body, `GET /v2/images${query}`);
        return body.images as Image[];
      };
      const names = (images: Image[]) => images.map((i) => i.name as string);
      const server = (who: Who, imageRef: string, flavorRef: string) =>
        fetch(`${computeUrl}/servers`, {
          method: 'POST',
          headers: { 'x-auth-token': tokens[who], 'content-type': 'application/json' },
          body: JSON.stringify({ server: { name: 'vm', imageRef, flavorRef } }),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as unknown }));
      const runInstance = async (who: 'alice' | 'bob', id: string, type = 'm1.tiny') => {
        try {
          const r = await ec2[who].send(
            new RunInstancesCommand({
              ImageId: ami(id),
              InstanceType: type as _InstanceType,
              MinCount: 1,
              MaxCount: 1,
            }),
          );
          return { ok: true, id: r.Instances?.[0]?.InstanceId, code: '', message: '' };
        } catch (err) {
          const e = err as Error;
          return { ok: false, id: undefined, code: e.name, message: e.message };
        }
      };

      before(async () => {
        database = await backend.create();
        t = await startTestCloud({ database: database.url, 'quota-instances': '20' });
        url = t.cloud.urls?.image as string;
        computeUrl = t.cloud.urls?.compute as string;
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-image-glance-'));
        raw = Buffer.alloc(1024 * 1024 + 7, 5);
        const identity = new IdentityService(t.cloud.database.db);
        await identity.setPassword('admin', PASSWORD);
        for (const name of ['alice', 'bob'] as const) {
          const user = await identity.createUser({ name, password: PASSWORD });
          projects[name] = (await identity.createProject({ name: `${name}-project` })).id;
          await identity.grantRole(name, `${name}-project`, 'member');
          tokens[name] = await login(t.cloud.urls?.identity as string, name, `${name}-project`);
          const cred = await identity.createEc2Credential(user.id, projects[name]);
          ec2[name] = ec2Client(t.endpoint, t.region, {
            accessKeyId: cred.accessKey,
            secretAccessKey: cred.secretKey,
          });
        }
        tokens.admin = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
      });
      after(async () => {
        await t?.stop();
        if (backend.name === 'postgres') await disconnected(database.url);
        await database?.remove();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
      });

      it('changes core and custom properties with a JSON patch, all or nothing', async () => {
        const img = await create('alice', { name: 'patchme', hw_disk_bus: 'virtio' });
        assert.equal(img.hw_disk_bus, 'virtio');
        const after = await patched('alice', img.id, [
          { op: 'replace', path: '/name', value: 'patched' },
          { op: 'add', path: '/os_distro', value: 'debian' },
          { op: 'replace', path: '/hw_disk_bus', value: 'scsi' },
          { op: 'add', path: '/min_ram', value: 256 },
          { op: 'replace', path: '/min_disk', value: 2 },
          { op: 'add', path: '/tags', value: ['one', 'two', 'one'] },
          { op: 'add', path: '/description', value: 'a disk' },
          { op: 'add', path: '/a~1b', value: 'slash' },
        ]);
        assert.equal(after.name, 'patched');
        assert.equal(after.os_distro, 'debian');
        assert.equal(after.hw_disk_bus, 'scsi');
        assert.equal(after.min_ram, 256);
        assert.equal(after.min_disk, 2);
        assert.deepEqual(after.tags, ['one', 'two']);
        assert.equal(after.description, 'a disk');
        assert.equal(after['a/b'], 'slash');
        const removed = await patched('alice', img.id, [
          { op: 'remove', path: '/os_distro' },
          { op: 'remove', path: '/a~1b' },
        ]);
        assert.equal(removed.os_distro, undefined);
        assert.equal(removed['a/b'], undefined);
        assert.deepEqual(await image('alice', img.id), removed);

        // The older patch dialect: the operation is the key; adding what is there is a conflict.
        const v20 = await patched('alice', img.id, [{ add: '/os_version', value: '12' }], PATCH_20);
        assert.equal(v20.os_version, '12');
        refused(
          await patch('alice', img.id, [{ add: '/os_version', value: '13' }], PATCH_20),
          409,
          /already present/,
        );

        const cases: [unknown, number, RegExp][] = [
          [[{ op: 'replace', path: '/status', value: 'active' }], 403, /'status' is read-only/],
          [[{ op: 'replace', path: '/checksum', value: 'x' }], 403, /read-only/],
          [[{ op: 'add', path: '/deleted', value: 'x' }], 403, /'deleted' is reserved/],
          [[{ op: 'add', path: '/os_glance_import_task', value: 'x' }], 403, /reserved/],
          [[{ op: 'remove', path: '/name' }], 403, /may not be removed/],
          [[{ op: 'replace', path: '/owner', value: projects.bob }], 403, /'owner'/],
          [[{ op: 'remove', path: '/nothing_here' }], 409, /nothing_here does not exist/],
          [[{ op: 'replace', path: '/nothing_here', value: 'x' }], 409, /does not exist/],
          [[{ op: 'add', path: '/min_ram', value: 'lots' }], 400, /'min_ram' must be an integer/],
          [[{ op: 'add', path: '/protected', value: 'yes' }], 400, /true or false/],
          [[{ op: 'add', path: '/custom', value: 5 }], 400, /string value/],
          [[{ op: 'add', path: '/visibility', value: 'everyone' }], 400, /visibility 'everyone'/],
          [[{ op: 'move', from: '/name', path: '/x' }], 400, /Unknown field 'from'|not supported/],
          [[{ op: 'test', path: '/name', value: 'x' }], 400, /not supported/],
          [[{ op: 'add', path: '/tags/0', value: 'x' }], 400, /names no property/],
          [[{ op: 'add', path: '/x' }], 400, /needs a value/],
          [{ op: 'add', path: '/x', value: 'y' }, 400, /list of operations/],
          // The first operation is fine, the second refused: nothing changes.
          [
            [
              { op: 'replace', path: '/name', value: 'half-done' },
              { op: 'replace', path: '/size', value: 1 },
            ],
            403,
            /read-only/,
          ],
        ];
        for (const [ops, code, message] of cases)
          refused(await patch('alice', img.id, ops), code, message);
        assert.equal((await image('alice', img.id)).name, 'patched');
        // A patch must say it is one; malformed JSON is a 400.
        refused(await call('PATCH', `/v2/images/${img.id}`, 'alice', { body: [] }), 415);
        refused(
          await call('PATCH', `/v2/images/${img.id}`, 'alice', { raw: '[{', type: PATCH_21 }),
          400,
        );
        // Another project: a private image is 404, a public one 403.
        refused(await patch('bob', img.id, [{ op: 'replace', path: '/name', value: 'x' }]), 404);
        const pub = await create('admin', { name: 'patch-public', visibility: 'public' });
        refused(await patch('bob', pub.id, [{ op: 'replace', path: '/name', value: 'x' }]), 403);
        // Only an admin makes an image public.
        refused(
          await patch('alice', img.id, [{ op: 'replace', path: '/visibility', value: 'public' }]),
          403,
        );
        // A name another image of the project has is a conflict.
        await create('alice', { name: 'taken' });
        refused(
          await patch('alice', img.id, [{ op: 'replace', path: '/name', value: 'taken' }]),
          409,
        );
      });

      it('adds and removes tags one at a time and filters by them', async () => {
        const a = await create('alice', { name: 'tagged-a', tags: ['red'] });
        const b = await create('alice', { name: 'tagged-b' });
        for (const [id, tag] of [
          [a.id, 'blue'],
          [b.id, 'blue'],
          [a.id, 'blue'],
        ] as const) {
          assert.equal((await call('PUT', `/v2/images/${id}/tags/${tag}`, 'alice')).status, 204);
        }
        assert.deepEqual((await image('alice', a.id)).tags, ['red', 'blue']);
        assert.deepEqual(names(await list('alice', '?tag=blue&sort=name:asc')), [
          'tagged-a',
          'tagged-b',
        ]);
        assert.deepEqual(names(await list('alice', '?tag=blue&tag=red')), ['tagged-a']);
        assert.equal((await call('DELETE', `/v2/images/${a.id}/tags/red`, 'alice')).status, 204);
        assert.deepEqual((await image('alice', a.id)).tags, ['blue']);
        refused(await call('DELETE', `/v2/images/${a.id}/tags/red`, 'alice'), 404, /no tag 'red'/);
        refused(await call('PUT', `/v2/images/${a.id}/tags/green`, 'bob'), 404);
        assert.deepEqual(names(await list('alice', '?tag=red')), []);
      });

      it('refuses to delete a protected image (403) in both APIs until it is unprotected', async () => {
        const img = await withData('alice', { name: 'keep-me', protected: true });
        assert.equal(img.protected, true);
        refused(await call('DELETE', `/v2/images/${img.id}`, 'alice'), 403, /protected/);
        refused(await call('DELETE', `/v2/images/${img.id}`, 'admin'), 403, /protected/);
        await assert.rejects(
          ec2.alice.send(new DeregisterImageCommand({ ImageId: ami(img.id) })),
          (err: Error) => err.name === 'UnauthorizedOperation' && /protected/.test(err.message),
        );
        assert.deepEqual(names(await list('alice', '?protected=true&name=keep-me')), ['keep-me']);
        assert.deepEqual(names(await list('alice', '?protected=false&name=keep-me')), []);
        await patched('alice', img.id, [{ op: 'replace', path: '/protected', value: false }]);
        assert.equal((await call('DELETE', `/v2/images/${img.id}`, 'alice')).status, 204);
        refused(await call('GET', `/v2/images/${img.id}`, 'alice'), 404);
      });

      it('deactivates and reactivates an image: no download for non-admins, no launch in either API', async () => {
        const img = await withData('alice', { name: 'deactivate-me' });
        assert.equal(
          (await call('POST', `/v2/images/${img.id}/actions/deactivate`, 'alice')).status,
          204,
        );
        assert.equal((await image('alice', img.id)).status, 'deactivated');
        // Asking again is fine.
        assert.equal(
          (await call('POST', `/v2/images/${img.id}/actions/deactivate`, 'alice')).status,
          204,
        );
        refused(await call('GET', `/v2/images/${img.id}/file`, 'alice'), 403, /deactivated/);
        const admin = await call('GET', `/v2/images/${img.id}/file`, 'admin');
        assert.equal(admin.status, 200);
        assert.ok(admin.bytes.equals(raw));
        const c = await server('alice', img.id, 'm1.tiny');
        assert.equal(c.status, 400, JSON.stringify(c.body));
        assert.match(JSON.stringify(c.body), /deactivated/);
        const e = await runInstance('alice', img.id);
        assert.equal(e.ok, false);
        assert.equal(e.code, 'InvalidAMIID.Unavailable');
        // EC2 shows it as a disabled AMI, left out of listings unless asked for.
        const described = await ec2.alice.send(
          new DescribeImagesCommand({ ImageIds: [ami(img.id)] }),
        );
        assert.equal(described.Images?.[0]?.State, 'disabled');
        const mine = await ec2.alice.send(new DescribeImagesCommand({ Owners: ['self'] }));
        assert.ok(!(mine.Images ?? []).some((i) => i.ImageId === ami(img.id)));
        const withDisabled = await ec2.alice.send(
          new DescribeImagesCommand({ Owners: ['self'], IncludeDisabled: true }),
        );
        assert.ok((withDisabled.Images ?? []).some((i) => i.ImageId === ami(img.id)));
        // Another project's private image is not there for it.
        refused(await call('POST', `/v2/images/${img.id}/actions/reactivate`, 'bob'), 404);
        assert.equal(
          (await call('POST', `/v2/images/${img.id}/actions/reactivate`, 'alice')).status,
          204,
        );
        assert.equal((await image('alice', img.id)).status, 'active');
        assert.equal((await call('GET', `/v2/images/${img.id}/file`, 'alice')).status, 200);
        assert.equal((await runInstance('alice', img.id)).ok, true);
        // A queued image has nothing to deactivate.
        const queued = await create('alice', { name: 'queued-one' });
        refused(
          await call('POST', `/v2/images/${queued.id}/actions/deactivate`, 'alice'),
          403,
          /status 'queued'/,
        );
      });

      it('refuses a launch with a flavor smaller than min_disk or min_ram in both APIs', async () => {
        const img = await withData('alice', { name: 'needs-ram', min_ram: 1024 });
        // m1.tiny: 512 MiB, 1 GiB disk; m1.small: 2048 MiB, 20 GiB.
        const tiny = await server('alice', img.id, 'm1.tiny');
        assert.equal(tiny.status, 400, JSON.stringify(tiny.body));
        assert.match(JSON.stringify(tiny.body), /needs at least 1024 MiB/);
        const e = await runInstance('alice', img.id, 'm1.tiny');
        assert.equal(e.code, 'InvalidParameterValue');
        assert.match(e.message, /needs at least 1024 MiB/);
        assert.equal((await runInstance('alice', img.id, 'm1.small')).ok, true);
        await patched('alice', img.id, [{ op: 'replace', path: '/min_disk', value: 30 }]);
        const small = await server('alice', img.id, 'm1.small');
        assert.equal(small.status, 400);
        assert.match(JSON.stringify(small.body), /needs at least 30 GiB/);
        assert.equal((await server('alice', img.id, 'm1.medium')).status, 202);
      });

      it('lists community images only when asked for, and lets every project launch them', async () => {
        const img = await withData('alice', { name: 'for-everyone', visibility: 'community' });
        assert.equal(img.visibility, 'community');
        assert.ok(!names(await list('bob', '')).includes('for-everyone'));
        assert.ok(names(await list('bob', '?visibility=community')).includes('for-everyone'));
        assert.ok(names(await list('bob', '?visibility=all')).includes('for-everyone'));
        // Its owner sees it in the default listing.
        assert.ok(names(await list('alice', '')).includes('for-everyone'));
        assert.equal((await image('bob', img.id)).visibility, 'community');
        assert.equal((await call('GET', `/v2/images/${img.id}/file`, 'bob')).status, 200);
        refused(await patch('bob', img.id, [{ op: 'replace', path: '/name', value: 'mine' }]), 403);
        assert.equal((await server('bob', img.id, 'm1.tiny')).status, 202);
        assert.equal((await runInstance('bob', img.id)).ok, true);
        const seen = await ec2.bob.send(new DescribeImagesCommand({ ImageIds: [ami(img.id)] }));
        assert.equal(seen.Images?.[0]?.OwnerId, projects.alice);
        // Made private again, it is gone for others.
        await patched('alice', img.id, [{ op: 'replace', path: '/visibility', value: 'private' }]);
        refused(await call('GET', `/v2/images/${img.id}`, 'bob'), 404);
        assert.equal((await runInstance('bob', img.id)).ok, false);
      });

      it('shows EC2 the shares made through members, and the Image API the launch permissions EC2 grants', async () => {
        const img = await withData('alice', { name: 'shared-both-ways' });
        const executable = async () =>
          (
            (await ec2.bob.send(new DescribeImagesCommand({ ExecutableUsers: ['self'] }))).Images ??
            []
          ).map((i) => i.ImageId);
        ok(
          await call('POST', `/v2/images/${img.id}/members`, 'alice', {
            body: { member: projects.bob },
          }),
        );
        // Pending: the member may look it up by id, but not list or launch it.
        assert.ok(!(await executable()).includes(ami(img.id)));
        assert.equal((await runInstance('bob', img.id)).ok, false);
        const accepted = ok(
          await call('PUT', `/v2/images/${img.id}/members/${projects.bob}`, 'bob', {
            body: { status: 'accepted' },
          }),
        );
        assertSchema(memberSchema, accepted, 'PUT member');
        assert.ok((await executable()).includes(ami(img.id)));
        assert.equal((await runInstance('bob', img.id)).ok, true);
        const permissions = await ec2.alice.send(
          new DescribeImageAttributeCommand({
            ImageId: ami(img.id),
            Attribute: 'launchPermission',
          }),
        );
        assert.deepEqual(
          permissions.LaunchPermissions?.map((p) => p.UserId),
          [projects.bob],
        );
        ok(
          await call('PUT', `/v2/images/${img.id}/members/${projects.bob}`, 'bob', {
            body: { status: 'rejected' },
          }),
        );
        assert.ok(!(await executable()).includes(ami(img.id)));

        // The other way: EC2's launch permission is an accepted member at once.
        const other = await withData('alice', { name: 'granted-by-ec2' });
        await ec2.alice.send(
          new ModifyImageAttributeCommand({
            ImageId: ami(other.id),
            LaunchPermission: { Add: [{ UserId: projects.bob }] },
          }),
        );
        const members = ok(await call('GET', `/v2/images/${other.id}/members`, 'alice'));
        assert.deepEqual(
          (members.members as { member_id: string; status: string }[]).map((m) => [
            m.member_id,
            m.status,
          ]),
          [[projects.bob, 'accepted']],
        );
        assert.equal((await image('bob', other.id)).visibility, 'shared');
        assert.ok(names(await list('bob', '?visibility=shared')).includes('granted-by-ec2'));

        // The description is one attribute in both APIs.
        await patched('alice', other.id, [
          { op: 'add', path: '/description', value: 'from patch' },
        ]);
        const described = await ec2.alice.send(
          new DescribeImagesCommand({ ImageIds: [ami(other.id)] }),
        );
        assert.equal(described.Images?.[0]?.Description, 'from patch');
        await ec2.alice.send(
          new ModifyImageAttributeCommand({
            ImageId: ami(other.id),
            Description: { Value: 'from ec2' },
          }),
        );
        assert.equal((await image('alice', other.id)).description, 'from ec2');
      });

      it('imports staged data with glance-direct, and says which methods and stores there are', async () => {
        const info = ok(await call('GET', '/v2/info/import', 'alice'));
        assertSchema(importInfoSchema, info, 'GET /v2/info/import');
        assert.deepEqual((info['import-methods'] as { value: string[] }).value, ['glance-direct']);
        const stores = ok(await call('GET', '/v2/info/stores', 'alice'));
        assertSchema(storesInfoSchema, stores, 'GET /v2/info/stores');
        assert.deepEqual(
          (stores.stores as { id: string }[]).map((s) => s.id),
          ['file'],
        );

        const img = await create('alice', { name: 'imported' });
        refused(
          await call('POST', `/v2/images/${img.id}/import`, 'alice', {
            body: { method: { name: 'glance-direct' } },
          }),
          409,
          /stage/,
        );
        const staged = await call('PUT', `/v2/images/${img.id}/stage`, 'alice', {
          raw,
          type: 'application/octet-stream',
        });
        assert.equal(staged.status, 204, staged.bytes.toString());
        assert.equal((await image('alice', img.id)).status, 'uploading');
        refused(
          await call('POST', `/v2/images/${img.id}/import`, 'alice', {
            body: { method: { name: 'web-download', uri: 'http://127.0.0.1/x' } },
          }),
          400,
          /web-download is not enabled/,
        );
        const imported = await call('POST', `/v2/images/${img.id}/import`, 'alice', {
          body: { method: { name: 'glance-direct' } },
        });
        assert.equal(imported.status, 202, imported.bytes.toString());
        const done = await waitUntil(
          async () => {
            const now = await image('alice', img.id);
            return now.status === 'active' && now;
          },
          20_000,
          'the import to finish',
        );
        assert.equal(done.size, raw.length);
        // qemu-img counts a raw disk in whole sectors.
        assert.equal(done.virtual_size, Math.ceil(raw.length / 512) * 512);
        assert.equal(done.checksum, createHash('md5').update(raw).digest('hex'));
        assert.equal(done.os_hash_algo, 'sha512');
        assert.equal(done.os_hash_value, createHash('sha512').update(raw).digest('hex'));
        assert.equal(done.stores, 'file');
        const got = await call('GET', `/v2/images/${img.id}/file`, 'alice');
        assert.ok(got.bytes.equals(raw));
        assert.equal(got.headers.get('content-md5'), done.checksum);
        // Staging twice, or for an active image, is a conflict.
        refused(
          await call('PUT', `/v2/images/${img.id}/stage`, 'alice', {
            raw,
            type: 'application/octet-stream',
          }),
          409,
        );

        // Staged data that is not what the image says (qcow2 expected) goes back to queued.
        const wrong = await create('alice', { name: 'import-wrong', disk_format: 'qcow2' });
        await call('PUT', `/v2/images/${wrong.id}/stage`, 'alice', {
          raw,
          type: 'application/octet-stream',
        });
        const started = await call('POST', `/v2/images/${wrong.id}/import`, 'alice', {
          body: { method: { name: 'glance-direct' } },
        });
        assert.equal(started.status, 202);
        await waitUntil(
          async () => (await image('alice', wrong.id)).status === 'queued',
          20_000,
          'the failed import to revert',
        );
        const files = fs.readdirSync(path.join(t.cloud.config.stateDir, 'images'));
        assert.ok(!files.some((f) => f.startsWith(wrong.id)), files.join(' '));
      });

      it('filters, sorts and pages as the Image API documents', async () => {
        const made: Image[] = [];
        for (const [name, minDisk] of [
          ['sort-b', 3],
          ['sort-a', 1],
          ['sort-c', 2],
        ] as const) {
          made.push(
            await create('bob', {
              name,
              min_disk: minDisk,
              flavour: name === 'sort-a' ? 'x' : 'y',
            }),
          );
        }
        const mine = `?owner=${projects.bob}`;
        assert.deepEqual(names(await list('bob', `${mine}&sort=name:asc`)), [
          'sort-a',
          'sort-b',
          'sort-c',
        ]);
        assert.deepEqual(names(await list('bob', `${mine}&sort=min_disk:desc`)), [
          'sort-b',
          'sort-c',
          'sort-a',
        ]);
        assert.deepEqual(
          names(
            await list('bob', `${mine}&sort_key=min_disk&sort_key=name&sort_dir=asc&sort_dir=asc`),
          ),
          ['sort-a', 'sort-c', 'sort-b'],
        );
        assert.deepEqual(
          names(await list('bob', `${mine}&name=in:"sort-a",sort-c&sort=name:asc`)),
          ['sort-a', 'sort-c'],
        );
        assert.deepEqual(names(await list('bob', `${mine}&flavour=x`)), ['sort-a']);
        const first = made[0] as Image;
        const before = new Date(Date.parse(first.created_at as string) - 1000).toISOString();
        assert.equal((await list('bob', `${mine}&created_at=gte:${before}`)).length, 3);
        assert.equal((await list('bob', `${mine}&created_at=lt:${before}`)).length, 0);
        assert.equal((await list('bob', `${mine}&updated_at=gt:2001-01-01T00:00:00Z`)).length, 3);
        // Paging by a sort key: every image once.
        const seen: string[] = [];
        let next: string | undefined = `/v2/images${mine}&sort=name:asc&limit=2`;
        while (next) {
          const page = ok(await call('GET', next, 'bob'));
          assertSchema(imageListSchema, page, 'a page');
          seen.push(...names(page.images as Image[]));
          next = page.next as string | undefined;
        }
        assert.deepEqual(seen, ['sort-a', 'sort-b', 'sort-c']);
        // Hidden images are left out unless asked for.
        await patched('bob', first.id, [{ op: 'replace', path: '/os_hidden', value: true }]);
        assert.deepEqual(names(await list('bob', `${mine}&sort=name:asc`)), ['sort-a', 'sort-c']);
        assert.deepEqual(names(await list('bob', `${mine}&os_hidden=true`)), ['sort-b']);
        // A pending share lists the image for its member only with member_status.
        const added = await call('POST', `/v2/images/${first.id}/members`, 'bob', {
          body: { member: projects.alice },
        });
        assertSchema(memberSchema, ok(added), 'POST members');
        await patched('bob', first.id, [{ op: 'replace', path: '/os_hidden', value: false }]);
        assert.ok(!names(await list('alice', '')).includes('sort-b'));
        assert.deepEqual(names(await list('alice', '?member_status=pending')), ['sort-b']);
        assert.deepEqual(names(await list('alice', '?visibility=shared&member_status=all')), [
          'sort-b',
        ]);

        for (const [q, message] of [
          ['sort=name:up', /sort_dir 'up'/],
          ['sort=colour', /sort_key 'colour'/],
          ['sort=name&sort_key=name', /cannot be combined/],
          ['created_at=after:2020-01-01', /must be an operator/],
          ['created_at=gt:yesterday', /not ISO 8601/],
          ['member_status=maybe', /member_status 'maybe'/],
          ['protected=perhaps', /protected 'perhaps'/],
          ['size_min=big', /size_min 'big'/],
        ] as const) {
          refused(await call('GET', `/v2/images?${q}`, 'bob'), 400, message);
        }
      });

      it('serves the schemas clients read, and takes GET and DELETE with an empty JSON body', async () => {
        const schema = ok(await call('GET', '/v2/schemas/image', 'alice'));
        assert.equal(schema.name, 'image');
        assert.deepEqual(schema.additionalProperties, { type: 'string' });
        const props = schema.properties as Record<string, { readOnly?: boolean }>;
        for (const key of ['status', 'checksum', 'os_hash_value', 'size', 'virtual_size']) {
          assert.equal(props[key]?.readOnly, true, key);
        }
        for (const key of ['name', 'visibility', 'protected', 'min_disk', 'min_ram', 'tags']) {
          assert.ok(props[key] && !props[key].readOnly, key);
        }
        // Every core field an image shows is in the schema; the rest are custom properties.
        const img = await create('alice', { name: 'schema-check', hw_rng_model: 'virtio' });
        const custom = Object.keys(img).filter((k) => !(k in props));
        assert.deepEqual(custom, ['hw_rng_model']);
        assert.equal(ok(await call('GET', '/v2/schemas/images', 'alice')).name, 'images');
        assert.equal(ok(await call('GET', '/v2/schemas/member', 'alice')).name, 'member');
        assert.equal(ok(await call('GET', '/v2/schemas/members', 'alice')).name, 'members');

        // Tools that always send the header, with no body.
        const json = { type: 'application/json' };
        assert.equal((await call('GET', `/v2/images/${img.id}`, 'alice', json)).status, 200);
        const del = await call('DELETE', `/v2/images/${img.id}`, 'alice', { ...json, raw: '' });
        assert.equal(del.status, 204);
      });
    },
  );
}
