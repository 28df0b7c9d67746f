// Users from LDAP (issue 14): a private OpenLDAP server (Debian's slapd, its own config, data
// dir and test CA, on free loopback ports) seeded with users and groups, behind an LDAP
// identity domain reached with StartTLS. Password logins bind as the user; roles come from
// group membership; openstackclient logs in as a directory user and the EC2 API takes that
// user's keys; a wrong password, an unknown user and a disabled one get the same 401; ldaps
// with the right and a wrong CA; `stratus manage identity check` says what it found; and with
// the directory stopped, logins answer 503.
import assert from 'node:assert/strict';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/index.js';
import { StratusError } from '../src/errors.js';
import {
  checkLdap,
  IdentityService,
  LdapDirectory,
  publicUserId,
  type LdapConfig,
} from '../src/identity/index.js';
import { needs } from './support/capabilities.js';
import { stratus } from './support/cli.js';
import { ec2Client, startTestCloud, type TestCloud } from './support/ec2.js';
import { openstack, openstacksdk } from './support/openstack.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { disconnected } from './support/expect.js';
import {
  GROUP_TREE,
  SERVICE_DN,
  SERVICE_PASSWORD,
  startPrivateSlapd,
  USER_TREE,
  type PrivateSlapd,
} from './support/private-slapd.js';

const ALICE_PASSWORD = 'alice-in-ldap-1';
const USERS = [
  { uid: 'alice', password: ALICE_PASSWORD },
  { uid: 'bob', password: 'bob-in-ldap-12' },
  { uid: 'carol', password: 'carol-in-ldap-1', enabled: false },
];
const GROUPS = { ops: ['alice'], auditors: ['bob'], nobody: [] };

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

function ldapFlags(s: PrivateSlapd): Record<string, string> {
  return {
    'ldap-url': s.ldapUrl,
    'ldap-start-tls': 'true',
    'ldap-ca-file': s.caFile,
    'ldap-bind-dn': SERVICE_DN,
    'ldap-bind-password': SERVICE_PASSWORD,
    'ldap-user-tree': USER_TREE,
    'ldap-group-tree': GROUP_TREE,
    'ldap-user-enabled-attribute': 'description',
    'ldap-group-roles': 'ops=ldap-project:member,ops=ldap-project:admin,auditors=audit:member',
    'ldap-timeout-seconds': '3',
  };
}

function ldapConfig(flags: Record<string, string>): LdapConfig {
  const c = loadConfig({ env: {}, flags }).identity.ldap;
  assert.ok(c);
  return c;
}

