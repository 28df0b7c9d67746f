// Instances through the real AWS SDK against a whole cloud on the fake driver: the launch path
// api -> scheduler -> compute -> driver over the bus, state transitions, filters, pagination,
// tenancy, quotas and console output.
import {
  DescribeAvailabilityZonesCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeInstanceStatusCommand,
  DescribeInstanceTypesCommand,
  DescribeRegionsCommand,
  GetConsoleOutputCommand,
  RebootInstancesCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type EC2Client,
  type Instance,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FlavorRepo, InstanceRepo, TagRepo, type InstanceRow } from '../src/db/index.js';
import { ec2Id } from '../src/ids/index.js';
import { AMQP_URL, needs } from './support/capabilities.js';
import { removeBusExchange, testBusExchange } from './support/amqp.js';
import { postgresBackend, TEST_BACKENDS } from './support/databases.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { instanceRow } from './support/instances.js';

async function instance(client: EC2Client, id: string): Promise<Instance | undefined> {
  const r = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  return r.Reservations?.[0]?.Instances?.[0];
}

async function waitState(client: EC2Client, id: string, state: string): Promise<Instance> {
  return waitUntil(
    async () => {
      const i = await instance(client, id);
      return i?.State?.Name === state ? i : undefined;
    },
    10_000,
    `${id} to be ${state}`,
  );
}

