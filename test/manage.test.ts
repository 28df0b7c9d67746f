// `stratus manage` on a fresh state dir, as an operator uses it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDatabase } from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { stratus } from './support/cli.js';

describe('stratus manage', () => {
  let stateDir: string;
  const manage = (...args: string[]) => stratus(['manage', '--state-dir', stateDir, ...args]);
  before(() => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-manage-'));
  });
  after(() => fs.rmSync(stateDir, { recursive: true, force: true }));

  it('creates a project and a user with a role and prints credentials that authenticate', async () => {
    assert.equal((await manage('project', 'create', 'demo', '--description', 'Demo team')).code, 0);
    const r = await manage(
      '--format',
      'json',
      'user',
      'create',
      'alice',
      '--password',
      'alice-secret',
      '--project',
      'demo',
    );
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      access_key: string;
      secret_key: string;
      project: string;
      role: string;
    };
    assert.equal(out.project, 'demo');
    assert.equal(out.role, 'member');
    const database = await openDatabase(`sqlite:${path.join(stateDir, 'stratus.sqlite')}`);
    const principal = await new IdentityService(database.db).findEc2Principal(out.access_key);
    await database.close();
    assert.equal(principal?.user.name, 'alice');
    assert.equal(principal?.credential.secretKey, out.secret_key);
  });

  it('lists users, projects, roles and credentials', async () => {
    const users = await manage('user', 'list');
    assert.match(users.stdout, /^id +name +enabled +password +created$/m);
    assert.match(users.stdout, /alice +true +set/);
    assert.match((await manage('project', 'list')).stdout, /demo +true +Demo team/);
    assert.match((await manage('role', 'list', '--user', 'alice')).stdout, /alice +demo +member/);
    await manage('role', 'add', '--user', 'alice', '--project', 'demo', '--role', 'admin');
    assert.match((await manage('role', 'list', '--project', 'demo')).stdout, /alice +demo +admin/);
    const creds = JSON.parse(
      (await manage('--format', 'json', 'credential', 'list', '--user', 'alice')).stdout,
    ) as unknown[];
    assert.equal(creds.length, 1);
    assert.doesNotMatch((await manage('credential', 'list')).stdout, /secret/i);
  });

  it('prints an rc file for a user in a project', async () => {
    const r = await manage(
      'rc',
      '--user',
      'alice',
      '--project',
      'demo',
      '--password',
      'alice-secret',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^export EC2_URL='http:\/\/127\.0\.0\.1:8773\/'$/m);
    assert.match(r.stdout, /^export AWS_ACCESS_KEY_ID='[A-Z0-9]{20}'$/m);
    assert.match(r.stdout, /^export OS_USERNAME='alice'$/m);
    assert.match(r.stdout, /^export OS_PASSWORD='alice-secret'$/m);
    assert.match(r.stdout, /^export OS_PROJECT_NAME='demo'$/m);
  });

  const bad: [string, string[], RegExp][] = [
    ['an unknown flag', ['user', 'list', '--colour', 'red'], /unknown option '--colour'/],
    [
      'an unknown role',
      ['role', 'add', '--user', 'alice', '--project', 'demo', '--role', 'owner'],
      /Allowed choices are admin, member/,
    ],
    [
      'a missing required option',
      ['credential', 'create', '--user', 'alice'],
      /required option '--project <project>' not specified/,
    ],
    ['a duplicate user', ['user', 'create', 'alice'], /The user 'alice' already exists/],
    [
      'an unknown project',
      ['credential', 'create', '--user', 'alice', '--project', 'nope'],
      /The project 'nope' does not exist/,
    ],
    [
      'an invalid name',
      ['project', 'create', 'has space'],
      /The project name 'has space' is not valid/,
    ],
    [
      'a bad config value',
      ['--db-busy-timeout-ms', 'lots', 'user', 'list'],
      /'lots' is not a number/,
    ],
    ['an unknown subcommand', ['flavor', 'list'], /unknown command 'flavor'/],
  ];
  for (const [what, args, message] of bad) {
    it(`answers ${what} with a clear message and a non-zero exit`, async () => {
      const r = await manage(...args);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    });
  }
});
