// A compute host of the tests' own beside a test cloud that runs no compute service: its
// manager (with the driver the test hands it) under a service runner, and the request side
// (InstanceOperations) an admin launches through. For tests that drive the host's manager
// directly: races, resumed work, guest ports.
import { ComputeClient, ComputeManager, InstanceOperations } from '../../src/compute/index.js';
import { userContext, type RequestContext } from '../../src/context.js';
import { ImageStore } from '../../src/image/index.js';
import { silentLogger } from '../../src/log.js';
import { NetworkClient, type GuestNetworkPort } from '../../src/network/index.js';
import { SchedulerClient } from '../../src/scheduler/index.js';
import { ServiceRunner } from '../../src/service/index.js';
import type { VirtDriver } from '../../src/virt/index.js';
import type { TestCloud } from './ec2.js';

type ManagerOptions = ConstructorParameters<typeof ComputeManager>[0];
type OperationsOptions = ConstructorParameters<typeof InstanceOperations>[0];

export interface TestComputeHost {
  compute: ComputeManager;
  runner: ServiceRunner;
  ops: InstanceOperations;
  /** The cloud's admin, in its own project. */
  ctx: RequestContext;
  stop(): Promise<void>;
}

export async function startComputeHost(
  t: TestCloud,
  options: {
    host: string;
    driver: VirtDriver;
    guestPort?: GuestNetworkPort;
    /** Power-state sync interval; an hour (out of the way) unless told. */
    powerSyncMs?: number;
    manager?: Partial<ManagerOptions>;
    operations?: Partial<OperationsOptions>;
  },
): Promise<TestComputeHost> {
  const db = t.cloud.database.db;
  const compute = new ComputeManager({
    db,
    images: new ImageStore({ db, stateDir: t.cloud.config.stateDir }),
    host: options.host,
    availabilityZone: t.cloud.config.compute.availabilityZone,
    driver: options.driver,
    network: new NetworkClient(t.cloud.bus),
    ...(options.guestPort ? { guestPort: options.guestPort } : {}),
    logger: silentLogger(),
    powerSyncMs: options.powerSyncMs ?? 3_600_000,
    ...options.manager,
  });
  const runner = new ServiceRunner({
    db,
    bus: t.cloud.bus,
    logger: silentLogger(),
    host: options.host,
    heartbeatMs: 1000,
    downAfterMs: 60_000,
  });
  await runner.start(compute.service());
  const ops = new InstanceOperations({
    db,
    scheduler: new SchedulerClient(t.cloud.bus),
    compute: new ComputeClient(t.cloud.bus),
    network: new NetworkClient(t.cloud.bus),
    logger: silentLogger(),
    availabilityZone: t.cloud.config.compute.availabilityZone,
    terminatedVisibleMs: 60_000,
    quota: t.cloud.config.quota,
    ...options.operations,
  });
  const admin = t.cloud.admin;
  if (!admin) throw new Error('the test cloud has no admin');
  const ctx = userContext({
    userId: admin.user.id,
    projectId: admin.project.id,
    roles: ['admin'],
  });
  return { compute, runner, ops, ctx, stop: () => runner.stop() };
}
