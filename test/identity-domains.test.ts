// Names of users and projects are unique per domain, not cloud-wide (issue 14), on SQLite and
// PostgreSQL: migration 0023 keeps every row and every reference to it while it changes the
// constraints; two domains each have an `alice` and a `web`, and a login by name and domain
// (raw HTTP, openstackclient, openstacksdk) finds the right one; a duplicate inside one
// domain is still a 409; `stratus manage` names the domain where a name is ambiguous (and
// grants a role on the system), and the EC2 keys it makes speak for the right user.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kysely, Migrator, sql, type MigrationProvider } from 'kysely';
import { openDatabase } from '../src/db/index.js';
import { MIGRATIONS } from '../src/db/migrations/index.js';
import { IdentityService } from '../src/identity/index.js';
import { needs } from './support/capabilities.js';
import { stratus } from './support/cli.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { disconnected } from './support/expect.js';
import { rawEc2, startTestCloud, type TestCloud } from './support/ec2.js';
import { adminEnv, openstack, openstacksdk, PASSWORD } from './support/openstack.js';

const OTHER_PASSWORD = 'another horse battery';

type Untyped = Kysely<Record<string, Record<string, unknown>>>;

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(`names per domain on ${backend.name}`, needs(...backend.needs), () => {
    it('migration 0023 keeps the users, projects and everything that refers to them', async () => {
      const created = await backend.create();
      const database = await openDatabase(created.url, { migrate: false });
      try {
        const db = database.db as unknown as Untyped;
        const migrator = new Migrator({
          db: db as unknown as Kysely<unknown>,
          provider: { getMigrations: async () => MIGRATIONS } satisfies MigrationProvider,
          migrationTableName: 'stratus_migrations',
          migrationLockTableName: 'stratus_migrations_lock',
        });
        assert.equal((await migrator.migrateTo('0022-rule-descriptions')).error, undefined);
        await db
          .insertInto('domains')
          .values({ id: 'd2', name: 'east', description: '', enabled: 1, created_at: 1 })
          .execute();
        await db
          .insertInto('projects')
          .values({ id: 'p1', name: 'web', description: 'old', enabled: 1, created_at: 1 })
          .execute();
        await db
          .insertInto('users')
          .values({ id: 'u1', name: 'alice', password_hash: null, enabled: 1, created_at: 1 })
          .execute();
        const member = await db
          .selectFrom('roles')
          .select('id')
          .where('name', '=', 'member')
          .executeTakeFirstOrThrow();
        await db
          .insertInto('assignments')
          .values({
            actor_type: 'user',
            actor_id: 'u1',
            target_type: 'project',
            target_id: 'p1',
            role_id: member.id,
            created_at: 1,
          })
          .execute();
        await db
          .insertInto('ec2_credentials')
          .values({
            access_key: 'AK1',
            secret_key: 's',
            user_id: 'u1',
            project_id: 'p1',
            created_at: 1,
          })
          .execute();
        await db.insertInto('project_tags').values({ project_id: 'p1', tag: 'kept' }).execute();
        const generation = async () =>
          Number(
            (
              await db
                .selectFrom('generations')
                .select('value')
                .where('name', '=', 'identity')
                .executeTakeFirstOrThrow()
            ).value,
          );

        const latest = await migrator.migrateToLatest();
        assert.equal(latest.error, undefined, String(latest.error));
        assert.ok(latest.results?.some((r) => r.migrationName === '0023-names-per-domain'));

        // Every row and every reference survived.
        assert.equal((await db.selectFrom('ec2_credentials').selectAll().execute()).length, 1);
        assert.equal((await db.selectFrom('project_tags').selectAll().execute()).length, 1);
        const identity = new IdentityService(database.db);
        const principal = await identity.findEc2Principal('AK1');
        assert.equal(principal?.user.id, 'u1');
        assert.deepEqual(principal?.roles, ['member', 'reader']);

        // The same names in another domain are now fine; in the same domain, a duplicate.
        await identity.createProject({ name: 'web', domain: 'east' });
        await identity.createUser({ name: 'alice', domain: 'east' });
        await assert.rejects(identity.createProject({ name: 'web' }), { kind: 'already_exists' });
        await assert.rejects(identity.createUser({ name: 'alice', domain: 'east' }), {
          kind: 'already_exists',
        });
        // The triggers the rebuild made again still count changes of identity.
        const before = await generation();
        await identity.setUserEnabled('u1', false);
        assert.equal(await generation(), before + 1);
        // References are still enforced.
        await assert.rejects(
          sql`insert into ec2_credentials (access_key, secret_key, user_id, project_id, created_at)
              values ('AK2', 's', 'nobody', 'p1', 1)`.execute(db),
        );
        // A name two domains use needs its domain.
        await assert.rejects(identity.getUser('alice'), { kind: 'invalid' });
        assert.equal((await identity.getUser('alice', 'default')).id, 'u1');
        assert.notEqual((await identity.getUser('alice', 'east')).id, 'u1');
      } finally {
        await database.close();
        if (backend.name === 'postgres') await disconnected(created.url);
        await created.remove();
      }
    });
  });

  describe(
    `logins by name and domain on ${backend.name}`,
    needs('openstackclient', ...backend.needs),
    () => {
      let t: TestCloud;
      let database: { url: string; remove(): Promise<void> };
      let url: string;
      const ids: Record<string, { user: string; project: string }> = {};

      before(async () => {
        database = await backend.create();
        t = await startTestCloud({ database: database.url });
        url = (t.cloud.urls?.identity as string).replace(/\/v3$/, '');
        const identity = new IdentityService(t.cloud.database.db);
        await identity.setPassword('admin', PASSWORD);
        for (const [domain, password] of [
          ['east', PASSWORD],
          ['west', OTHER_PASSWORD],
        ] as const) {
          const d = await identity.directory.createDomain({ name: domain });
          const p = await identity.createProject({ name: 'web', domain: d.id });
          const u = await identity.createUser({ name: 'alice', domain: d.id, password });
          await identity.grantRole(u.id, p.id, 'member');
          ids[domain] = { user: u.id, project: p.id };
        }
      });
      after(async () => {
        await t?.stop();
        if (backend.name === 'postgres') await disconnected(database.url);
        await database?.remove();
      });

      const login = (domain: string, password: string, projectDomain = domain) =>
        fetch(`${url}/v3/auth/tokens`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            auth: {
              identity: {
                methods: ['password'],
                password: { user: { name: 'alice', domain: { name: domain }, password } },
              },
              scope: { project: { name: 'web', domain: { name: projectDomain } } },
            },
          }),
        });

      it('finds the user and the project of the domain a login names', async () => {
        for (const [domain, password] of [
          ['east', PASSWORD],
          ['west', OTHER_PASSWORD],
        ] as const) {
          const r = await login(domain, password);
          assert.equal(r.status, 201, await r.clone().text());
          const body = (await r.json()) as {
            token: { user: { id: string; domain: { name: string } }; project: { id: string } };
          };
          assert.equal(body.token.user.id, ids[domain]?.user);
          assert.equal(body.token.user.domain.name, domain);
          assert.equal(body.token.project.id, ids[domain]?.project);
        }
        // East's password is not west's alice's; and west's alice has no role on east's web.
        assert.equal((await login('west', PASSWORD)).status, 401);
        assert.equal((await login('west', OTHER_PASSWORD, 'east')).status, 401);
        // A name without its domain is refused as bad input, as Keystone does.
        const bare = await fetch(`${url}/v3/auth/tokens`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            auth: {
              identity: {
                methods: ['password'],
                password: { user: { name: 'alice', password: PASSWORD } },
              },
            },
          }),
        });
        assert.equal(bare.status, 400);
      });

      it('does the same for openstackclient and openstacksdk, and keeps names unique inside a domain', async () => {
        const env: NodeJS.ProcessEnv = {
          ...adminEnv(t),
          OS_USERNAME: 'alice',
          OS_PASSWORD: OTHER_PASSWORD,
          OS_PROJECT_NAME: 'web',
          OS_USER_DOMAIN_NAME: 'west',
          OS_PROJECT_DOMAIN_NAME: 'west',
        };
        const issued = await openstack(env, ['token', 'issue', '-f', 'json']);
        assert.equal(issued.code, 0, issued.err);
        const token = JSON.parse(issued.out) as { user_id: string; project_id: string };
        assert.equal(token.user_id, ids.west?.user);
        assert.equal(token.project_id, ids.west?.project);

        const admin = adminEnv(t);
        const dup = await openstack(admin, ['user', 'create', '--domain', 'west', 'alice']);
        assert.notEqual(dup.code, 0);
        assert.match(dup.err, /\(HTTP 409\)/);
        const dupProject = await openstack(admin, ['project', 'create', '--domain', 'east', 'web']);
        assert.notEqual(dupProject.code, 0);
        assert.match(dupProject.err, /\(HTTP 409\)/);
        const third = await openstack(admin, ['project', 'create', 'web', '-f', 'json']);
        assert.equal(third.code, 0, third.err);
        assert.equal((JSON.parse(third.out) as { domain_id: string }).domain_id, 'default');

        const script = `
import json, openstack
c = openstack.connect(auth_url=${JSON.stringify(env.OS_AUTH_URL)}, username='alice', password=${JSON.stringify(PASSWORD)},
    project_name='web', user_domain_name='east', project_domain_name='east', region_name=${JSON.stringify(t.region)})
print(json.dumps({'user': c.current_user_id, 'project': c.current_project_id}))
`;
        const sdk = await openstacksdk(script, { PATH: process.env.PATH, HOME: process.env.HOME });
        assert.equal(sdk.code, 0, sdk.err);
        assert.deepEqual(JSON.parse(sdk.out), { user: ids.east?.user, project: ids.east?.project });
      });

      it('has stratus manage name the domain of an ambiguous name, and its EC2 keys speak for the right user', async () => {
        const manage = (...args: string[]) =>
          stratus(['manage', '--database', database.url, '--format', 'json', ...args]);
        const ambiguous = await manage(
          'credential',
          'create',
          '--user',
          'alice',
          '--project',
          'web',
        );
        assert.notEqual(ambiguous.code, 0);
        assert.match(ambiguous.stderr, /Several domains have a user named 'alice'/);
        const made = await manage(
          'credential',
          'create',
          '--user',
          'alice',
          '--user-domain',
          'west',
          '--project',
          'web',
          '--project-domain',
          'west',
        );
        assert.equal(made.code, 0, made.stderr);
        const key = JSON.parse(made.stdout) as {
          access_key: string;
          secret_key: string;
          user_id: string;
          project_id: string;
        };
        assert.equal(key.user_id, ids.west?.user);
        assert.equal(key.project_id, ids.west?.project);
        const described = await rawEc2(
          t.endpoint,
          t.region,
          { accessKeyId: key.access_key, secretAccessKey: key.secret_key },
          { Action: 'DescribeInstances', Version: '2016-11-15' },
        );
        assert.equal(described.status, 200, described.body);
        const who = await rawEc2(
          t.endpoint,
          t.region,
          { accessKeyId: key.access_key, secretAccessKey: key.secret_key },
          { Action: 'GetCallerIdentity', Version: '2011-06-15' },
          { path: '/sts/', service: 'sts' },
        );
        assert.equal(who.status, 200, who.body);
        assert.match(who.body, new RegExp(`<UserId>${ids.west?.user}`));

        // A user made in a domain by manage, with a project there.
        const bob = await manage(
          'user',
          'create',
          'alice',
          '--domain',
          'default',
          '--project',
          'web',
          '--password',
          PASSWORD,
        );
        assert.equal(bob.code, 0, bob.stderr);
        const out = JSON.parse(bob.stdout) as { domain_id: string; project: string };
        assert.equal(out.domain_id, 'default');
        // A role on the system for west's alice: a system-scoped token for her, none for east's.
        const system = await manage(
          'assignment',
          'add',
          '--user',
          'alice',
          '--user-domain',
          'west',
          '--system',
          '--role',
          'reader',
        );
        assert.equal(system.code, 0, system.stderr);
        const systemLogin = (domain: string, password: string) =>
          fetch(`${url}/v3/auth/tokens`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              auth: {
                identity: {
                  methods: ['password'],
                  password: { user: { name: 'alice', domain: { name: domain }, password } },
                },
                scope: { system: { all: true } },
              },
            }),
          });
        assert.equal((await systemLogin('west', OTHER_PASSWORD)).status, 201);
        assert.equal((await systemLogin('east', PASSWORD)).status, 401);

        const disabled = await manage('user', 'disable', 'alice', '--domain', 'east');
        assert.equal(disabled.code, 0, disabled.stderr);
        assert.equal((JSON.parse(disabled.stdout) as { id: string }).id, ids.east?.user);
        assert.equal((await login('east', PASSWORD)).status, 401);
        assert.equal((await login('west', OTHER_PASSWORD)).status, 201);
      });
    },
  );
}
