// Launches that fail, through the fake driver's failure switch and a bus that refuses: a build
// that fails on its host, a hand-over to the hosts that fails part way through a launch, and
// a scheduler that is not running. Each checks what users see (EC2 and the Compute API) and
// that nothing is left behind: addresses, quota and capacity claims.
import {
  DescribeInstancesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Bus } from '../src/bus/index.js';
import { ComputeClient, InstanceOperations } from '../src/compute/index.js';
import { userContext, type RequestContext } from '../src/context.js';
import { CapacityClaimRepo, InstanceRepo, NetworkRepo } from '../src/db/index.js';
import { TEST_BACKENDS, type TestBackend } from './support/databases.js';
import { needs } from './support/capabilities.js';
import { StratusError } from '../src/errors.js';
import { IdentityService } from '../src/identity/index.js';
import { silentLogger } from '../src/log.js';
import { NetworkClient } from '../src/network/index.js';
import { SchedulerClient } from '../src/scheduler/index.js';
import { FakeDriver } from '../src/virt/index.js';
import { rawEc2, startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { login, PASSWORD } from './support/openstack.js';

const ec2Id = (uuid: string) => `i-${uuid.replace(/-/g, '').slice(0, 17)}`;
const amiId = (uuid: string) => `ami-${uuid.replace(/-/g, '').slice(0, 17)}`;

async function describeOne(t: TestCloud, id: string): Promise<Instance | undefined> {
  const r = await t.admin.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  return r.Reservations?.[0]?.Instances?.[0];
}

for (const backend of TEST_BACKENDS) {
  describe(`a build that fails on its host (${backend.name})`, needs(...backend.needs), () => {
    let t: TestCloud;
    let database: Awaited<ReturnType<TestBackend['create']>>;
    /** The fake driver's failure switch: spawns of these images fail. */
    const failing = new Set<string>();
    let imageId: string;
    let computeUrl: string;
    let token: string;

    before(async () => {
      database = await backend.create();
      t = await startTestCloud(
        { database: database.url },
        { driver: new FakeDriver({ failImageIds: failing }) },
      );
      const image = await t.addImage({ name: 'broken' });
      failing.add(image.id);
      imageId = amiId(image.id);
      computeUrl = t.cloud.urls?.compute as string;
      await new IdentityService(t.cloud.database.db).setPassword('admin', PASSWORD);
      token = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
    });
    after(async () => {
      await t.stop();
      await database.remove();
    });

    it('ends in error with its address, quota and claim given back; delete retires it', async () => {
      const db = t.cloud.database.db;
      const projectId = t.cloud.admin?.project.id as string;
      const instances = new InstanceRepo(db);
      const before = await instances.usage(projectId);
      const run = await t.admin.send(
        new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 }),
      );
      const id = run.Instances?.[0]?.InstanceId as string;
      const row = await waitUntil(
        async () => (await instances.list({ projectId })).find((r) => ec2Id(r.id) === id),
        5000,
        'the record',
      );
      const failed = await waitUntil(
        async () => {
          const r = await instances.get(row.id);
          return r.vmState === 'error' ? r : undefined;
        },
        10_000,
        'the build to fail',
      );
      assert.equal(failed.stateReason, 'build_failed');
      assert.match(failed.stateMessage ?? '', /told to fail spawning image/);
      assert.equal(failed.host, t.cloud.config.host);
      assert.ok(failed.privateIp, 'it was given an address before the spawn failed');

      // EC2: terminated, with the reason.
      const shown = await describeOne(t, id);
      assert.equal(shown?.State?.Name, 'terminated');
      assert.equal(shown?.StateReason?.Code, 'Server.InternalError');

      // Compute API: ERROR with a fault.
      const server = await fetch(`${computeUrl}/servers/${row.id}`, {
        headers: { 'x-auth-token': token },
      });
      assert.equal(server.status, 200);
      const body = (await server.json()) as {
        server: { status: string; fault?: { code: number; message: string } };
      };
      assert.equal(body.server.status, 'ERROR');
      assert.equal(body.server.fault?.code, 500);
      assert.match(body.server.fault?.message ?? '', /told to fail spawning image/);

      // Its fixed address went back to the pool, its claim is gone, quota counts it no more.
      const fixed = await new NetworkRepo(db).fixedByInstance([row.id]);
      assert.equal(fixed.size, 0, 'no fixed address is held');
      assert.deepEqual(await new CapacityClaimRepo(db).ofInstances([row.id]), []);
      assert.deepEqual(await instances.usage(projectId), before);

      // Delete retires it: no longer a server; EC2 keeps showing it terminated for a while.
      await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
      assert.equal((await instances.get(row.id)).vmState, 'deleted');
      const list = await fetch(`${computeUrl}/servers`, { headers: { 'x-auth-token': token } });
      const servers = ((await list.json()) as { servers: { id: string }[] }).servers;
      assert.equal(
        servers.some((s) => s.id === row.id),
        false,
      );
      const gone = await fetch(`${computeUrl}/servers/${row.id}`, {
        headers: { 'x-auth-token': token },
      });
      assert.equal(gone.status, 404);
      assert.equal((await describeOne(t, id))?.State?.Name, 'terminated');
      assert.deepEqual(await instances.usage(projectId), before);
    });
  });
}

