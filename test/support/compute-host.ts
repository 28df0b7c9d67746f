// A compute host of the tests' own beside a test cloud that runs no compute service: its
// manager (with the driver the test hands it) under a service runner, and the request side
// (InstanceOperations) an admin launches through. For tests that drive the host's manager
// directly: races, resumed work, guest ports. And a host with a namespace data plane
// (`startAgentHost`), for tests whose guests are namespaces.
import { ComputeClient, ComputeManager, InstanceOperations } from '../../src/compute/index.js';
import { systemContext, userContext, type RequestContext } from '../../src/context.js';
import { ImageStore } from '../../src/image/index.js';
import { silentLogger } from '../../src/log.js';
import { NetworkAgent, NetworkClient, type GuestNetworkPort } from '../../src/network/index.js';
import { SchedulerClient } from '../../src/scheduler/index.js';
import { ServiceRunner } from '../../src/service/index.js';
import { FakeDriver, type VirtDriver } from '../../src/virt/index.js';
import type { TestCloud } from './ec2.js';
import { uniqueName, type Cleanup } from './netns.js';

type ManagerOptions = ConstructorParameters<typeof ComputeManager>[0];
type AgentOptions = ConstructorParameters<typeof NetworkAgent>[0];
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

/**
 * A compute host with a namespace data plane beside a test cloud that runs no compute service
 * of its own, as main.ts runs one: the network agent (its own namespace, its state in
 * `stateDir`), the compute manager on the fake driver with the agent as its guest port, and
 * the service runner. The guests are played by namespaces: `portFor` hands out their ports.
 * Everything is ended by `cleanup`.
 */
export async function startAgentHost(
  t: TestCloud,
  cleanup: Cleanup,
  options: {
    host: string;
    stateDir: string;
    portFor: AgentOptions['portFor'];
    metadataSocket?: string;
  },
): Promise<NetworkAgent> {
  const network = new NetworkClient(t.cloud.bus);
  const agent = new NetworkAgent({
    host: options.host,
    network: await network.hostNetwork(systemContext(), options.host),
    service: network,
    namespace: uniqueName(),
    leaseSeconds: 120,
    stateDir: options.stateDir,
    ...(options.metadataSocket ? { metadataSocket: options.metadataSocket } : {}),
    portFor: options.portFor,
  });
  const db = t.cloud.database.db;
  const compute = new ComputeManager({
    db,
    images: new ImageStore({ db, stateDir: options.stateDir }),
    host: options.host,
    availabilityZone: t.cloud.config.compute.availabilityZone,
    driver: new FakeDriver(),
    network,
    guestPort: agent,
    logger: silentLogger(),
    powerSyncMs: 60_000,
  });
  const runner = new ServiceRunner({
    db,
    bus: t.cloud.bus,
    logger: silentLogger(),
    host: options.host,
    heartbeatMs: 1000,
    downAfterMs: 10_000,
  });
  cleanup.add(() => agent.teardown());
  cleanup.add(() => runner.stop());
  await runner.start(agent.hostService(compute.service()));
  return agent;
}