function passwordAuth(user: string, password: string, domain: string, project?: string) {
  return {
    auth: {
      identity: {
        methods: ['password'],
        password: { user: { name: user, domain: { name: domain }, password } },
      },
      ...(project ? { scope: { project: { name: project, domain: { id: 'default' } } } } : {}),
    },
  };
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(
    `Users from an LDAP directory on ${backend.name}`,
    needs('slapd', 'openssl', ...backend.needs),
    () => {
      let slapd: PrivateSlapd;
      let t: TestCloud;
      let database: { url: string; remove(): Promise<void> };
      let url: string;
      let identity: IdentityService;

      const call = async (body: unknown): Promise<Answer & { token: string | null }> => {
        const r = await fetch(`${url}/v3/auth/tokens`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        const text = await r.text();
        return {
          status: r.status,
          body: text ? JSON.parse(text) : {},
          token: r.headers.get('x-subject-token'),
        };
      };

      before(async () => {
        slapd = await startPrivateSlapd(USERS, GROUPS);
        database = await backend.create();
        t = await startTestCloud({ database: database.url, ...ldapFlags(slapd) });
        url = (t.cloud.urls?.identity as string).replace(/\/v3$/, '');
        identity = new IdentityService(t.cloud.database.db);
        await identity.createProject({ name: 'ldap-project' });
        await identity.createProject({ name: 'audit' });
      });
      after(async () => {
        await t?.stop();
        await slapd?.remove();
        if (backend.name === 'postgres') await disconnected(database.url);
        await database?.remove();
      });

      it('logs a directory user in with StartTLS, with the roles its groups grant', async () => {
        const a = await call(passwordAuth('alice', ALICE_PASSWORD, 'ldap', 'ldap-project'));
        assert.equal(a.status, 201, JSON.stringify(a.body));
        const token = a.body.token as {
          user: { id: string; name: string; domain: { id: string; name: string } };
          project: { name: string };
          roles: { name: string }[];
        };
        assert.equal(token.user.name, 'alice');
        assert.equal(token.user.id, publicUserId('ldap', 'alice'));
        assert.deepEqual(token.user.domain, { id: 'ldap', name: 'ldap' });
        assert.equal(token.project.name, 'ldap-project');
        // The groups grant admin and member; admin implies member, member implies reader.
        assert.deepEqual(token.roles.map((r) => r.name).sort(), ['admin', 'member', 'reader']);
        // Projects and roles stay in SQL, keyed by the directory user's local id.
        const rows = await identity.listRoleAssignments({ user: token.user.id });
        assert.deepEqual(rows.map((r) => r.role).sort(), ['admin', 'member']);
        // The LDAP domain is a row of the domains table, and the user's SQL row is in it.
        const domain = await identity.directory.getDomain('ldap');
        assert.deepEqual({ id: domain.id, name: domain.name }, { id: 'ldap', name: 'ldap' });
        assert.equal((await identity.getUser(token.user.id)).domainId, 'ldap');
        const adminToken = await call({
          auth: {
            identity: {
              methods: ['password'],
              password: {
                user: {
                  name: 'admin',
                  domain: { id: 'default' },
                  password: t.cloud.admin?.password,
                },
              },
            },
            scope: { project: { name: 'admin', domain: { id: 'default' } } },
          },
        });
        assert.equal(adminToken.status, 201, JSON.stringify(adminToken.body));
        const listed = await fetch(`${url}/v3/domains`, {
          headers: { 'x-auth-token': adminToken.token as string },
        });
        assert.equal(listed.status, 200);
        const domains = ((await listed.json()) as { domains: { id: string; name: string }[] })
          .domains;
        assert.deepEqual(domains.map((d) => d.id).sort(), ['default', 'ldap']);
        const shownUser = await fetch(`${url}/v3/users/${token.user.id}`, {
          headers: { 'x-auth-token': adminToken.token as string },
        });
        assert.equal(
          ((await shownUser.json()) as { user: { domain_id: string } }).user.domain_id,
          'ldap',
        );
        // Its users are the directory's to make.
        const made = await fetch(`${url}/v3/users`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-auth-token': adminToken.token as string,
          },
          body: JSON.stringify({
            user: { name: 'dave', domain_id: 'ldap', password: 'dave-pass-123' },
          }),
        });
        assert.equal(made.status, 403, await made.text());
        // By id too, once known; and the token validates.
        const byId = await call({
          auth: {
            identity: {
              methods: ['password'],
              password: { user: { id: token.user.id, password: ALICE_PASSWORD } },
            },
          },
        });
        assert.equal(byId.status, 201, JSON.stringify(byId.body));
        const check = await fetch(`${url}/v3/auth/tokens`, {
          headers: { 'x-auth-token': a.token as string, 'x-subject-token': a.token as string },
        });
        assert.equal(check.status, 200);
        const shown = ((await check.json()) as { token: { user: { domain: { id: string } } } })
          .token;
        assert.equal(shown.user.domain.id, 'ldap');
      });

      it('grants only what the groups say: a user outside a group has no role there', async () => {
        const bob = await call(passwordAuth('bob', 'bob-in-ldap-12', 'ldap', 'ldap-project'));
        assert.equal(bob.status, 401, JSON.stringify(bob.body));
        const audit = await call(passwordAuth('bob', 'bob-in-ldap-12', 'ldap', 'audit'));
        assert.equal(audit.status, 201, JSON.stringify(audit.body));
      });

      it('answers a wrong password, an unknown user and a disabled user with the same 401', async () => {
        const answers = await Promise.all([
          call(passwordAuth('alice', 'not-her-password', 'ldap')),
          call(passwordAuth('nobody', 'whatever-it-is', 'ldap')),
          call(passwordAuth('carol', 'carol-in-ldap-1', 'ldap')),
          call(passwordAuth('alice*', ALICE_PASSWORD, 'ldap')),
        ]);
        for (const a of answers) assert.equal(a.status, 401, JSON.stringify(a.body));
        const bodies = answers.map((a) => JSON.stringify(a.body));
        assert.equal(new Set(bodies).size, 1, bodies.join('\n'));
        // A directory user is not a user of the default domain.
        const wrongDomain = await call(passwordAuth('alice', ALICE_PASSWORD, 'Default'));
        assert.equal(wrongDomain.status, 401);
      });

      it('logs in with openstackclient as a directory user', needs('openstackclient'), async () => {
        const r = await openstack(
          {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            OS_AUTH_URL: t.cloud.urls?.identity,
            OS_IDENTITY_API_VERSION: '3',
            OS_USERNAME: 'alice',
            OS_PASSWORD: ALICE_PASSWORD,
            OS_USER_DOMAIN_NAME: 'ldap',
            OS_PROJECT_NAME: 'ldap-project',
            OS_PROJECT_DOMAIN_NAME: 'Default',
            OS_REGION_NAME: t.region,
          },
          ['token', 'issue', '-f', 'json'],
        );
        assert.equal(r.code, 0, r.err);
        const issued = JSON.parse(r.out) as { user_id: string; project_id: string };
        assert.equal(issued.user_id, publicUserId('ldap', 'alice'));
        assert.equal(issued.project_id, (await identity.getProject('ldap-project')).id);
      });

      it(
        'logs in with openstacksdk as a directory user, which sees its own project',
        needs('openstackclient'),
        async () => {
          const script = `
import json, openstack
c = openstack.connect(auth_url=${JSON.stringify(t.cloud.urls?.identity)}, username='alice',
    password=${JSON.stringify(ALICE_PASSWORD)}, user_domain_name='ldap', project_name='ldap-project',
    project_domain_name='Default', region_name=${JSON.stringify(t.region)})
me = c.current_user_id
print(json.dumps({'user': me, 'projects': [p.name for p in c.identity.user_projects(me)]}))
`;
          const r = await openstacksdk(script, { PATH: process.env.PATH, HOME: process.env.HOME });
          assert.equal(r.code, 0, r.err);
          assert.deepEqual(JSON.parse(r.out), {
            user: publicUserId('ldap', 'alice'),
            projects: ['ldap-project'],
          });
        },
      );

      it('serves the EC2 API to a directory user with its EC2 keys', async () => {
        const key = await identity.createEc2Credential(
          publicUserId('ldap', 'alice'),
          'ldap-project',
        );
        const client = ec2Client(t.endpoint, t.region, {
          accessKeyId: key.accessKey,
          secretAccessKey: key.secretKey,
        });
        try {
          const out = await client.send(new DescribeInstancesCommand({}));
          assert.deepEqual(out.Reservations ?? [], []);
        } finally {
          client.destroy();
        }
      });

      it('disables a directory user disabled in the directory, EC2 keys and all', async () => {
        const bobId = publicUserId('ldap', 'bob');
        const key = await identity.createEc2Credential(bobId, 'audit');
        const client = ec2Client(t.endpoint, t.region, {
          accessKeyId: key.accessKey,
          secretAccessKey: key.secretKey,
        });
        try {
          await client.send(new DescribeInstancesCommand({}));
          slapd.modify(
            `dn: uid=bob,${USER_TREE}\nchangetype: modify\nreplace: description\ndescription: FALSE\n`,
          );
          const a = await call(passwordAuth('bob', 'bob-in-ldap-12', 'ldap', 'audit'));
          assert.equal(a.status, 401);
          assert.equal((await identity.getUser(bobId)).enabled, 0);
          await assert.rejects(
            client.send(new DescribeInstancesCommand({})),
            /AuthFailure|not able to validate/,
          );
        } finally {
          client.destroy();
        }
      });

      it('reaches the directory over ldaps with the test CA, and refuses another CA', async () => {
        const flags = {
          ...ldapFlags(slapd),
          'ldap-url': slapd.ldapsUrl,
          'ldap-start-tls': 'false',
        };
        const good = new LdapDirectory(ldapConfig(flags));
        const alice = await good.authenticate({ name: 'alice' }, ALICE_PASSWORD);
        assert.equal(alice?.id, 'alice');
        assert.equal(alice?.mail, 'alice@example.org');
        assert.equal(await good.authenticate({ name: 'alice' }, 'wrong-password'), undefined);
        assert.deepEqual(
          (await good.groupsOf(alice!)).map((g) => g.name),
          ['ops'],
        );
        // A name that several entries share logs nobody in (and is no outage).
        const ambiguous = new LdapDirectory(
          ldapConfig({ ...flags, 'ldap-user-name-attribute': 'objectClass' }),
        );
        assert.equal(
          await ambiguous.authenticate({ name: 'inetOrgPerson' }, ALICE_PASSWORD),
          undefined,
        );
        const bad = new LdapDirectory(ldapConfig({ ...flags, 'ldap-ca-file': slapd.otherCaFile }));
        await assert.rejects(
          bad.authenticate({ name: 'alice' }, ALICE_PASSWORD),
          (err: unknown) => err instanceof StratusError && err.kind === 'unavailable',
        );
        const steps = await checkLdap(ldapConfig({ ...flags, 'ldap-ca-file': slapd.otherCaFile }));
        assert.deepEqual(
          steps.map((s) => [s.step, s.ok]),
          [
            ['dns', true],
            ['connect', true],
            ['tls', false],
          ],
        );
      });

      it('takes away at the next login the roles of a group the user left', async () => {
        slapd.modify(
          `dn: cn=ops,${GROUP_TREE}\nchangetype: modify\ndelete: member\nmember: uid=alice,${USER_TREE}\n-\nadd: member\nmember: ${SERVICE_DN}\n`,
        );
        const a = await call(passwordAuth('alice', ALICE_PASSWORD, 'ldap', 'ldap-project'));
        assert.equal(a.status, 401, JSON.stringify(a.body));
        assert.deepEqual(
          await identity.listRoleAssignments({ user: publicUserId('ldap', 'alice') }),
          [],
        );
        // Still a user: an unscoped login works.
        assert.equal((await call(passwordAuth('alice', ALICE_PASSWORD, 'ldap'))).status, 201);
      });

      it('tells with stratus manage identity check what it found and what failed', async () => {
        const args = (flags: Record<string, string>) => [
          'manage',
          'identity',
          'check',
          ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, v]),
        ];
        const ok = await stratus(args(ldapFlags(slapd)));
        assert.equal(ok.code, 0, ok.stderr);
        assert.match(ok.stdout, /^tls\s+ok\s+StartTLS: the certificate is trusted\.$/m);
        assert.match(ok.stdout, /^bind\s+ok\s+Bound as cn=stratus,dc=example,dc=org\.$/m);
        assert.match(ok.stdout, /^users\s+ok\s+3 users under ou=Users,dc=example,dc=org\.$/m);
        assert.match(ok.stdout, /^groups\s+ok\s+3 groups under ou=Groups,dc=example,dc=org\.$/m);

        const badBind = await stratus(args({ ...ldapFlags(slapd), 'ldap-bind-password': 'wrong' }));
        assert.equal(badBind.code, 1);
        assert.match(badBind.stdout, /^bind\s+FAILED\s+Cannot bind as .*wrong DN or password\.$/m);
        assert.match(badBind.stderr, /failed the bind step/);

        const badTree = await stratus(
          args({ ...ldapFlags(slapd), 'ldap-user-tree': 'ou=Nobody,dc=example,dc=org' }),
        );
        assert.equal(badTree.code, 1);
        assert.match(
          badTree.stdout,
          /^users\s+FAILED\s+Cannot search ou=Nobody,dc=example,dc=org: no such entry\.$/m,
        );

        const badDns = await stratus(
          args({ ...ldapFlags(slapd), 'ldap-url': 'ldap://no-such-host.invalid:389' }),
        );
        assert.equal(badDns.code, 1);
        assert.match(badDns.stdout, /^dns\s+FAILED\s+no-such-host\.invalid cannot be resolved/m);
      });

      it('answers 503 while the directory is down, never 401 or 500', async () => {
        await slapd.stop();
        const a = await call(passwordAuth('alice', ALICE_PASSWORD, 'ldap', 'ldap-project'));
        assert.equal(a.status, 503, JSON.stringify(a.body));
        const e = a.body.error as { code: number; message: string };
        assert.equal(e.code, 503);
        assert.match(e.message, /LDAP directory of domain 'ldap'/);
        // SQL users still log in.
        const admin = await call({
          auth: {
            identity: {
              methods: ['password'],
              password: {
                user: {
                  name: 'admin',
                  domain: { id: 'default' },
                  password: t.cloud.admin?.password,
                },
              },
            },
          },
        });
        assert.equal(admin.status, 201, JSON.stringify(admin.body));
        const down = await stratus([
          'manage',
          'identity',
          'check',
          ...Object.entries(ldapFlags(slapd)).flatMap(([k, v]) => [`--${k}`, v]),
        ]);
        assert.equal(down.code, 1);
        assert.match(
          down.stdout,
          /^connect\s+FAILED\s+Cannot connect to 127\.0\.0\.1:\d+: .*ECONNREFUSED/m,
        );
      });
    },
  );
}
