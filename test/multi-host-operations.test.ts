// Operating several compute hosts (issue 12): a controller and three compute hosts in two
// zones, each its own service set on PostgreSQL and RabbitMQ. Launches into a zone land only on
// that zone's hosts, and a disabled or dead host gets nothing; the zones show in EC2 and the
// Compute API; `stratus manage host list|show` shows each host's state, capacity, usage and
// instances, and a dead host's instances as such; a host that comes back resumes its guests.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DescribeAvailabilityZonesCommand,
  DescribeInstanceStatusCommand,
  RunInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { ComputeClient } from '../src/compute/index.js';
import { loadConfig } from '../src/config/index.js';
import { systemContext } from '../src/context.js';
import { InstanceRepo } from '../src/db/index.js';
import { imageEc2Id, parseEc2Id } from '../src/ids/index.js';
import { silentLogger } from '../src/log.js';
import { startCloud, type Cloud } from '../src/main.js';
import { FakeDriver } from '../src/virt/index.js';
import { AMQP_URL, needs } from './support/capabilities.js';
import { stratus } from './support/cli.js';
import { removeBusExchange, testBusExchange } from './support/amqp.js';
import { postgresBackend } from './support/databases.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { failure } from './support/expect.js';
import { login, PASSWORD } from './support/openstack.js';

const suffix = randomBytes(4).toString('hex');
const name = (h: string) => `${h}-${suffix}`;
const exchange = testBusExchange('hosts');
/** Flags every process of this cloud shares. */
const common = (db: string): Record<string, string> => ({
  database: db,
  transport: AMQP_URL,
  'bus-exchange': exchange,
  'service-heartbeat-seconds': '0.2',
  'service-down-after-seconds': '2',
  'bus-call-timeout-ms': '5000',
  'cpu-allocation-ratio': '2',
  'quota-instances': '50',
  'quota-cores': '50',
});

interface HostJson {
  host: string;
  zone: string;
  state: string;
  status: string;
  disabled_reason: string | null;
  capacity: { vcpus: number; ram_mb: number; disk_gb: number };
  allocatable: { vcpus: number; ram_mb: number; disk_gb: number };
  used: { vcpus: number; ram_mb: number; disk_gb: number };
  instances: number;
}

