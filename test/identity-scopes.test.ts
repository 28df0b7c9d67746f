// Domain-scoped and system-scoped tokens (issue 14) on SQLite and PostgreSQL, through
// openstackclient (`--os-domain-name`, `--os-system-scope all`) and raw HTTP: what Keystone's
// token bodies carry for each (the domain or `{"all": true}`, the roles held there, the
// catalog), and the policies that use them both ways: a domain admin manages the users and
// projects of its own domain and nothing outside it, a domain reader only reads them, a
// project-scoped member can do neither, and the system admin (the bootstrap admin, and whoever
// is granted a role on the system) acts cloud-wide. Disabling the domain or taking the role
// ends such tokens at once.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IdentityService } from '../src/identity/index.js';
import { assertSchema } from './support/api-schema.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { disconnected } from './support/expect.js';
import { startTestCloud, type TestCloud } from './support/ec2.js';
import { adminEnv, openstack, PASSWORD } from './support/openstack.js';
import { DOMAIN_TOKEN, SYSTEM_TOKEN } from './support/schemas/identity-tokens.js';

interface Answer {
  status: number;
  body: Record<string, unknown>;
  token: string | null;
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(
    `domain and system scoped tokens on ${backend.name}`,
    needs('openstackclient', ...backend.needs),
    () => {
      let t: TestCloud;
      let database: { url: string; remove(): Promise<void> };
      let url: string;
      let identity: IdentityService;
      let acme: string;
      let adminId: string;

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
          token: r.headers.get('x-subject-token'),
        };
      };
      const login = (user: string, userDomain: string, scope: unknown) =>
        call('POST', '/v3/auth/tokens', {
          body: {
            auth: {
              identity: {
                methods: ['password'],
                password: {
                  user: { name: user, domain: { name: userDomain }, password: PASSWORD },
                },
              },
              ...(scope === undefined ? {} : { scope }),
            },
          },
        });
      const domainToken = async (user: string) => {
        const r = await login(user, 'acme', { domain: { name: 'acme' } });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        return r.token as string;
      };
      /** openstackclient as a user of acme, scoped to the domain acme. */
      const domainEnv = (user: string): NodeJS.ProcessEnv => {
        const env: NodeJS.ProcessEnv = {
          ...adminEnv(t),
          OS_USERNAME: user,
          OS_USER_DOMAIN_NAME: 'acme',
          OS_DOMAIN_NAME: 'acme',
        };
        delete env.OS_PROJECT_NAME;
        delete env.OS_PROJECT_DOMAIN_NAME;
        return env;
      };
      const systemEnv = (): NodeJS.ProcessEnv => {
        const env: NodeJS.ProcessEnv = { ...adminEnv(t), OS_SYSTEM_SCOPE: 'all' };
        delete env.OS_PROJECT_NAME;
        delete env.OS_PROJECT_DOMAIN_NAME;
        return env;
      };

      before(async () => {
        database = await backend.create();
        t = await startTestCloud({ database: database.url });
        url = (t.cloud.urls?.identity as string).replace(/\/v3$/, '');
        identity = new IdentityService(t.cloud.database.db);
        await identity.setPassword('admin', PASSWORD);
        adminId = (await identity.getUser('admin', 'default')).id;
        acme = (await identity.directory.createDomain({ name: 'acme' })).id;
        const web = await identity.createProject({ name: 'web', domain: acme });
        for (const [name, role, on] of [
          ['dora', 'admin', 'domain'],
          ['rita', 'reader', 'domain'],
          ['pete', 'member', 'project'],
        ] as const) {
          const u = await identity.createUser({ name, domain: acme, password: PASSWORD });
          if (on === 'domain') {
            await identity.directory.grant(
              { type: 'user', id: u.id },
              { type: 'domain', id: acme },
              role,
            );
          } else await identity.grantRole(u.id, web.id, role);
        }
        await identity.createProject({ name: 'elsewhere' });
      });
      after(async () => {
        await t?.stop();
        if (backend.name === 'postgres') await disconnected(database.url);
        await database?.remove();
      });

