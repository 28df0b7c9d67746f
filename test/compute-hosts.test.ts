// The compute hosts as the Compute API shows them to admins, on a controller and compute
// hosts of their own (fake driver, PostgreSQL, RabbitMQ): os-hypervisors lists every compute
// host with its capacity and usage (2.1, 2.28, 2.53 with UUIDs, paging and servers, 2.88);
// os-services is the real service registry (disable with a reason, enable, force down,
// delete; the 2.53 PUT by UUID), and a disabled or forced-down host gets no launch;
// os-aggregates with an availability_zone put a host in that zone, in the zone listings of
// both APIs and for the scheduler, which steers a launch into it. Members are refused (403).
// Every response checked against the API reference's schemas; then openstackclient and
// openstacksdk.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DescribeAvailabilityZonesCommand,
  RunInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { loadConfig } from '../src/config/index.js';
import { InstanceRepo } from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { imageEc2Id, parseEc2Id } from '../src/ids/index.js';
import { silentLogger } from '../src/log.js';
import { startCloud, type Cloud } from '../src/main.js';
import { FakeDriver } from '../src/virt/index.js';
import { assertSchema } from './support/api-schema.js';
import { removeBusExchange, testBusExchange } from './support/amqp.js';
import { AMQP_URL, needs } from './support/capabilities.js';
import { assertFault, computeCaller, ok } from './support/compute-http.js';
import { postgresBackend } from './support/databases.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { adminEnv, login, openstack, openstacksdk, PASSWORD } from './support/openstack.js';
import * as schema from './support/schemas/compute-admin.js';

const suffix = randomBytes(4).toString('hex');
const name = (h: string) => `${h}-${suffix}`;
const zone = (z: string) => `${z}-${suffix}`;
const exchange = testBusExchange('compute-hosts');
const common = (db: string): Record<string, string> => ({
  database: db,
  transport: AMQP_URL,
  'bus-exchange': exchange,
  'service-heartbeat-seconds': '0.2',
  'service-down-after-seconds': '2',
  'bus-call-timeout-ms': '5000',
  'quota-instances': '50',
  'quota-cores': '50',
});

interface Hypervisor {
  id: number | string;
  hypervisor_hostname: string;
  state: string;
  status: string;
  vcpus?: number;
  vcpus_used?: number;
  running_vms?: number;
  servers?: { uuid: string; name: string }[];
}
interface Service {
  id: number | string;
  binary: string;
  host: string;
  zone: string;
  status: string;
  state: string;
  disabled_reason: string | null;
  forced_down?: boolean;
}
interface Zone {
  zoneName: string;
  zoneState: { available: boolean };
  hosts: Record<string, unknown> | null;
}

