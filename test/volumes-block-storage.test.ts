// The OpenStack Block Storage API v3 over the same volumes as EC2, on SQLite and PostgreSQL:
// raw HTTP checked against the API reference's schemas (test/support/schemas/block-storage.ts),
// openstackclient's volume commands, one model behind both APIs (both ways), and bad input.
import { CreateVolumeCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EndpointRepo, VolumeRepo } from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { assertSchema } from './support/api-schema.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { disconnected } from './support/expect.js';
import { adminEnv, login, openstack, PASSWORD } from './support/openstack.js';
import {
  faultResponse,
  limitsResponse,
  versionsResponse,
  volumeDetailList,
  volumeResponse,
  volumeSummaryList,
  volumeTypeList,
  volumeTypeResponse,
} from './support/schemas/block-storage.js';

const ALL = ['network', 'scheduler', 'compute', 'volume', 'api'] as const;

interface Volume {
  id: string;
  name: string | null;
  status: string;
  size: number;
  volume_type: string;
  attachments: unknown[];
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(`Block Storage API on ${backend.name}`, needs(...backend.needs, 'qemu-img'), () => {
    let t: TestCloud;
    let database: { url: string; remove(): Promise<void> };
    let url: string;
    let admin: string;
    let alice: string;
    let bob: string;
    let aliceProject: string;

    before(async () => {
      database = await backend.create();
      t = await startTestCloud(
        { database: database.url, 'quota-volumes': '6', 'quota-gigabytes': '20' },
        { services: ALL },
      );
      url = t.cloud.urls?.volume as string;
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
    });
    after(async () => {
      await t.stop();
      if (backend.name === 'postgres') await disconnected(database.url);
      await database.remove();
    });

    const call = async (
      token: string,
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ) => {
      const r = await fetch(`${url}${path}`, {
        method,
        headers: {
          'x-auth-token': token,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await r.text();
      return { status: r.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    };
    const show = async (token: string, id: string) => {
      const r = await call(token, 'GET', `/volumes/${id}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assertSchema(volumeResponse, r.body, 'GET /v3/volumes/{id}');
      return r.body['volume'] as Volume;
    };
    const waitStatus = (token: string, id: string, status: string) =>
      waitUntil(
        async () => {
          const v = await show(token, id);
          return v.status === status ? v : undefined;
        },
        20_000,
        `volume ${id} ${status}`,
      );
    const create = async (token: string, volume: Record<string, unknown>) => {
      const r = await call(token, 'POST', '/volumes', { volume });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assertSchema(volumeResponse, r.body, 'POST /v3/volumes');
      return r.body['volume'] as Volume;
    };
    const fault = (r: { status: number; body: unknown }, status: number, name: string) => {
      assert.equal(r.status, status, JSON.stringify(r.body));
      assertSchema(faultResponse, r.body, `a ${status} fault`);
      assert.ok(name in (r.body as object), JSON.stringify(r.body));
    };
    const aliceCount = async () =>
      (await new VolumeRepo(t.cloud.database.db).list({ projectId: aliceProject })).length;

    it('is in the catalog as volumev3 and block-storage, and answers its version documents', async () => {
      const endpoints = new EndpointRepo(t.cloud.database.db);
      assert.equal(await endpoints.publicUrl('volumev3', t.region), url);
      assert.equal(await endpoints.publicUrl('block-storage', t.region), url);
      const root = await fetch(url.replace(/\/v3$/, '/'));
      assert.equal(root.status, 300);
      const versions = (await root.json()) as {
        versions: { version: string; min_version: string }[];
      };
      assertSchema(versionsResponse, versions, 'GET /');
      assert.deepEqual(
        versions.versions.map((v) => [v.min_version, v.version]),
        [['3.0', '3.44']],
      );
      const tooNew = await call(alice, 'GET', '/volumes', undefined, {
        'openstack-api-version': 'volume 3.70',
      });
      fault(tooNew, 406, 'notAcceptable');
      const anonymous = await fetch(`${url}/volumes`);
      assert.equal(anonymous.status, 401);
    });

    it('creates, shows, lists, renames, extends and deletes a volume over HTTP', async () => {
      const made = await create(alice, { size: 1, name: 'data', description: 'first' });
      assert.equal(made.status, 'creating');
      assert.equal(made.volume_type, 'gp2');
      const v = await waitStatus(alice, made.id, 'available');
      assert.equal(v.size, 1);
      assert.equal(v.name, 'data');
      assert.equal('os-vol-tenant-attr:tenant_id' in v, false);
      // The path may carry the project id, as older clients send it.
      const withProject = await call(alice, 'GET', `/${aliceProject}/volumes/${made.id}`);
      assert.equal(withProject.status, 200);
      const asAdmin = await show(admin, made.id);
      assert.equal(
        (asAdmin as unknown as Record<string, unknown>)['os-vol-tenant-attr:tenant_id'],
        aliceProject,
      );

      const summary = await call(alice, 'GET', '/volumes');
      assertSchema(volumeSummaryList, summary.body, 'GET /v3/volumes');
      assert.ok((summary.body['volumes'] as Volume[]).some((x) => x.id === made.id));
      const detail = await call(alice, 'GET', '/volumes/detail?name=data');
      assertSchema(volumeDetailList, detail.body, 'GET /v3/volumes/detail');
      assert.deepEqual(
        (detail.body['volumes'] as Volume[]).map((x) => x.id),
        [made.id],
      );

      const renamed = await call(alice, 'PUT', `/volumes/${made.id}`, {
        volume: { name: 'renamed', description: null },
      });
      assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
      assertSchema(volumeResponse, renamed.body, 'PUT /v3/volumes/{id}');
      assert.equal((await show(alice, made.id)).name, 'renamed');

      const extend = await call(alice, 'POST', `/volumes/${made.id}/action`, {
        'os-extend': { new_size: 3 },
      });
      assert.equal(extend.status, 202, JSON.stringify(extend.body));
      await waitUntil(async () => {
        const x = await show(alice, made.id);
        return x.size === 3 && x.status === 'available';
      });

      const deleted = await call(alice, 'DELETE', `/volumes/${made.id}`);
      assert.equal(deleted.status, 202);
      await waitUntil(
        async () => (await call(alice, 'GET', `/volumes/${made.id}`)).status === 404,
        20_000,
        'the volume to go',
      );
    });

    it('pages the volume list with limit and marker', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await create(bob, { size: 1, name: `page${i}` })).id);
      const first = await call(bob, 'GET', '/volumes/detail?limit=2');
      assertSchema(volumeDetailList, first.body, 'GET /v3/volumes/detail?limit=2');
      const page1 = (first.body['volumes'] as Volume[]).map((v) => v.id);
      assert.equal(page1.length, 2);
      const next = (first.body['volumes_links'] as { href: string }[])[0]?.href as string;
      const second = await call(bob, 'GET', next.slice(url.length));
      const page2 = (second.body['volumes'] as Volume[]).map((v) => v.id);
      assert.equal(second.body['volumes_links'], undefined);
      // Newest first.
      assert.deepEqual([...page1, ...page2], [...ids].reverse());
      for (const id of ids) {
        await waitStatus(bob, id, 'available');
        assert.equal((await call(bob, 'DELETE', `/volumes/${id}`)).status, 202);
      }
    });

    it('lists the volume types with the default first, and the limits', async () => {
      const types = await call(alice, 'GET', '/types');
      assertSchema(volumeTypeList, types.body, 'GET /v3/types');
      const list = types.body['volume_types'] as { id: string; name: string }[];
      assert.deepEqual(
        list.map((x) => x.name),
        ['gp2', 'gp3', 'standard'],
      );
      const one = await call(alice, 'GET', `/types/${list[1]?.id}`);
      assertSchema(volumeTypeResponse, one.body, 'GET /v3/types/{id}');
      const def = await call(alice, 'GET', '/types/default');
      assert.equal((def.body['volume_type'] as { name: string }).name, 'gp2');
      fault(await call(alice, 'GET', '/types/no-such-type'), 404, 'itemNotFound');
      // The built-in types have no extra specs; managing types is for administrators.
      const specs = await call(alice, 'GET', `/types/${list[0]?.id}/extra_specs`);
      assert.equal(specs.status, 200);
      assert.deepEqual(specs.body, { extra_specs: {} });
      fault(
        await call(alice, 'GET', `/types/${list[0]?.id}/extra_specs/volume_backend_name`),
        404,
        'itemNotFound',
      );
      const fastName = `fast-${backend.name}`;
      const newType = {
        volume_type: { name: fastName, description: 'SSD', extra_specs: { tier: 'ssd' } },
      };
      fault(await call(alice, 'POST', '/types', newType), 403, 'forbidden');
      fault(await call(alice, 'DELETE', `/types/${list[1]?.id}`), 403, 'forbidden');
      fault(
        await call(alice, 'POST', `/types/${list[1]?.id}/extra_specs`, { extra_specs: { a: 'b' } }),
        403,
        'forbidden',
      );
      // A built-in type is not changed, a taken name not taken twice, bad input refused.
      fault(await call(admin, 'DELETE', `/types/${list[1]?.id}`), 400, 'badRequest');
      fault(
        await call(admin, 'POST', '/types', { volume_type: { name: 'gp3' } }),
        409,
        'conflictingRequest',
      );
      fault(await call(admin, 'POST', '/types', { volume_type: { name: '' } }), 400, 'badRequest');
      fault(
        await call(admin, 'POST', '/types', { volume_type: { name: 'x', extra_specs: { a: 1 } } }),
        400,
        'badRequest',
      );

      // An administrator adds a public type with extra specs, and a private one.
      const fastMade = await call(admin, 'POST', '/types', newType);
      assert.equal(fastMade.status, 200, JSON.stringify(fastMade.body));
      assertSchema(volumeTypeResponse, fastMade.body, 'POST /v3/types');
      const fast = fastMade.body['volume_type'] as { id: string; extra_specs: object };
      assert.deepEqual(fast.extra_specs, { tier: 'ssd' });
      fault(await call(admin, 'POST', '/types', newType), 409, 'conflictingRequest');
      const secretName = `secret-${backend.name}`;
      const secretMade = await call(admin, 'POST', '/types', {
        volume_type: { name: secretName, 'os-volume-type-access:is_public': false },
      });
      assert.equal(secretMade.status, 200);
      const secret = secretMade.body['volume_type'] as { id: string; is_public: boolean };
      assert.equal(secret.is_public, false);
      const namesFor = async (who: typeof alice) =>
        ((await call(who, 'GET', '/types')).body['volume_types'] as { name: string }[]).map(
          (x) => x.name,
        );
      assert.deepEqual(await namesFor(alice), ['gp2', 'gp3', 'standard', fastName]);
      assert.deepEqual(await namesFor(admin), ['gp2', 'gp3', 'standard', fastName, secretName]);
      fault(await call(alice, 'GET', `/types/${secret.id}`), 404, 'itemNotFound');
      fault(
        await call(alice, 'POST', '/volumes', { volume: { size: 1, volume_type: secretName } }),
        400,
        'badRequest',
      );

      // Extra specs: set (merged), read one, change one, unset one.
      const set = await call(admin, 'POST', `/types/${fast.id}/extra_specs`, {
        extra_specs: { iops: '3000' },
      });
      assert.equal(set.status, 200);
      assert.deepEqual(set.body, { extra_specs: { iops: '3000' } });
      assert.deepEqual((await call(alice, 'GET', `/types/${fast.id}/extra_specs`)).body, {
        extra_specs: { tier: 'ssd', iops: '3000' },
      });
      const put = await call(admin, 'PUT', `/types/${fast.id}/extra_specs/tier`, { tier: 'nvme' });
      assert.deepEqual(put.body, { tier: 'nvme' });
      assert.deepEqual((await call(alice, 'GET', `/types/${fast.id}/extra_specs/tier`)).body, {
        tier: 'nvme',
      });
      assert.equal((await call(admin, 'DELETE', `/types/${fast.id}/extra_specs/iops`)).status, 202);
      fault(await call(admin, 'DELETE', `/types/${fast.id}/extra_specs/iops`), 404, 'itemNotFound');
      const updated = await call(admin, 'PUT', `/types/${fast.id}`, {
        volume_type: { description: 'NVMe' },
      });
      assert.equal((updated.body['volume_type'] as { description: string }).description, 'NVMe');

      // A member makes a volume of the added type (by name); the type cannot go or be renamed
      // while the volume has it, and goes once the volume is gone.
      const onFast = await create(alice, { size: 1, volume_type: fastName });
      assert.equal(onFast.volume_type, fastName);
      fault(await call(admin, 'DELETE', `/types/${fast.id}`), 400, 'badRequest');
      fault(
        await call(admin, 'PUT', `/types/${fast.id}`, { volume_type: { name: 'renamed' } }),
        400,
        'badRequest',
      );
      await waitStatus(alice, onFast.id, 'available');
      assert.equal((await call(alice, 'DELETE', `/volumes/${onFast.id}`)).status, 202);
      await waitUntil(
        async () => (await call(alice, 'GET', `/volumes/${onFast.id}`)).status === 404,
        20_000,
        'the volume to go',
      );
      assert.equal((await call(admin, 'DELETE', `/types/${fast.id}`)).status, 202);
      assert.equal((await call(admin, 'DELETE', `/types/${secret.id}`)).status, 202);
      assert.deepEqual(await namesFor(admin), ['gp2', 'gp3', 'standard']);
      const made = await create(alice, { size: 2, volume_type: list[2]?.id });
      assert.equal(made.volume_type, 'standard');
      const limits = await call(alice, 'GET', '/limits');
      assertSchema(limitsResponse, limits.body, 'GET /v3/limits');
      const absolute = (limits.body['limits'] as { absolute: Record<string, number> }).absolute;
      assert.equal(absolute['maxTotalVolumes'], 6);
      assert.equal(absolute['maxTotalVolumeGigabytes'], 20);
      assert.equal(absolute['totalVolumesUsed'], await aliceCount());
      await waitStatus(alice, made.id, 'available');
      await call(alice, 'DELETE', `/volumes/${made.id}`);
    });

    it('is one model with EC2: each API sees the volumes the other made', async () => {
      const name = `shared-${backend.name}`;
      const p = await t.newProject(name);
      await new IdentityService(t.cloud.database.db).setPassword(`${name}-user`, PASSWORD);
      const token = await login(t.cloud.urls?.identity as string, `${name}-user`, name);
      const fromEc2 = await p.client.send(
        new CreateVolumeCommand({
          Size: 2,
          AvailabilityZone: t.cloud.config.compute.availabilityZone,
        }),
      );
      const listed = (await call(token, 'GET', '/volumes/detail')).body['volumes'] as Volume[];
      assert.equal(listed.length, 1);
      const uuid = listed[0]?.id as string;
      assert.equal(`vol-${uuid.replace(/-/g, '').slice(0, 17)}`, fromEc2.VolumeId);
      assert.equal(listed[0]?.size, 2);

      const fromOpenStack = await create(token, { size: 1, name: 'os-made' });
      const ec2Id = `vol-${fromOpenStack.id.replace(/-/g, '').slice(0, 17)}`;
      const described = await p.client.send(new DescribeVolumesCommand({ VolumeIds: [ec2Id] }));
      assert.equal(described.Volumes?.[0]?.Size, 1);
      await waitStatus(token, fromOpenStack.id, 'available');
      assert.equal(
        (await p.client.send(new DescribeVolumesCommand({ VolumeIds: [ec2Id] }))).Volumes?.[0]
          ?.State,
        'available',
      );
    });

    it('shows and changes quota sets: the same limits EC2 is held to', async () => {
      const name = `quota-${backend.name}`;
      const p = await t.newProject(name);
      const projectId = p.projectId;
      await new IdentityService(t.cloud.database.db).setPassword(`${name}-user`, PASSWORD);
      const token = await login(t.cloud.urls?.identity as string, `${name}-user`, name);
      await p.client.send(
        new CreateVolumeCommand({
          Size: 3,
          AvailabilityZone: t.cloud.config.compute.availabilityZone,
        }),
      );
      const shown = await call(token, 'GET', `/os-quota-sets/${projectId}?usage=true`);
      assert.equal(shown.status, 200, JSON.stringify(shown.body));
      const set = shown.body.quota_set as Record<string, { limit: number; in_use: number }>;
      assert.deepEqual([set.volumes?.limit, set.volumes?.in_use], [6, 1]);
      assert.deepEqual([set.gigabytes?.limit, set.gigabytes?.in_use], [20, 3]);
      assert.equal(set.per_volume_gigabytes?.limit, -1);
      // Paths that carry the project id work too, and the defaults are the configured ones.
      const defaults = await call(
        token,
        'GET',
        `/${projectId}/os-quota-sets/${projectId}/defaults`,
      );
      assert.equal((defaults.body.quota_set as Record<string, number>).volumes, 6);
      // A member may not change them; an admin may, and EC2 is held to the new limit.
      const denied = await call(token, 'PUT', `/os-quota-sets/${projectId}`, {
        quota_set: { volumes: 9 },
      });
      assert.equal(denied.status, 403, JSON.stringify(denied.body));
      const below = await call(admin, 'PUT', `/os-quota-sets/${projectId}`, {
        quota_set: { gigabytes: 2 },
      });
      assert.equal(below.status, 400, JSON.stringify(below.body));
      const fixed = await call(admin, 'PUT', `/os-quota-sets/${projectId}`, {
        quota_set: { backups: 5 },
      });
      assert.equal(fixed.status, 400, JSON.stringify(fixed.body));
      const changed = await call(admin, 'PUT', `/os-quota-sets/${projectId}`, {
        quota_set: { volumes: 1, gigabytes: -1 },
      });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      assert.deepEqual(
        [
          (changed.body.quota_set as Record<string, number>).volumes,
          (changed.body.quota_set as Record<string, number>).gigabytes,
        ],
        [1, -1],
      );
      await assert.rejects(
        p.client.send(
          new CreateVolumeCommand({
            Size: 1,
            AvailabilityZone: t.cloud.config.compute.availabilityZone,
          }),
        ),
        (err: Error) => err.name === 'VolumeLimitExceeded',
      );
    });

    it('refuses bad input with the API faults and creates nothing', async () => {
      const before = await aliceCount();
      fault(await call(alice, 'POST', '/volumes', { volume: { size: 0 } }), 400, 'badRequest');
      fault(
        await call(alice, 'POST', '/volumes', { volume: { size: 100_000 } }),
        400,
        'badRequest',
      );
      fault(await call(alice, 'POST', '/volumes', { volume: { size: 'big' } }), 400, 'badRequest');
      fault(await call(alice, 'POST', '/volumes', { volume: {} }), 400, 'badRequest');
      fault(await call(alice, 'POST', '/volumes', { size: 1 }), 400, 'badRequest');
      fault(
        await call(alice, 'POST', '/volumes', { volume: { size: 1, volume_type: 'io9' } }),
        400,
        'badRequest',
      );
      fault(
        await call(alice, 'POST', '/volumes', { volume: { size: 1, snapshot_id: 'x' } }),
        404,
        'itemNotFound',
      );
      // The quota is 20 GiB in all.
      fault(await call(alice, 'POST', '/volumes', { volume: { size: 21 } }), 413, 'overLimit');
      assert.equal(await aliceCount(), before);
      const big = await create(alice, { size: 20 });
      fault(await call(alice, 'POST', '/volumes', { volume: { size: 1 } }), 413, 'overLimit');
      assert.equal(await aliceCount(), before + 1);
      await waitStatus(alice, big.id, 'available');
      fault(
        await call(alice, 'POST', `/volumes/${big.id}/action`, { 'os-extend': { new_size: 21 } }),
        413,
        'overLimit',
      );
      fault(
        await call(alice, 'POST', `/volumes/${big.id}/action`, { 'os-extend': { new_size: 10 } }),
        400,
        'badRequest',
      );
      // Another project's volume does not exist for bob.
      fault(await call(bob, 'GET', `/volumes/${big.id}`), 404, 'itemNotFound');
      fault(await call(bob, 'DELETE', `/volumes/${big.id}`), 404, 'itemNotFound');
      fault(await call(alice, 'GET', '/volumes/not-a-uuid'), 404, 'itemNotFound');
      // Only admins reset a status; an in-use volume is not deleted.
      fault(
        await call(alice, 'POST', `/volumes/${big.id}/action`, {
          'os-reset_status': { status: 'in-use' },
        }),
        403,
        'forbidden',
      );
      const reset = await call(admin, 'POST', `/volumes/${big.id}/action`, {
        'os-reset_status': { status: 'in-use' },
      });
      assert.equal(reset.status, 202, JSON.stringify(reset.body));
      fault(await call(alice, 'DELETE', `/volumes/${big.id}`), 400, 'badRequest');
      assert.equal((await show(alice, big.id)).status, 'in-use');
      await call(admin, 'POST', `/volumes/${big.id}/action`, {
        'os-reset_status': { status: 'available' },
      });
      assert.equal((await call(alice, 'DELETE', `/volumes/${big.id}`)).status, 202);
      await waitUntil(async () => (await aliceCount()) === before, 20_000, 'the volume to go');
    });

    it(
      'works from openstackclient: volume create, list, show, set, delete and type list',
      needs('openstackclient'),
      async () => {
        const env = adminEnv(t);
        const os = async (...args: string[]) => {
          const r = await openstack(env, args);
          assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.err}`);
          return r.out.trim() ? (JSON.parse(r.out) as unknown) : undefined;
        };
        const made = (await os(
          'volume',
          'create',
          '--size',
          '1',
          '--type',
          'gp3',
          'cli-vol',
          '-f',
          'json',
        )) as {
          id: string;
          size: number;
          type: string;
        };
        assert.equal(made.size, 1);
        assert.equal(made.type, 'gp3');
        await waitStatus(admin, made.id, 'available');
        const list = (await os('volume', 'list', '-f', 'json')) as {
          ID: string;
          Name: string;
          Status: string;
        }[];
        assert.deepEqual(
          list.filter((v) => v.ID === made.id).map((v) => [v.Name, v.Status]),
          [['cli-vol', 'available']],
        );
        await os('volume', 'set', '--name', 'cli-renamed', '--size', '2', 'cli-vol');
        await waitUntil(async () => {
          const v = await show(admin, made.id);
          return v.size === 2 && v.status === 'available';
        });
        const shown = (await os('volume', 'show', 'cli-renamed', '-f', 'json')) as {
          id: string;
          size: number;
        };
        assert.equal(shown.id, made.id);
        assert.equal(shown.size, 2);
        const types = (await os('volume', 'type', 'list', '-f', 'json')) as { Name: string }[];
        assert.deepEqual(types.map((x) => x.Name).sort(), ['gp2', 'gp3', 'standard']);
        // An administrator adds a type with a property, uses it, and deletes it.
        await os(
          'volume',
          'type',
          'create',
          '--property',
          'tier=ssd',
          '--description',
          'SSD',
          'cli-fast',
          '-f',
          'json',
        );
        const shownType = (await os('volume', 'type', 'show', 'cli-fast', '-f', 'json')) as {
          name: string;
          properties: unknown;
        };
        assert.equal(shownType.name, 'cli-fast');
        assert.match(JSON.stringify(shownType.properties), /tier.*ssd/);
        const typed = (await os(
          'volume',
          'create',
          '--size',
          '1',
          '--type',
          'cli-fast',
          'cli-typed',
          '-f',
          'json',
        )) as {
          id: string;
          type: string;
        };
        assert.equal(typed.type, 'cli-fast');
        await waitStatus(admin, typed.id, 'available');
        await os('volume', 'delete', typed.id);
        await waitUntil(
          async () => (await call(admin, 'GET', `/volumes/${typed.id}`)).status === 404,
          20_000,
          'the typed volume to go',
        );
        await os('volume', 'type', 'delete', 'cli-fast');
        const after = (await os('volume', 'type', 'list', '-f', 'json')) as { Name: string }[];
        assert.deepEqual(after.map((x) => x.Name).sort(), ['gp2', 'gp3', 'standard']);
        await os('volume', 'delete', made.id);
        await waitUntil(
          async () => (await call(admin, 'GET', `/volumes/${made.id}`)).status === 404,
          20_000,
          'the volume to go',
        );
        const missing = await openstack(env, ['volume', 'show', made.id]);
        assert.notEqual(missing.code, 0);
      },
    );
  });
}