describe('operating several compute hosts', needs('postgres', 'rabbitmq'), () => {
  let db: { url: string; remove(): Promise<void> };
  let t: TestCloud;
  let stateDir: string;
  let imageId: string;
  let imageUuid: string;
  /** An admin's token at the Identity API, for the Compute API. */
  let token: string;
  const computes = new Map<string, Cloud>();
  /** Each host's driver, kept across a restart as its running VMs are. */
  const drivers = new Map<string, FakeDriver>();

  const startCompute = async (host: string, zone: string) => {
    const driver = drivers.get(host) ?? new FakeDriver();
    drivers.set(host, driver);
    const config = loadConfig({
      env: {},
      flags: {
        ...common(db.url),
        'state-dir': path.join(stateDir, host),
        host: name(host),
        'availability-zone': zone,
      },
    });
    computes.set(host, await startCloud(config, ['compute'], { logger: silentLogger(), driver }));
  };
  const manage = (...args: string[]) =>
    stratus([
      'manage',
      '--state-dir',
      stateDir,
      ...Object.entries(common(db.url)).flatMap(([k, v]) => [`--${k}`, v]),
      ...args,
    ]);
  const hostList = async (): Promise<Map<string, HostJson>> => {
    const r = await manage('--format', 'json', 'host', 'list');
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as HostJson[];
    return new Map(rows.filter((h) => h.host.endsWith(suffix)).map((h) => [h.host, h]));
  };
  const launch = async (count: number, zone?: string) => {
    const r = await t.admin.send(
      new RunInstancesCommand({
        ImageId: imageId,
        InstanceType: 'm1.tiny' as _InstanceType,
        MinCount: count,
        MaxCount: count,
        ...(zone ? { Placement: { AvailabilityZone: zone } } : {}),
      }),
    );
    const prefixes = (r.Instances ?? []).map(
      (i) => parseEc2Id(i.InstanceId as string, ['i'], 'instance').uuidPrefix,
    );
    const repo = new InstanceRepo(t.cloud.database.db);
    return waitUntil(
      async () => {
        const rows = await repo.list({ idPrefixes: prefixes });
        return rows.every((x) => x.vmState === 'active') && rows;
      },
      15_000,
      'instances to run',
    );
  };
  const ec2Zones = async () =>
    new Map(
      (await t.admin.send(new DescribeAvailabilityZonesCommand({}))).AvailabilityZones?.map((z) => [
        z.ZoneName as string,
        z.State as string,
      ]),
    );

  before(async () => {
    db = await postgresBackend.create();
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-hosts-'));
    t = await startTestCloud(
      { ...common(db.url), host: name('control') },
      { services: ['network', 'scheduler', 'api'] },
    );
    imageUuid = (await t.addImage()).id;
    imageId = imageEc2Id('machine', imageUuid);
    await startCompute('a1', `za-${suffix}`);
    await startCompute('b1', `zb-${suffix}`);
    await startCompute('b2', `zb-${suffix}`);
  });
  after(async () => {
    for (const c of computes.values()) await c.stop();
    await t?.stop();
    await removeBusExchange(exchange, [...computes.keys()].map(name));
    await db?.remove();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('lists the zones of the registered hosts, in EC2 and in the Compute API', async () => {
    const zones = await ec2Zones();
    assert.equal(zones.get(`za-${suffix}`), 'available');
    assert.equal(zones.get(`zb-${suffix}`), 'available');

    const identity = t.cloud.urls?.identity as string;
    const compute = t.cloud.urls?.compute as string;
    await manage('user', 'create', 'ops', '--password', PASSWORD, '--project', 'admin');
    await manage('role', 'add', '--user', 'ops', '--project', 'admin', '--role', 'admin');
    await manage('user', 'create', 'dev', '--password', PASSWORD, '--project', 'admin');
    token = await login(identity, 'ops', 'admin');
    const member = await login(identity, 'dev', 'admin');
    const forbidden = await fetch(`${compute}/os-availability-zone/detail`, {
      headers: { 'x-auth-token': member },
    });
    assert.equal(forbidden.status, 403);
    assert.ok(((await forbidden.json()) as { forbidden?: unknown }).forbidden);
    const plain = await fetch(`${compute}/os-availability-zone`, {
      headers: { 'x-auth-token': member },
    });
    assert.equal(plain.status, 200, 'every user may list the zones');
    const list = (await (
      await fetch(`${compute}/os-availability-zone`, { headers: { 'x-auth-token': token } })
    ).json()) as {
      availabilityZoneInfo: { zoneName: string; zoneState: { available: boolean }; hosts: null }[];
    };
    assert.deepEqual(
      list.availabilityZoneInfo.find((z) => z.zoneName === `zb-${suffix}`),
      { zoneName: `zb-${suffix}`, zoneState: { available: true }, hosts: null },
    );
    const detail = (await (
      await fetch(`${compute}/os-availability-zone/detail`, {
        headers: { 'x-auth-token': token },
      })
    ).json()) as {
      availabilityZoneInfo: {
        zoneName: string;
        hosts: Record<string, Record<string, { available: boolean; active: boolean }>>;
      }[];
    };
    const zb = detail.availabilityZoneInfo.find((z) => z.zoneName === `zb-${suffix}`);
    assert.deepEqual(Object.keys(zb?.hosts ?? {}).sort(), [name('b1'), name('b2')]);
    assert.equal(zb?.hosts[name('b1')]?.compute?.available, true);
    assert.equal(zb?.hosts[name('b1')]?.compute?.active, true);
    const internal = detail.availabilityZoneInfo.find((z) => z.zoneName === 'internal');
    assert.equal(internal?.hosts[name('control')]?.scheduler?.available, true);
  });

  it("places a launch into a zone only on that zone's hosts", async () => {
    const rows = await launch(4, `zb-${suffix}`);
    assert.deepEqual([...new Set(rows.map((r) => r.host))].sort(), [name('b1'), name('b2')]);
    const rowsA = await launch(1, `za-${suffix}`);
    assert.equal(rowsA[0]?.host, name('a1'));
    assert.equal(rowsA[0]?.availabilityZone, `za-${suffix}`);

    // The Compute API's availability_zone goes the same way.
    const compute = t.cloud.urls?.compute as string;
    const headers = { 'x-auth-token': token, 'content-type': 'application/json' };
    const flavors = (await (await fetch(`${compute}/flavors`, { headers })).json()) as {
      flavors: { id: string; name: string }[];
    };
    const tiny = flavors.flavors.find((f) => f.name === 'm1.tiny')?.id as string;
    const created = await fetch(`${compute}/servers`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        server: {
          name: 'in-za',
          imageRef: imageUuid,
          flavorRef: tiny,
          availability_zone: `za-${suffix}`,
        },
      }),
    });
    assert.equal(created.status, 202, await created.clone().text());
    const { server } = (await created.json()) as { server: { id: string } };
    const shown = await waitUntil(
      async () => {
        const r = (await (await fetch(`${compute}/servers/${server.id}`, { headers })).json()) as {
          server: { status: string; 'OS-EXT-AZ:availability_zone': string };
        };
        return r.server.status === 'ACTIVE' && r.server;
      },
      15_000,
      'the server to be ACTIVE',
    );
    assert.equal(shown['OS-EXT-AZ:availability_zone'], `za-${suffix}`);
    const row = await new InstanceRepo(t.cloud.database.db).get(server.id);
    assert.equal(row.host, name('a1'));
  });

  it('shows each host with its state, zone, capacity under the ratios, usage and instances', async () => {
    const hosts = await hostList();
    assert.deepEqual([...hosts.keys()].sort(), [name('a1'), name('b1'), name('b2')]);
    const b1 = hosts.get(name('b1')) as HostJson;
    assert.equal(b1.zone, `zb-${suffix}`);
    assert.equal(b1.state, 'up');
    assert.equal(b1.status, 'enabled');
    assert.equal(b1.allocatable.vcpus, b1.capacity.vcpus * 2, 'cpu allocation ratio 2');
    assert.equal(b1.allocatable.ram_mb, Math.floor(b1.capacity.ram_mb * 1.5));
    const onB = b1.instances + (hosts.get(name('b2'))?.instances ?? 0);
    assert.equal(onB, 4);
    assert.equal(b1.used.vcpus, b1.instances, 'm1.tiny holds one vCPU');
    assert.equal(hosts.get(name('a1'))?.instances, 2);

    const table = await manage('host', 'list');
    assert.match(table.stdout, /^host +zone +state +status +vcpus +ram_mb +disk_gb +instances/m);
    assert.match(
      table.stdout,
      new RegExp(`^${name('a1')} +za-${suffix} +up +enabled +2/\\d+ \\(\\d+\\) `, 'm'),
    );
  });

  it('sends nothing to a disabled host, and names why it is disabled', async () => {
    const off = await manage('service', 'disable', name('b2'), '--reason', 'new disks');
    assert.equal(off.code, 0, off.stderr);
    const rows = await launch(3, `zb-${suffix}`);
    assert.deepEqual([...new Set(rows.map((r) => r.host))], [name('b1')]);
    const b2 = (await hostList()).get(name('b2')) as HostJson;
    assert.equal(b2.status, 'disabled');
    assert.equal(b2.disabled_reason, 'new disks');
    assert.equal((await ec2Zones()).get(`zb-${suffix}`), 'available', 'b1 is still up');
  });

  it('shows a dead host as down, its instances with it, and sends it nothing', async () => {
    const b1Instances = (await hostList()).get(name('b1'))?.instances as number;
    assert.ok(b1Instances > 0);
    await computes.get('b1')?.stop();
    computes.delete('b1');
    await waitUntil(
      async () => (await hostList()).get(name('b1'))?.state === 'down',
      10_000,
      'b1 to show as down',
    );
    // b1 is down and b2 disabled: the zone has nothing to offer.
    assert.equal((await ec2Zones()).get(`zb-${suffix}`), 'unavailable');
    const refused = await failure(() =>
      t.admin.send(
        new RunInstancesCommand({
          ImageId: imageId,
          InstanceType: 'm1.tiny' as _InstanceType,
          MinCount: 1,
          MaxCount: 1,
          Placement: { AvailabilityZone: `zb-${suffix}` },
        }),
      ),
    );
    assert.equal(refused.code, 'InsufficientInstanceCapacity', refused.message);
    assert.equal(refused.status, 503);

    // Launches that name no zone go on, to the hosts that are up and enabled only.
    const rows = await launch(3);
    assert.deepEqual([...new Set(rows.map((r) => r.host))], [name('a1')]);

    const show = await manage('host', 'show', name('b1'));
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^state +down$/m);
    assert.match(show.stdout, new RegExp(`its ${b1Instances} instance\\(s\\) are not known`));
    const lines = show.stdout.split('\n').filter((l) => /^i-/.test(l));
    assert.equal(lines.length, b1Instances);
    for (const l of lines) assert.match(l, / active +down$/);

    const status = await t.admin.send(new DescribeInstanceStatusCommand({}));
    const impaired = (status.InstanceStatuses ?? []).filter(
      (s) => s.SystemStatus?.Status === 'impaired',
    );
    assert.equal(impaired.length, b1Instances);
  });

  it('resumes its guests when the host comes back', async () => {
    await startCompute('b1', `zb-${suffix}`);
    const h = await waitUntil(
      async () => {
        const b1 = (await hostList()).get(name('b1'));
        return b1?.state === 'up' && b1;
      },
      10_000,
      'b1 to be up again',
    );
    assert.ok(h.instances > 0);
    assert.equal((await ec2Zones()).get(`zb-${suffix}`), 'available');
    // The host's own power sync leaves its running guests active, and they answer again.
    const compute = computes.get('b1') as Cloud;
    const repo = new InstanceRepo(compute.database.db);
    const mine = await repo.list({ host: name('b1'), vmStates: ['active'] });
    assert.equal(mine.length, h.instances);
    const client = new ComputeClient(t.cloud.bus);
    const out = await client.consoleOutput(systemContext(), name('b1'), mine[0]!.id, 4096);
    assert.match(out.output, /Stratus fake guest/);
    const show = await manage('host', 'show', name('b1'));
    for (const l of show.stdout.split('\n').filter((x) => /^i-/.test(x)))
      assert.match(l, / active +up$/);
  });

  it('lists every service with the machine and process that run it', async () => {
    const r = await manage('service', 'list');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^binary +host +state +status +last_heartbeat +runs_on/m);
    const host = os.hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(
      r.stdout,
      new RegExp(`^compute +${name('a1')} +up +enabled +\\S+ +${host}:${process.pid}`, 'm'),
    );
    assert.match(r.stdout, new RegExp(`^compute +${name('b2')} +up +disabled .* new disks$`, 'm'));
  });

  it('answers an unknown host with a clear message', async () => {
    const r = await manage('host', 'show', 'no-such-host');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /The host 'no-such-host' does not exist/);
    const d = await manage('service', 'disable');
    assert.notEqual(d.code, 0);
    assert.match(d.stderr, /Name the host to disable/);
  });
});