      it('issues a domain-scoped token with the domain, its roles and the catalog', async () => {
        const r = await login('dora', 'acme', { domain: { name: 'acme' } });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        assertSchema(DOMAIN_TOKEN, r.body, 'POST /v3/auth/tokens scoped to a domain');
        const tok = r.body.token as {
          domain: { id: string; name: string };
          roles: { name: string }[];
          catalog: { type: string }[];
        };
        assert.deepEqual(tok.domain, { id: acme, name: 'acme' });
        assert.deepEqual(tok.roles.map((x) => x.name).sort(), ['admin', 'member', 'reader']);
        assert.ok(tok.catalog.some((c) => c.type === 'identity'));
        // Validating it shows the same.
        const shown = await call('GET', '/v3/auth/tokens', {
          token: r.token as string,
          body: undefined,
        });
        assert.equal(shown.status, 400); // no X-Subject-Token: bad input
        const again = await fetch(`${url}/v3/auth/tokens`, {
          headers: { 'x-auth-token': r.token as string, 'x-subject-token': r.token as string },
        });
        assert.equal(again.status, 200);
        assertSchema(DOMAIN_TOKEN, await again.json(), 'GET /v3/auth/tokens (domain scope)');
        // Who holds no role on the domain gets no token for it.
        const pete = await login('pete', 'acme', { domain: { name: 'acme' } });
        assert.equal(pete.status, 401);
        const bad = await login('dora', 'acme', { domain: {} });
        assert.equal(bad.status, 400);
      });

      it('lets a domain admin manage the users and projects of its domain only, through openstackclient', async () => {
        const env = domainEnv('dora');
        const issued = await openstack(env, ['token', 'issue', '-f', 'json']);
        assert.equal(issued.code, 0, issued.err);
        assert.equal((JSON.parse(issued.out) as { domain_id: string }).domain_id, acme);

        const made = await openstack(env, [
          'user',
          'create',
          '--domain',
          'acme',
          '--password',
          PASSWORD,
          'newbie',
          '-f',
          'json',
        ]);
        assert.equal(made.code, 0, made.err);
        assert.equal((JSON.parse(made.out) as { domain_id: string }).domain_id, acme);
        const listed = await openstack(env, ['user', 'list', '--domain', 'acme', '-f', 'json']);
        assert.equal(listed.code, 0, listed.err);
        assert.deepEqual((JSON.parse(listed.out) as { Name: string }[]).map((u) => u.Name).sort(), [
          'dora',
          'newbie',
          'pete',
          'rita',
        ]);
        const project = await openstack(env, [
          'project',
          'create',
          '--domain',
          'acme',
          'acme-batch',
          '-f',
          'json',
        ]);
        assert.equal(project.code, 0, project.err);

        // Outside its domain: refused.
        const elsewhere = await openstack(env, [
          'user',
          'create',
          '--domain',
          'default',
          'intruder',
        ]);
        assert.notEqual(elsewhere.code, 0);
        assert.match(elsewhere.err, /\(HTTP 403\)/);
        const token = await domainToken('dora');
        const adminEdit = await call('PATCH', `/v3/users/${adminId}`, {
          token,
          body: { user: { enabled: false } },
        });
        assert.equal(adminEdit.status, 403);
        const users = await call('GET', '/v3/users', { token });
        assert.equal(users.status, 200);
        assert.ok(
          (users.body.users as { domain_id: string }[]).every((u) => u.domain_id === acme),
          'a domain admin lists its own domain only',
        );
        const projects = await call('GET', '/v3/projects', { token });
        assert.deepEqual((projects.body.projects as { name: string }[]).map((p) => p.name).sort(), [
          'acme-batch',
          'web',
        ]);
        // Cloud-wide things are the system's: a new domain is refused.
        const domain = await call('POST', '/v3/domains', {
          token,
          body: { domain: { name: 'mine' } },
        });
        assert.equal(domain.status, 403);
        const deleted = await openstack(env, ['user', 'delete', 'newbie']);
        assert.equal(deleted.code, 0, deleted.err);
      });

