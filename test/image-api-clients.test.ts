// The Image API v2's newer features through the clients OpenStack users run, on SQLite and
// PostgreSQL: python-openstackclient (image create --import, image set with properties, tags,
// protection, deactivation and minimums, image unset, image add project and member list,
// image save) and openstacksdk (stage and import_image, a download it verifies against the
// MD5 `checksum`, and one it refuses when the stored data no longer matches).
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
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { disconnected } from './support/expect.js';
import { adminEnv, login, openstack, openstacksdk, PASSWORD } from './support/openstack.js';
import { imageSchema } from './support/schemas/image.js';

type Shown = Record<string, unknown> & { id: string; status: string };

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(
    `Image API v2 through openstackclient and openstacksdk on ${backend.name}`,
    { ...needs('qemu-img', 'openstackclient', ...backend.needs), timeout: 300_000 },
    () => {
      let t: TestCloud;
      let database: { url: string; remove(): Promise<void> };
      let dir: string;
      let file: string;
      let bytes: Buffer;
      let alice: NodeJS.ProcessEnv;
      let bob: NodeJS.ProcessEnv;
      let bobProject: string;
      let aliceToken: string;

      const osc = async (env: NodeJS.ProcessEnv, ...args: string[]) => {
        const r = await openstack(env, args);
        assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.err}`);
        return r.out;
      };
      /** The image as the API shows it, checked against the reference's schema. */
      const shown = async (id: string): Promise<Shown> => {
        const r = await fetch(`${t.cloud.urls?.image}/v2/images/${id}`, {
          headers: { 'x-auth-token': aliceToken },
        });
        const body = (await r.json()) as Shown;
        assert.equal(r.status, 200);
        assertSchema(imageSchema, body, 'GET /v2/images/{id}');
        return body;
      };

      before(async () => {
        database = await backend.create();
        t = await startTestCloud({ database: database.url });
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-image-clients-'));
        file = path.join(dir, 'disk.raw');
        bytes = Buffer.alloc(3 * 1024 * 1024, 9);
        bytes.write('stratus image clients', 4096);
        fs.writeFileSync(file, bytes);
        const identity = new IdentityService(t.cloud.database.db);
        await identity.setPassword('admin', PASSWORD);
        for (const name of ['alice', 'bob']) {
          await identity.createUser({ name, password: PASSWORD });
          const p = await identity.createProject({ name: `${name}-project` });
          if (name === 'bob') bobProject = p.id;
          await identity.grantRole(name, `${name}-project`, 'member');
        }
        const base = adminEnv(t, dir);
        alice = { ...base, OS_USERNAME: 'alice', OS_PROJECT_NAME: 'alice-project' };
        bob = { ...base, OS_USERNAME: 'bob', OS_PROJECT_NAME: 'bob-project' };
        aliceToken = await login(t.cloud.urls?.identity as string, 'alice', 'alice-project');
      });
      after(async () => {
        await t?.stop();
        if (backend.name === 'postgres') await disconnected(database.url);
        await database?.remove();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
      });

      it('creates with --import, sets and unsets properties, tags and protection, deactivates, shares and saves', async () => {
        const created = JSON.parse(
          await osc(
            alice,
            ...[
              'image',
              'create',
              '--import',
              '--disk-format',
              'raw',
              '--container-format',
              'bare',
            ],
            ...['--file', file, '-f', 'json', 'osc-imported'],
          ),
        ) as { id: string };
        const active = await waitUntil(
          async () => {
            const now = await shown(created.id);
            return now.status === 'active' && now;
          },
          30_000,
          'the imported image to be active',
        );
        assert.equal(active.checksum, createHash('md5').update(bytes).digest('hex'));
        assert.equal(active.os_hash_value, createHash('sha512').update(bytes).digest('hex'));

        await osc(
          alice,
          ...['image', 'set', '--property', 'os_distro=debian', '--property', 'hw_disk_bus=scsi'],
          ...['--tag', 'golden', '--tag', 'v1', '--protected', '--min-disk', '2'],
          ...['--min-ram', '256', '--name', 'osc-renamed', 'osc-imported'],
        );
        const set = await shown(created.id);
        assert.equal(set.name, 'osc-renamed');
        assert.equal(set.os_distro, 'debian');
        assert.equal(set.hw_disk_bus, 'scsi');
        assert.deepEqual([...(set.tags as string[])].sort(), ['golden', 'v1']);
        assert.equal(set.protected, true);
        assert.equal(set.min_disk, 2);
        assert.equal(set.min_ram, 256);
        const show = JSON.parse(await osc(alice, 'image', 'show', '-f', 'json', 'osc-renamed')) as {
          properties: Record<string, string>;
          tags: string[] | string;
        };
        assert.equal(show.properties.os_distro, 'debian');
        const listed = await osc(
          alice,
          'image',
          'list',
          '--tag',
          'golden',
          '-f',
          'value',
          '-c',
          'Name',
        );
        assert.equal(listed.trim(), 'osc-renamed');

        const refused = await openstack(alice, ['image', 'delete', 'osc-renamed']);
        assert.notEqual(refused.code, 0);
        assert.match(refused.err, /protected/);

        await osc(alice, 'image', 'unset', '--property', 'os_distro', '--tag', 'v1', 'osc-renamed');
        const unset = await shown(created.id);
        assert.equal(unset.os_distro, undefined);
        assert.equal(unset.hw_disk_bus, 'scsi');
        assert.deepEqual(unset.tags, ['golden']);

        await osc(alice, 'image', 'set', '--deactivate', 'osc-renamed');
        assert.equal((await shown(created.id)).status, 'deactivated');
        await osc(alice, 'image', 'set', '--activate', 'osc-renamed');
        assert.equal((await shown(created.id)).status, 'active');

        await osc(alice, 'image', 'add', 'project', 'osc-renamed', bobProject);
        const members = JSON.parse(
          await osc(alice, 'image', 'member', 'list', '-f', 'json', 'osc-renamed'),
        ) as { 'Member ID': string; Status: string }[];
        assert.deepEqual(
          members.map((m) => [m['Member ID'], m.Status]),
          [[bobProject, 'pending']],
        );
        await osc(bob, 'image', 'set', '--accept', created.id);
        const saved = path.join(dir, 'saved.raw');
        await osc(bob, 'image', 'save', '--file', saved, created.id);
        assert.ok(fs.readFileSync(saved).equals(bytes));

        await osc(alice, 'image', 'set', '--unprotected', 'osc-renamed');
        await osc(alice, 'image', 'delete', 'osc-renamed');
        assert.equal(
          (
            await fetch(`${t.cloud.urls?.image}/v2/images/${created.id}`, {
              headers: { 'x-auth-token': aliceToken },
            })
          ).status,
          404,
        );
      });

      it('stages and imports through openstacksdk, and its download checks the MD5', async () => {
        const out = path.join(dir, 'sdk-download.raw');
        const script = `
import json, time, openstack
conn = openstack.connect(auth_url=${JSON.stringify(alice.OS_AUTH_URL)}, username='alice',
    password=${JSON.stringify(PASSWORD)}, project_name='alice-project', user_domain_name='Default',
    project_domain_name='Default', region_name=${JSON.stringify(t.region)})
image = conn.image.create_image(name='sdk-staged', disk_format='raw', container_format='bare')
methods = image.image_import_methods
conn.image.stage_image(image, filename=${JSON.stringify(file)})
staged = conn.image.get_image(image.id).status
conn.image.import_image(image, method='glance-direct')
for _ in range(300):
    image = conn.image.get_image(image.id)
    if image.status != 'importing':
        break
    time.sleep(0.1)
conn.image.download_image(image, output=${JSON.stringify(out)})
print(json.dumps({'id': image.id, 'methods': methods, 'staged': staged, 'status': image.status,
    'checksum': image.checksum, 'algo': image.hash_algo, 'hash': image.hash_value}))
`;
        const r = await openstacksdk(script, { PATH: process.env.PATH, HOME: dir });
        assert.equal(r.code, 0, r.err);
        const got = JSON.parse(r.out.trim().split('\n').pop() as string) as Record<string, unknown>;
        assert.deepEqual(got.methods, ['glance-direct']);
        assert.equal(got.staged, 'uploading');
        assert.equal(got.status, 'active');
        assert.equal(got.checksum, createHash('md5').update(bytes).digest('hex'));
        assert.equal(got.algo, 'sha512');
        assert.equal(got.hash, createHash('sha512').update(bytes).digest('hex'));
        assert.ok(fs.readFileSync(out).equals(bytes));

        // The stored data changes behind the API's back: the download no longer matches the
        // MD5 the image shows, and openstacksdk refuses it.
        const stored = path.join(t.cloud.config.stateDir, 'images', got.id as string);
        const changed = Buffer.from(bytes);
        changed.write('tampered', 4096);
        fs.writeFileSync(stored, changed);
        const check = `
import openstack
conn = openstack.connect(auth_url=${JSON.stringify(alice.OS_AUTH_URL)}, username='alice',
    password=${JSON.stringify(PASSWORD)}, project_name='alice-project', user_domain_name='Default',
    project_domain_name='Default', region_name=${JSON.stringify(t.region)})
try:
    conn.image.download_image(${JSON.stringify(got.id)}, output=${JSON.stringify(`${out}.2`)})
    print('accepted')
except openstack.exceptions.SDKException as e:
    print('refused: %s' % e)
`;
        const c = await openstacksdk(check, { PATH: process.env.PATH, HOME: dir });
        assert.equal(c.code, 0, c.err);
        // openstacksdk's checksum check fails the download as an invalid response.
        assert.match(c.out, /^refused: Unable to download image: InvalidResponse/m);
      });
    },
  );
}
