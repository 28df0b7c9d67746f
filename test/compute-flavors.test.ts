// Flavors as admins manage them, on SQLite and PostgreSQL: create (with description, swap,
// ephemeral disk), describe (2.55), extra specs (shown in the flavor from 2.61), private
// flavors and the projects given access, delete; members refused each change (403) with
// nothing changed; every response checked against the API reference's schemas. A flavor an
// admin makes is an EC2 instance type (DescribeInstanceTypes, RunInstances) and an EC2 launch
// of it shows that flavor in the Compute API; a private one only for the projects with
// access. Then openstackclient and openstacksdk, as operators run them.
import {
  DescribeInstanceTypesCommand,
  RunInstancesCommand,
  type _InstanceType,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IdentityService } from '../src/identity/index.js';
import { imageEc2Id, parseEc2Id } from '../src/ids/index.js';
import { assertSchema } from './support/api-schema.js';
import { needs } from './support/capabilities.js';
import { assertFault, computeCaller, ok } from './support/compute-http.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { disconnected } from './support/expect.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { adminEnv, login, openstack, openstacksdk, PASSWORD } from './support/openstack.js';
import * as schema from './support/schemas/compute-admin.js';

interface FlavorBody {
  id: string;
  name: string;
  ram: number;
  vcpus: number;
  disk: number;
  swap: number | string;
  description?: string | null;
  extra_specs?: Record<string, string>;
  'os-flavor-access:is_public': boolean;
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(`Compute API flavors on ${backend.name}`, needs(...backend.needs), () => {
    let t: TestCloud;
    let database: { url: string; remove(): Promise<void> };
    let call: ReturnType<typeof computeCaller>;
    let admin: string;
    /** A member of a project that is given access to private flavors. */
    let member: string;
    let memberProject: string;
    let memberEc2: EC2Client;
    /** A member of a project that never is. */
    let other: string;
    let otherEc2: EC2Client;
    let imageId: string;

    const names = async (token: string, query = '') =>
      ((ok(await call(token, 'GET', `/v2.1/flavors${query}`)).flavors as FlavorBody[]) ?? []).map(
        (f) => f.name,
      );
    const instanceTypes = async (client: EC2Client) =>
      (
        (await client.send(new DescribeInstanceTypesCommand({}))).InstanceTypes?.map(
          (i) => i.InstanceType as string,
        ) ?? []
      ).sort();
    const create = (token: string, flavor: Record<string, unknown>, version = '2.1') =>
      call(token, 'POST', '/v2.1/flavors', { body: { flavor }, version });

    before(async () => {
      database = await backend.create();
      t = await startTestCloud({ database: database.url });
      call = computeCaller((t.cloud.urls?.compute as string).replace(/\/v2\.1$/, ''));
      const identityUrl = t.cloud.urls?.identity as string;
      const identity = new IdentityService(t.cloud.database.db);
      await identity.setPassword('admin', PASSWORD);
      admin = await login(identityUrl, 'admin', 'admin');
      const a = await t.newProject('flavor-users');
      const b = await t.newProject('flavor-others');
      memberProject = a.projectId;
      memberEc2 = a.client;
      otherEc2 = b.client;
      await identity.setPassword('flavor-users-user', PASSWORD);
      await identity.setPassword('flavor-others-user', PASSWORD);
      member = await login(identityUrl, 'flavor-users-user', 'flavor-users');
      other = await login(identityUrl, 'flavor-others-user', 'flavor-others');
      imageId = imageEc2Id('machine', (await t.addImage({ name: 'base' })).id);
    });
    after(async () => {
      await t.stop();
      if (backend.name === 'postgres') await disconnected(database.url);
      await database.remove();
    });

    it('lets an admin create, describe and delete a flavor, in the fields of each microversion', async () => {
      const made = await create(
        admin,
        {
          name: 'c1.custom',
          id: 'custom-1',
          ram: 256,
          vcpus: 2,
          disk: 3,
          swap: 128,
          'OS-FLV-EXT-DATA:ephemeral': 1,
          description: 'for the tests',
        },
        '2.55',
      );
      const body = ok(made);
      assertSchema(schema.flavor(55), body.flavor, 'POST /flavors at 2.55');
      const f = body.flavor as FlavorBody;
      assert.deepEqual(
        [f.id, f.ram, f.vcpus, f.disk, f.swap, f.description],
        ['custom-1', 256, 2, 3, 128, 'for the tests'],
      );
      const shown = ok(await call(admin, 'GET', '/v2.1/flavors/custom-1', { version: '2.1' }));
      assertSchema(schema.flavor(1), shown.flavor, 'GET /flavors/{id} at 2.1');
      assert.equal((shown.flavor as FlavorBody).description, undefined, 'no description at 2.1');
      const v75 = ok(await call(admin, 'GET', '/v2.1/flavors/detail', { version: '2.75' }));
      assertSchema(schema.flavorList(75, true), v75, 'GET /flavors/detail at 2.75');
      assert.equal(
        (v75.flavors as FlavorBody[]).find((x) => x.name === 'm1.tiny')?.swap,
        0,
        'no swap is 0 from 2.75',
      );
      const v1 = ok(await call(admin, 'GET', '/v2.1/flavors/detail'));
      assertSchema(schema.flavorList(1, true), v1, 'GET /flavors/detail at 2.1');
      assert.equal((v1.flavors as FlavorBody[]).find((x) => x.name === 'm1.tiny')?.swap, '');
      const list = ok(await call(admin, 'GET', '/v2.1/flavors', { version: '2.55' }));
      assertSchema(schema.flavorList(55, false), list, 'GET /flavors at 2.55');

      const updated = ok(
        await call(admin, 'PUT', '/v2.1/flavors/custom-1', {
          body: { flavor: { description: 'changed' } },
          version: '2.55',
        }),
      );
      assertSchema(schema.flavor(55), updated.flavor, 'PUT /flavors/{id} at 2.55');
      assert.equal((updated.flavor as FlavorBody).description, 'changed');
      assertFault(
        await call(admin, 'PUT', '/v2.1/flavors/custom-1', {
          body: { flavor: { description: 'x' } },
          version: '2.54',
        }),
        404,
        'itemNotFound',
      );

      // Members may look, not change.
      assert.ok((await names(member)).includes('c1.custom'));
      assertFault(
        await create(member, { name: 'm.own', ram: 64, vcpus: 1, disk: 1 }),
        403,
        'forbidden',
      );
      assertFault(await call(member, 'DELETE', '/v2.1/flavors/custom-1'), 403, 'forbidden');
      assert.ok(!(await names(admin)).includes('m.own'), 'nothing made by the refusal');

      ok(await call(admin, 'DELETE', '/v2.1/flavors/custom-1'), 202);
      assertFault(await call(admin, 'GET', '/v2.1/flavors/custom-1'), 404, 'itemNotFound');
      assertFault(await call(admin, 'DELETE', '/v2.1/flavors/custom-1'), 404, 'itemNotFound');
    });

    it('refuses bad flavors with 400 and taken names or ids with 409', async () => {
      for (const [flavor, message] of [
        [{ ram: 64, vcpus: 1, disk: 1 }, /'name' is a required property/],
        [{ name: 'x', vcpus: 1, disk: 1 }, /'ram' is a required property/],
        [{ name: 'x', ram: 0, vcpus: 1, disk: 1 }, /ram/],
        [{ name: 'x', ram: 64, vcpus: -1, disk: 1 }, /vcpus/],
        [{ name: 'x', ram: 64, vcpus: 1, disk: 'big' }, /disk/],
        [{ name: ' x', ram: 64, vcpus: 1, disk: 1 }, /name/],
        [{ name: 'x', ram: 64, vcpus: 1, disk: 1, id: 'a/b' }, /id/],
        [{ name: 'x', ram: 64, vcpus: 1, disk: 1, id: 'i'.repeat(65) }, /id/],
        [{ name: 'n'.repeat(65), ram: 64, vcpus: 1, disk: 1 }, /name/],
        [{ name: 'x', ram: 64, vcpus: 1, disk: 1, description: 'd' }, /additional properties/],
        [{ name: 'x', ram: 64, vcpus: 1, disk: 1, colour: 'red' }, /additional properties/],
      ] as const) {
        assertFault(await create(admin, flavor), 400, 'badRequest', message);
      }
      assert.ok(!(await names(admin, '?is_public=none')).includes('x'), 'nothing made');
      assertFault(
        await create(admin, { name: 'm1.tiny', ram: 64, vcpus: 1, disk: 1 }),
        409,
        'conflictingRequest',
        /name m1\.tiny already exists/,
      );
      assertFault(
        await create(admin, { name: 'fresh', id: '1', ram: 64, vcpus: 1, disk: 1 }),
        409,
        'conflictingRequest',
        /ID 1 already exists/,
      );
    });

    it('keeps extra specs, shows them from 2.61, and lets only admins change them', async () => {
      const f = ok(await create(admin, { name: 'specs', ram: 64, vcpus: 1, disk: 1 }))
        .flavor as FlavorBody;
      const path = `/v2.1/flavors/${f.id}/os-extra_specs`;
      const set = ok(
        await call(admin, 'POST', path, {
          body: { extra_specs: { 'hw:cpu_policy': 'dedicated', 'quota:disk_read_iops_sec': 100 } },
        }),
      );
      assertSchema(schema.extraSpecs, set, 'POST os-extra_specs');
      assert.deepEqual(set.extra_specs, {
        'hw:cpu_policy': 'dedicated',
        'quota:disk_read_iops_sec': '100',
      });
      const listed = ok(await call(member, 'GET', path));
      assertSchema(schema.extraSpecs, listed, 'GET os-extra_specs');
      assert.equal((listed.extra_specs as Record<string, string>)['hw:cpu_policy'], 'dedicated');
      assert.deepEqual(ok(await call(member, 'GET', `${path}/hw:cpu_policy`)), {
        'hw:cpu_policy': 'dedicated',
      });
      assert.deepEqual(
        ok(
          await call(admin, 'PUT', `${path}/hw:cpu_policy`, {
            body: { 'hw:cpu_policy': 'shared' },
          }),
        ),
        { 'hw:cpu_policy': 'shared' },
      );
      assertFault(
        await call(admin, 'PUT', `${path}/hw:cpu_policy`, { body: { other: 'x' } }),
        400,
        'badRequest',
      );
      const v61 = ok(await call(member, 'GET', `/v2.1/flavors/${f.id}`, { version: '2.61' }));
      assertSchema(schema.flavor(61), v61.flavor, 'GET /flavors/{id} at 2.61');
      assert.deepEqual((v61.flavor as FlavorBody).extra_specs, {
        'hw:cpu_policy': 'shared',
        'quota:disk_read_iops_sec': '100',
      });
      const detail = ok(await call(admin, 'GET', '/v2.1/flavors/detail', { version: '2.61' }));
      assertSchema(schema.flavorList(61, true), detail, 'GET /flavors/detail at 2.61');

      assertFault(
        await call(member, 'POST', path, { body: { extra_specs: { a: 'b' } } }),
        403,
        'forbidden',
      );
      assertFault(await call(member, 'DELETE', `${path}/hw:cpu_policy`), 403, 'forbidden');
      assertFault(
        await call(admin, 'POST', path, { body: { extra_specs: { 'bad/key': 'b' } } }),
        400,
        'badRequest',
      );
      ok(await call(admin, 'DELETE', `${path}/hw:cpu_policy`));
      assertFault(await call(admin, 'GET', `${path}/hw:cpu_policy`), 404, 'itemNotFound');
      assert.deepEqual(ok(await call(admin, 'GET', path)).extra_specs, {
        'quota:disk_read_iops_sec': '100',
      });
    });

    it('makes an admin-made flavor an EC2 instance type, and an EC2 launch of it a server of that flavor', async () => {
      const f = ok(await create(admin, { name: 'c2.ec2', ram: 96, vcpus: 3, disk: 2 }))
        .flavor as FlavorBody;
      const types = await memberEc2.send(
        new DescribeInstanceTypesCommand({ InstanceTypes: ['c2.ec2' as _InstanceType] }),
      );
      const type = types.InstanceTypes?.[0];
      assert.equal(type?.VCpuInfo?.DefaultVCpus, 3);
      assert.equal(type?.MemoryInfo?.SizeInMiB, 96);
      const run = await memberEc2.send(
        new RunInstancesCommand({
          ImageId: imageId,
          InstanceType: 'c2.ec2' as _InstanceType,
          MinCount: 1,
          MaxCount: 1,
        }),
      );
      const shown = run.Instances?.[0]?.InstanceId as string;
      const prefix = parseEc2Id(shown, ['i'], 'instance').uuidPrefix;
      const server = await waitUntil(
        async () => {
          const list = ok(await call(member, 'GET', '/v2.1/servers/detail'));
          return (list.servers as { id: string; flavor: { id: string } }[]).find((s) =>
            s.id.startsWith(prefix),
          );
        },
        10_000,
        'the EC2 instance as a server',
      );
      assert.equal(server.flavor.id, f.id, 'the server is of the flavor the instance type is');

      // Deleted, it is no instance type any more.
      ok(await call(admin, 'DELETE', `/v2.1/flavors/${f.id}`), 202);
      assert.ok(!(await instanceTypes(memberEc2)).includes('c2.ec2'));
    });

    it('shows a private flavor only to the projects given access, in both APIs', async () => {
      const f = ok(
        await create(admin, {
          name: 'p1.private',
          ram: 64,
          vcpus: 1,
          disk: 1,
          'os-flavor-access:is_public': false,
        }),
      ).flavor as FlavorBody;
      assert.equal(f['os-flavor-access:is_public'], false);
      const access = `/v2.1/flavors/${f.id}/os-flavor-access`;
      const action = `/v2.1/flavors/${f.id}/action`;

      assert.ok(!(await names(member)).includes('p1.private'));
      assertFault(await call(member, 'GET', `/v2.1/flavors/${f.id}`), 404, 'itemNotFound');
      assert.ok(!(await instanceTypes(memberEc2)).includes('p1.private'));
      assert.ok((await names(admin, '?is_public=false')).includes('p1.private'));
      const launch = (client: EC2Client) =>
        client.send(
          new RunInstancesCommand({
            ImageId: imageId,
            InstanceType: 'p1.private' as _InstanceType,
            MinCount: 1,
            MaxCount: 1,
          }),
        );
      await assert.rejects(launch(memberEc2), /p1\.private/);

      const granted = ok(
        await call(admin, 'POST', action, { body: { addTenantAccess: { tenant: memberProject } } }),
      );
      assertSchema(schema.flavorAccess, granted, 'addTenantAccess');
      assert.deepEqual(granted.flavor_access, [{ flavor_id: f.id, tenant_id: memberProject }]);
      const listed = ok(await call(admin, 'GET', access));
      assertSchema(schema.flavorAccess, listed, 'GET os-flavor-access');
      assert.deepEqual(listed, granted);
      assertFault(
        await call(admin, 'POST', action, { body: { addTenantAccess: { tenant: memberProject } } }),
        409,
        'conflictingRequest',
      );

      assert.ok((await names(member)).includes('p1.private'), 'the project sees it now');
      assert.ok(!(await names(other)).includes('p1.private'), 'another project does not');
      assert.ok((await instanceTypes(memberEc2)).includes('p1.private'));
      assert.ok(!(await instanceTypes(otherEc2)).includes('p1.private'));
      const run = await launch(memberEc2);
      assert.equal(run.Instances?.[0]?.InstanceType, 'p1.private');
      await assert.rejects(launch(otherEc2), /p1\.private/);

      // Only admins see or change the access list; a public flavor has none.
      assertFault(await call(member, 'GET', access), 403, 'forbidden');
      assertFault(
        await call(member, 'POST', action, { body: { addTenantAccess: { tenant: 'x' } } }),
        403,
        'forbidden',
      );
      assertFault(
        await call(admin, 'GET', '/v2.1/flavors/1/os-flavor-access'),
        404,
        'itemNotFound',
      );
      assertFault(
        await call(admin, 'POST', '/v2.1/flavors/1/action', {
          body: { addTenantAccess: { tenant: memberProject } },
        }),
        409,
        'conflictingRequest',
      );

      ok(
        await call(admin, 'POST', action, {
          body: { removeTenantAccess: { tenant: memberProject } },
        }),
      );
      assert.ok(!(await names(member)).includes('p1.private'));
      assert.ok(!(await instanceTypes(memberEc2)).includes('p1.private'));
      assertFault(
        await call(admin, 'POST', action, {
          body: { removeTenantAccess: { tenant: memberProject } },
        }),
        404,
        'itemNotFound',
      );
    });

    it('serves openstackclient: flavor create, set, unset, show, list and delete', async () => {
      const env = adminEnv(t);
      const os = async (...args: string[]) => {
        const r = await openstack(env, args);
        assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
        return r.out;
      };
      const made = JSON.parse(
        await os(
          'flavor',
          'create',
          'osc.flavor',
          '--ram',
          '128',
          '--vcpus',
          '2',
          '--disk',
          '4',
          '--private',
          '--description',
          'made by osc',
          '--property',
          'color=blue',
          '--os-compute-api-version',
          '2.61',
          '-f',
          'json',
        ),
      ) as {
        id: string;
        name: string;
        ram: number;
        'os-flavor-access:is_public'?: boolean;
        is_public?: boolean;
      };
      assert.equal(made.name, 'osc.flavor');
      assert.equal(made.ram, 128);
      await os('flavor', 'set', 'osc.flavor', '--property', 'size=large');
      await os('flavor', 'set', 'osc.flavor', '--project', 'flavor-users');
      const shown = JSON.parse(await os('flavor', 'show', 'osc.flavor', '-f', 'json')) as {
        properties: Record<string, string> | string;
        access_project_ids?: string[] | string;
      };
      const props = JSON.stringify(shown.properties);
      assert.match(props, /color/);
      assert.match(props, /size/);
      assert.match(JSON.stringify(shown.access_project_ids), new RegExp(memberProject));
      await os('flavor', 'unset', 'osc.flavor', '--property', 'color');
      const after = ok(await call(admin, 'GET', `/v2.1/flavors/${made.id}/os-extra_specs`));
      assert.deepEqual(after.extra_specs, { size: 'large' });
      assert.ok((await names(member)).includes('osc.flavor'), 'the project was given access');
      const all = JSON.parse(await os('flavor', 'list', '--all', '-f', 'json')) as {
        Name: string;
      }[];
      assert.ok(all.some((x) => x.Name === 'osc.flavor'));
      await os('flavor', 'delete', 'osc.flavor');
      assert.ok(!(await names(admin, '?is_public=none')).includes('osc.flavor'));
    });

    it('serves openstacksdk: create a flavor, set extra specs, read them back, delete it', async () => {
      const env = adminEnv(t);
      const script = `
import json, openstack
c = openstack.connect(auth_url=${JSON.stringify(env.OS_AUTH_URL)}, username='admin', password=${JSON.stringify(PASSWORD)},
    project_name='admin', user_domain_name='Default', project_domain_name='Default', region_name=${JSON.stringify(t.region)})
f = c.compute.create_flavor(name='sdk.flavor', ram=64, vcpus=1, disk=1)
c.compute.create_flavor_extra_specs(f, {'k': 'v'})
specs = c.compute.fetch_flavor_extra_specs(f).extra_specs
found = c.compute.find_flavor('sdk.flavor').id == f.id
c.compute.delete_flavor(f)
print(json.dumps({'specs': specs, 'found': found,
                  'left': [x.name for x in c.compute.flavors() if x.name == 'sdk.flavor']}))
`;
      const r = await openstacksdk(script, { PATH: process.env.PATH, HOME: process.env.HOME });
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(JSON.parse(r.out), { specs: { k: 'v' }, found: true, left: [] });
    });
  });
}
