// `stratus manage backup` and `restore` on SQLite: a backup taken while an all-in-one runs
// brings back, after a restore, every resource made before it and none made after; a restore
// is refused while the cloud runs and from a file that is not a Stratus database; PostgreSQL is
// pointed at pg_dump.
import {
  AllocateAddressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  DescribeTagsCommand,
  RunInstancesCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import BetterSqlite3 from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Kysely, Migrator } from 'kysely';
import { MIGRATIONS } from '../src/db/migrations/index.js';
import { StratusSqliteDialect } from '../src/db/sqlite.js';
import { stratus } from './support/cli.js';
import { ec2Client, startTestCloud, type Credentials, type TestCloud } from './support/ec2.js';
import { needs } from './support/capabilities.js';
import { postgresBackend } from './support/databases.js';
import { disconnected, failure } from './support/expect.js';

const run = promisify(execFile);

const FAST_HEARTBEAT = { 'service-heartbeat-seconds': '0.2', 'service-down-after-seconds': '1' };

/** A client on `t` for credentials made on an earlier run of the cloud. */
const extraClients: EC2Client[] = [];
function clientFor(t: TestCloud, credentials: Credentials): EC2Client {
  const c = ec2Client(t.endpoint, t.region, credentials);
  extraClients.push(c);
  return c;
}

/** What a project owns, as the EC2 API shows it: ids and names, sorted. */
async function inventory(client: EC2Client) {
  const instances = await client.send(new DescribeInstancesCommand({}));
  const groups = await client.send(new DescribeSecurityGroupsCommand({}));
  const keys = await client.send(new DescribeKeyPairsCommand({}));
  const addresses = await client.send(new DescribeAddressesCommand({}));
  const tags = await client.send(new DescribeTagsCommand({}));
  return {
    instances: (instances.Reservations ?? [])
      .flatMap((r) => r.Instances ?? [])
      .map((i) => i.InstanceId as string)
      .sort(),
    groups: (groups.SecurityGroups ?? [])
      .map(
        (g) =>
          `${g.GroupId} ${g.GroupName} ${(g.IpPermissions ?? [])
            .map((p) => `${p.IpProtocol}:${p.FromPort}-${p.ToPort}`)
            .join(',')}`,
      )
      .sort(),
    keys: (keys.KeyPairs ?? []).map((k) => `${k.KeyPairId} ${k.KeyName}`).sort(),
    addresses: (addresses.Addresses ?? []).map((a) => `${a.AllocationId} ${a.PublicIp}`).sort(),
    tags: (tags.Tags ?? []).map((t) => `${t.ResourceId} ${t.Key}=${t.Value}`).sort(),
  };
}

