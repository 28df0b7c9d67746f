// The all-in-one cloud as an operator runs it: the real binary, a fresh state dir, signals.
import { DescribeRegionsCommand, EC2Client } from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readRcFile, startStratus, stratus, type RunningStratus } from './support/cli.js';
import { FREE_PORT_ARGS } from './support/ports.js';

describe('stratus all-in-one', () => {
  let stateDir: string;
  let cloud: RunningStratus | undefined;
  before(() => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-aio-'));
  });
  after(async () => {
    await cloud?.stop('SIGKILL');
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  let firstRc: Record<string, string>;

  it('writes a working rc file with the real API addresses on a fresh state dir', async () => {
    cloud = startStratus([
      'all-in-one',
      '--state-dir',
      stateDir,
      '--virt',
      'fake',
      ...FREE_PORT_ARGS,
    ]);
    await cloud.waitFor(/Press Ctrl-C to stop/);
    const rcFile = path.join(stateDir, 'stratusrc');
    assert.ok(fs.existsSync(rcFile), 'the rc file exists');
    assert.equal(
      fs.statSync(rcFile).mode & 0o777,
      0o600,
      'the rc file is readable only by its owner',
    );
    firstRc = readRcFile(rcFile);
    for (const key of [
      'EC2_URL',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_DEFAULT_REGION',
      'OS_AUTH_URL',
      'OS_USERNAME',
      'OS_PASSWORD',
      'OS_PROJECT_NAME',
    ]) {
      assert.ok(firstRc[key], `${key} is set`);
    }
    const ec2Port = Number(new URL(firstRc.EC2_URL as string).port);
    assert.notEqual(ec2Port, 0, 'port 0 became the real port');
    assert.match(cloud.output(), new RegExp(`EC2 API: +http://127\\.0\\.0\\.1:${ec2Port}/`));
    // The dashboard: in the rc file and the banner, and it serves its page.
    const dashboard = firstRc.STRATUS_DASHBOARD_URL as string;
    assert.match(dashboard, /^http:\/\/127\.0\.0\.1:[1-9]\d*\/$/);
    assert.ok(
      cloud.output().includes(`dashboard:    ${dashboard}`),
      'the banner names the dashboard',
    );
    assert.match(await (await fetch(dashboard)).text(), /<div id="app">/);
    // The rc file's OpenStack credentials log in at its OS_AUTH_URL.
    const authUrl = firstRc.OS_AUTH_URL as string;
    assert.match(authUrl, /^http:\/\/127\.0\.0\.1:[1-9]\d*\/v3$/);
    const version = (await (await fetch(authUrl)).json()) as { version: { id: string } };
    assert.match(version.version.id, /^v3\./);
    const login = await fetch(`${authUrl}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: {
              user: {
                name: firstRc.OS_USERNAME,
                domain: { name: firstRc.OS_USER_DOMAIN_NAME },
                password: firstRc.OS_PASSWORD,
              },
            },
          },
          scope: {
            project: {
              name: firstRc.OS_PROJECT_NAME,
              domain: { name: firstRc.OS_PROJECT_DOMAIN_NAME },
            },
          },
        },
      }),
    });
    assert.equal(login.status, 201);
    assert.ok(login.headers.get('x-subject-token'));
    // The banner names the Image API, which takes that token.
    const imageUrl = (cloud.output().match(/Image API: +(http:\/\/127\.0\.0\.1:[1-9]\d*) /) ??
      [])[1];
    assert.ok(imageUrl, 'the banner names the Image API');
    assert.equal((await fetch(`${imageUrl}/`)).status, 300);
    const imageList = await fetch(`${imageUrl}/v2/images`, {
      headers: { 'x-auth-token': login.headers.get('x-subject-token') as string },
    });
    assert.equal(imageList.status, 200);
    assert.ok(Array.isArray(((await imageList.json()) as { images: unknown[] }).images));
    // The catalog leads to the Compute API, which the banner names too, and the token works there.
    const catalog = (
      (await login.json()) as {
        token: { catalog: { type: string; endpoints: { url: string }[] }[] };
      }
    ).token.catalog;
    const computeUrl = catalog.find((c) => c.type === 'compute')?.endpoints[0]?.url as string;
    assert.match(computeUrl, /^http:\/\/127\.0\.0\.1:[1-9]\d*\/v2\.1$/);
    assert.ok(cloud.output().includes(`Compute API:  ${computeUrl} `), cloud.output());
    const flavors = await fetch(`${computeUrl}/flavors`, {
      headers: { 'x-auth-token': login.headers.get('x-subject-token') as string },
    });
    assert.equal(flavors.status, 200);
    // The rc file's credentials work with the real AWS SDK; unsigned requests are refused in
    // EC2's own error format.
    const ec2 = new EC2Client({
      endpoint: firstRc.EC2_URL,
      region: firstRc.AWS_DEFAULT_REGION,
      credentials: {
        accessKeyId: firstRc.AWS_ACCESS_KEY_ID as string,
        secretAccessKey: firstRc.AWS_SECRET_ACCESS_KEY as string,
      },
      maxAttempts: 1,
    });
    const regions = await ec2.send(new DescribeRegionsCommand({}));
    ec2.destroy();
    assert.equal(regions.Regions?.[0]?.RegionName, firstRc.AWS_DEFAULT_REGION);
    const res = await fetch(`${firstRc.EC2_URL}?Action=NoSuchAction`);
    assert.equal(res.status, 401);
    assert.match(await res.text(), /<Code>AuthFailure<\/Code>.*<RequestID>req-/s);
  });

  it('reports itself healthy with every service up, and serves Prometheus metrics', async () => {
    const status = (cloud?.output().match(/health: +(http:\/\/\S+)\/healthz/) ?? [])[1];
    assert.ok(status);
    const health = (await (await fetch(`${status}/healthz`)).json()) as {
      status: string;
      services: { binary: string; state: string }[];
    };
    assert.equal(health.status, 'ok');
    assert.deepEqual(health.services.map((s) => `${s.binary}:${s.state}`).sort(), [
      'api:up',
      'compute:up',
      'network:up',
      'scheduler:up',
      'volume:up',
    ]);
    const metrics = await (await fetch(`${status}/metrics`)).text();
    assert.match(metrics, /stratus_http_requests_total\{api="ec2",method="GET",status="401"\} 1/);
    assert.match(metrics, /stratus_process_resident_memory_bytes/);
  });

  it('writes structured JSON logs with request ids', () => {
    const lines = fs
      .readFileSync(path.join(stateDir, 'stratus.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const request = lines.find((l) => l.msg === 'request' && l.api === 'ec2');
    assert.ok(request, 'the EC2 request was logged');
    assert.match(request.requestId, /^req-[0-9a-f-]{36}$/);
  });

  it('lists its services as up through stratus manage while it runs', async () => {
    const r = await stratus([
      'manage',
      '--state-dir',
      stateDir,
      '--format',
      'json',
      'service',
      'list',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as { binary: string; state: string }[];
    assert.equal(rows.filter((s) => s.state === 'up').length, 5);
  });

  it('stops cleanly on SIGTERM and SIGINT and keeps users and credentials across restarts', async () => {
    const created = await stratus([
      'manage',
      '--state-dir',
      stateDir,
      '--format',
      'json',
      'user',
      'create',
      'carol',
      '--project',
      'team',
    ]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(await cloud?.stop('SIGTERM'), 0);

    cloud = startStratus([
      'all-in-one',
      '--state-dir',
      stateDir,
      '--virt',
      'fake',
      ...FREE_PORT_ARGS,
    ]);
    await cloud.waitFor(/Press Ctrl-C to stop/);
    const rc = readRcFile(path.join(stateDir, 'stratusrc'));
    assert.equal(rc.AWS_ACCESS_KEY_ID, firstRc.AWS_ACCESS_KEY_ID);
    assert.equal(rc.AWS_SECRET_ACCESS_KEY, firstRc.AWS_SECRET_ACCESS_KEY);
    assert.equal(rc.OS_PASSWORD, firstRc.OS_PASSWORD);
    const users = await stratus([
      'manage',
      '--state-dir',
      stateDir,
      '--format',
      'json',
      'user',
      'list',
    ]);
    assert.deepEqual(
      (JSON.parse(users.stdout) as { name: string }[]).map((u) => u.name),
      ['admin', 'carol'],
    );
    assert.equal(await cloud.stop('SIGINT'), 0);
    cloud = undefined;
  });

  it('refuses a bad flag value with a clear message and a non-zero exit', async () => {
    const r = await stratus([
      'all-in-one',
      '--state-dir',
      stateDir,
      '--service-heartbeat-seconds',
      'often',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /Invalid value for service-heartbeat-seconds \(flag --service-heartbeat-seconds\): 'often' is not a number/,
    );
    const q = await stratus([
      'all-in-one',
      '--state-dir',
      stateDir,
      '--virt',
      'xen',
      ...FREE_PORT_ARGS,
    ]);
    assert.notEqual(q.code, 0);
    assert.match(q.stderr, /'xen' is invalid/);
    assert.match(q.stderr, /qemu/);
  });
});