/** A bus that refuses the `n`th cast of `method` (counting from 1), as a broker that is gone would. */
function refusingNthCast(bus: Bus, method: string, n: number): Bus {
  let seen = 0;
  return {
    call: (...args) => bus.call(...args),
    cast: async (ctx, topic, m, args) => {
      if (m === method && ++seen === n) {
        throw new StratusError('unavailable', `The bus refused '${m}' on '${topic}'.`, {
          resource: 'topic',
          id: topic,
        });
      }
      return bus.cast(ctx, topic, m, args);
    },
    fanout: (...args) => bus.fanout(...args),
    serve: (...args) => bus.serve(...args),
    close: () => bus.close(),
  };
}

describe('a launch whose hand-over to the hosts fails part way', () => {
  let t: TestCloud;
  let ctx: RequestContext;
  let imageRef: string;

  before(async () => {
    t = await startTestCloud();
    const admin = t.cloud.admin;
    if (!admin) throw new Error('no admin');
    ctx = userContext({ userId: admin.user.id, projectId: admin.project.id, roles: ['admin'] });
    imageRef = (await t.addImage({ name: 'fine' })).id;
  });
  after(() => t.stop());

  const operations = (bus: Bus) =>
    new InstanceOperations({
      db: t.cloud.database.db,
      scheduler: new SchedulerClient(bus),
      compute: new ComputeClient(bus),
      network: new NetworkClient(bus),
      logger: silentLogger(),
      availabilityZone: t.cloud.config.compute.availabilityZone,
      terminatedVisibleMs: 60_000,
      quota: t.cloud.config.quota,
    });

  it('builds what reached its host; the rest end in error with their claims given back', async () => {
    const db = t.cloud.database.db;
    const ops = operations(refusingNthCast(t.cloud.bus, 'buildInstance', 2));
    const usage = await new InstanceRepo(db).usage(ctx.projectId as string);
    const r = await ops.run(ctx, { imageRef, flavorName: 'm1.tiny', minCount: 3, maxCount: 3 });
    assert.equal(r.instances.length, 3);
    const [first, ...rest] = r.instances.map((i) => i.id) as [string, ...string[]];
    const instances = new InstanceRepo(db);
    await waitUntil(
      async () => (await instances.get(first)).vmState === 'active',
      10_000,
      'the first instance to run',
    );
    for (const id of rest) {
      const row = await instances.get(id);
      assert.equal(row.vmState, 'error', 'not left building');
      assert.equal(row.taskState, null);
      assert.equal(row.stateReason, 'build_failed');
      assert.match(row.stateMessage ?? '', /could not be handed to its host: The bus refused/);
    }
    const claims = await new CapacityClaimRepo(db).ofInstances([first, ...rest]);
    assert.deepEqual(
      claims.map((c) => c.instanceId),
      [first],
    );
    const after = await instances.usage(ctx.projectId as string);
    assert.equal(after.instances, usage.instances + 1, 'only the built one counts');
    // EC2 shows the two that failed as terminated, with the reason.
    for (const id of rest) {
      const shown = await describeOne(t, ec2Id(id));
      assert.equal(shown?.State?.Name, 'terminated');
      assert.equal(shown?.StateReason?.Code, 'Server.InternalError');
    }
  });

  it('undoes the whole launch when the first hand-over fails', async () => {
    const db = t.cloud.database.db;
    const ops = operations(refusingNthCast(t.cloud.bus, 'buildInstance', 1));
    const instances = new InstanceRepo(db);
    const before = await instances.list({ projectId: ctx.projectId as string });
    await assert.rejects(
      ops.run(ctx, { imageRef, flavorName: 'm1.tiny', minCount: 2, maxCount: 2 }),
      (err: unknown) => err instanceof StratusError && err.kind === 'unavailable',
    );
    const now = await instances.list({ projectId: ctx.projectId as string });
    assert.deepEqual(
      now.map((r) => r.id),
      before.map((r) => r.id),
      'no record is left',
    );
    const claimed = await new CapacityClaimRepo(db).usageByHost();
    const stillHeld = await new CapacityClaimRepo(db).ofInstances(now.map((r) => r.id));
    const total = [...claimed.values()].reduce((s, u) => s + u.vcpus, 0);
    assert.equal(
      total,
      stillHeld.reduce((s, c) => s + c.vcpus, 0),
      'no claim without an instance',
    );
  });
});

describe('a launch while the scheduler is down', () => {
  let t: TestCloud;
  let imageId: string;

  before(async () => {
    // Everything but the scheduler; a call nobody answers times out quickly.
    t = await startTestCloud(
      { 'bus-call-timeout-ms': '300' },
      { services: ['network', 'compute', 'api'] },
    );
    imageId = amiId((await t.addImage({ name: 'any' })).id);
  });
  after(() => t.stop());

  it('answers an EC2 error and leaves nothing behind', async () => {
    const db = t.cloud.database.db;
    const projectId = t.cloud.admin?.project.id as string;
    const usage = await new InstanceRepo(db).usage(projectId);
    const r = await rawEc2(t.endpoint, t.region, t.adminCredentials, {
      Action: 'RunInstances',
      Version: '2016-11-15',
      ImageId: imageId,
      MinCount: '2',
      MaxCount: '2',
    });
    assert.equal(r.status, 503, r.body);
    assert.equal(r.code, 'Unavailable');
    assert.match(r.body, /<Message>No reply to .{1,6}selectDestinations.{1,6} on topic/);
    assert.match(r.body, /<RequestID>/);
    assert.deepEqual(await new InstanceRepo(db).list({ projectId }), [], 'no records');
    assert.deepEqual(await new InstanceRepo(db).usage(projectId), usage, 'quota unchanged');
    assert.equal((await new CapacityClaimRepo(db).usageByHost()).size, 0, 'no claims');
  });
});