describe('stratus manage backup and restore (SQLite)', () => {
  let dir: string;
  let url: string;
  let t: TestCloud | undefined;
  const manage = (...args: string[]) =>
    stratus(['manage', '--database', url, '--service-down-after-seconds', '1', ...args]);

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-backup-'));
    url = `sqlite:${path.join(dir, 'stratus.sqlite')}`;
  });
  after(async () => {
    for (const c of extraClients) c.destroy();
    await t?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('restores every resource from before an online backup and none from after', async () => {
    t = await startTestCloud({ database: url, ...FAST_HEARTBEAT });
    const image = await t.addImage({ name: 'backup-image' });
    const imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
    const p = await t.newProject('backup-demo');

    // Before the backup: a key pair, a group with a rule, two instances, an Elastic IP, tags.
    await p.client.send(new CreateKeyPairCommand({ KeyName: 'kept-key' }));
    const sg = await p.client.send(
      new CreateSecurityGroupCommand({ GroupName: 'kept', Description: 'kept group' }),
    );
    await p.client.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: sg.GroupId,
        IpPermissions: [
          { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
        ],
      }),
    );
    const run = await p.client.send(
      new RunInstancesCommand({ ImageId: imageId, MinCount: 2, MaxCount: 2 }),
    );
    const kept = (run.Instances ?? []).map((i) => i.InstanceId as string);
    const eip = await p.client.send(new AllocateAddressCommand({ Domain: 'vpc' }));
    await p.client.send(
      new CreateTagsCommand({
        Resources: [...kept, sg.GroupId as string, eip.AllocationId as string],
        Tags: [{ Key: 'era', Value: 'before' }],
      }),
    );
    const before = await inventory(p.client);
    assert.equal(before.instances.length, 2);
    assert.equal(before.tags.length, 4);

    // The backup, while the cloud runs.
    const file = path.join(dir, 'backup.sqlite');
    const b = await manage('--format', 'json', 'backup', '--file', file);
    assert.equal(b.code, 0, b.stderr);
    assert.equal((JSON.parse(b.stdout) as { file: string }).file, file);
    assert.match(b.stderr, /Image files are not in the database/);
    const again = await manage('backup', '--file', file);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already exists/);

    // After the backup: more of everything, and a new user.
    await p.client.send(new CreateKeyPairCommand({ KeyName: 'later-key' }));
    await p.client.send(
      new CreateSecurityGroupCommand({ GroupName: 'later', Description: 'later group' }),
    );
    const later = await p.client.send(
      new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 }),
    );
    await p.client.send(new AllocateAddressCommand({ Domain: 'vpc' }));
    await p.client.send(
      new CreateTagsCommand({
        Resources: [later.Instances?.[0]?.InstanceId as string, ...kept],
        Tags: [{ Key: 'era', Value: 'after' }],
      }),
    );
    const lateUser = await t.newProject('backup-later');
    await lateUser.client.send(new DescribeKeyPairsCommand({}));

    // Refused while the cloud runs, and the database is left alone.
    const busy = await manage('restore', '--file', file);
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, /The cloud is running \(.*api on .*\)\. Stop every service/);
    assert.doesNotMatch(busy.stderr, /\n\s+at /, 'no stack trace');
    assert.equal((await inventory(p.client)).instances.length, 3);

    await t.stop();
    t = undefined;
    // Until the heartbeats are older than the down-after, the services count as up.
    await new Promise((r) => setTimeout(r, 1500));
    const r = await manage('restore', '--file', file);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Image files are not in the database/);

    t = await startTestCloud({ database: url, ...FAST_HEARTBEAT });
    const restored = await inventory(clientFor(t, p.credentials));
    assert.deepEqual(restored, before);
    // The user made after the backup is gone: its keys no longer authenticate.
    const gone = await failure(() =>
      clientFor(t as TestCloud, lateUser.credentials).send(new DescribeKeyPairsCommand({})),
    );
    assert.equal(gone.code, 'AuthFailure');
  });

  it('refuses a file that is not a Stratus database, changing nothing', async () => {
    const text = path.join(dir, 'notes.txt');
    fs.writeFileSync(text, 'not a database\n'.repeat(100));
    const r1 = await manage('restore', '--file', text);
    assert.notEqual(r1.code, 0);
    assert.match(r1.stderr, /is not a SQLite database/);
    const other = path.join(dir, 'other.sqlite');
    const db = new BetterSqlite3(other);
    db.exec('create table notes (body text)');
    db.close();
    const r3 = await manage('restore', '--file', other);
    assert.notEqual(r3.code, 0);
    assert.match(r3.stderr, /is not a Stratus database \(no migrations table\)/);
    const r2 = await manage('restore', '--file', path.join(dir, 'missing.sqlite'));
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /Cannot open .*missing\.sqlite/);
    assert.doesNotMatch(r1.stderr + r2.stderr + r3.stderr, /\n\s+at /, 'no stack trace');
    const users = await manage('user', 'list');
    assert.match(users.stdout, /backup-demo-user/);
    assert.doesNotMatch(users.stdout, /backup-later-user/);
  });

  it('brings an older backup up to date with the migrations it lacks', async () => {
    await t?.stop();
    t = undefined;
    await new Promise((r) => setTimeout(r, 1500));
    const names = Object.keys(MIGRATIONS).sort();
    const old = path.join(dir, 'old.sqlite');
    const db = new Kysely<unknown>({ dialect: new StratusSqliteDialect(old, 5000) });
    const migrator = new Migrator({
      db,
      provider: { getMigrations: async () => MIGRATIONS },
      migrationTableName: 'stratus_migrations',
      migrationLockTableName: 'stratus_migrations_lock',
    });
    const { error } = await migrator.migrateTo(names[names.length - 3] as string);
    await db.destroy();
    assert.equal(error, undefined);
    const r = await manage('--format', 'json', 'restore', '--file', old);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { migrations_applied: number }).migrations_applied, 2);
    const live = new BetterSqlite3(url.slice('sqlite:'.length), { readonly: true });
    const applied = live.prepare('select name from stratus_migrations order by name').all();
    live.close();
    assert.deepEqual(
      applied.map((a) => (a as { name: string }).name),
      names,
    );
  });

  it('points PostgreSQL at pg_dump and pg_restore', async () => {
    for (const cmd of ['backup', 'restore']) {
      const r = await stratus([
        'manage',
        '--database',
        'postgres://nobody@127.0.0.1:1/none',
        cmd,
        '--file',
        path.join(dir, 'pg.dump'),
      ]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /pg_dump -Fc/);
      assert.match(r.stderr, /pg_restore/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });
});

// The commands the refusal and the README give for PostgreSQL, checked: pg_dump -Fc while the
// cloud runs, pg_restore --clean --if-exists with it stopped. postgresql-15 (the server
// programs) brings pg_dump and pg_restore with it.
describe(
  'pg_dump and pg_restore as documented for a PostgreSQL cloud',
  needs('postgres', 'postgres-server'),
  () => {
    let database: { url: string; remove(): Promise<void> };
    let dir: string;
    let t: TestCloud | undefined;
    const clients: EC2Client[] = [];
    before(async () => {
      database = await postgresBackend.create();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-pgdump-'));
    });
    after(async () => {
      for (const c of clients) c.destroy();
      await t?.stop();
      await disconnected(database.url);
      await database.remove();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('brings back what was there at the dump and nothing after', async () => {
      t = await startTestCloud({ database: database.url });
      const p = await t.newProject('pg-backup');
      await p.client.send(new CreateKeyPairCommand({ KeyName: 'kept-key' }));
      const file = path.join(dir, 'stratus.dump');
      await run('pg_dump', ['-Fc', '-f', file, database.url]);
      await p.client.send(new CreateKeyPairCommand({ KeyName: 'later-key' }));
      await t.stop();
      t = undefined;
      await disconnected(database.url);
      await run('pg_restore', ['--clean', '--if-exists', '-d', database.url, file]);

      t = await startTestCloud({ database: database.url });
      const c = ec2Client(t.endpoint, t.region, p.credentials);
      clients.push(c);
      const keys = await c.send(new DescribeKeyPairsCommand({}));
      assert.deepEqual(
        (keys.KeyPairs ?? []).map((k) => k.KeyName),
        ['kept-key'],
      );
    });
  },
);