describe('the compute hosts in the Compute API', needs('postgres', 'rabbitmq'), () => {
  let db: { url: string; remove(): Promise<void> };
  let t: TestCloud;
  let stateDir: string;
  let imageId: string;
  let call: ReturnType<typeof computeCaller>;
  let admin: string;
  let member: string;
  const computes = new Map<string, Cloud>();

  const startCompute = async (host: string, z: string) => {
    const config = loadConfig({
      env: {},
      flags: {
        ...common(db.url),
        'state-dir': path.join(stateDir, host),
        host: name(host),
        'availability-zone': z,
      },
    });
    computes.set(
      host,
      await startCloud(config, ['compute'], { logger: silentLogger(), driver: new FakeDriver() }),
    );
  };
  /** Launches through EC2 and waits until the instances run; returns their rows. */
  const launch = async (count: number, az?: string) => {
    const r = await t.admin.send(
      new RunInstancesCommand({
        ImageId: imageId,
        InstanceType: 'm1.tiny' as _InstanceType,
        MinCount: count,
        MaxCount: count,
        ...(az ? { Placement: { AvailabilityZone: az } } : {}),
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
  const hypervisors = async (version: string, query = '') =>
    ok(await call(admin, 'GET', `/v2.1/os-hypervisors/detail${query}`, { version }))
      .hypervisors as Hypervisor[];
  const servicesList = async (version = '2.1') =>
    ok(await call(admin, 'GET', '/v2.1/os-services', { version })).services as Service[];
  const compute = async (host: string, version = '2.1') =>
    (await servicesList(version)).find(
      (s) => s.binary === 'nova-compute' && s.host === name(host),
    ) as Service;
  const zones = async () =>
    (ok(await call(member, 'GET', '/v2.1/os-availability-zone')).availabilityZoneInfo as Zone[])
      .map((z) => z.zoneName)
      .sort();
  const ec2Zones = async () =>
    (
      (await t.admin.send(new DescribeAvailabilityZonesCommand({}))).AvailabilityZones?.map(
        (z) => z.ZoneName as string,
      ) ?? []
    ).sort();

  before(async () => {
    db = await postgresBackend.create();
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-compute-hosts-'));
    t = await startTestCloud(
      { ...common(db.url), host: name('control') },
      { services: ['network', 'scheduler', 'api'] },
    );
    imageId = imageEc2Id('machine', (await t.addImage()).id);
    await startCompute('a1', zone('za'));
    await startCompute('b1', zone('zb'));
    call = computeCaller((t.cloud.urls?.compute as string).replace(/\/v2\.1$/, ''));
    const identity = new IdentityService(t.cloud.database.db);
    await identity.setPassword('admin', PASSWORD);
    await identity.createUser({ name: 'hosts-dev', password: PASSWORD });
    await identity.grantRole('hosts-dev', 'admin', 'member');
    const identityUrl = t.cloud.urls?.identity as string;
    admin = await login(identityUrl, 'admin', 'admin');
    member = await login(identityUrl, 'hosts-dev', 'admin');
    await waitUntil(
      async () => (await hypervisors('2.1')).filter((h) => h.state === 'up').length === 2,
      10_000,
      'both compute hosts to report',
    );
  });
  after(async () => {
    for (const c of computes.values()) await c.stop();
    await t?.stop();
    await removeBusExchange(exchange, [...computes.keys()].map(name));
    await db?.remove();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('lists every compute host as a hypervisor, in the shape of each microversion', async () => {
    await launch(2, zone('za'));
    const list = ok(await call(admin, 'GET', '/v2.1/os-hypervisors'));
    assertSchema(schema.hypervisorList(1, false), list, 'GET os-hypervisors at 2.1');
    assert.deepEqual((list.hypervisors as Hypervisor[]).map((h) => h.hypervisor_hostname).sort(), [
      name('a1'),
      name('b1'),
    ]);
    for (const [version, minor] of [
      ['2.1', 1],
      ['2.28', 28],
      ['2.53', 53],
      ['2.88', 88],
    ] as const) {
      const detail = ok(await call(admin, 'GET', '/v2.1/os-hypervisors/detail', { version }));
      assertSchema(schema.hypervisorList(minor, true), detail, `detail at ${version}`);
    }
    const a1 = (await hypervisors('2.1')).find((h) => h.hypervisor_hostname === name('a1'));
    assert.equal(a1?.running_vms, 2);
    assert.equal(a1?.vcpus_used, 2, 'm1.tiny holds one vCPU');
    assert.equal(typeof a1?.id, 'number');

    const shown = ok(await call(admin, 'GET', `/v2.1/os-hypervisors/${a1?.id}`));
    assertSchema(
      { type: 'object', properties: { hypervisor: schema.hypervisor(1, true) } },
      shown,
      'show at 2.1',
    );
    const byUuid = (await hypervisors('2.53')).find((h) => h.hypervisor_hostname === name('a1'));
    assert.equal(typeof byUuid?.id, 'string');
    const withServers = ok(
      await call(admin, 'GET', `/v2.1/os-hypervisors/${byUuid?.id}?with_servers=true`, {
        version: '2.53',
      }),
    );
    assertSchema(
      { type: 'object', properties: { hypervisor: schema.hypervisor(53, true, true) } },
      withServers,
      'show with servers at 2.53',
    );
    assert.equal((withServers.hypervisor as Hypervisor).servers?.length, 2);
    assertFault(
      await call(admin, 'GET', `/v2.1/os-hypervisors/${a1?.id}`, { version: '2.53' }),
      400,
      'badRequest',
    );
    const page = ok(
      await call(admin, 'GET', '/v2.1/os-hypervisors?limit=1&with_servers=1', { version: '2.53' }),
    );
    assertSchema(schema.hypervisorList(53, false, true), page, 'a page at 2.53');
    assert.equal((page.hypervisors as unknown[]).length, 1);
    assert.match(JSON.stringify(page.hypervisors_links), /marker=/);
    const first = ok(await call(admin, 'GET', '/v2.1/os-hypervisors?limit=1', { version: '2.33' }));
    assertSchema(schema.hypervisorList(33, false), first, 'a page at 2.33');
    const firstId = (first.hypervisors as Hypervisor[])[0]?.id;
    assert.equal(typeof firstId, 'number');
    const rest = ok(
      await call(admin, 'GET', `/v2.1/os-hypervisors?marker=${firstId}`, { version: '2.33' }),
    );
    assert.equal((rest.hypervisors as unknown[]).length, 1, 'the other host after the marker');
    assertFault(
      await call(admin, 'GET', '/v2.1/os-hypervisors?limit=1', { version: '2.32' }),
      400,
      'badRequest',
    );
    const found = ok(
      await call(admin, 'GET', `/v2.1/os-hypervisors/${name('b1')}/servers`, { version: '2.1' }),
    );
    assert.deepEqual(
      (found.hypervisors as Hypervisor[]).map((h) => [h.hypervisor_hostname, h.servers?.length]),
      [[name('b1'), 0]],
    );

    const stats = ok(await call(admin, 'GET', '/v2.1/os-hypervisors/statistics'));
    assertSchema(schema.hypervisorStatistics, stats, 'statistics');
    const s = stats.hypervisor_statistics as { count: number; running_vms: number };
    assert.equal(s.count, 2);
    assert.equal(s.running_vms, 2);
    assertFault(
      await call(admin, 'GET', `/v2.1/os-hypervisors/${a1?.id}/uptime`),
      501,
      'notImplemented',
    );
    assertFault(
      await call(admin, 'GET', '/v2.1/os-hypervisors/statistics', { version: '2.88' }),
      404,
      'itemNotFound',
    );
    assertFault(await call(member, 'GET', '/v2.1/os-hypervisors'), 403, 'forbidden');
  });

  it('lists the real services, and disables, enables and forces one down', async () => {
    for (const [version, minor] of [
      ['2.1', 1],
      ['2.11', 11],
      ['2.53', 53],
    ] as const) {
      const list = ok(await call(admin, 'GET', '/v2.1/os-services', { version }));
      assertSchema(schema.serviceList(minor), list, `os-services at ${version}`);
    }
    const all = await servicesList();
    assert.ok(all.some((x) => x.binary === 'nova-scheduler' && x.host === name('control')));
    assert.equal((await compute('b1')).zone, zone('zb'));
    assert.equal(
      all.find((x) => x.binary === 'nova-scheduler')?.zone,
      'internal',
      'control services are in the internal zone',
    );
    assertFault(await call(member, 'GET', '/v2.1/os-services'), 403, 'forbidden');

    // 2.1: by host and binary.
    const off = ok(
      await call(admin, 'PUT', '/v2.1/os-services/disable-log-reason', {
        body: { host: name('b1'), binary: 'nova-compute', disabled_reason: 'new disks' },
      }),
    );
    assert.deepEqual(off.service, {
      host: name('b1'),
      binary: 'nova-compute',
      status: 'disabled',
      disabled_reason: 'new disks',
    });
    const b1 = await compute('b1');
    assert.equal(b1.status, 'disabled');
    assert.equal(b1.disabled_reason, 'new disks');
    const rows = await launch(2);
    assert.deepEqual([...new Set(rows.map((r) => r.host))], [name('a1')], 'none on disabled b1');
    ok(
      await call(admin, 'PUT', '/v2.1/os-services/enable', {
        body: { host: name('b1'), binary: 'nova-compute' },
      }),
    );
    assert.equal((await compute('b1')).status, 'enabled');
    assertFault(
      await call(member, 'PUT', '/v2.1/os-services/disable', {
        body: { host: name('b1'), binary: 'nova-compute' },
      }),
      403,
      'forbidden',
    );
    assert.equal((await compute('b1')).status, 'enabled', 'the refusal changed nothing');

    // 2.11: forced down.
    ok(
      await call(admin, 'PUT', '/v2.1/os-services/force-down', {
        body: { host: name('a1'), binary: 'nova-compute', forced_down: true },
        version: '2.11',
      }),
    );
    const a1 = await compute('a1', '2.11');
    assert.equal(a1.state, 'down');
    assert.equal(a1.forced_down, true);
    assert.equal(
      (await hypervisors('2.1')).find((h) => h.hypervisor_hostname === name('a1'))?.state,
      'down',
    );
    const elsewhere = await launch(1);
    assert.equal(elsewhere[0]?.host, name('b1'), 'a forced-down host gets nothing');

    // 2.53: one PUT by UUID.
    const uuid = (await compute('a1', '2.53')).id as string;
    const cleared = ok(
      await call(admin, 'PUT', `/v2.1/os-services/${uuid}`, {
        body: { forced_down: false, status: 'disabled', disabled_reason: 'maintenance' },
        version: '2.53',
      }),
    );
    assertSchema(
      { type: 'object', properties: { service: schema.service(53) } },
      cleared,
      'PUT at 2.53',
    );
    const shown = cleared.service as Service;
    assert.deepEqual(
      [shown.state, shown.forced_down, shown.status, shown.disabled_reason],
      ['up', false, 'disabled', 'maintenance'],
    );
    ok(
      await call(admin, 'PUT', `/v2.1/os-services/${uuid}`, {
        body: { status: 'enabled' },
        version: '2.53',
      }),
    );
    assert.equal((await compute('a1')).status, 'enabled');
    assertFault(
      await call(admin, 'PUT', `/v2.1/os-services/${uuid}`, {
        body: { status: 'sideways' },
        version: '2.53',
      }),
      400,
      'badRequest',
    );
    assertFault(
      await call(admin, 'PUT', '/v2.1/os-services/disable', {
        body: { host: name('a1'), binary: 'nova-compute' },
        version: '2.53',
      }),
      400,
      'badRequest',
    );
  });

  it('puts a host in the zone of its aggregate, for the listings and the scheduler', async () => {
    assert.deepEqual(await zones(), [zone('za'), zone('zb')]);
    const made = ok(
      await call(admin, 'POST', '/v2.1/os-aggregates', {
        body: { aggregate: { name: 'fast-disks', availability_zone: zone('zc') } },
        version: '2.41',
      }),
    );
    assertSchema(schema.aggregate(41, false), made.aggregate, 'create at 2.41');
    const id = (made.aggregate as { id: number }).id;
    const action = (body: unknown, token = admin) =>
      call(token, 'POST', `/v2.1/os-aggregates/${id}/action`, { body, version: '2.41' });
    const added = ok(await action({ add_host: { host: name('b1') } }));
    assertSchema(schema.aggregate(41), added.aggregate, 'add_host at 2.41');
    assert.deepEqual((added.aggregate as { hosts: string[] }).hosts, [name('b1')]);

    // b1 left zb for zc: the zone listings of both APIs say so.
    assert.deepEqual(await zones(), [zone('za'), zone('zc')]);
    assert.deepEqual(await ec2Zones(), [zone('za'), zone('zc')]);
    const detail = ok(await call(admin, 'GET', '/v2.1/os-availability-zone/detail'));
    assertSchema(schema.availabilityZonesDetail, detail, 'zones detail');
    const zc = (detail.availabilityZoneInfo as Zone[]).find((z) => z.zoneName === zone('zc'));
    assert.deepEqual(Object.keys(zc?.hosts ?? {}), [name('b1')]);
    assertSchema(
      schema.availabilityZones,
      ok(await call(member, 'GET', '/v2.1/os-availability-zone')),
      'zones',
    );
    assert.equal((await compute('b1')).zone, zone('zc'));

    // The scheduler honours it: a launch into zc lands on b1; zb has no host any more.
    const rows = await launch(2, zone('zc'));
    assert.deepEqual([...new Set(rows.map((r) => r.host))], [name('b1')]);
    assert.equal(rows[0]?.availabilityZone, zone('zc'));
    await assert.rejects(launch(1, zone('zb')), /zb/);

    // The zone changes with the metadata key.
    const moved = ok(
      await action({ set_metadata: { metadata: { availability_zone: zone('zd'), ssd: 'yes' } } }),
    );
    assert.deepEqual((moved.aggregate as { metadata: Record<string, string> }).metadata, {
      availability_zone: zone('zd'),
      ssd: 'yes',
    });
    assert.deepEqual(await zones(), [zone('za'), zone('zd')]);
    assert.equal((await launch(1, zone('zd')))[0]?.host, name('b1'));

    // A host is in one zone: another aggregate with another zone may not take it.
    const other = ok(
      await call(admin, 'POST', '/v2.1/os-aggregates', {
        body: { aggregate: { name: 'elsewhere', availability_zone: zone('ze') } },
      }),
    ).aggregate as { id: number };
    assertFault(
      await call(admin, 'POST', `/v2.1/os-aggregates/${other.id}/action`, {
        body: { add_host: { host: name('b1') } },
      }),
      409,
      'conflictingRequest',
    );
    assertFault(await action({ add_host: { host: 'no-such-host' } }), 404, 'itemNotFound');
    assertFault(await action({ add_host: { host: name('b1') } }), 409, 'conflictingRequest');
    assertFault(
      await call(admin, 'POST', '/v2.1/os-aggregates', {
        body: { aggregate: { name: 'fast-disks' } },
      }),
      409,
      'conflictingRequest',
    );
    assertFault(
      await call(admin, 'POST', '/v2.1/os-aggregates', {
        body: { aggregate: { name: 'named-as-host', availability_zone: name('a1') } },
      }),
      400,
      'badRequest',
    );

    // Members may do none of it.
    assertFault(await call(member, 'GET', '/v2.1/os-aggregates'), 403, 'forbidden');
    assertFault(await action({ remove_host: { host: name('b1') } }, member), 403, 'forbidden');

    const listed = ok(await call(admin, 'GET', '/v2.1/os-aggregates', { version: '2.41' }));
    assertSchema(
      {
        type: 'object',
        properties: { aggregates: { type: 'array', items: schema.aggregate(41) } },
      },
      listed,
      'list at 2.41',
    );
    const renamed = ok(
      await call(admin, 'PUT', `/v2.1/os-aggregates/${id}`, {
        body: { aggregate: { name: 'faster-disks' } },
      }),
    );
    assert.equal((renamed.aggregate as { name: string }).name, 'faster-disks');

    // Deleting needs the hosts out first; then b1 is back in the zone it reported.
    assertFault(await call(admin, 'DELETE', `/v2.1/os-aggregates/${id}`), 400, 'badRequest');
    ok(await action({ remove_host: { host: name('b1') } }));
    assertFault(await action({ remove_host: { host: name('b1') } }), 404, 'itemNotFound');
    ok(await call(admin, 'DELETE', `/v2.1/os-aggregates/${id}`));
    ok(await call(admin, 'DELETE', `/v2.1/os-aggregates/${other.id}`));
    assertFault(await call(admin, 'GET', `/v2.1/os-aggregates/${id}`), 404, 'itemNotFound');
    assertFault(await call(admin, 'GET', '/v2.1/os-aggregates/99999999999'), 404, 'itemNotFound');
    assertFault(await call(admin, 'GET', '/v2.1/os-aggregates/first'), 400, 'badRequest');
    assert.deepEqual(await zones(), [zone('za'), zone('zb')]);
  });

  it('deletes a service, but not that of a host that still runs instances', async () => {
    await startCompute('c1', zone('zc'));
    await waitUntil(async () => (await compute('c1'))?.state === 'up', 10_000, 'c1 to register');
    const a1 = (await compute('a1', '2.53')).id as string;
    assertFault(
      await call(admin, 'DELETE', `/v2.1/os-services/${a1}`, { version: '2.53' }),
      409,
      'conflictingRequest',
    );
    await computes.get('c1')?.stop();
    computes.delete('c1');
    const c1 = (await compute('c1')).id as number;
    assertFault(await call(member, 'DELETE', `/v2.1/os-services/${c1}`), 403, 'forbidden');
    ok(await call(admin, 'DELETE', `/v2.1/os-services/${c1}`), 204);
    assert.equal(await compute('c1'), undefined);
    assert.ok(!(await hypervisors('2.1')).some((h) => h.hypervisor_hostname === name('c1')));
    assertFault(await call(admin, 'DELETE', `/v2.1/os-services/${c1}`), 404, 'itemNotFound');
  });

  it('serves openstackclient: hypervisors, services, zones and aggregates', async () => {
    const env = adminEnv(t);
    const osc = async (...args: string[]) => {
      const r = await openstack(env, args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
      return r.out;
    };
    const json = async <T>(...args: string[]) => JSON.parse(await osc(...args, '-f', 'json')) as T;

    const hv = await json<{ 'Hypervisor Hostname': string }[]>('hypervisor', 'list');
    assert.deepEqual(hv.map((h) => h['Hypervisor Hostname']).sort(), [name('a1'), name('b1')]);
    const shown = await json<Record<string, unknown>>('hypervisor', 'show', name('a1'));
    assert.equal(shown.hypervisor_hostname, name('a1'));
    const stats = await json<Record<string, unknown>>('hypervisor', 'stats', 'show');
    assert.equal(stats.count, 2);

    const services = await json<{ Binary: string; Host: string; Status: string }[]>(
      'compute',
      'service',
      'list',
    );
    assert.ok(services.some((x) => x.Binary === 'nova-compute' && x.Host === name('b1')));
    await osc(
      'compute',
      'service',
      'set',
      '--disable',
      '--disable-reason',
      'by osc',
      name('b1'),
      'nova-compute',
    );
    const b1 = await compute('b1');
    assert.deepEqual([b1.status, b1.disabled_reason], ['disabled', 'by osc']);
    await osc('compute', 'service', 'set', '--enable', name('b1'), 'nova-compute');
    assert.equal((await compute('b1')).status, 'enabled');

    await osc('aggregate', 'create', '--zone', zone('zo'), 'osc-agg');
    await osc('aggregate', 'add', 'host', 'osc-agg', name('a1'));
    const azs = await json<{ 'Zone Name': string }[]>('availability', 'zone', 'list', '--compute');
    assert.ok(azs.some((z) => z['Zone Name'] === zone('zo')));
    await osc('aggregate', 'set', '--zone', zone('zp'), '--property', 'tier=gold', 'osc-agg');
    assert.equal((await compute('a1')).zone, zone('zp'));
    const agg = await json<Record<string, unknown>>('aggregate', 'show', 'osc-agg');
    assert.equal(agg.availability_zone, zone('zp'));
    await osc('aggregate', 'remove', 'host', 'osc-agg', name('a1'));
    await osc('aggregate', 'delete', 'osc-agg');
    assert.equal((await compute('a1')).zone, zone('za'));
  });

  it('serves openstacksdk: hypervisors, services and aggregates', async () => {
    const env = adminEnv(t);
    const script = `
import json, openstack
c = openstack.connect(auth_url=${JSON.stringify(env.OS_AUTH_URL)}, username='admin', password=${JSON.stringify(PASSWORD)},
    project_name='admin', user_domain_name='Default', project_domain_name='Default', region_name=${JSON.stringify(t.region)})
hv = sorted(h.name for h in c.compute.hypervisors())
svc = sorted(s.host for s in c.compute.services() if s.binary == 'nova-compute')
a = c.compute.create_aggregate(name='sdk-agg', availability_zone=${JSON.stringify(zone('zs'))})
c.compute.add_host_to_aggregate(a, ${JSON.stringify(name('b1'))})
hosts = c.compute.get_aggregate(a).hosts
c.compute.remove_host_from_aggregate(a, ${JSON.stringify(name('b1'))})
c.compute.delete_aggregate(a)
print(json.dumps({'hv': hv, 'svc': svc, 'hosts': hosts}))
`;
    const r = await openstacksdk(script, { PATH: process.env.PATH, HOME: process.env.HOME });
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), {
      hv: [name('a1'), name('b1')],
      svc: [name('a1'), name('b1')],
      hosts: [name('b1')],
    });
  });
});
