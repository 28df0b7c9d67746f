// `stratus lab`: a controller and three compute hosts as separate OS processes over PostgreSQL
// and RabbitMQ, driven as users drive it (the stratus binary, the EC2 API through the AWS
// SDK), and taken away completely by `lab down`.
import {
  DescribeInstancesCommand,
  RunInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { openDatabase, type Database } from '../src/db/index.js';
import { readState, type LabState, type LabStatus } from '../src/lab/index.js';
import { needs, POSTGRES_ADMIN_URL } from './support/capabilities.js';
import { readRcFile, stratus } from './support/cli.js';
import { ec2Client, waitUntil } from './support/ec2.js';
import { insertImage } from './support/images.js';

const NEEDS = needs('postgres', 'rabbitmq', 'root');

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').length > 0;
  } catch {
    return false;
  }
}

describe('stratus lab with three fake-driver hosts', NEEDS, () => {
  const name = `labt${randomBytes(4).toString('hex')}`;
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-lab-')), 'lab');
  let state: LabState;
  let database: Database;
  let ec2: ReturnType<typeof ec2Client>;
  let imageId: string;
  const pids: number[] = [];

  const lab = (...args: string[]) => stratus(['lab', ...args, '--dir', dir]);
  const launch = async (count: number) => {
    const r = await ec2.send(
      new RunInstancesCommand({
        ImageId: imageId,
        InstanceType: 'm1.nano' as _InstanceType,
        MinCount: count,
        MaxCount: count,
      }),
    );
    const ids = (r.Instances ?? []).map((i) => i.InstanceId as string);
    await waitUntil(
      async () => {
        const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
        const states = (d.Reservations ?? []).flatMap((x) => x.Instances ?? []);
        return states.every((i) => i.State?.Name === 'running');
      },
      30_000,
      `${count} instances to be running`,
    );
    // Where each went: the host the launch recorded.
    const prefixes = ids.map((id) => id.slice(2));
    const rows = await database.db.selectFrom('instances').select(['id', 'host']).execute();
    return rows
      .filter((r) => prefixes.some((p) => r.id.replace(/-/g, '').startsWith(p)))
      .map((r) => r.host as string);
  };
  const status = async (): Promise<LabStatus> => {
    const r = await lab('status', '--format', 'json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as LabStatus;
  };

  before(async () => {
    const r = await lab(
      'up',
      '--hosts',
      '3',
      '--virt',
      'fake',
      '--name',
      name,
      '--heartbeat-seconds',
      '0.5',
      '--down-after-seconds',
      '2',
      '--set',
      'quota.instances=100',
    );
    assert.equal(r.code, 0, `lab up failed: ${r.stdout}\n${r.stderr}`);
    state = readState(dir) as LabState;
    for (const p of state.plan.processes) {
      pids.push(Number(fs.readFileSync(p.pidFile, 'utf8')));
    }
    database = await openDatabase(state.plan.databaseUrl, { migrate: false });
    const image = await insertImage(database.db, { name: 'lab-test' });
    imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
    const rc = readRcFile(path.join(dir, 'stratusrc'));
    ec2 = ec2Client(rc.EC2_URL as string, rc.AWS_DEFAULT_REGION as string, {
      accessKeyId: rc.AWS_ACCESS_KEY_ID as string,
      secretAccessKey: rc.AWS_SECRET_ACCESS_KEY as string,
    });
  });
  after(async () => {
    ec2?.destroy();
    await database?.close();
    // A failed test still takes its lab away.
    if (fs.existsSync(dir)) await lab('down');
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it('runs every service as its own process, from its own config file, and all are up', async () => {
    const s = await status();
    assert.equal(s.ready, true);
    assert.deepEqual(s.processes.map((p) => p.name).sort(), [
      'api1',
      'lab-node1',
      'lab-node2',
      'lab-node3',
      'network',
      'scheduler1',
      'volume',
    ]);
    assert.ok(s.processes.every((p) => p.running));
    assert.equal(new Set(s.processes.map((p) => p.pid)).size, 7, 'seven distinct OS processes');
    for (const p of state.plan.processes) {
      assert.match(
        fs.readFileSync(`/proc/${pids[state.plan.processes.indexOf(p)]}/cmdline`, 'utf8'),
        new RegExp(`${p.binary}\0--config\0${p.configFile}`),
      );
    }
    assert.deepEqual(
      s.hosts.map((h) => [h.host, h.state]),
      [
        ['lab-node1', 'up'],
        ['lab-node2', 'up'],
        ['lab-node3', 'up'],
      ],
    );
    assert.ok(s.services.every((v) => v.state === 'up'));
    // Its own database and vhost on the shared servers.
    assert.match(state.plan.databaseUrl, new RegExp(`/stratus_${name}$`));
    assert.match(
      execFileSync('rabbitmqctl', ['-q', 'list_vhosts']).toString(),
      new RegExp(`stratus-${name}`),
    );
  });

  it('spreads six launches over the three hosts', async () => {
    const hosts = await launch(6);
    const counts: Record<string, number> = {};
    for (const h of hosts) counts[h] = (counts[h] ?? 0) + 1;
    assert.deepEqual(counts, { 'lab-node1': 2, 'lab-node2': 2, 'lab-node3': 2 });
  });

  it('sends nothing new to a compute host disabled with stratus manage service disable', async () => {
    const api = state.plan.processes.find((p) => p.name === 'api1');
    const r = await stratus([
      'manage',
      'service',
      'disable',
      '--config',
      api?.configFile as string,
      '--service-host',
      'lab-node1',
      '--binary',
      'compute',
      '--reason',
      'lab test',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const hosts = await launch(4);
    assert.equal(hosts.length, 4);
    assert.ok(!hosts.includes('lab-node1'), `launched on ${hosts.join(', ')}`);
    assert.equal((await status()).hosts.find((h) => h.host === 'lab-node1')?.status, 'disabled');
  });

  it('shows a killed compute host as down and launches go to the others', async () => {
    const node2 = state.plan.processes.find((p) => p.name === 'lab-node2');
    const pid = Number(fs.readFileSync(node2?.pidFile as string, 'utf8'));
    process.kill(pid, 'SIGKILL');
    await waitUntil(
      async () => (await status()).hosts.find((h) => h.host === 'lab-node2')?.state === 'down',
      15_000,
      'lab-node2 to show as down',
    );
    const s = await status();
    assert.equal(s.processes.find((p) => p.name === 'lab-node2')?.running, false);
    const hosts = await launch(3);
    assert.deepEqual([...new Set(hosts)], ['lab-node3']);
  });

  it('lab down leaves no process, database, vhost or directory behind', async () => {
    ec2.destroy();
    await database.close();
    const r = await lab('down');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.existsSync(dir), false);
    assert.deepEqual(pids.filter(running), []);
    const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    try {
      const rows = await admin.query('select 1 from pg_database where datname = $1', [
        `stratus_${name}`,
      ]);
      assert.equal(rows.rowCount, 0);
    } finally {
      await admin.end();
    }
    assert.doesNotMatch(
      execFileSync('rabbitmqctl', ['-q', 'list_vhosts']).toString(),
      new RegExp(`stratus-${name}`),
    );
    // Again: nothing to do, and still success.
    const again = await lab('down');
    assert.equal(again.code, 0, again.stderr);
  });
});

describe('stratus lab refusals', () => {
  it('refuses clearly, changing nothing, when PostgreSQL is not reachable', async () => {
    const dir = path.join(os.tmpdir(), `stratus-lab-refused-${randomBytes(4).toString('hex')}`);
    const r = await stratus([
      'lab',
      'up',
      '--dir',
      dir,
      '--name',
      `labr${randomBytes(4).toString('hex')}`,
      // Port 1 on loopback: nothing listens there.
      '--postgres',
      'postgres://postgres@127.0.0.1:1/postgres',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /PostgreSQL is not reachable at 127\.0\.0\.1:1/);
    assert.match(r.stderr, /service postgresql start/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(fs.existsSync(dir), false);
  });

  it(
    "refuses a qemu lab whose --dir is too long for the VMs' control sockets, changing nothing",
    needs('postgres', 'rabbitmq', 'root', 'netns'),
    async () => {
      const dir = path.join(
        os.tmpdir(),
        `stratus-lab-${'long'.repeat(12)}-${randomBytes(4).toString('hex')}`,
      );
      const name = `labl${randomBytes(4).toString('hex')}`;
      const r = await stratus(['lab', 'up', '--virt', 'qemu', '--dir', dir, '--name', name]);
      assert.notEqual(r.code, 0);
      assert.match(
        r.stderr,
        /does not suit a qemu lab: The qemu state dir .*lab-node\d+\/qemu is too long for the VMs' control sockets \(\d+ of at most 107 bytes\)/,
      );
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.equal(fs.existsSync(dir), false);
      assert.doesNotMatch(execFileSync('ip', ['netns', 'list']).toString(), new RegExp(name));
    },
  );

  it('refuses a directory that holds something other than a lab', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-lab-busy-'));
    fs.writeFileSync(path.join(dir, 'keep'), 'mine');
    try {
      const up = await stratus([
        'lab',
        'up',
        '--dir',
        dir,
        '--postgres',
        'postgres://postgres@127.0.0.1:1/postgres',
      ]);
      assert.notEqual(up.code, 0);
      assert.match(up.stderr, /is not empty, and it holds no lab/);
      const down = await stratus(['lab', 'down', '--dir', dir]);
      assert.notEqual(down.code, 0);
      assert.match(down.stderr, /holds no lab/);
      assert.equal(fs.readFileSync(path.join(dir, 'keep'), 'utf8'), 'mine');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
