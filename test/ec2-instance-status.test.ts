// DescribeInstanceStatus through the AWS SDK against a cloud whose compute host runs on its
// own (PostgreSQL and RabbitMQ between them, as in distributed mode): what the host reports,
// IncludeAllInstances, the documented filters, and a host that stops sending heartbeats.
import {
  DescribeInstancesCommand,
  DescribeInstanceStatusCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  type DescribeInstanceStatusCommandInput,
  type EC2Client,
  type InstanceStatus,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/index.js';
import { AMQP_URL, needs } from './support/capabilities.js';
import { insertImage } from './support/images.js';
import { postgresBackend } from './support/databases.js';
import { silentLogger } from '../src/log.js';
import { startCloud, type Cloud } from '../src/main.js';
import { expectError } from './support/expect.js';
import { ec2Client, waitUntil } from './support/ec2.js';
import { FREE_PORTS } from './support/ports.js';
import { removeBusExchange, testBusExchange } from './support/amqp.js';

/** `Status/reachability` of a summary, as a string that reads well in assertions. */
const shown = (s: InstanceStatus['SystemStatus']) =>
  `${s?.Status}/${s?.Details?.find((d) => d.Name === 'reachability')?.Status ?? '-'}`;

describe('DescribeInstanceStatus', needs('postgres', 'rabbitmq'), () => {
  let db: { url: string; remove(): Promise<void> };
  let stateDir: string;
  let control: Cloud;
  let node: Cloud | undefined;
  let ec2: EC2Client;
  let running: string;
  let stopped: string;
  const suffix = randomBytes(4).toString('hex');
  const exchange = testBusExchange('status');

  const config = (host: string) =>
    loadConfig({
      env: {},
      flags: {
        'state-dir': path.join(stateDir, host),
        database: db.url,
        transport: AMQP_URL,
        'bus-exchange': exchange,
        host: `${host}-${suffix}`,
        ...FREE_PORTS,
        'service-heartbeat-seconds': '0.2',
        'service-down-after-seconds': '1',
        'power-sync-seconds': '0.5',
        'bus-call-timeout-ms': '5000',
      },
    });
  const statuses = async (input: DescribeInstanceStatusCommandInput = {}) =>
    (await ec2.send(new DescribeInstanceStatusCommand(input))).InstanceStatuses ?? [];
  const byId = async (input: DescribeInstanceStatusCommandInput = {}) =>
    new Map((await statuses(input)).map((s) => [s.InstanceId as string, s]));

  before(async () => {
    db = await postgresBackend.create();
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-status-'));
    control = await startCloud(config('control'), ['api', 'scheduler', 'network'], {
      bootstrap: true,
      logger: silentLogger(),
    });
    node = await startCloud(config('node'), ['compute'], { logger: silentLogger() });
    const admin = control.admin;
    assert.ok(admin);
    ec2 = ec2Client(control.urls?.ec2 as string, control.config.region, {
      accessKeyId: admin.credential.accessKey,
      secretAccessKey: admin.credential.secretKey,
    });
    const image = await insertImage(control.database.db, { name: 'status-image' });
    const run = await ec2.send(
      new RunInstancesCommand({
        ImageId: `ami-${image.id.replace(/-/g, '').slice(0, 17)}`,
        MinCount: 2,
        MaxCount: 2,
      }),
    );
    [running, stopped] = (run.Instances ?? []).map((i) => i.InstanceId as string) as [
      string,
      string,
    ];
    await waitUntil(
      async () => (await statuses({ InstanceIds: [running, stopped] })).length === 2,
      20_000,
      'both instances to run',
    );
    await ec2.send(new StopInstancesCommand({ InstanceIds: [stopped] }));
    await waitUntil(
      async () => {
        const r = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [stopped] }));
        return r.Reservations?.[0]?.Instances?.[0]?.State?.Name === 'stopped';
      },
      20_000,
      'the second instance to stop',
    );
  });
  after(async () => {
    ec2?.destroy();
    await node?.stop();
    await control?.stop();
    await removeBusExchange(exchange, [`node-${suffix}`]);
    await db?.remove();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('reports the host up and says it cannot tell for a guest it does not watch', async () => {
    const s = (await byId()).get(running);
    assert.ok(s, 'the running instance is listed');
    assert.equal(s.InstanceState?.Name, 'running');
    assert.equal(shown(s.SystemStatus), 'ok/passed');
    // The fake driver boots no guest: no DHCP lease or metadata request can ever show.
    assert.equal(shown(s.InstanceStatus), 'insufficient-data/insufficient-data');
    assert.deepEqual(s.Events ?? [], []);
  });

  it('lists stopped instances only with IncludeAllInstances, with nothing to check', async () => {
    assert.equal((await byId()).has(stopped), false);
    assert.equal((await byId({ InstanceIds: [stopped] })).has(stopped), false);
    const s = (await byId({ IncludeAllInstances: true })).get(stopped);
    assert.equal(s?.InstanceState?.Name, 'stopped');
    assert.equal(shown(s?.SystemStatus), 'not-applicable/-');
    assert.equal(shown(s?.InstanceStatus), 'not-applicable/-');
  });

  it('filters by state, status and reachability', async () => {
    const ids = async (name: string, value: string) => [
      ...(
        await byId({ IncludeAllInstances: true, Filters: [{ Name: name, Values: [value] }] })
      ).keys(),
    ];
    assert.deepEqual(await ids('instance-state-name', 'stopped'), [stopped]);
    assert.deepEqual(await ids('instance-state-code', '16'), [running]);
    assert.deepEqual(await ids('system-status.status', 'ok'), [running]);
    assert.deepEqual(await ids('system-status.reachability', 'passed'), [running]);
    assert.deepEqual(await ids('instance-status.status', 'insufficient-data'), [running]);
    assert.deepEqual(await ids('instance-status.status', 'not-applicable'), [stopped]);
    assert.deepEqual(await ids('instance-status.reachability', 'failed'), []);
    assert.deepEqual(await ids('event.code', 'system-reboot'), []);
    await expectError(
      () =>
        ec2.send(
          new DescribeInstanceStatusCommand({
            Filters: [{ Name: 'no-such-filter', Values: ['x'] }],
          }),
        ),
      'InvalidParameterValue',
    );
  });

  it('reports the system impaired once the host stops sending heartbeats', async () => {
    await node?.stop();
    node = undefined;
    const s = await waitUntil(
      async () => {
        const found = (await byId({ InstanceIds: [running] })).get(running);
        return found?.SystemStatus?.Status === 'impaired' ? found : undefined;
      },
      20_000,
      'the system status to turn impaired',
    );
    assert.equal(shown(s.SystemStatus), 'impaired/failed');
    // What the host last said of the VM may no longer hold.
    assert.equal(shown(s.InstanceStatus), 'insufficient-data/insufficient-data');
    assert.equal(s.InstanceState?.Name, 'running');
    const impaired = await byId({
      Filters: [{ Name: 'system-status.status', Values: ['impaired'] }],
    });
    assert.deepEqual([...impaired.keys()], [running]);
  });
});
