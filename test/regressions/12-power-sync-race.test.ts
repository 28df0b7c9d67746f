// Issue 12 (found by bench/multi-host-scale.ts): a compute host's power-state sync read the
// hypervisor's VMs and then the records; a build that ended between the two reads looked like
// an active instance without a VM, and the sync marked the guest that had just started as
// stopped (6 of 500 instances under load). It now reads the records first.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ComputeManager, InstanceOperations } from '../../src/compute/index.js';
import { type RequestContext } from '../../src/context.js';
import { InstanceRepo } from '../../src/db/index.js';
import { FakeDriver, type GuestInfo, type GuestSpec } from '../../src/virt/index.js';
import { startTestCloud, waitUntil, type TestCloud } from '../support/ec2.js';
import { startComputeHost, type TestComputeHost } from '../support/compute-host.js';

const HOST = 'sync-race-host';

function gate(): { wait: Promise<void>; open(): void } {
  let open = () => {};
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** The fake driver, with its spawns and one listing held until the test lets them go. */
class HeldDriver extends FakeDriver {
  spawns = gate();
  listing: { entered: ReturnType<typeof gate>; release: ReturnType<typeof gate> } | undefined;

  override async spawn(spec: GuestSpec): Promise<GuestInfo> {
    await this.spawns.wait;
    return super.spawn(spec);
  }

  override async list(): Promise<GuestInfo[]> {
    const guests = await super.list();
    const held = this.listing;
    if (held) {
      this.listing = undefined;
      held.entered.open();
      await held.release.wait;
    }
    return guests;
  }
}

describe('regression: the power-state sync and a build that ends during it', () => {
  let t: TestCloud;
  let compute: ComputeManager;
  let host: TestComputeHost;
  let ops: InstanceOperations;
  let ctx: RequestContext;
  const driver = new HeldDriver();

  before(async () => {
    t = await startTestCloud({}, { services: ['network', 'scheduler', 'api'] });
    host = await startComputeHost(t, { host: HOST, driver });
    ({ compute, ops, ctx } = host);
  });
  after(async () => {
    driver.spawns.open();
    await host.stop();
    await t.stop();
  });

  it('leaves a guest that started while the sync ran active', async () => {
    const image = await t.addImage({ name: 'race' });
    const r = await ops.run(ctx, {
      imageRef: image.id,
      flavorName: 'm1.tiny',
      minCount: 1,
      maxCount: 1,
    });
    const id = r.instances[0]?.id as string;
    const instances = new InstanceRepo(t.cloud.database.db);
    // The build is under way on the host, its spawn held.
    await waitUntil(
      async () => (await instances.get(id)).taskState === 'spawning',
      10_000,
      'the spawn to begin',
    );

    const listing = { entered: gate(), release: gate() };
    driver.listing = listing;
    const sync = compute.syncPowerStates();
    await listing.entered.wait;
    // The build ends while the sync holds the hypervisor's list it read.
    driver.spawns.open();
    await waitUntil(
      async () => (await instances.get(id)).vmState === 'active',
      10_000,
      'the build to end',
    );
    listing.release.open();
    await sync;

    const after = await instances.get(id);
    assert.equal(after.vmState, 'active');
    assert.equal(after.stateReason, null);
    // And the next sync, with the VM in the list, agrees.
    await compute.syncPowerStates();
    assert.equal((await instances.get(id)).vmState, 'active');
  });
});
