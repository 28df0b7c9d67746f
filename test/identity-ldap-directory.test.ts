// The LDAP directory consulted beyond login (issue 14), on SQLite and PostgreSQL, against a
// private slapd: the Identity API lists and shows the LDAP domain's users and groups from the
// directory (users who never logged in too, with the directory's enabled state), refuses to
// create, change or delete them with 403 as Keystone's read-only LDAP backend does, a role
// assigned to a directory group follows the directory's membership, and a user removed
// from or disabled in the directory loses its live token at the next validation, and with
// it its EC2 keys. Through raw HTTP and openstackclient.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { IdentityService, publicGroupId, publicUserId } from '../src/identity/index.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { disconnected } from './support/expect.js';
import { ec2Client, startTestCloud, type TestCloud } from './support/ec2.js';
import { adminEnv, login, openstack, PASSWORD } from './support/openstack.js';
import {
  GROUP_TREE,
  SERVICE_DN,
  SERVICE_PASSWORD,
  startPrivateSlapd,
  USER_TREE,
  type PrivateSlapd,
} from './support/private-slapd.js';

const USERS = [
  { uid: 'erin', password: 'erin-in-ldap-1' },
  { uid: 'fred', password: 'fred-in-ldap-1' },
  { uid: 'gail', password: 'gail-in-ldap-1', enabled: false },
  { uid: 'hank', password: 'hank-in-ldap-1' },
];
const GROUPS = { ops: ['erin', 'fred'], nobody: [] };

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(
    `the LDAP directory behind the Identity API on ${backend.name}`,
    needs('slapd', 'openssl', 'openstackclient', ...backend.needs),
    () => {
      let slapd: PrivateSlapd;
      let t: TestCloud;
      let database: { url: string; remove(): Promise<void> };
      let url: string;
      let adminToken: string;

      const call = async (
        method: string,
        path: string,
        options: { token?: string; body?: unknown } = {},
      ): Promise<Answer> => {
        const headers: Record<string, string> = { 'x-auth-token': options.token ?? adminToken };
        if (options.body !== undefined) headers['content-type'] = 'application/json';
        const r = await fetch(`${url}${path}`, {
          method,
          headers,
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
        });
        const text = await r.text();
        return {
          status: r.status,
          body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
        };
      };
      const ldapLogin = async (user: string, password: string, project = 'ldap-project') => {
        const r = await fetch(`${url}/v3/auth/tokens`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            auth: {
              identity: {
                methods: ['password'],
                password: { user: { name: user, domain: { name: 'ldap' }, password } },
              },
              scope: { project: { name: project, domain: { id: 'default' } } },
            },
          }),
        });
        return { status: r.status, token: r.headers.get('x-subject-token') };
      };
      const validate = (token: string) =>
        fetch(`${url}/v3/auth/tokens`, {
          headers: { 'x-auth-token': adminToken, 'x-subject-token': token },
        }).then((r) => r.status);

      before(async () => {
        slapd = await startPrivateSlapd(USERS, GROUPS);
        database = await backend.create();
        t = await startTestCloud({
          database: database.url,
          'ldap-url': slapd.ldapUrl,
          'ldap-start-tls': 'true',
          'ldap-ca-file': slapd.caFile,
          'ldap-bind-dn': SERVICE_DN,
          'ldap-bind-password': SERVICE_PASSWORD,
          'ldap-user-tree': USER_TREE,
          'ldap-group-tree': GROUP_TREE,
          'ldap-user-enabled-attribute': 'description',
          'ldap-group-roles': 'ops=ldap-project:member',
          'ldap-timeout-seconds': '3',
        });
        url = (t.cloud.urls?.identity as string).replace(/\/v3$/, '');
        const identity = new IdentityService(t.cloud.database.db);
        await identity.setPassword('admin', PASSWORD);
        await identity.createProject({ name: 'ldap-project' });
        adminToken = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
      });
      after(async () => {
        await t?.stop();
        await slapd?.remove();
        if (backend.name === 'postgres') await disconnected(database.url);
        await database?.remove();
      });

      it('lists and shows the directory users, those who never logged in too', async () => {
        const listed = await call('GET', '/v3/users?domain_id=ldap');
        assert.equal(listed.status, 200, JSON.stringify(listed.body));
        const users = listed.body.users as { id: string; name: string; enabled: boolean }[];
        assert.deepEqual(
          users.map((u) => [u.name, u.enabled, u.id]),
          USERS.map((u) => [u.uid, u.enabled !== false, publicUserId('ldap', u.uid)]),
        );
        const hank = await call('GET', `/v3/users/${publicUserId('ldap', 'hank')}`);
        assert.equal(hank.status, 200, JSON.stringify(hank.body));
        assert.deepEqual(
          [
            (hank.body.user as { name: string }).name,
            (hank.body.user as { domain_id: string }).domain_id,
          ],
          ['hank', 'ldap'],
        );
        const osc = await openstack(adminEnv(t), [
          'user',
          'list',
          '--domain',
          'ldap',
          '-f',
          'json',
        ]);
        assert.equal(osc.code, 0, osc.err);
        assert.deepEqual(
          (JSON.parse(osc.out) as { Name: string }[]).map((u) => u.Name),
          USERS.map((u) => u.uid),
        );
        // The whole listing has them once, and the SQL users beside them.
        const all = (await call('GET', '/v3/users')).body.users as {
          name: string;
          domain_id: string;
        }[];
        assert.deepEqual(
          all.filter((u) => u.domain_id === 'ldap').map((u) => u.name),
          USERS.map((u) => u.uid),
        );
        assert.ok(all.some((u) => u.name === 'admin' && u.domain_id === 'default'));
      });

      it('refuses to create, change or delete directory users with 403', async () => {
        const made = await call('POST', '/v3/users', {
          body: { user: { name: 'ivan', domain_id: 'ldap', password: PASSWORD } },
        });
        assert.equal(made.status, 403, JSON.stringify(made.body));
        assert.equal((made.body.error as { code: number }).code, 403);
        // Erin logs in once, so she has a row here; it is still the directory's.
        assert.equal((await ldapLogin('erin', 'erin-in-ldap-1')).status, 201);
        const erin = publicUserId('ldap', 'erin');
        const changed = await call('PATCH', `/v3/users/${erin}`, {
          body: { user: { description: 'edited here' } },
        });
        assert.equal(changed.status, 403, JSON.stringify(changed.body));
        assert.equal((await call('DELETE', `/v3/users/${erin}`)).status, 403);
        const osc = await openstack(adminEnv(t), ['user', 'delete', erin]);
        assert.notEqual(osc.code, 0);
        assert.match(osc.err, /403/);
        assert.equal((await call('GET', `/v3/users/${erin}`)).status, 200);
      });

      it('lists the directory groups, keeps them read-only, and applies roles given to them by membership', async () => {
        const listed = await call('GET', '/v3/groups?domain_id=ldap');
        assert.equal(listed.status, 200, JSON.stringify(listed.body));
        const groups = listed.body.groups as { id: string; name: string; domain_id: string }[];
        assert.deepEqual(groups.map((g) => g.name).sort(), ['nobody', 'ops']);
        const ops = groups.find((g) => g.name === 'ops') as { id: string };
        assert.equal(ops.id, publicGroupId('ldap', 'ops'));
        const made = await call('POST', '/v3/groups', {
          body: { group: { name: 'more', domain_id: 'ldap' } },
        });
        assert.equal(made.status, 403, JSON.stringify(made.body));
        const hank = publicUserId('ldap', 'hank');
        assert.equal((await call('PUT', `/v3/groups/${ops.id}/users/${hank}`)).status, 403);
        assert.equal((await call('DELETE', `/v3/groups/${ops.id}`)).status, 403);

        // A role on a project for the directory group ops: Hank holds it once ops lists him.
        const project = await call('POST', '/v3/projects', {
          body: { project: { name: 'reports', domain_id: 'default' } },
        });
        const reports = (project.body.project as { id: string }).id;
        const reader = (
          (await call('GET', '/v3/roles?name=reader')).body.roles as { id: string }[]
        )[0]?.id as string;
        assert.equal(
          (await call('PUT', `/v3/projects/${reports}/groups/${ops.id}/roles/${reader}`)).status,
          204,
        );
        assert.equal((await ldapLogin('hank', 'hank-in-ldap-1', 'reports')).status, 401);
        slapd.modify(
          `dn: cn=ops,${GROUP_TREE}\nchangetype: modify\nadd: member\nmember: uid=hank,${USER_TREE}\n`,
        );
        const inOps = await ldapLogin('hank', 'hank-in-ldap-1', 'reports');
        assert.equal(inOps.status, 201);
        assert.equal(await validate(inOps.token as string), 200);
        // Out of the group in the directory: the token it gave ends at its next validation.
        slapd.modify(
          `dn: cn=ops,${GROUP_TREE}\nchangetype: modify\ndelete: member\nmember: uid=hank,${USER_TREE}\n`,
        );
        assert.equal(await validate(inOps.token as string), 404);
      });

      it('ends the token and the EC2 keys of a user disabled or removed in the directory', async () => {
        const erinLogin = await ldapLogin('erin', 'erin-in-ldap-1');
        const fredLogin = await ldapLogin('fred', 'fred-in-ldap-1');
        assert.equal(erinLogin.status, 201);
        assert.equal(fredLogin.status, 201);
        const identity = new IdentityService(t.cloud.database.db);
        const key = await identity.createEc2Credential(
          publicUserId('ldap', 'fred'),
          'ldap-project',
        );
        const ec2 = ec2Client(t.endpoint, t.region, {
          accessKeyId: key.accessKey,
          secretAccessKey: key.secretKey,
        });
        try {
          await ec2.send(new DescribeInstancesCommand({}));
          assert.equal(await validate(erinLogin.token as string), 200);
          assert.equal(await validate(fredLogin.token as string), 200);

          slapd.modify(
            `dn: uid=erin,${USER_TREE}\nchangetype: modify\nreplace: description\ndescription: FALSE\n`,
          );
          slapd.modify(`dn: uid=fred,${USER_TREE}\nchangetype: delete\n`);
          assert.equal(await validate(erinLogin.token as string), 404);
          assert.equal(await validate(fredLogin.token as string), 404);
          // Validation disabled them here too, so Fred's EC2 keys stop working.
          await assert.rejects(ec2.send(new DescribeInstancesCommand({})), /AuthFailure|validate/);
          assert.equal((await ldapLogin('erin', 'erin-in-ldap-1')).status, 401);
          // Gone from the directory, gone from the listing and from GET.
          const listed = (await call('GET', '/v3/users?domain_id=ldap')).body.users as {
            name: string;
          }[];
          assert.ok(!listed.some((u) => u.name === 'fred'));
          assert.equal(
            (await call('GET', `/v3/users/${publicUserId('ldap', 'fred')}`)).status,
            404,
          );
        } finally {
          ec2.destroy();
        }
      });
    },
  );
}