describe('EC2 instances', () => {
  let t: TestCloud;
  let imageId: string;

  before(async () => {
    t = await startTestCloud({
      'quota-instances': '40',
      'quota-cores': '80',
      'quota-ram-mb': '200000',
    });
    const image = await t.addImage({ name: 'test-image' });
    imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
  });
  after(() => t.stop());

  it('describes the region and its zone', async () => {
    const regions = await t.admin.send(new DescribeRegionsCommand({}));
    assert.deepEqual(
      regions.Regions?.map((r) => r.RegionName),
      [t.region],
    );
    // The address the client reached (the listen flag asked for port 0).
    assert.equal(regions.Regions?.[0]?.Endpoint, new URL(t.cloud.urls?.ec2 ?? '').host);
    const zones = await t.admin.send(new DescribeAvailabilityZonesCommand({}));
    assert.equal(zones.AvailabilityZones?.length, 1);
    assert.equal(zones.AvailabilityZones?.[0]?.State, 'available');
    assert.equal(zones.AvailabilityZones?.[0]?.RegionName, t.region);
  });

  it('launches an instance that goes pending -> running, with every step recorded', async () => {
    const r = await t.admin.send(
      new RunInstancesCommand({
        ImageId: imageId,
        InstanceType: 'm1.tiny' as _InstanceType,
        MinCount: 1,
        MaxCount: 1,
        UserData: Buffer.from('#!/bin/sh\necho hello\n').toString('base64'),
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'first' }] }],
      }),
    );
    assert.match(r.ReservationId ?? '', /^r-[0-9a-f]{17}$/);
    const launched = r.Instances?.[0] as Instance & { InstanceId: string };
    assert.match(launched.InstanceId, /^i-[0-9a-f]{17}$/);
    assert.equal(launched.State?.Name, 'pending');
    assert.equal(launched.State?.Code, 0);
    assert.equal(launched.ImageId, imageId);
    assert.equal(launched.InstanceType, 'm1.tiny');
    const running = await waitState(t.admin, launched.InstanceId, 'running');
    assert.equal(running.State?.Code, 16);
    assert.match(running.PrivateIpAddress ?? '', /^10\.20\.\d+\.\d+$/);
    assert.deepEqual(running.Tags, [{ Key: 'Name', Value: 'first' }]);
    assert.equal(running.SecurityGroups?.[0]?.GroupName, 'default');
    assert.equal(running.Placement?.AvailabilityZone, t.cloud.config.compute.availabilityZone);

    const attr = await t.admin.send(
      new DescribeInstanceAttributeCommand({
        InstanceId: launched.InstanceId,
        Attribute: 'userData',
      }),
    );
    assert.equal(
      Buffer.from(attr.UserData?.Value ?? '', 'base64').toString(),
      '#!/bin/sh\necho hello\n',
    );
    const type = await t.admin.send(
      new DescribeInstanceAttributeCommand({
        InstanceId: launched.InstanceId,
        Attribute: 'instanceType',
      }),
    );
    assert.equal(type.InstanceType?.Value, 'm1.tiny');

    const console = await t.admin.send(
      new GetConsoleOutputCommand({ InstanceId: launched.InstanceId }),
    );
    assert.match(Buffer.from(console.Output ?? '', 'base64').toString(), /Stratus fake guest/);

    const rows = await new InstanceRepo(t.cloud.database.db).list();
    const row = rows.find((x) =>
      launched.InstanceId?.endsWith(x.id.replace(/-/g, '').slice(0, 17)),
    );
    assert.ok(row?.host, 'the scheduler placed it');
    const actions = await new InstanceRepo(t.cloud.database.db).actions(row.id);
    assert.deepEqual(
      actions.map((a) => [a.action, a.result]),
      [
        ['create', null],
        ['spawn', 'success'],
      ],
    );
  });

  it('stops, starts, reboots and terminates with EC2 state transitions', async () => {
    const r = await t.admin.send(
      new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 }),
    );
    const id = r.Instances?.[0]?.InstanceId as string;
    await waitState(t.admin, id, 'running');

    const stop = await t.admin.send(new StopInstancesCommand({ InstanceIds: [id] }));
    assert.equal(stop.StoppingInstances?.[0]?.PreviousState?.Name, 'running');
    assert.equal(stop.StoppingInstances?.[0]?.CurrentState?.Name, 'stopping');
    const stopped = await waitState(t.admin, id, 'stopped');
    assert.equal(stopped.State?.Code, 80);
    assert.equal(stopped.StateReason?.Code, 'Client.UserInitiatedShutdown');

    await assert.rejects(t.admin.send(new RebootInstancesCommand({ InstanceIds: [id] })), {
      name: 'IncorrectInstanceState',
    });

    const start = await t.admin.send(new StartInstancesCommand({ InstanceIds: [id] }));
    assert.equal(start.StartingInstances?.[0]?.CurrentState?.Name, 'pending');
    await waitState(t.admin, id, 'running');
    await t.admin.send(new RebootInstancesCommand({ InstanceIds: [id] }));
    await waitUntil(async () => {
      const c = await t.admin.send(new GetConsoleOutputCommand({ InstanceId: id }));
      return /reboot/.test(Buffer.from(c.Output ?? '', 'base64').toString());
    });

    // Force pulls the plug: the driver powers off without asking the guest.
    const console = async () =>
      Buffer.from(
        (await t.admin.send(new GetConsoleOutputCommand({ InstanceId: id }))).Output ?? '',
        'base64',
      ).toString();
    assert.match(await console(), /power off\n/);
    assert.doesNotMatch(await console(), /power off \(forced\)/);
    await t.admin.send(new StopInstancesCommand({ InstanceIds: [id], Force: true }));
    await waitState(t.admin, id, 'stopped');
    assert.match(await console(), /power off \(forced\)/);

    const term = await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    assert.equal(term.TerminatingInstances?.[0]?.CurrentState?.Name, 'shutting-down');
    const gone = await waitState(t.admin, id, 'terminated');
    assert.equal(gone.State?.Code, 48);
    // Terminated instances stay visible, and terminating again is harmless.
    const again = await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    assert.equal(again.TerminatingInstances?.[0]?.CurrentState?.Name, 'terminated');
    await assert.rejects(t.admin.send(new StartInstancesCommand({ InstanceIds: [id] })), {
      name: 'IncorrectInstanceState',
    });
  });

  it('launches MinCount..MaxCount in one reservation and honours ClientToken', async () => {
    const token = `token-${Date.now()}`;
    const first = await t.admin.send(
      new RunInstancesCommand({ ImageId: imageId, MinCount: 2, MaxCount: 3, ClientToken: token }),
    );
    assert.equal(first.Instances?.length, 3);
    assert.deepEqual(
      first.Instances?.map((i) => i.AmiLaunchIndex),
      [0, 1, 2],
    );
    const replay = await t.admin.send(
      new RunInstancesCommand({ ImageId: imageId, MinCount: 2, MaxCount: 3, ClientToken: token }),
    );
    assert.equal(replay.ReservationId, first.ReservationId);
    assert.deepEqual(
      replay.Instances?.map((i) => i.InstanceId),
      first.Instances?.map((i) => i.InstanceId),
    );
    await t.admin.send(
      new TerminateInstancesCommand({
        InstanceIds: first.Instances?.map((i) => i.InstanceId as string),
      }),
    );
  });

  it('filters and pages DescribeInstances', async () => {
    const r = await t.admin.send(
      new RunInstancesCommand({
        ImageId: imageId,
        MinCount: 6,
        MaxCount: 6,
        TagSpecifications: [
          { ResourceType: 'instance', Tags: [{ Key: 'batch', Value: 'paging' }] },
        ],
      }),
    );
    const ids = (r.Instances ?? []).map((i) => i.InstanceId as string);
    for (const id of ids) await waitState(t.admin, id, 'running');
    const tagged = await t.admin.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'tag:batch', Values: ['paging'] }] }),
    );
    assert.deepEqual(
      tagged.Reservations?.flatMap((x) => x.Instances ?? [])
        .map((i) => i.InstanceId)
        .sort(),
      [...ids].sort(),
    );
    const running = await t.admin.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: 'instance-state-name', Values: ['running'] },
          { Name: 'tag:batch', Values: ['pag*'] },
          { Name: 'image-id', Values: [imageId] },
        ],
      }),
    );
    assert.equal(running.Reservations?.flatMap((x) => x.Instances ?? []).length, 6);
    const one = await instance(t.admin, ids[0] as string);
    const byIp = await t.admin.send(
      new DescribeInstancesCommand({
        Filters: [{ Name: 'private-ip-address', Values: [one?.PrivateIpAddress as string] }],
      }),
    );
    assert.deepEqual(
      byIp.Reservations?.flatMap((x) => x.Instances ?? []).map((i) => i.InstanceId),
      [ids[0]],
    );

    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await t.admin.send(
        new DescribeInstancesCommand({
          Filters: [{ Name: 'tag:batch', Values: ['paging'] }],
          MaxResults: 5,
          NextToken: token,
        }),
      );
      seen.push(
        ...(page.Reservations ?? [])
          .flatMap((x) => x.Instances ?? [])
          .map((i) => i.InstanceId as string),
      );
      token = page.NextToken;
      pages++;
    } while (token);
    assert.equal(pages, 2);
    assert.deepEqual(seen.sort(), [...ids].sort());

    const status = await t.admin.send(new DescribeInstanceStatusCommand({ InstanceIds: ids }));
    assert.equal(status.InstanceStatuses?.length, 6);
    assert.equal(status.InstanceStatuses?.[0]?.InstanceState?.Name, 'running');
    assert.equal(status.InstanceStatuses?.[0]?.SystemStatus?.Status, 'ok');
    // The fake driver has no guest to watch on the network (ec2-instance-status has more).
    assert.equal(status.InstanceStatuses?.[0]?.InstanceStatus?.Status, 'insufficient-data');
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: ids }));
  });

  it('lists instance types from the flavors', async () => {
    const r = await t.admin.send(
      new DescribeInstanceTypesCommand({
        InstanceTypes: ['m1.small', 'm1.large'] as _InstanceType[],
      }),
    );
    const byName = new Map(r.InstanceTypes?.map((x) => [x.InstanceType as string, x]));
    assert.equal(byName.get('m1.small')?.MemoryInfo?.SizeInMiB, 2048);
    assert.equal(byName.get('m1.large')?.VCpuInfo?.DefaultVCpus, 4);
    const all = await t.admin.send(new DescribeInstanceTypesCommand({}));
    assert.ok((all.InstanceTypes?.length ?? 0) >= 5);
  });

  it('keeps projects apart: a tenant sees only its own instances; admin sees all', async () => {
    const tenant = await t.newProject();
    const mine = await tenant.client.send(
      new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 }),
    );
    const id = mine.Instances?.[0]?.InstanceId as string;
    const adminOwn = await t.admin.send(
      new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 }),
    );
    const adminId = adminOwn.Instances?.[0]?.InstanceId as string;

    const seen = await tenant.client.send(new DescribeInstancesCommand({}));
    assert.deepEqual(
      seen.Reservations?.flatMap((x) => x.Instances ?? []).map((i) => i.InstanceId),
      [id],
    );
    await assert.rejects(
      tenant.client.send(new DescribeInstancesCommand({ InstanceIds: [adminId] })),
      {
        name: 'InvalidInstanceID.NotFound',
      },
    );
    await assert.rejects(
      tenant.client.send(new TerminateInstancesCommand({ InstanceIds: [adminId] })),
      {
        name: 'InvalidInstanceID.NotFound',
      },
    );
    assert.ok(await instance(t.admin, id), 'admin sees the tenant instance');
    await tenant.client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [adminId] }));
  });

  it('enforces quotas atomically under concurrent launches (3 clients x 10)', async () => {
    const tenant = await t.newProject();
    await new (await import('../src/db/index.js')).QuotaRepo(t.cloud.database.db).set(
      tenant.projectId,
      'instances',
      25,
    );
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, () =>
        tenant.client.send(
          new RunInstancesCommand({
            ImageId: imageId,
            InstanceType: 'm1.nano' as _InstanceType,
            MinCount: 1,
            MaxCount: 1,
          }),
        ),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(ok.length, 25);
    assert.equal(refused.length, 5);
    for (const r of refused) assert.equal((r.reason as Error).name, 'InstanceLimitExceeded');
    const listed = await tenant.client.send(new DescribeInstancesCommand({}));
    const all = listed.Reservations?.flatMap((x) => x.Instances ?? []) ?? [];
    assert.equal(all.length, 25, 'nothing half-built');
    for (const i of all) await waitState(tenant.client, i.InstanceId as string, 'running');
    const ips = new Set(all.map((i) => i.PrivateIpAddress));
    assert.equal(ips.size, 25, 'every instance has its own address');
    await tenant.client.send(
      new TerminateInstancesCommand({ InstanceIds: all.map((i) => i.InstanceId as string) }),
    );
  });
});

