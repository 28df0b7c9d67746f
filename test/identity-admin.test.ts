// The Identity v3 admin API (issue 14) on SQLite and PostgreSQL, as operators and tools use
// it: python-openstackclient for domains, projects and tags, users, groups, roles and their
// implications, role assignments (effective, with names), EC2 credentials and application
// credentials; openstacksdk for a throw-away project and user; the policies both ways (what a
// member may and may not do); deletes that would orphan cloud resources refused, and
// tokens, EC2 keys and application credentials of disabled or deleted owners dead at once;
// bad input in Keystone's error JSON with the right 4xx.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  DescribeInstancesCommand,
  RunInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { IdentityService } from '../src/identity/index.js';
import { needs } from './support/capabilities.js';
import { stratus } from './support/cli.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { disconnected } from './support/expect.js';
import { ec2Client, startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { adminEnv, openstack, openstacksdk, PASSWORD } from './support/openstack.js';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

function assertIdentityError(a: Answer, code: number, message?: RegExp): void {
  assert.equal(a.status, code, JSON.stringify(a.body));
  const e = a.body.error as { code: number; title: string; message: string };
  assert.equal(e.code, code);
  assert.equal(typeof e.title, 'string');
  if (message) assert.match(e.message, message);
}

const json = <T>(r: { code: number; out: string; err: string }): T => {
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out) as T;
};

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(
    `the Identity v3 admin API on ${backend.name}`,
    needs('openstackclient', ...backend.needs),
    () => {
      let t: TestCloud;
      let database: { url: string; remove(): Promise<void> };
      let url: string;
      let env: NodeJS.ProcessEnv;
      let adminToken: string;

      const call = async (
        method: string,
        path: string,
        options: { token?: string; body?: unknown } = {},
      ): Promise<Answer> => {
        const headers: Record<string, string> = {};
        if (options.token) headers['x-auth-token'] = options.token;
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
      const login = async (user: string, project: string, password = PASSWORD) => {
        const r = await fetch(`${url}/v3/auth/tokens`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            auth: {
              identity: {
                methods: ['password'],
                password: { user: { name: user, domain: { id: 'default' }, password } },
              },
              scope: { project: { name: project, domain: { id: 'default' } } },
            },
          }),
        });
        assert.equal(r.status, 201, await r.text());
        return r.headers.get('x-subject-token') as string;
      };
      const as = (user: string, project: string) => ({
        ...env,
        OS_USERNAME: user,
        OS_PROJECT_NAME: project,
      });

      before(async () => {
        database = await backend.create();
        t = await startTestCloud({ database: database.url });
        url = (t.cloud.urls?.identity as string).replace(/\/v3$/, '');
        await new IdentityService(t.cloud.database.db).setPassword('admin', PASSWORD);
        env = adminEnv(t);
        adminToken = await login('admin', 'admin');
      });
      after(async () => {
        await t?.stop();
        if (backend.name === 'postgres') await disconnected(database.url);
        await database?.remove();
      });

      it('answers discovery with the media types, statuses and links clients expect', async () => {
        const root = await call('GET', '/');
        assert.equal(root.status, 300);
        const v = (root.body.versions as { values: Record<string, unknown>[] }).values[0];
        assert.deepEqual(v?.['media-types'], [
          { base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' },
        ]);
        assert.deepEqual(v?.links, [{ rel: 'self', href: `${url}/v3/` }]);
        const v3 = await call('GET', '/v3');
        assert.equal(v3.status, 200);
        assert.equal((v3.body.version as { status: string }).status, 'stable');
        const system = await call('GET', '/v3/auth/system', { token: adminToken });
        // The bootstrap admin holds admin on the system, as Keystone's bootstrap gives it.
        assert.deepEqual(system.body.system, [{ all: true }]);
      });

      it('manages domains, projects with tags, users, groups and roles with openstackclient', async () => {
        const domain = json<{ id: string; enabled: boolean }>(
          await openstack(env, ['domain', 'create', 'engineering', '-f', 'json']),
        );
        assert.equal(domain.enabled, true);
        const domains = json<{ Name: string }[]>(
          await openstack(env, ['domain', 'list', '-f', 'json']),
        );
        assert.deepEqual(domains.map((d) => d.Name).sort(), ['Default', 'engineering']);

        const project = json<{ id: string; domain_id: string; parent_id: string; tags: string[] }>(
          await openstack(env, [
            'project',
            'create',
            '--domain',
            'engineering',
            '--tag',
            'team-a',
            '--description',
            'Build farm',
            'builds',
            '-f',
            'json',
          ]),
        );
        assert.equal(project.domain_id, domain.id);
        assert.equal(project.parent_id, domain.id);
        assert.deepEqual(project.tags, ['team-a']);
        const tagged = json<{ Name: string }[]>(
          await openstack(env, ['project', 'list', '--tags', 'team-a', '-f', 'json']),
        );
        assert.deepEqual(
          tagged.map((p) => p.Name),
          ['builds'],
        );
        const dup = await openstack(env, [
          'project',
          'create',
          '--domain',
          'engineering',
          'builds',
        ]);
        assert.notEqual(dup.code, 0);
        assert.match(dup.err, /\(HTTP 409\)/);

        const user = json<{ id: string; domain_id: string; default_project_id: string }>(
          await openstack(env, [
            'user',
            'create',
            '--domain',
            'engineering',
            '--password',
            PASSWORD,
            '--project',
            project.id,
            'dana',
            '-f',
            'json',
          ]),
        );
        assert.equal(user.domain_id, domain.id);
        assert.equal(user.default_project_id, project.id);

        json(
          await openstack(env, [
            'group',
            'create',
            '--domain',
            'engineering',
            'builders',
            '-f',
            'json',
          ]),
        );
        const added = await openstack(env, [
          'group',
          'add',
          'user',
          '--group-domain',
          'engineering',
          '--user-domain',
          'engineering',
          'builders',
          'dana',
        ]);
        assert.equal(added.code, 0, added.err);
        const contains = await openstack(env, [
          'group',
          'contains',
          'user',
          '--group-domain',
          'engineering',
          '--user-domain',
          'engineering',
          'builders',
          'dana',
        ]);
        assert.equal(contains.code, 0, contains.err);
        assert.match(contains.out, /dana in group builders/);

        // A custom role implied by member; the group holds member on the project.
        json(await openstack(env, ['role', 'create', 'builder', '-f', 'json']));
        const implied = await openstack(env, [
          'implied',
          'role',
          'create',
          'member',
          '--implied-role',
          'builder',
        ]);
        assert.equal(implied.code, 0, implied.err);
        const grant = await openstack(env, [
          'role',
          'add',
          '--group',
          'builders',
          '--group-domain',
          'engineering',
          '--project',
          project.id,
          'member',
        ]);
        assert.equal(grant.code, 0, grant.err);
        const direct = json<{ Role: string; Group: string; Project: string }[]>(
          await openstack(env, [
            'role',
            'assignment',
            'list',
            '--project',
            project.id,
            '--names',
            '-f',
            'json',
          ]),
        );
        assert.deepEqual(
          direct.map((a) => [a.Role, a.Group, a.Project]),
          [['member', 'builders@engineering', 'builds@engineering']],
        );
        const effective = json<{ Role: string; User: string }[]>(
          await openstack(env, [
            'role',
            'assignment',
            'list',
            '--project',
            project.id,
            '--effective',
            '--names',
            '-f',
            'json',
          ]),
        );
        assert.deepEqual(effective.map((a) => a.Role).sort(), ['builder', 'member', 'reader']);
        assert.ok(effective.every((a) => a.User === 'dana@engineering'));

        // Dana logs in through the group, with the implied roles in her token.
        const token = await fetch(`${url}/v3/auth/tokens`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            auth: {
              identity: {
                methods: ['password'],
                password: {
                  user: { name: 'dana', domain: { name: 'engineering' }, password: PASSWORD },
                },
              },
              scope: { project: { id: project.id } },
            },
          }),
        });
        assert.equal(token.status, 201);
        const body = (await token.json()) as {
          token: { roles: { name: string }[]; user: { domain: { name: string } } };
        };
        assert.deepEqual(body.token.roles.map((r) => r.name).sort(), [
          'builder',
          'member',
          'reader',
        ]);
        assert.equal(body.token.user.domain.name, 'engineering');
        const danaToken = token.headers.get('x-subject-token') as string;

        // A domain is deleted only when disabled; disabling it ends its users' tokens at once.
        const enabled = await openstack(env, ['domain', 'delete', 'engineering']);
        assert.notEqual(enabled.code, 0);
        assert.match(enabled.err, /disable it first/);
        assert.equal((await call('GET', `/v3/users/${user.id}`, { token: danaToken })).status, 200);
        const disabled = await openstack(env, ['domain', 'set', '--disable', 'engineering']);
        assert.equal(disabled.code, 0, disabled.err);
        assertIdentityError(await call('GET', `/v3/users/${user.id}`, { token: danaToken }), 401);
        const inUse = await openstack(env, ['domain', 'delete', 'engineering']);
        assert.notEqual(inUse.code, 0);
        assert.match(inUse.err, /still has 1 user\(s\), 1 project\(s\), 1 group\(s\)/);
        for (const args of [
          ['user', 'delete', '--domain', 'engineering', 'dana'],
          ['group', 'delete', '--domain', 'engineering', 'builders'],
          ['project', 'delete', '--domain', 'engineering', 'builds'],
          ['domain', 'delete', 'engineering'],
          ['role', 'delete', 'builder'],
        ]) {
          const r = await openstack(env, args);
          assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
        }
        const left = json<{ Name: string }[]>(
          await openstack(env, ['domain', 'list', '-f', 'json']),
        );
        assert.deepEqual(
          left.map((d) => d.Name),
          ['Default'],
        );
      });

      it('lets a member see and change only its own, and refuses the rest with 403', async () => {
        for (const args of [
          ['project', 'create', 'crew'],
          ['user', 'create', '--password', PASSWORD, '--project', 'crew', 'erin'],
          ['role', 'add', '--project', 'crew', '--user', 'erin', 'member'],
          ['user', 'create', '--password', PASSWORD, 'frank'],
          ['project', 'create', 'secret-project'],
        ]) {
          const r = await openstack(env, args);
          assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
        }
        const erin = as('erin', 'crew');
        const me = json<{ name: string }>(
          await openstack(erin, ['user', 'show', 'erin', '-f', 'json']),
        );
        assert.equal(me.name, 'erin');
        for (const [args, rule] of [
          [['project', 'create', 'mine'], /identity:create_project/],
          [['user', 'list'], /identity:list_users/],
          [['role', 'add', '--project', 'crew', '--user', 'frank', 'member'], /HTTP 403/],
          [['role', 'assignment', 'list'], /identity:list_role_assignments/],
          [['domain', 'list'], /identity:list_domains/],
          [['group', 'create', 'mine'], /identity:create_group/],
        ] as const) {
          const r = await openstack(erin, [...args]);
          assert.notEqual(r.code, 0, args.join(' '));
          assert.match(r.err, rule, args.join(' '));
        }
        const erinToken = await login('erin', 'crew');
        const frank = (await call('GET', '/v3/users?name=frank', { token: adminToken })).body
          .users as { id: string }[];
        assertIdentityError(
          await call('GET', `/v3/users/${frank[0]?.id}`, { token: erinToken }),
          403,
          /identity:get_user/,
        );
        const secret = (
          await call('GET', '/v3/projects?name=secret-project', { token: adminToken })
        ).body.projects as { id: string }[];
        assertIdentityError(
          await call('GET', `/v3/projects/${secret[0]?.id}`, { token: erinToken }),
          404,
          /Could not find project/,
        );

        // Her own EC2 keys, made over the API, sign EC2 requests; then she changes her password.
        const made = json<{ access: string; secret: string; project_id: string }>(
          await openstack(erin, ['ec2', 'credentials', 'create', '-f', 'json']),
        );
        const listed = json<{ Access: string }[]>(
          await openstack(erin, ['ec2', 'credentials', 'list', '-f', 'json']),
        );
        assert.deepEqual(
          listed.map((c) => c.Access),
          [made.access],
        );
        const ec2 = ec2Client(t.endpoint, t.region, {
          accessKeyId: made.access,
          secretAccessKey: made.secret,
        });
        const described = await ec2.send(new DescribeInstancesCommand({}));
        assert.deepEqual(described.Reservations, []);
        const changed = await openstack(erin, [
          'user',
          'password',
          'set',
          '--original-password',
          PASSWORD,
          '--password',
          'a new horse battery',
        ]);
        assert.equal(changed.code, 0, changed.err);
        const relogin = await openstack({ ...erin, OS_PASSWORD: 'a new horse battery' }, [
          'token',
          'issue',
        ]);
        assert.equal(relogin.code, 0, relogin.err);

        // Disabling her ends her token and her EC2 key at once.
        const newToken = await login('erin', 'crew', 'a new horse battery');
        const off = await openstack(env, ['user', 'set', '--disable', 'erin']);
        assert.equal(off.code, 0, off.err);
        assertIdentityError(await call('GET', '/v3/auth/projects', { token: newToken }), 401);
        await assert.rejects(
          ec2.send(new DescribeInstancesCommand({})),
          /AuthFailure|not valid|credentials/i,
        );
        ec2.destroy();
        const deleted = await openstack(env, [
          'ec2',
          'credentials',
          'delete',
          '--user',
          'erin',
          made.access,
        ]);
        assert.equal(deleted.code, 0, deleted.err);
      });

      it('makes application credentials that log in with a subset of roles and end with their user', async () => {
        for (const args of [
          ['project', 'create', 'robots'],
          ['user', 'create', '--password', PASSWORD, 'gina'],
          ['role', 'add', '--project', 'robots', '--user', 'gina', 'member'],
        ]) {
          const r = await openstack(env, args);
          assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
        }
        const gina = as('gina', 'robots');
        const refused = await openstack(gina, [
          'application',
          'credential',
          'create',
          '--role',
          'admin',
          'too-much',
        ]);
        assert.notEqual(refused.code, 0);
        assert.match(refused.err, /HTTP 403/);
        const cred = json<{ id: string; secret: string; roles: string; unrestricted: boolean }>(
          await openstack(gina, [
            'application',
            'credential',
            'create',
            '--role',
            'reader',
            '--secret',
            'robot secret 42',
            'ci-bot',
            '-f',
            'json',
          ]),
        );
        assert.equal(cred.secret, 'robot secret 42');
        assert.equal(cred.unrestricted, false);
        const listed = json<{ Name: string }[]>(
          await openstack(gina, ['application', 'credential', 'list', '-f', 'json']),
        );
        assert.deepEqual(
          listed.map((c) => c.Name),
          ['ci-bot'],
        );
        const appEnv = {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          OS_AUTH_URL: env.OS_AUTH_URL,
          OS_IDENTITY_API_VERSION: '3',
          OS_AUTH_TYPE: 'v3applicationcredential',
          OS_APPLICATION_CREDENTIAL_ID: cred.id,
          OS_APPLICATION_CREDENTIAL_SECRET: cred.secret,
          OS_REGION_NAME: t.region,
        };
        const issued = json<{ project_id: string; user_id: string }>(
          await openstack(appEnv, ['token', 'issue', '-f', 'json']),
        );
        assert.ok(issued.project_id);
        // By name and user too; the token carries only the credential's roles.
        const byName = await fetch(`${url}/v3/auth/tokens`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            auth: {
              identity: {
                methods: ['application_credential'],
                application_credential: {
                  name: 'ci-bot',
                  user: { name: 'gina', domain: { id: 'default' } },
                  secret: 'robot secret 42',
                },
              },
            },
          }),
        });
        assert.equal(byName.status, 201);
        const body = (await byName.json()) as {
          token: { roles: { name: string }[]; application_credential: { restricted: boolean } };
        };
        assert.deepEqual(
          body.token.roles.map((r) => r.name),
          ['reader'],
        );
        assert.equal(body.token.application_credential.restricted, true);
        const appToken = byName.headers.get('x-subject-token') as string;
        // A reader changes nothing, and a restricted credential makes no other.
        assertIdentityError(
          await call('POST', `/v3/users/${issued.user_id}/application_credentials`, {
            token: appToken,
            body: { application_credential: { name: 'second' } },
          }),
          403,
        );
        const wrong = await openstack(
          { ...appEnv, OS_APPLICATION_CREDENTIAL_SECRET: 'nope nope' },
          ['token', 'issue'],
        );
        assert.notEqual(wrong.code, 0);
        assert.match(wrong.err, /HTTP 401/);

        // Deleting the user is refused while its instance lives, and ends the credential.
        const instanceOwner = await new IdentityService(t.cloud.database.db).getUser('gina');
        const project = await new IdentityService(t.cloud.database.db).getProject('robots');
        const image = await t.addImage({ ownerProjectId: project.id });
        const delProject = await openstack(env, ['project', 'delete', 'robots']);
        assert.notEqual(delProject.code, 0);
        assert.match(delProject.err, /still has 1 image; delete them first.*\(HTTP 409\)/);
        await t.cloud.database.db
          .updateTable('images')
          .set({ status: 'deleted', deletedAt: Date.now() })
          .where('id', '=', image.id)
          .execute();
        const delUser = await openstack(env, ['user', 'delete', instanceOwner.id]);
        assert.equal(delUser.code, 0, delUser.err);
        assertIdentityError(await call('GET', '/v3/auth/projects', { token: appToken }), 401);
        const afterDelete = await openstack(appEnv, ['token', 'issue']);
        assert.notEqual(afterDelete.code, 0);
        assert.match(afterDelete.err, /HTTP 401/);
      });

      it('answers bad input in Keystone error JSON with the right 4xx', async () => {
        assertIdentityError(
          await call('POST', '/v3/projects', {
            token: adminToken,
            body: { project: { name: 'nowhere', domain_id: 'no-such-domain' } },
          }),
          404,
          /Could not find domain: no-such-domain/,
        );
        await call('POST', '/v3/projects', {
          token: adminToken,
          body: { project: { name: 'twice' } },
        });
        assertIdentityError(
          await call('POST', '/v3/projects', {
            token: adminToken,
            body: { project: { name: 'twice' } },
          }),
          409,
        );
        assertIdentityError(
          await call('GET', '/v3/users/bad%20id!', { token: adminToken }),
          400,
          /malformed/,
        );
        assertIdentityError(
          await call('POST', '/v3/users', { token: adminToken, body: { user: {} } }),
          400,
          /'name' is a required property/,
        );
        assertIdentityError(
          await call('PUT', `/v3/projects/no-such-project/users/admin/roles/member`, {
            token: adminToken,
          }),
          404,
          /Could not find project/,
        );
        assertIdentityError(
          await call('PUT', `/v3/roles/admin/implies/admin`, { token: adminToken }),
          400,
        );
        assertIdentityError(
          await call('GET', '/v3/role_assignments?effective&group.id=x', { token: adminToken }),
          400,
        );
      });

      it('runs a throw-away project and user with openstacksdk', async () => {
        const script = `
import json, openstack
admin = openstack.connect(auth_url=${JSON.stringify(env.OS_AUTH_URL)}, username='admin', password=${JSON.stringify(PASSWORD)},
    project_name='admin', user_domain_name='Default', project_domain_name='Default', region_name=${JSON.stringify(t.region)})
p = admin.identity.create_project(name='sdk-temp', domain_id='default')
u = admin.identity.create_user(name='sdk-user', password=${JSON.stringify(PASSWORD)}, default_project_id=p.id, domain_id='default')
r = admin.identity.find_role('member')
admin.identity.assign_project_role_to_user(p, u, r)
assert admin.identity.validate_user_has_project_role(p, u, r)
user = openstack.connect(auth_url=${JSON.stringify(env.OS_AUTH_URL)}, username='sdk-user', password=${JSON.stringify(PASSWORD)},
    project_name='sdk-temp', user_domain_name='Default', project_domain_name='Default', region_name=${JSON.stringify(t.region)})
mine = [x.name for x in user.identity.user_projects(u.id)]
me = user.identity.get_user(u.id).name
try:
    user.identity.create_project(name='not-allowed')
    denied = None
except openstack.exceptions.HttpException as e:
    denied = e.status_code
admin.identity.unassign_project_role_from_user(p, u, r)
admin.identity.delete_user(u)
admin.identity.delete_project(p)
print(json.dumps({'mine': mine, 'me': me, 'denied': denied,
                  'left': [x.name for x in admin.identity.projects() if x.name == 'sdk-temp']}))
`;
        const out = json<{ mine: string[]; me: string; denied: number; left: string[] }>(
          await openstacksdk(script, { PATH: process.env.PATH, HOME: process.env.HOME }),
        );
        assert.deepEqual(out, { mine: ['sdk-temp'], me: 'sdk-user', denied: 403, left: [] });
      });

      it('gives operators the same with stratus manage', async () => {
        const manage = (...args: string[]) =>
          stratus(['manage', '--database', database.url, '--format', 'json', ...args]);
        const ok = async (...args: string[]) => {
          const r = await manage(...args);
          assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
          return r.stdout ? (JSON.parse(r.stdout) as unknown) : undefined;
        };
        await ok('domain', 'create', 'ops');
        await ok('project', 'create', 'ops-project');
        await ok('user', 'create', 'olga', '--password', PASSWORD);
        await ok('group', 'create', 'operators', '--domain', 'ops');
        await ok('group', 'add-user', 'operators', 'olga');
        await ok('role', 'create', 'auditor', '--implies', 'reader');
        await ok(
          'assignment',
          'add',
          '--group',
          'operators',
          '--project',
          'ops-project',
          '--role',
          'auditor',
        );
        const effective = (await ok(
          'assignment',
          'list',
          '--project',
          'ops-project',
          '--effective',
        )) as { role: string; user: string; group: string }[];
        assert.deepEqual(effective.map((a) => [a.role, a.user, a.group]).sort(), [
          ['auditor', 'olga', 'operators'],
          ['reader', 'olga', 'operators'],
        ]);
        const app = (await ok(
          'application-credential',
          'create',
          'nightly',
          '--user',
          'olga',
          '--project',
          'ops-project',
        )) as { id: string; secret: string; roles: string };
        assert.equal(app.roles, 'auditor,reader'); // what the token holds, implied roles too
        const listed = (await ok('application-credential', 'list', '--user', 'olga')) as {
          name: string;
        }[];
        assert.deepEqual(
          listed.map((a) => a.name),
          ['nightly'],
        );
        await ok('application-credential', 'delete', 'nightly', '--user', 'olga');

        // A project with an instance and an image is refused; --cascade ends them first.
        const identity = new IdentityService(t.cloud.database.db);
        const project = await identity.getProject('ops-project');
        await identity.grantRole('olga', 'ops-project', 'member');
        const key = await identity.createEc2Credential('olga', 'ops-project');
        const image = await t.addImage({ ownerProjectId: project.id });
        const olga = ec2Client(t.endpoint, t.region, {
          accessKeyId: key.accessKey,
          secretAccessKey: key.secretKey,
        });
        const run = await olga.send(
          new RunInstancesCommand({
            ImageId: `ami-${image.id.replace(/-/g, '').slice(0, 17)}`,
            InstanceType: 'm1.tiny' as _InstanceType,
            MinCount: 1,
            MaxCount: 1,
          }),
        );
        const instanceId = run.Instances?.[0]?.InstanceId as string;
        const stateOf = async () =>
          (await t.admin.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })))
            .Reservations?.[0]?.Instances?.[0]?.State?.Name;
        await waitUntil(async () => (await stateOf()) === 'running', 30_000, 'running');
        const olgaUser = await identity.getUser('olga');
        assertIdentityError(
          await call('DELETE', `/v3/users/${olgaUser.id}`, { token: adminToken }),
          409,
          /still has 1 instance/,
        );
        const refused = await manage('project', 'delete', 'ops-project');
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /still has 1 instance, 1 image; .*--cascade/);
        await ok('project', 'delete', 'ops-project', '--cascade');
        assert.equal(await stateOf(), 'terminated');
        olga.destroy();
        await ok('user', 'delete', 'olga');
        await ok('group', 'delete', 'operators');
        await ok('domain', 'disable', 'ops');
        await ok('domain', 'delete', 'ops');
        await ok('role', 'delete', 'auditor');
        const domains = (await ok('domain', 'list')) as { name: string }[];
        assert.deepEqual(
          domains.map((d) => d.name),
          ['Default'],
        );
      });
    },
  );
}