      it('lets a domain reader read its domain and change nothing, and a project member neither', async () => {
        const reader = await domainToken('rita');
        const users = await call('GET', '/v3/users', { token: reader });
        assert.equal(users.status, 200);
        const made = await call('POST', '/v3/users', {
          token: reader,
          body: { user: { name: 'nope', domain_id: acme } },
        });
        assert.equal(made.status, 403);
        assert.equal((made.body.error as { code: number }).code, 403);
        const project = await call('POST', '/v3/projects', {
          token: reader,
          body: { project: { name: 'nope', domain_id: acme } },
        });
        assert.equal(project.status, 403);

        const member = await login('pete', 'acme', {
          project: { name: 'web', domain: { name: 'acme' } },
        });
        assert.equal(member.status, 201);
        const memberToken = member.token as string;
        assert.equal((await call('GET', '/v3/users', { token: memberToken })).status, 403);
        assert.equal(
          (
            await call('POST', '/v3/users', {
              token: memberToken,
              body: { user: { name: 'nope', domain_id: acme } },
            })
          ).status,
          403,
        );
      });

      it('gives the bootstrap admin a system-scoped token that acts cloud-wide, and whoever is granted a role on the system', async () => {
        const r = await login('admin', 'Default', { system: { all: true } });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        assertSchema(SYSTEM_TOKEN, r.body, 'POST /v3/auth/tokens scoped to the system');
        const system = r.token as string;
        const mine = await call('GET', '/v3/auth/system', { token: system });
        assert.deepEqual(mine.body.system, [{ all: true }]);
        const made = await call('POST', '/v3/domains', {
          token: system,
          body: { domain: { name: 'from-system' } },
        });
        assert.equal(made.status, 201, JSON.stringify(made.body));
        assert.equal((await call('GET', '/v3/users', { token: system })).status, 200);
        // A system token is not a project's: the Compute API wants a project-scoped one.
        const compute = await fetch(`${t.cloud.urls?.compute as string}/servers`, {
          headers: { 'x-auth-token': system },
        });
        assert.equal(compute.status, 401);

        const osc = await openstack(systemEnv(), ['domain', 'list', '-f', 'json']);
        assert.equal(osc.code, 0, osc.err);
        assert.ok(
          (JSON.parse(osc.out) as { Name: string }[]).some((d) => d.Name === 'from-system'),
        );

        // A reader on the system reads cloud-wide and creates nothing; before the grant, no token.
        assert.equal((await login('rita', 'acme', { system: { all: true } })).status, 401);
        const grant = await openstack(adminEnv(t), [
          'role',
          'add',
          '--system',
          'all',
          '--user',
          'rita',
          '--user-domain',
          'acme',
          'reader',
        ]);
        assert.equal(grant.code, 0, grant.err);
        const ritaSystem = await login('rita', 'acme', { system: { all: true } });
        assert.equal(ritaSystem.status, 201, JSON.stringify(ritaSystem.body));
        assert.deepEqual(
          ((ritaSystem.body.token as { roles: { name: string }[] }).roles ?? []).map((x) => x.name),
          ['reader'],
        );
        const refused = await call('POST', '/v3/domains', {
          token: ritaSystem.token as string,
          body: { domain: { name: 'by-reader' } },
        });
        assert.equal(refused.status, 403);
        const assignments = await call('GET', '/v3/role_assignments?include_names', {
          token: system,
        });
        assert.ok(
          (assignments.body.role_assignments as { scope: Record<string, unknown> }[]).some(
            (a) => JSON.stringify(a.scope) === '{"system":{"all":true}}',
          ),
        );
      });

      it('ends domain-scoped tokens when the domain is disabled or the role taken away', async () => {
        const token = await domainToken('dora');
        const reader = await domainToken('rita');
        const check = (tok: string) =>
          fetch(`${url}/v3/auth/tokens`, {
            headers: { 'x-auth-token': tok, 'x-subject-token': tok },
          }).then((r) => r.status);
        assert.equal(await check(token), 200);
        const dora = await identity.getUser('dora', acme);
        await identity.directory.revoke(
          { type: 'user', id: dora.id },
          { type: 'domain', id: acme },
          'admin',
        );
        assert.equal(await check(token), 401);
        assert.equal(await check(reader), 200);
        await identity.directory.updateDomain(acme, { enabled: false });
        assert.equal(await check(reader), 401);
      });
    },
  );
}