describe('EC2 instances after termination', () => {
  let t: TestCloud;
  before(async () => {
    t = await startTestCloud({ 'terminated-visible-seconds': '1' });
  });
  after(() => t.stop());

  it('stay visible as terminated for a while, then vanish from listings', async () => {
    const image = await t.addImage();
    const ImageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
    const r = await t.admin.send(new RunInstancesCommand({ ImageId, MinCount: 1, MaxCount: 1 }));
    const id = r.Instances?.[0]?.InstanceId as string;
    await waitState(t.admin, id, 'running');
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await waitState(t.admin, id, 'terminated');
    await waitUntil(
      async () => {
        const all = await t.admin.send(new DescribeInstancesCommand({}));
        return (all.Reservations ?? []).length === 0;
      },
      30_000,
      'the terminated instance to leave the listing',
    );
  });
});

describe('EC2 instances on PostgreSQL and RabbitMQ', needs('postgres', 'rabbitmq'), () => {
  let t: TestCloud;
  let db: { url: string; remove(): Promise<void> };
  const exchange = testBusExchange('ec2');
  const host = `ec2-${Date.now().toString(36)}`;
  before(async () => {
    db = await postgresBackend.create();
    t = await startTestCloud({
      database: db.url,
      transport: AMQP_URL,
      'bus-exchange': exchange,
      host,
    });
  });
  after(async () => {
    await t.stop();
    await removeBusExchange(exchange, [host]);
    await db.remove();
  });

  it('launches, runs and terminates instances with every step over the AMQP bus', async () => {
    const image = await t.addImage();
    const ImageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
    const r = await t.admin.send(new RunInstancesCommand({ ImageId, MinCount: 3, MaxCount: 3 }));
    const ids = (r.Instances ?? []).map((i) => i.InstanceId as string);
    for (const id of ids) await waitState(t.admin, id, 'running');
    const described = await t.admin.send(new DescribeInstancesCommand({ InstanceIds: ids }));
    const ips = described.Reservations?.flatMap((x) => x.Instances ?? []).map(
      (i) => i.PrivateIpAddress,
    );
    assert.equal(new Set(ips).size, 3);
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: ids }));
    for (const id of ids) await waitState(t.admin, id, 'terminated');
  });
});

