// The OpenStack Identity API v3 on SQLite and PostgreSQL: version discovery, password and token
// logins (scoped and unscoped) with the catalog, validation, revocation, roles taken away,
// expiry, projects and users as an admin and as a member sees them, and every bad request
// answered in Identity's error JSON with a 4xx. Then python-openstackclient, as users run it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IdentityService, TokenService } from '../src/identity/index.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { disconnected } from './support/expect.js';
import { startTestCloud, type TestCloud } from './support/ec2.js';
import { adminEnv, openstack, PASSWORD } from './support/openstack.js';

/** A token as the API shows it. */
interface TokenBody {
  methods: string[];
  user: { id: string; name: string; domain: { id: string; name: string } };
  project?: { id: string; name: string };
  roles?: { name: string }[];
  catalog?: { type: string; endpoints: { url: string; interface: string }[] }[];
  expires_at: string;
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** The error body every refusal must have. */
function assertIdentityError(a: Answer, code: number, message?: RegExp): void {
  assert.equal(a.status, code, JSON.stringify(a.body));
  const e = a.body.error as { code: number; title: string; message: string };
  assert.equal(e.code, code);
  assert.equal(typeof e.title, 'string');
  assert.ok(e.message.length > 0);
  if (message) assert.match(e.message, message);
}

function passwordAuth(user: string, password: string, project?: string | null) {
  return {
    auth: {
      identity: {
        methods: ['password'],
        password: { user: { name: user, domain: { id: 'default' }, password } },
      },
      ...(project ? { scope: { project: { name: project, domain: { name: 'Default' } } } } : {}),
    },
  };
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(`Identity API v3 on ${backend.name}`, needs(...backend.needs), () => {
    let t: TestCloud;
    let database: { url: string; remove(): Promise<void> };
    let url: string;
    let identity: IdentityService;
    let adminToken: string;

    const call = async (
      method: string,
      path: string,
      options: { token?: string; subject?: string; body?: unknown; raw?: string } = {},
    ): Promise<Answer> => {
      const headers: Record<string, string> = {};
      if (options.token) headers['x-auth-token'] = options.token;
      if (options.subject) headers['x-subject-token'] = options.subject;
      if (options.body !== undefined || options.raw !== undefined) {
        headers['content-type'] = 'application/json';
      }
      const r = await fetch(`${url}${path}`, {
        method,
        headers,
        body:
          options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
      });
      const text = await r.text();
      return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : {} };
    };
    const login = async (user: string, password: string, project?: string | null) => {
      const a = await call('POST', '/v3/auth/tokens', {
        body: passwordAuth(user, password, project),
      });
      assert.equal(a.status, 201, JSON.stringify(a.body));
      return {
        token: a.headers.get('x-subject-token') as string,
        body: a.body.token as TokenBody,
      };
    };

    before(async () => {
      database = await backend.create();
      t = await startTestCloud({ database: database.url });
      url = (t.cloud.urls?.identity as string).replace(/\/v3$/, '');
      identity = new IdentityService(t.cloud.database.db);
      await identity.setPassword('admin', PASSWORD);
      for (const name of ['alice', 'bob']) {
        await identity.createUser({ name, password: PASSWORD });
        await identity.createProject({ name: `${name}-project` });
        await identity.grantRole(name, `${name}-project`, 'member');
      }
      adminToken = (await login('admin', PASSWORD, 'admin')).token;
    });
    after(async () => {
      await t.stop();
      if (backend.name === 'postgres') await disconnected(database.url);
      await database.remove();
    });

    it('answers version discovery at / and /v3', async () => {
      const root = await call('GET', '/');
      assert.equal(root.status, 300);
      const values = (root.body.versions as { values: { id: string; status: string }[] }).values;
      assert.equal(values[0]?.status, 'stable');
      const v3 = await call('GET', '/v3');
      assert.equal(v3.status, 200);
      const version = v3.body.version as { id: string; links: { href: string }[] };
      assert.match(version.id, /^v3\.\d+$/);
      assert.equal(version.links[0]?.href, `${url}/v3/`);
    });

    it('issues a project-scoped token for a password, with roles and the catalog', async () => {
      const before = Date.now();
      const { token, body } = await login('alice', PASSWORD, 'alice-project');
      assert.match(token, /^[A-Za-z][A-Za-z0-9_-]{40,}$/);
      assert.deepEqual(body.methods, ['password']);
      assert.equal(body.user.name, 'alice');
      assert.deepEqual(body.user.domain, { id: 'default', name: 'Default' });
      assert.equal(body.project?.name, 'alice-project');
      assert.deepEqual(
        body.roles?.map((r) => r.name),
        ['member', 'reader'], // member implies reader, as in Keystone
      );
      const expires = Date.parse(body.expires_at);
      assert.ok(
        expires >= before + 3_599_000 && expires <= Date.now() + 3_600_000,
        body.expires_at,
      );
      const catalog = body.catalog ?? [];
      assert.deepEqual(catalog.map((s) => s.type).sort(), [
        'block-storage',
        'compute',
        'dashboard',
        'ec2',
        'identity',
        'image',
        'network',
        'volumev3',
      ]);
      assert.equal(
        catalog.find((s) => s.type === 'compute')?.endpoints[0]?.url,
        t.cloud.urls?.compute,
      );
      const ident = catalog.find((s) => s.type === 'identity')?.endpoints[0];
      assert.equal(ident?.url, `${url}/v3`);
      assert.equal(ident?.interface, 'public');
      assert.equal(catalog.find((s) => s.type === 'ec2')?.endpoints[0]?.url, t.endpoint);
      // ?nocatalog leaves it out.
      const a = await call('POST', '/v3/auth/tokens?nocatalog', {
        body: passwordAuth('alice', PASSWORD, 'alice-project'),
      });
      assert.equal(a.status, 201);
      assert.equal('catalog' in (a.body.token as object), false);
    });

    it('issues an unscoped token, and a scoped one from it by the token method', async () => {
      const unscoped = await login('bob', PASSWORD, null);
      assert.equal(unscoped.body.project, undefined);
      assert.equal(unscoped.body.catalog, undefined);
      const catalog = await call('GET', '/v3/auth/catalog', { token: unscoped.token });
      assertIdentityError(catalog, 403, /unscoped/);
      const mine = await call('GET', '/v3/auth/projects', { token: unscoped.token });
      assert.deepEqual(
        (mine.body.projects as { name: string }[]).map((p) => p.name),
        ['bob-project'],
      );
      const rescoped = await call('POST', '/v3/auth/tokens', {
        body: {
          auth: {
            identity: { methods: ['token'], token: { id: unscoped.token } },
            scope: { project: { id: (mine.body.projects as { id: string }[])[0]?.id } },
          },
        },
      });
      assert.equal(rescoped.status, 201, JSON.stringify(rescoped.body));
      const body = rescoped.body.token as TokenBody;
      assert.deepEqual(body.methods, ['token']);
      assert.equal(body.project?.name, 'bob-project');
      // A token made from a token lives no longer than the one it came from.
      assert.ok(Date.parse(body.expires_at) <= Date.parse(unscoped.body.expires_at));
    });

    it('refuses wrong passwords, unknown users and projects without a role with 401', async () => {
      const cases: [string, unknown][] = [
        ['wrong password', passwordAuth('alice', 'not the password')],
        ['unknown user', passwordAuth('nobody', PASSWORD)],
        ['project without a role', passwordAuth('alice', PASSWORD, 'bob-project')],
        ['unknown project', passwordAuth('alice', PASSWORD, 'no-such-project')],
        [
          'another domain',
          {
            auth: {
              identity: {
                methods: ['password'],
                password: {
                  user: { name: 'alice', domain: { name: 'Other' }, password: PASSWORD },
                },
              },
            },
          },
        ],
        ['an unknown method', { auth: { identity: { methods: ['totp'], totp: {} } } }],
        [
          'a dead token',
          { auth: { identity: { methods: ['token'], token: { id: 'not-a-token' } } } },
        ],
      ];
      for (const [what, body] of cases) {
        const a = await call('POST', '/v3/auth/tokens', { body });
        assertIdentityError(a, 401);
        assert.match(a.headers.get('www-authenticate') ?? '', /^Keystone uri="/, what);
        assert.equal(a.headers.get('x-subject-token'), null, what);
      }
      // The wrong password and the unknown user get the same answer.
      const [w, u] = await Promise.all(
        [passwordAuth('alice', 'not the password'), passwordAuth('nobody', PASSWORD)].map((body) =>
          call('POST', '/v3/auth/tokens', { body }),
        ),
      );
      assert.deepEqual(w?.body, u?.body);
    });

    it('refuses malformed requests with 400 and unknown paths with 404, in its own JSON', async () => {
      const bad: [string, { body?: unknown; raw?: string }, RegExp][] = [
        ['not JSON', { raw: '{"auth":' }, /JSON/],
        ['no auth', { body: {} }, /auth/],
        ['no methods', { body: { auth: { identity: { methods: [] } } } }, /methods/],
        [
          'a user by name without a domain',
          {
            body: {
              auth: {
                identity: {
                  methods: ['password'],
                  password: { user: { name: 'alice', password: PASSWORD } },
                },
              },
            },
          },
          /domain/,
        ],
        [
          'no password',
          {
            body: {
              auth: {
                identity: { methods: ['password'], password: { user: { id: 'x', password: '' } } },
              },
            },
          },
          /password/,
        ],
        [
          'a domain and a project scope at once',
          {
            body: {
              ...passwordAuth('alice', PASSWORD),
              auth: {
                ...passwordAuth('alice', PASSWORD).auth,
                scope: { domain: { id: 'default' }, project: { id: 'x' } },
              },
            },
          },
          /project/,
        ],
        ['a list for a body', { body: [] }, /object/],
      ];
      for (const [what, options, message] of bad) {
        const a = await call('POST', '/v3/auth/tokens', options);
        assert.equal(a.status, 400, what);
        assertIdentityError(a, 400, message);
      }
      const form = await fetch(`${url}/v3/auth/tokens`, {
        method: 'POST',
        body: 'a=b',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      assertIdentityError(
        {
          status: form.status,
          headers: form.headers,
          body: (await form.json()) as Record<string, unknown>,
        },
        415,
        /JSON/,
      );
      assertIdentityError(
        await call('GET', '/v3/nothing-here'),
        404,
        /not part of the Identity API/,
      );
      assertIdentityError(await call('PUT', '/v3/auth/tokens'), 404);
    });

    it("validates and revokes tokens: own ones, and anyone's as admin", async () => {
      const alice = await login('alice', PASSWORD, 'alice-project');
      const bob = await login('bob', PASSWORD, 'bob-project');
      const check = await call('GET', '/v3/auth/tokens', {
        token: alice.token,
        subject: alice.token,
      });
      assert.equal(check.status, 200);
      assert.equal(check.headers.get('x-subject-token'), alice.token);
      assert.equal((check.body.token as { user: { name: string } }).user.name, 'alice');
      const head = await fetch(`${url}/v3/auth/tokens`, {
        method: 'HEAD',
        headers: { 'x-auth-token': alice.token, 'x-subject-token': alice.token },
      });
      assert.equal(head.status, 200);
      assertIdentityError(
        await call('GET', '/v3/auth/tokens', { token: alice.token, subject: bob.token }),
        403,
      );
      assertIdentityError(await call('GET', '/v3/auth/tokens', { subject: bob.token }), 401);
      assertIdentityError(
        await call('GET', '/v3/auth/tokens', { token: alice.token }),
        400,
        /X-Subject-Token/,
      );
      assertIdentityError(
        await call('GET', '/v3/auth/tokens', { token: alice.token, subject: 'garbage' }),
        404,
      );
      assert.equal(
        (await call('GET', '/v3/auth/tokens', { token: adminToken, subject: bob.token })).status,
        200,
      );
      // Revoked: gone as a subject, refused as a credential.
      assert.equal(
        (await call('DELETE', '/v3/auth/tokens', { token: adminToken, subject: bob.token })).status,
        204,
      );
      assertIdentityError(
        await call('GET', '/v3/auth/tokens', { token: adminToken, subject: bob.token }),
        404,
      );
      assertIdentityError(
        await call('GET', '/v3/auth/catalog', { token: bob.token }),
        401,
        /revoked/,
      );
      // Alice revokes her own.
      assert.equal(
        (await call('DELETE', '/v3/auth/tokens', { token: alice.token, subject: alice.token }))
          .status,
        204,
      );
      assertIdentityError(await call('GET', '/v3/auth/projects', { token: alice.token }), 401);
    });

    it('ends a token when its role is taken away, and when it expires', async () => {
      await identity.createProject({ name: 'short-lived' });
      await identity.grantRole('alice', 'short-lived', 'member');
      const { token } = await login('alice', PASSWORD, 'short-lived');
      assert.equal((await call('GET', '/v3/auth/catalog', { token })).status, 200);
      await identity.revokeRole('alice', 'short-lived', 'member');
      assertIdentityError(await call('GET', '/v3/auth/catalog', { token }), 401, /lost access/);

      // Expiry: integer milliseconds compared as numbers, checked a moment before and after.
      const tokens = new TokenService(t.cloud.database.db, { lifetimeMs: 60_000 });
      const at = Date.now();
      const issued = await tokens.issue(
        [{ method: 'password', user: { name: 'bob' }, password: PASSWORD }],
        { name: 'bob-project' },
        at,
      );
      assert.equal(issued.info.expiresAt, at + 60_000);
      assert.equal((await tokens.validate(issued.token, at + 59_999)).user.name, 'bob');
      await assert.rejects(tokens.validate(issued.token, at + 60_000), /not valid/);
      // No token reads as an option on a command line (`openstack token revoke TOKEN`).
      for (let i = 0; i < 100; i++) {
        const next = await tokens.issue([{ method: 'token', token: issued.token }], null, at);
        assert.match(next.token, /^[A-Za-z]/);
      }
    });

    it('lists projects and users to admins, and only their own to members', async () => {
      const all = await call('GET', '/v3/projects', { token: adminToken });
      assert.equal(all.status, 200);
      const names = (all.body.projects as { name: string }[]).map((p) => p.name);
      for (const n of ['admin', 'alice-project', 'bob-project']) assert.ok(names.includes(n), n);
      const byName = await call('GET', '/v3/projects?name=bob-project', { token: adminToken });
      assert.deepEqual(
        (byName.body.projects as { name: string }[]).map((p) => p.name),
        ['bob-project'],
      );
      const users = await call('GET', '/v3/users', { token: adminToken });
      assert.ok((users.body.users as { name: string }[]).some((u) => u.name === 'alice'));

      const alice = await login('alice', PASSWORD, 'alice-project');
      assertIdentityError(await call('GET', '/v3/projects', { token: alice.token }), 403);
      assertIdentityError(await call('GET', '/v3/users', { token: alice.token }), 403);
      const own = await call('GET', `/v3/projects/${alice.body.project?.id}`, {
        token: alice.token,
      });
      assert.equal((own.body.project as { name: string }).name, 'alice-project');
      const bobProject = (byName.body.projects as { id: string }[])[0]?.id;
      assertIdentityError(
        await call('GET', `/v3/projects/${bobProject}`, { token: alice.token }),
        404,
      );
      const me = await call('GET', `/v3/users/${alice.body.user.id}`, { token: alice.token });
      assert.equal((me.body.user as { name: string }).name, 'alice');
      const mine = await call('GET', `/v3/users/${alice.body.user.id}/projects`, {
        token: alice.token,
      });
      assert.deepEqual(
        (mine.body.projects as { name: string }[]).map((p) => p.name),
        ['alice-project'],
      );
    });
  });
}

describe(
  'python-openstackclient against the Identity API',
  // The client users log in with.
  needs('openstackclient'),
  () => {
    let t: TestCloud;
    let env: NodeJS.ProcessEnv;

    before(async () => {
      t = await startTestCloud();
      const identity = new IdentityService(t.cloud.database.db);
      await identity.setPassword('admin', PASSWORD);
      await identity.createUser({ name: 'carol', password: PASSWORD });
      await identity.createProject({ name: 'carol-project' });
      await identity.grantRole('carol', 'carol-project', 'member');
      env = adminEnv(t);
    });
    after(() => t?.stop());

    it('issues, shows the catalog, lists projects and users, and revokes', async () => {
      const issued = await openstack(env, ['token', 'issue', '-f', 'json']);
      assert.equal(issued.code, 0, issued.err);
      const token = JSON.parse(issued.out) as { id: string; project_id: string; expires: string };
      assert.equal(token.project_id, t.cloud.admin?.project.id);
      assert.ok(Date.parse(token.expires.replace(/\+0000$/, 'Z')) > Date.now());

      const catalog = await openstack(env, ['catalog', 'list', '-f', 'json']);
      assert.equal(catalog.code, 0, catalog.err);
      const services = JSON.parse(catalog.out) as { Type: string; Endpoints: { url: string }[] }[];
      assert.equal(services.find((s) => s.Type === 'ec2')?.Endpoints[0]?.url, t.endpoint);
      assert.equal(
        services.find((s) => s.Type === 'identity')?.Endpoints[0]?.url,
        t.cloud.urls?.identity,
      );

      const projects = await openstack(env, ['project', 'list', '-f', 'json']);
      assert.equal(projects.code, 0, projects.err);
      const names = (JSON.parse(projects.out) as { Name: string }[]).map((p) => p.Name).sort();
      assert.deepEqual(names, ['admin', 'carol-project']);
      const shown = await openstack(env, ['project', 'show', 'carol-project', '-f', 'json']);
      assert.equal(shown.code, 0, shown.err);
      assert.equal((JSON.parse(shown.out) as { domain_id: string }).domain_id, 'default');
      const users = await openstack(env, ['user', 'list', '-f', 'value', '-c', 'Name']);
      assert.equal(users.code, 0, users.err);
      assert.deepEqual(users.out.trim().split('\n').sort(), ['admin', 'carol']);

      const revoked = await openstack(env, ['token', 'revoke', token.id]);
      assert.equal(revoked.code, 0, revoked.err);
      const check = await fetch(`${t.cloud.urls?.identity}/auth/tokens`, {
        headers: { 'x-auth-token': token.id, 'x-subject-token': token.id },
      });
      assert.equal(check.status, 401);
    });

    it("fails with the API's message on a wrong password, and a member sees only its own projects and no users", async () => {
      const wrong = await openstack({ ...env, OS_PASSWORD: 'not the password' }, [
        'token',
        'issue',
      ]);
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.err, /requires authentication\. \(HTTP 401\)/);
      const member = { ...env, OS_USERNAME: 'carol', OS_PROJECT_NAME: 'carol-project' };
      const denied = await openstack(member, ['user', 'list']);
      assert.notEqual(denied.code, 0);
      assert.match(denied.err, /not authorized to list users.*\(HTTP 403\)/);
      // The client falls back to the member's own projects when it may not list them all.
      const listed = await openstack(member, ['project', 'list', '-f', 'value', '-c', 'Name']);
      assert.equal(listed.code, 0, listed.err);
      assert.equal(listed.out.trim(), 'carol-project');
      const mine = await openstack(member, [
        'project',
        'list',
        '--my-projects',
        '-f',
        'value',
        '-c',
        'Name',
      ]);
      assert.equal(mine.code, 0, mine.err);
      assert.equal(mine.out.trim(), 'carol-project');
    });
  },
);
