// Compute API servers as OpenStack's own clients drive them, on SQLite and PostgreSQL:
// python-openstackclient `server create/list/show/set/delete` at several microversions up to
// 2.92, the newest the packaged client knows (description, tags, hostname and properties
// where the microversion has them); openstacksdk creating, tagging, listing and deleting a
// server at 2.93; and the body Apache Libcloud sends (`personality: []`).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IdentityService } from '../src/identity/index.js';
import { assertSchema } from './support/api-schema.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { disconnected } from './support/expect.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { adminEnv, login, openstack, openstacksdk, PASSWORD } from './support/openstack.js';
import { createServerSchema, serverBodySchema } from './support/schemas/compute-servers.js';

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(
    `Compute servers through openstackclient and openstacksdk on ${backend.name}`,
    needs('openstackclient', ...backend.needs),
    () => {
      let t: TestCloud;
      let database: { url: string; remove(): Promise<void> };
      let env: NodeJS.ProcessEnv;
      let imageId: string;
      let computeUrl: string;
      let token: string;

      const ok = async (args: string[]) => {
        const r = await openstack(env, args);
        assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.err}`);
        return r.out;
      };
      const statusOf = async (id: string) => {
        const r = await fetch(`${computeUrl}/servers/${id}`, {
          headers: { 'x-auth-token': token },
        });
        if (r.status === 404) return 'gone';
        return ((await r.json()) as { server: { status: string } }).server.status;
      };

      before(async () => {
        database = await backend.create();
        t = await startTestCloud({ database: database.url });
        await new IdentityService(t.cloud.database.db).setPassword('admin', PASSWORD);
        imageId = (await t.addImage({ name: 'cirros' })).id;
        computeUrl = t.cloud.urls?.compute as string;
        env = adminEnv(t);
        token = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
      });
      after(async () => {
        await t?.stop();
        if (backend.name === 'postgres') await disconnected(database.url);
        await database.remove();
      });

      // Debian's openstackclient (through novaclient) goes up to 2.92 and refuses 2.93 itself;
      // openstacksdk below asks for 2.93.
      for (const version of ['2.1', '2.19', '2.52', '2.90', '2.92']) {
        it(`creates, lists, shows, sets and deletes a server at ${version}`, async () => {
          const minor = Number(version.split('.')[1]);
          const name = `osc-${minor}`;
          const v = ['--os-compute-api-version', version];
          const created = JSON.parse(
            await ok([
              ...v,
              'server',
              'create',
              '--image',
              imageId,
              '--flavor',
              'm1.nano',
              '--property',
              'role=web',
              ...(minor >= 19 ? ['--description', 'made by osc'] : []),
              ...(minor >= 52 ? ['--tag', 'blue'] : []),
              ...(minor >= 90 ? ['--hostname', `host-${minor}`] : []),
              '--wait',
              '-f',
              'json',
              name,
            ]),
          ) as Record<string, unknown>;
          assert.equal(created.name, name);
          assert.equal(created.status, 'ACTIVE');
          assert.match(String(created.adminPass), /^[A-Za-z0-9]{12}$/);
          const id = created.id as string;

          const listed = JSON.parse(
            await ok([...v, 'server', 'list', '--name', `^${name}$`, '-f', 'json']),
          ) as { ID: string; Name: string; Status: string }[];
          assert.deepEqual(
            listed.map((s) => [s.ID, s.Name, s.Status]),
            [[id, name, 'ACTIVE']],
          );

          await ok([
            ...v,
            'server',
            'set',
            '--name',
            `${name}-renamed`,
            '--property',
            'tier=1',
            ...(minor >= 19 ? ['--description', 'changed'] : []),
            ...(minor >= 26 ? ['--tag', 'green'] : []),
            id,
          ]);
          const shown = JSON.parse(await ok([...v, 'server', 'show', '-f', 'json', id])) as Record<
            string,
            unknown
          >;
          assert.equal(shown.name, `${name}-renamed`);
          assert.deepEqual(shown.properties, { role: 'web', tier: '1' });
          if (minor >= 19) assert.equal(shown.description, 'changed');
          if (minor >= 52)
            assert.deepEqual([...(shown.tags as string[])].sort(), ['blue', 'green']);
          // What the client showed, the API answers in the reference's shape.
          const raw = await fetch(`${computeUrl}/servers/${id}`, {
            headers: { 'x-auth-token': token, 'openstack-api-version': `compute ${version}` },
          });
          assertSchema(
            serverBodySchema(minor, { admin: true, serverGroups: true }),
            await raw.json(),
            `GET /servers/{id} at ${version}`,
          );

          await ok([...v, 'server', 'delete', '--wait', id]);
          assert.equal(await statusOf(id), 'gone');
        });
      }

      it('creates, tags, lists and deletes a server with openstacksdk at 2.93', async () => {
        const script = `
import json, openstack
c = openstack.connect(auth_url=${JSON.stringify(t.cloud.urls?.identity)}, username='admin',
    password=${JSON.stringify(PASSWORD)}, user_domain_name='Default', project_name='admin',
    project_domain_name='Default', region_name=${JSON.stringify(t.region)},
    compute_api_version='2.93')
flavor = c.compute.find_flavor('m1.nano')
s = c.compute.create_server(name='sdk-vm', image_id=${JSON.stringify(imageId)},
    flavor_id=flavor.id, networks='auto', description='from the sdk', tags=['sdk'])
password = s.admin_password
s = c.compute.wait_for_server(s, wait=30)
c.compute.add_tag_to_server(s, 'extra') if hasattr(c.compute, 'add_tag_to_server') else s.add_tag(c.compute, 'extra')
s = c.compute.get_server(s.id)
found = [x.name for x in c.compute.servers(tags='sdk')]
out = {'status': s.status, 'description': s.description, 'tags': sorted(s.tags),
       'password': bool(password), 'found': found, 'hostname': s.hostname}
c.compute.delete_server(s)
c.compute.wait_for_delete(s, wait=30)
print(json.dumps(out))
`;
        const r = await openstacksdk(script, { PATH: process.env.PATH, HOME: process.env.HOME });
        assert.equal(r.code, 0, r.err);
        assert.deepEqual(JSON.parse(r.out), {
          status: 'ACTIVE',
          description: 'from the sdk',
          tags: ['extra', 'sdk'],
          password: true,
          found: ['sdk-vm'],
          hostname: 'sdk-vm',
        });
      });

      it('boots a server from the body Apache Libcloud sends (personality: [])', async () => {
        const r = await fetch(`${computeUrl}/servers`, {
          method: 'POST',
          headers: { 'x-auth-token': token, 'content-type': 'application/json' },
          body: JSON.stringify({
            server: {
              name: 'libcloud-vm',
              imageRef: imageId,
              flavorRef: 'm1.nano',
              personality: [],
              metadata: {},
            },
          }),
        });
        assert.equal(r.status, 202);
        const body = (await r.json()) as { server: { id: string; adminPass: string } };
        assertSchema(createServerSchema, body, 'POST /servers (Libcloud)');
        await waitUntil(
          async () => (await statusOf(body.server.id)) === 'ACTIVE',
          10_000,
          'ACTIVE',
        );
        await ok(['server', 'delete', '--wait', body.server.id]);
      });
    },
  );
}