for (const backend of TEST_BACKENDS) {
  describe(`DescribeInstances pages on ${backend.name}`, needs(...backend.needs), () => {
    let t: TestCloud;
    let database: { url: string; remove(): Promise<void> };
    let tenant: EC2Client;
    let rows: InstanceRow[];
    const hour = 3600_000;

    before(async () => {
      database = await backend.create();
      // The default visibility window of terminated instances (an hour).
      t = await startTestCloud({ database: database.url });
      const project = await t.newProject();
      tenant = project.client;
      const image = await t.addImage();
      const flavors = new FlavorRepo(t.cloud.database.db);
      const [nano, tiny] = [await flavors.getByName('m1.nano'), await flavors.getByName('m1.tiny')];
      const now = Date.now();
      const states: Partial<InstanceRow>[] = [
        { vmState: 'active' },
        { vmState: 'deleted', terminatedAt: now - 60_000 },
        { vmState: 'stopped' },
        { vmState: 'deleted', terminatedAt: now - 2 * hour },
        { vmState: 'active', taskState: 'powering-off' },
        { vmState: 'error', terminatedAt: now - 1000 },
      ];
      rows = Array.from({ length: 36 }, (_, i) =>
        instanceRow({
          projectId: project.projectId,
          imageId: image.id,
          flavorId: (i % 4 === 0 ? tiny : nano).id,
          // Two to a reservation, as one RunInstances call with MaxCount 2 makes them.
          createdAt: now - 3 * hour + Math.floor(i / 2) * 1000,
          launchIndex: i % 2,
          privateIp: `10.9.${i}.1`,
          ...states[i % states.length],
        }),
      );
      const db = t.cloud.database.db;
      await new InstanceRepo(db).insert([...rows].reverse(), []);
      await new TagRepo(db).put(
        rows.map((r, i) => ({
          resourceId: r.id,
          resourceType: 'instance',
          projectId: r.projectId,
          key: 'tier',
          value: i % 3 === 0 ? 'web' : 'db',
        })),
      );
    });
    after(async () => {
      await t.stop();
      await database.remove();
    });

    /** The listing made in code: the window, oldest first, then `keep`. */
    const expected = (keep: (r: InstanceRow, i: number) => boolean) =>
      rows
        .map((r, i) => [r, i] as const)
        .filter(
          ([r, i]) =>
            (r.terminatedAt === null || r.terminatedAt >= Date.now() - hour) && keep(r, i),
        )
        .map(([r]) => ec2Id('i', r.id));
    /** Every page of a listing, `MaxResults` at a time. */
    const allPages = async (Filters?: { Name: string; Values: string[] }[]) => {
      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await tenant.send(
          new DescribeInstancesCommand({ Filters, MaxResults: 5, NextToken: token }),
        );
        const ids = (page.Reservations ?? [])
          .flatMap((x) => x.Instances ?? [])
          .map((i) => i.InstanceId as string);
        assert.ok(ids.length <= 5);
        seen.push(...ids);
        token = page.NextToken;
        pages++;
      } while (token);
      return { seen, pages };
    };

    it('pages across live and terminated instances in order, none lost or repeated', async () => {
      const want = expected(() => true);
      assert.equal(want.length, 30, 'those terminated before the window are gone');
      const { seen, pages } = await allPages();
      assert.deepEqual(seen, want);
      assert.equal(pages, 6);
      const all = await tenant.send(new DescribeInstancesCommand({}));
      assert.deepEqual(
        all.Reservations?.flatMap((x) => x.Instances ?? []).map((i) => i.InstanceId),
        want,
      );
    });

    it('pages filtered listings exactly as the filters select', async () => {
      const cases: [
        { Name: string; Values: string[] }[],
        (r: InstanceRow, i: number) => boolean,
      ][] = [
        [
          [{ Name: 'instance-state-name', Values: ['terminated'] }],
          (r) => r.vmState === 'deleted' || r.vmState === 'error',
        ],
        [
          [{ Name: 'instance-state-name', Values: ['stopp*'] }],
          (r) => r.vmState === 'stopped' || r.taskState === 'powering-off',
        ],
        [
          [
            { Name: 'tag:tier', Values: ['web'] },
            { Name: 'instance-type', Values: ['m1.nano'] },
          ],
          (_r, i) => i % 3 === 0 && i % 4 !== 0,
        ],
        [[{ Name: 'tag:tier', Values: ['WEB'] }], () => false],
        // SQLite's LIKE ignores case, so 'D?' selects the 'db' rows too, which the check in
        // code then refuses: pages must still come full and in order.
        [[{ Name: 'tag:tier', Values: ['w*', 'D?'] }], (_r, i) => i % 3 === 0],
        [[{ Name: 'private-ip-address', Values: ['10.9.1?.1'] }], (_r, i) => i >= 10 && i < 20],
        [
          [{ Name: 'instance-id', Values: [ec2Id('i', (rows[6] as InstanceRow).id)] }],
          (_r, i) => i === 6,
        ],
      ];
      for (const [filters, keep] of cases) {
        const { seen } = await allPages(filters);
        assert.deepEqual(seen, expected(keep), JSON.stringify(filters));
      }
    });

    it('refuses a NextToken it did not make', async () => {
      await assert.rejects(
        tenant.send(new DescribeInstancesCommand({ MaxResults: 5, NextToken: 'not-a-token' })),
        (err: Error) => err.name === 'InvalidParameterValue' && /is not valid/.test(err.message),
      );
    });
  });
}
