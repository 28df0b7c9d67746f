// The two reconcilers of issue 13, step by step, on records left as a crash leaves them: the
// compute host resumes its own in-flight work (build, terminate, a power task, an address an
// ended instance still holds) and the request side places again launches never handed to a
// host, also when a client retries with the launch's ClientToken.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ComputeManager, InstanceOperations } from '../src/compute/index.js';
import { systemContext, type RequestContext } from '../src/context.js';
import { CapacityClaimRepo, InstanceRepo, NetworkRepo, type InstanceRow } from '../src/db/index.js';
import { NetworkClient } from '../src/network/index.js';
import { FakeDriver } from '../src/virt/index.js';
import { startTestCloud, type TestCloud } from './support/ec2.js';
import { instanceRow } from './support/instances.js';
import { startComputeHost, type TestComputeHost } from './support/compute-host.js';

const HOST = 'reconcile-host';
/** Longer ago than the deadline below. */
const STALE = () => Date.now() - 10_000;

describe('reconciling in-flight work left by a crash (issue 13)', () => {
  let t: TestCloud;
  let compute: ComputeManager;
  let ops: InstanceOperations;
  let host: TestComputeHost;
  let ctx: RequestContext;
  let imageId: string;
  let repo: InstanceRepo;
  const driver = new FakeDriver();

  before(async () => {
    // No compute host of the cloud's own (HOST is the only one), and the api's periodic
    // reconciler out of the way: the test runs each pass itself.
    t = await startTestCloud(
      { 'reconcile-interval-seconds': '3600', 'bus-call-timeout-ms': '500' },
      { services: ['network', 'scheduler', 'api'] },
    );
    const db = t.cloud.database.db;
    repo = new InstanceRepo(db);
    host = await startComputeHost(t, {
      host: HOST,
      driver,
      manager: { reconcileIntervalMs: 3_600_000, inFlightDeadlineMs: 1000 },
      operations: { inFlightDeadlineMs: 1000 },
    });
    ({ compute, ops, ctx } = host);
    imageId = (await t.addImage({ name: 'reconcile' })).id;
  });
  after(async () => {
    await host.stop();
    await t.stop();
  });

  /** Inserts an instance of the admin project as a crash left it. */
  const leftBehind = async (fields: Partial<InstanceRow>): Promise<InstanceRow> => {
    const row = instanceRow({
      projectId: ctx.projectId as string,
      imageId,
      launchedAt: null,
      updatedAt: STALE(),
      ...fields,
    });
    await repo.insert([row], []);
    return row;
  };
  const fixedIpOf = async (id: string) =>
    (await new NetworkRepo(t.cloud.database.db).fixedByInstance([id])).get(id)?.address;
  const claimsOf = (id: string) => new CapacityClaimRepo(t.cloud.database.db).ofInstances([id]);

  it('the host builds again an instance whose build stopped half-way, reusing its address', async () => {
    const row = await leftBehind({ host: HOST, vmState: 'building', taskState: 'spawning' });
    const net = await new NetworkClient(t.cloud.bus).allocateForInstance(ctx, row.id, HOST);
    const done = await compute.reconcile();
    assert.equal(done.get(row.id), 'build');
    const after = await repo.get(row.id);
    assert.equal(after.vmState, 'active');
    assert.equal(after.taskState, null);
    assert.equal(after.privateIp, net.address, 'the address it held, not a second one');
    assert.equal(await driver.getState(row.id), 'running');
  });

  it('work changed within the deadline is left to whoever is doing it', async () => {
    const row = await leftBehind({
      host: HOST,
      vmState: 'building',
      taskState: 'spawning',
      updatedAt: Date.now(),
    });
    assert.equal((await compute.reconcile()).has(row.id), false);
    assert.equal((await repo.get(row.id)).taskState, 'spawning');
    await repo.update(row.id, { vmState: 'deleted', taskState: null });
  });

  it('the host finishes a termination that stopped half-way: VM, address and claim go', async () => {
    const row = await leftBehind({ host: HOST, vmState: 'building', taskState: 'scheduling' });
    await compute.reconcile({ all: true });
    assert.equal((await repo.get(row.id)).vmState, 'active');
    assert.ok(await fixedIpOf(row.id));
    await repo.update(row.id, { taskState: 'deleting', updatedAt: STALE() });
    const done = await compute.reconcile();
    assert.equal(done.get(row.id), 'terminate');
    const after = await repo.get(row.id);
    assert.equal(after.vmState, 'deleted');
    assert.equal(after.taskState, null);
    assert.equal(await driver.getState(row.id), 'nostate');
    assert.equal(await fixedIpOf(row.id), undefined);
    assert.deepEqual(await claimsOf(row.id), []);
  });

  it('a power change nobody finishes is given up, and an ended instance gives back its address', async () => {
    const rebooting = await leftBehind({ host: HOST, vmState: 'active', taskState: 'rebooting' });
    const failed = await leftBehind({ host: HOST, vmState: 'error', taskState: null });
    await new NetworkClient(t.cloud.bus).allocateForInstance(ctx, failed.id, HOST);
    const done = await compute.reconcile();
    assert.equal(done.get(rebooting.id), 'settle-task');
    assert.equal(done.get(failed.id), 'release-addresses');
    assert.equal((await repo.get(rebooting.id)).taskState, null);
    assert.equal(await fixedIpOf(failed.id), undefined);
    assert.equal((await compute.reconcile()).has(failed.id), false, 'once is enough');
    await repo.update(rebooting.id, { vmState: 'deleted' });
  });

  it('a launch never handed to a host is placed and built; one terminated meanwhile is retired', async () => {
    const unplaced = await leftBehind({ vmState: 'building', taskState: 'scheduling' });
    const terminated = await leftBehind({ vmState: 'building', taskState: 'deleting' });
    const done = await ops.reconcileUnplaced(systemContext());
    assert.equal(done.get(unplaced.id), 'handed-over');
    assert.equal(done.get(terminated.id), 'retired');
    assert.equal((await repo.get(terminated.id)).vmState, 'deleted');
    const placed = await repo.get(unplaced.id);
    assert.equal(placed.host, HOST);
    assert.deepEqual(
      (await claimsOf(unplaced.id)).map((c) => c.host),
      [HOST],
      'one claim, on its host',
    );
    // The cast is in flight on the in-process bus; the host's lock orders it.
    for (let i = 0; i < 100 && (await repo.get(unplaced.id)).vmState !== 'active'; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await repo.get(unplaced.id)).vmState, 'active');
    // A second pass finds nothing: the launch is no longer unplaced.
    assert.equal((await ops.reconcileUnplaced(systemContext())).size, 0);
  });

  it('a launch no host can take ends in error with its reason, and its claim given back', async () => {
    const huge = await leftBehind({ vmState: 'building', taskState: 'scheduling', vcpus: 1e6 });
    const done = await ops.reconcileUnplaced(systemContext());
    assert.equal(done.get(huge.id), 'failed');
    const after = await repo.get(huge.id);
    assert.equal(after.vmState, 'error');
    assert.equal(after.stateReason, 'build_failed');
    assert.match(after.stateMessage ?? '', /launch was interrupted and it could not be placed/);
    assert.deepEqual(await claimsOf(huge.id), []);
  });

  it('retrying with the ClientToken of a stuck launch takes it over at once', async () => {
    const stuck = await leftBehind({
      vmState: 'building',
      taskState: 'scheduling',
      clientToken: 'retry-me',
    });
    const r = await ops.run(ctx, {
      imageRef: imageId,
      flavorName: 'm1.nano',
      minCount: 1,
      maxCount: 1,
      clientToken: 'retry-me',
    });
    assert.deepEqual(
      r.instances.map((i) => i.id),
      [stuck.id],
      'the same launch, not a new one',
    );
    assert.equal(r.instances[0]?.host, HOST, 'placed by the retry');
  });
});
