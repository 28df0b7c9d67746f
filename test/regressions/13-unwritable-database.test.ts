// Issue 13: with a database that could not be written, writes failed with 500 while /healthz
// kept saying `database: ok`, and the log showed "cannot rollback - no transaction is active"
// instead of the I/O error. Here the fault is real: the all-in-one runs in a private mount
// namespace with its SQLite database on a small tmpfs (nothing outside that namespace sees
// it), and the test fills the tmpfs. /healthz must then say the database is not writable,
// with SQLite's own error; a write must fail as 503 Unavailable with that error in the log;
// and freeing the space must make both healthy again, without a restart.
import {
  CreateTagsCommand,
  DescribeRegionsCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { needs } from '../support/capabilities.js';
import { readRcFile, startStratus, type RunningStratus } from '../support/cli.js';
import { failure } from '../support/expect.js';
import { waitUntil } from '../support/ec2.js';
import { FREE_PORT_ARGS } from '../support/ports.js';

interface Health {
  status: string;
  database: string;
  bus: string;
}

describe('issue 13: a database that cannot be written', needs('root'), () => {
  let base: string;
  let dbDir: string;
  let stateDir: string;
  let cloud: RunningStratus | undefined;
  let healthUrl: string;
  let client: EC2Client;
  /** The default security group, made (a write) before the disk fills. */
  let groupId: string;
  /** The tmpfs as the cloud's mount namespace sees it, reached through its /proc root. */
  let inside: string;

  const health = async (): Promise<Health & { code: number }> => {
    const r = await fetch(healthUrl);
    return { code: r.status, ...((await r.json()) as Health) };
  };
  /** Writes to a file on the tmpfs until it is full. */
  const fill = () => {
    const fd = fs.openSync(path.join(inside, 'filler'), 'w');
    const chunk = Buffer.alloc(64 * 1024, 7);
    try {
      for (;;) fs.writeSync(fd, chunk);
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      fs.closeSync(fd);
    }
  };

  before(async () => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-full-'));
    dbDir = path.join(base, 'db');
    stateDir = path.join(base, 'state');
    fs.mkdirSync(dbDir);
    cloud = startStratus(
      [
        'all-in-one',
        '--state-dir',
        stateDir,
        '--database',
        `sqlite:${path.join(dbDir, 'stratus.sqlite')}`,
        '--virt',
        'fake',
        '--log-level',
        'info',
        ...FREE_PORT_ARGS,
      ],
      {},
      {
        // A mount namespace of its own (private propagation: the machine's mounts are
        // untouched), a 4 MiB tmpfs over dbDir in it, then the cloud.
        wrapper: [
          'unshare',
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          'mount -t tmpfs -o size=4m stratus-full-test "$0" && exec "$@"',
          dbDir,
        ],
      },
    );
    await cloud.waitFor(/Press Ctrl-C to stop/, 60_000);
    healthUrl = (cloud.output().match(/health: +(\S+)/) as RegExpMatchArray)[1] as string;
    inside = `/proc/${cloud.child.pid}/root${dbDir}`;
    const rc = readRcFile(path.join(stateDir, 'stratusrc'));
    client = new EC2Client({
      endpoint: rc.EC2_URL,
      region: rc.AWS_DEFAULT_REGION,
      credentials: {
        accessKeyId: rc.AWS_ACCESS_KEY_ID as string,
        secretAccessKey: rc.AWS_SECRET_ACCESS_KEY as string,
      },
      maxAttempts: 1,
    });
    const groups = await client.send(new DescribeSecurityGroupsCommand({}));
    groupId = groups.SecurityGroups?.[0]?.GroupId as string;
    assert.match(groupId, /^sg-/);
  });
  after(async () => {
    client?.destroy();
    await cloud?.stop('SIGKILL');
    fs.rmSync(base, { recursive: true, force: true });
  });

  it('runs on the tmpfs, which only its own namespace sees', async () => {
    assert.ok(fs.existsSync(path.join(inside, 'stratus.sqlite')), 'the database is on the tmpfs');
    assert.ok(!fs.existsSync(path.join(dbDir, 'stratus.sqlite')), 'nothing of it outside');
    const h = await health();
    assert.deepEqual([h.code, h.status, h.database, h.bus], [200, 'ok', 'ok', 'ok']);
  });

  it('with the disk full, /healthz names the database as not writable, with the I/O error', async () => {
    fill();
    // The write-ahead log grows with each commit; once a commit needs space it has none.
    const h = await waitUntil(
      async () => {
        const r = await health();
        return r.code === 503 && r;
      },
      30_000,
      '/healthz to report the full disk',
    );
    assert.equal(h.status, 'unhealthy');
    assert.match(h.database, /^error: not writable: .*(full|SQLITE_FULL|SQLITE_IOERR)/);
    assert.equal(h.bus, 'ok');
  });

  it('a write fails as 503 Unavailable, and the log carries the real error', async () => {
    // Reads still work.
    await client.send(new DescribeRegionsCommand({}));
    const write = await failure(() =>
      client.send(
        new CreateTagsCommand({ Resources: [groupId], Tags: [{ Key: 'k', Value: 'v' }] }),
      ),
    );
    assert.equal(write.status, 503, `${write.code}: ${write.message}`);
    assert.equal(write.code, 'Unavailable');
    const logFile = path.join(stateDir, 'stratus.log');
    const logged = await waitUntil(
      async () => {
        const text = fs.readFileSync(logFile, 'utf8');
        return /"EC2 request failed"/.test(text) && text;
      },
      10_000,
      'the failed request in the log',
    );
    const failed = logged.split('\n').filter((l) => l.includes('"EC2 request failed"'));
    assert.ok(failed.length > 0);
    for (const line of failed) {
      assert.match(line, /database or disk is full|SQLITE_FULL|SQLITE_IOERR/, line);
      assert.doesNotMatch(line, /cannot rollback/, line);
    }
  });

  it('freeing the space makes the database writable again, without a restart', async () => {
    fs.rmSync(path.join(inside, 'filler'));
    await waitUntil(async () => (await health()).code === 200, 30_000, '/healthz to recover');
    const h = await health();
    assert.equal(h.database, 'ok');
  });
});
