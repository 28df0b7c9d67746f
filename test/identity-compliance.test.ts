// Security compliance for SQL users (issue 14), on SQLite and PostgreSQL, through the
// Identity API: a lockout after failed logins that ends after its duration (or when an
// operator enables the user again), password expiry, password history, a password regex
// refused with its description in Keystone's 400 body, the minimum password age; and failed
// logins, at the Identity and EC2 APIs, logged with the address they came from.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { DescribeRegionsCommand } from '@aws-sdk/client-ec2';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toIdentityError } from '../src/api/identity/errors.js';
import { loadConfig } from '../src/config/index.js';
import { startCloud } from '../src/main.js';
import { StratusError } from '../src/errors.js';
import { IdentityService, type SecurityComplianceOptions } from '../src/identity/index.js';
import { needs } from './support/capabilities.js';
import { openstacksdk } from './support/openstack.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { disconnected } from './support/expect.js';
import { ec2Client, startTestCloud, type TestCloud } from './support/ec2.js';
import { FREE_PORTS } from './support/ports.js';

const DAY_MS = 86_400_000;
const FLAGS = {
  'lockout-failure-attempts': '3',
  'lockout-duration': '2',
  'password-expires-days': '90',
  'unique-last-password-count': '3',
  'password-regex': '^(?=.*\\d)(?=.*[a-zA-Z]).{10,}$',
  'password-regex-description': 'Passwords must have at least 10 characters, a letter and a digit',
  'minimum-password-age': '1',
};
const COMPLIANCE: SecurityComplianceOptions = {
  lockoutFailureAttempts: 3,
  lockoutDuration: 2,
  passwordExpiresDays: 90,
  uniqueLastPasswordCount: 3,
  passwordRegex: FLAGS['password-regex'],
  passwordRegexDescription: FLAGS['password-regex-description'],
  minimumPasswordAge: 1,
};

/** What the tests read of an answer: a token or an error. */
interface Answer {
  token: { user: { password_expires_at: string } };
  error: { message: string };
}

function passwordAuth(user: string, password: string) {
  return {
    auth: {
      identity: {
        methods: ['password'],
        password: { user: { name: user, domain: { id: 'default' }, password } },
      },
    },
  };
}

