// The compute manager on a host with a data plane, through its GuestNetworkPort: it plugs each
// guest in-process before the spawn and unplugs it when the VM goes (terminated, or a build
// that failed), and gives back the capacity claim with the record. The port here is a fake
// that records what was plugged, standing in for the network agent (test/network-agent.test.ts
// runs the real one, where namespaces can be made).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestCloud, waitUntil, type TestCloud } from '../../test/support/ec2.js';
import { type RequestContext } from '../context.js';
import { CapacityClaimRepo, InstanceRepo } from '../db/index.js';
import { type GuestNetworkPort, type PlugArgs } from '../network/index.js';
import { FakeDriver } from '../virt/index.js';
import { InstanceOperations } from './operations.js';
import { startComputeHost, type TestComputeHost } from '../../test/support/compute-host.js';

const HOST = 'port-host';

/** A data plane that only remembers what is plugged. */
class RecordingPort implements GuestNetworkPort {
  readonly plugged = new Map<string, PlugArgs>();
  readonly unplugged: string[] = [];

  async plugInstance(args: PlugArgs) {
    this.plugged.set(args.instanceId, args);
    return { namespace: 'ns-test', bridge: 'br100', ifname: `tap-${args.instanceId.slice(0, 8)}` };
  }

  async unplugInstance(args: { instanceId: string }) {
    this.plugged.delete(args.instanceId);
    this.unplugged.push(args.instanceId);
  }

  async plugPort(args: { portId: string }) {
    return { namespace: 'ns-test', bridge: 'brq', ifname: `tap-${args.portId.slice(0, 8)}` };
  }

  async unplugPort() {}
}

describe('the compute manager and its guest network port', () => {
  let t: TestCloud;
  let ops: InstanceOperations;
  let ctx: RequestContext;
  const port = new RecordingPort();
  const failing = new Set<string>();
  const driver = new FakeDriver({ failImageIds: failing });
  let host: TestComputeHost;
  let good: string;
  let bad: string;

  before(async () => {
    // No compute host of the cloud's own: HOST is the only one.
    t = await startTestCloud({}, { services: ['network', 'scheduler', 'api'] });
    host = await startComputeHost(t, {
      host: HOST,
      driver,
      guestPort: port,
      powerSyncMs: 60_000,
    });
    ({ ops, ctx } = host);
    good = (await t.addImage({ name: 'good' })).id;
    bad = (await t.addImage({ name: 'bad' })).id;
    failing.add(bad);
  });
  after(async () => {
    await host.stop();
    await t.stop();
  });

  const settled = (id: string, state: string) =>
    waitUntil(
      async () => {
        const r = await new InstanceRepo(t.cloud.database.db).get(id);
        return r.vmState === state && r.taskState === null ? r : undefined;
      },
      10_000,
      `${id} to be ${state}`,
    );

  /** Launches one m1.tiny instance of `imageRef`; returns its id. */
  const launchOne = async (imageRef: string): Promise<string> => {
    const r = await ops.run(ctx, { imageRef, flavorName: 'm1.tiny', minCount: 1, maxCount: 1 });
    return r.instances[0]?.id as string;
  };

  it('plugs a guest with its address and MAC before the spawn; terminating unplugs it and frees its claim', async () => {
    const id = await launchOne(good);
    const row = await settled(id, 'active');
    assert.equal(row.host, HOST);
    assert.deepEqual(port.plugged.get(id), {
      instanceId: id,
      mac: row.macAddress,
      fixedIp: row.privateIp,
      hostname: `ip-${(row.privateIp as string).replace(/\./g, '-')}`,
    });
    const claims = new CapacityClaimRepo(t.cloud.database.db);
    assert.equal((await claims.ofInstances([id]))[0]?.host, HOST);

    await ops.terminate(ctx, [row]);
    await settled(id, 'deleted');
    assert.equal(port.plugged.has(id), false);
    assert.ok(port.unplugged.includes(id));
    assert.deepEqual(await claims.ofInstances([id]), []);
  });

  it('stops with the force asked for: a forced stop skips the guest', async () => {
    const id = await launchOne(good);
    await ops.stop(ctx, [await settled(id, 'active')], true);
    await settled(id, 'stopped');
    assert.match(await driver.consoleOutput(id, 4096), /power off \(forced\)/);
    await ops.start(ctx, [await settled(id, 'stopped')]);
    await ops.stop(ctx, [await settled(id, 'active')], false);
    await settled(id, 'stopped');
    assert.match(await driver.consoleOutput(id, 4096), /power off\n$/);
  });

  it('unplugs a guest whose spawn failed, and its claim goes with the failure', async () => {
    const id = await launchOne(bad);
    const row = await settled(id, 'error');
    assert.equal(row.stateReason, 'build_failed');
    assert.equal(port.plugged.has(id), false);
    assert.ok(port.unplugged.includes(id), 'plugged, then unplugged');
    assert.deepEqual(await new CapacityClaimRepo(t.cloud.database.db).ofInstances([id]), []);
  });
});