/** The refusal an error becomes at the Identity API. */
function refusal(err: unknown): { code: number; title: string; message: string } {
  return toIdentityError(err);
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(`Security compliance on ${backend.name}`, needs(...backend.needs), () => {
    let t: TestCloud;
    let database: { url: string; remove(): Promise<void> };
    let url: string;
    let identity: IdentityService;

    const login = async (user: string, password: string) => {
      const r = await fetch(`${url}/v3/auth/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(passwordAuth(user, password)),
      });
      const text = await r.text();
      return { status: r.status, body: (text ? JSON.parse(text) : {}) as Answer };
    };

    before(async () => {
      database = await backend.create();
      t = await startTestCloud({ database: database.url, ...FLAGS });
      url = (t.cloud.urls?.identity as string).replace(/\/v3$/, '');
      identity = new IdentityService(t.cloud.database.db, { compliance: COMPLIANCE });
    });
    after(async () => {
      await t.stop();
      if (backend.name === 'postgres') await disconnected(database.url);
      await database.remove();
    });

    it('locks a user out after 3 failed logins, and lets it in after the duration', async () => {
      await identity.createUser({ name: 'locky', password: 'locky-pass-1' });
      for (let i = 0; i < 2; i++) {
        const a = await login('locky', 'wrong-pass-1');
        assert.equal(a.status, 401);
        assert.equal(a.body.error.message, 'The request you have made requires authentication.');
      }
      const third = await login('locky', 'wrong-pass-1');
      assert.equal(third.status, 401);
      const id = (await identity.getUser('locky')).id;
      // Locked: even the right password is refused, with Keystone's message.
      const locked = await login('locky', 'locky-pass-1');
      assert.equal(locked.status, 401);
      assert.equal(locked.body.error.message, `The account is locked for user: ${id}.`);
      await new Promise((r) => setTimeout(r, 2100));
      const again = await login('locky', 'locky-pass-1');
      assert.equal(again.status, 201, JSON.stringify(again.body));
      // A success clears the count: two more failures do not lock.
      for (let i = 0; i < 2; i++) assert.equal((await login('locky', 'wrong')).status, 401);
      assert.equal((await login('locky', 'locky-pass-1')).status, 201);
    });

    it('ends a lockout when an operator enables the user again', async () => {
      await identity.createUser({ name: 'unlocky', password: 'unlocky-pass-1' });
      for (let i = 0; i < 3; i++) await login('unlocky', 'wrong-pass-1');
      assert.equal((await login('unlocky', 'unlocky-pass-1')).status, 401);
      await identity.setUserEnabled('unlocky', true);
      assert.equal((await login('unlocky', 'unlocky-pass-1')).status, 201);
    });

    it('refuses an expired password, and shows when a password expires', async () => {
      const user = await identity.createUser({ name: 'olde', password: 'olde-pass-12' });
      const fresh = await login('olde', 'olde-pass-12');
      assert.equal(fresh.status, 201);
      const expires = Date.parse(fresh.body.token.user.password_expires_at);
      assert.ok(Math.abs(expires - (user.createdAt + 90 * DAY_MS)) < 1000, String(expires));
      // The password was set 91 days ago.
      await t.cloud.database.db
        .updateTable('userSecurity')
        .set({ passwordSetAt: Date.now() - 91 * DAY_MS })
        .where('userId', '=', user.id)
        .execute();
      const expired = await login('olde', 'olde-pass-12');
      assert.equal(expired.status, 401);
      assert.equal(
        expired.body.error.message,
        `The password is expired and needs to be changed for user: ${user.id}.`,
      );
      // An operator's reset makes it valid again.
      await identity.setPassword('olde', 'olde-pass-123');
      assert.equal((await login('olde', 'olde-pass-123')).status, 201);
    });

    it('refuses a password that does not match the regex, with its description', async () => {
      let caught: unknown;
      await identity.createUser({ name: 'weak', password: 'short-one' }).catch((e) => {
        caught = e;
      });
      assert.ok(caught instanceof StratusError);
      assert.deepEqual(refusal(caught), {
        code: 400,
        title: 'Bad Request',
        message:
          'The password does not meet the requirements: Passwords must have at least 10 characters, a letter and a digit.',
      });
      // Nothing was created.
      assert.equal(await identity.findUser('weak'), undefined);
    });

    it(
      'refuses through openstacksdk a weak password and a locked-out login',
      needs('openstackclient'),
      async () => {
        await identity.createUser({ name: 'sdk-locked', password: 'good-password-1' });
        const script = `
import json, re, openstack
auth = ${JSON.stringify(t.cloud.urls?.identity)}
admin = openstack.connect(auth_url=auth, username='admin', password=${JSON.stringify(t.cloud.admin?.password)},
    project_name='admin', user_domain_name='Default', project_domain_name='Default', region_name=${JSON.stringify(t.region)})
try:
    admin.identity.create_user(name='sdk-weak', password='no-digits-here', domain_id='default')
    weak = None
except openstack.exceptions.HttpException as e:
    weak = [e.status_code, 'at least 10 characters, a letter and a digit' in e.response.text]
def login(password):
    c = openstack.connect(auth_url=auth, username='sdk-locked', password=password,
        user_domain_name='Default', region_name=${JSON.stringify(t.region)})
    try:
        c.authorize()
        return 'ok'
    except openstack.exceptions.SDKException as e:
        # authorize() wraps keystoneauth's error; its text carries the status.
        return int(re.search(r'HTTP (\\d+)', str(e)).group(1))
tries = [login('wrong-password-1') for _ in range(3)] + [login('good-password-1')]
print(json.dumps({'weak': weak, 'tries': tries}))
`;
        const r = await openstacksdk(script, { PATH: process.env.PATH, HOME: process.env.HOME });
        assert.equal(r.code, 0, r.err);
        // The right password is refused too while the account is locked.
        assert.deepEqual(JSON.parse(r.out), { weak: [400, true], tries: [401, 401, 401, 401] });
      },
    );

    it('refuses a password used among the last ones, and accepts an older one', async () => {
      await identity.createUser({ name: 'hist', password: 'history-pass-1' });
      await identity.setPassword('hist', 'history-pass-2');
      for (const old of ['history-pass-1', 'history-pass-2']) {
        await assert.rejects(identity.setPassword('hist', old), (err: unknown) => {
          const r = refusal(err);
          assert.equal(r.code, 400);
          assert.match(r.message, /cannot be identical to a previous password.* is 3\.$/);
          return true;
        });
      }
      await identity.setPassword('hist', 'history-pass-3');
      // Three passwords on, the first may come back.
      await identity.setPassword('hist', 'history-pass-1');
      assert.equal((await login('hist', 'history-pass-1')).status, 201);
    });

    it('makes users keep a password a day before changing it themselves', async () => {
      await identity.createUser({ name: 'young', password: 'young-pass-1' });
      await assert.rejects(
        identity.setPassword('young', 'young-pass-2', { bySelf: true }),
        (err: unknown) => {
          assert.match(refusal(err).message, /minimum password age.* try again in 1 day\(s\)/);
          return true;
        },
      );
      // Operators may.
      await identity.setPassword('young', 'young-pass-2');
    });

    it('applies the rules to the admin API and to users of any SQL domain', async () => {
      const api = async (method: string, route: string, body: unknown, token?: string) => {
        const r = await fetch(`${url}${route}`, {
          method,
          headers: {
            'content-type': 'application/json',
            ...(token ? { 'x-auth-token': token } : {}),
          },
          body: JSON.stringify(body),
        });
        const text = await r.text();
        return {
          status: r.status,
          token: r.headers.get('x-subject-token'),
          body: (text ? JSON.parse(text) : {}) as Record<string, { id: string; message: string }>,
        };
      };
      const admin = await api('POST', '/v3/auth/tokens', {
        auth: {
          identity: {
            methods: ['password'],
            password: {
              user: { name: 'admin', domain: { id: 'default' }, password: t.cloud.admin?.password },
            },
          },
          scope: { project: { name: 'admin', domain: { id: 'default' } } },
        },
      });
      assert.equal(admin.status, 201, JSON.stringify(admin.body));
      const adminToken = admin.token as string;
      const domain = await identity.directory.createDomain({ name: 'engineering' });
      // User create: the regex.
      const weak = await api(
        'POST',
        '/v3/users',
        { user: { name: 'dana', domain_id: domain.id, password: 'weak-password' } },
        adminToken,
      );
      assert.equal(weak.status, 400);
      assert.match(weak.body.error?.message ?? '', /does not meet the requirements: Passwords/);
      const made = await api(
        'POST',
        '/v3/users',
        { user: { name: 'dana', domain_id: domain.id, password: 'dana-pass-123' } },
        adminToken,
      );
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const dana = made.body.user?.id as string;
      // A login named in the domain, by its name; the token shows the domain.
      const named = async (password: string) =>
        api('POST', '/v3/auth/tokens', {
          auth: {
            identity: {
              methods: ['password'],
              password: { user: { name: 'dana', domain: { name: 'engineering' }, password } },
            },
          },
        });
      const first = await named('dana-pass-123');
      assert.equal(first.status, 201, JSON.stringify(first.body));
      const shown = first.body.token as unknown as {
        user: { domain: { id: string; name: string }; password_expires_at: string | null };
      };
      assert.deepEqual(shown.user.domain, { id: domain.id, name: 'engineering' });
      assert.ok(shown.user.password_expires_at);
      // Her own password change: the minimum age applies to her.
      const tooSoon = await api('POST', `/v3/users/${dana}/password`, {
        user: { original_password: 'dana-pass-123', password: 'dana-pass-456' },
      });
      assert.equal(tooSoon.status, 400);
      assert.match(tooSoon.body.error?.message ?? '', /minimum password age/);
      // An operator's reset through the admin API: the history.
      const reused = await api(
        'PATCH',
        `/v3/users/${dana}`,
        { user: { password: 'dana-pass-123' } },
        adminToken,
      );
      assert.equal(reused.status, 400);
      assert.match(reused.body.error?.message ?? '', /cannot be identical to a previous password/);
      // The lockout, in her domain too.
      for (let i = 0; i < 3; i++) assert.equal((await named('wrong-pass-1')).status, 401);
      const locked = await named('dana-pass-123');
      assert.equal(locked.status, 401);
      assert.equal(locked.body.error?.message, `The account is locked for user: ${dana}.`);
      // Enabling her through the admin API ends it.
      const enabled = await api(
        'PATCH',
        `/v3/users/${dana}`,
        { user: { enabled: true } },
        adminToken,
      );
      assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
      assert.equal((await named('dana-pass-123')).status, 201);
    });

    it('logs failed logins with the address they came from, at both APIs', async () => {
      const lines: Record<string, unknown>[] = [];
      const sink = new Writable({
        write(chunk, _enc, done) {
          for (const line of String(chunk).split('\n').filter(Boolean))
            lines.push(JSON.parse(line) as Record<string, unknown>);
          done();
        },
      });
      const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-logins-'));
      const config = loadConfig({
        env: {},
        flags: { 'state-dir': stateDir, database: database.url, ...FREE_PORTS, ...FLAGS },
      });
      const cloud = await startCloud(config, ['api'], { logger: pino({ level: 'info' }, sink) });
      const ec2 = ec2Client(cloud.urls?.ec2 as string, config.region, {
        accessKeyId: 'SKNOSUCHKEY000000000',
        secretAccessKey: 'no-such-secret',
      });
      try {
        const r = await fetch(`${cloud.urls?.identity}/auth/tokens`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(passwordAuth('nobody-here', 'some-password-1')),
        });
        assert.equal(r.status, 401);
        await assert.rejects(ec2.send(new DescribeRegionsCommand({})));
      } finally {
        ec2.destroy();
        await cloud.stop();
        fs.rmSync(stateDir, { recursive: true, force: true });
      }
      const failed = lines.filter((l) => l.msg === 'Failed login');
      const identityLine = failed.find((l) => l.user === 'nobody-here@default');
      assert.equal(identityLine?.source, '127.0.0.1', JSON.stringify(failed));
      assert.equal(identityLine?.reason, 'unknown user');
      const ec2Line = failed.find((l) => l.action === 'DescribeRegions');
      assert.equal(ec2Line?.source, '127.0.0.1', JSON.stringify(failed));
      assert.equal(ec2Line?.code, 'AuthFailure');
    });
  });
}
