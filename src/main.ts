// The stratus binary: argv -> config -> services. The one place that knows concrete classes
// (transports, drivers, databases) and wires them together.
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { ec2Id } from './ids/index.js';
import { metadataFiles, MetadataServer, MetadataService } from './api/metadata/index.js';
import { ApiService, type ApiUrls } from './api/service.js';
import { readTls } from './api/tls.js';
import type { ApiServices } from './api/services.js';
import { AmqpBus, InProcessBus, type Bus } from './bus/index.js';
import { addConfigOptions, configFrom } from './cli/config-options.js';
import { labCommand } from './cli/lab.js';
import { manageCommand } from './cli/manage.js';
import { smokeCommand } from './cli/smoke.js';
import {
  ComputeClient,
  VolumeAttachOperations,
  InterfaceAttachOperations,
  ComputeManager,
  ConsoleGrants,
  ensureGuestImage,
  FlavorService,
  guestImageFiles,
  InstanceMetadataReader,
  InstanceLifecycle,
  InstanceImages,
  InstanceOperations,
  LaunchTemplateService,
  SerialConsoleServer,
  ServerGroupService,
  UsageReport,
} from './compute/index.js';
import type { Config } from './config/index.js';
import { migrate, openDatabase, redactUrl, type Database, type Db } from './db/index.js';
import { StratusError } from './errors.js';
import { ImageService, ImageStore, QemuImg } from './image/index.js';
import {
  Catalog,
  ensureAdmin,
  IdentityService,
  LdapIdentity,
  renderRcFile,
  TokenService,
  WebSessions,
  type AdminIdentity,
} from './identity/index.js';
import { KeypairService } from './keypairs/index.js';
import { createLogger, type Logger } from './log.js';
import { Metrics } from './metrics/index.js';
import { systemContext } from './context.js';
import {
  AddressReader,
  cidrContains,
  dataPlaneRuntimeDir,
  dataPlaneUnavailable,
  DEFAULT_FLOATING_POOL,
  NetworkAgent,
  NetworkAgentClient,
  NetworkClient,
  NetworkManager,
  Namespace,
  overlayNamespaceOf,
  parseCidr,
  parseIpv4,
  ProjectNetworkService,
  VpcService,
  SecurityGroupReader,
  type FloatingIpHook,
} from './network/index.js';
import { QuotaAdmin, QuotaReader } from './quota/index.js';
import { HostAdmin, HostInventory, SchedulerClient, SchedulerManager } from './scheduler/index.js';
import { ServiceHealth, ServiceRunner, type Binary, type Service } from './service/index.js';
import { TagService } from './tags/index.js';
import { FAKE_HOST_CAPACITY, FakeDriver, QemuDriver, type VirtDriver } from './virt/index.js';
import { VERSION } from './version.js';
import {
  NbdExports,
  SnapshotOperations,
  VolumeClient,
  VolumeImages,
  VolumeManager,
  VolumeOperations,
} from './volume/index.js';

export const ALL_SERVICES: readonly Binary[] = ['network', 'scheduler', 'compute', 'volume', 'api'];

/** A running set of services in this process. */
export interface Cloud {
  readonly config: Config;
  readonly database: Database;
  readonly bus: Bus;
  readonly logger: Logger;
  /** Set when this process runs the api service. */
  readonly urls: ApiUrls | undefined;
  /** Set when this process ran the all-in-one bootstrap. */
  readonly admin: AdminIdentity | undefined;
  readonly rcFile: string | undefined;
  /** Where guests of this host get their network. */
  readonly dataPlane: DataPlaneChoice;
  /** The guest image this start imported (all-in-one with --virt qemu, first start). */
  readonly guestImage: string | undefined;
  stop(): Promise<void>;
}

export async function createBus(config: Config, logger: Logger): Promise<Bus> {
  if (config.transport === 'in-process') {
    return new InProcessBus({
      logger: logger.child({ bus: 'in-process' }),
      callTimeoutMs: config.bus.callTimeoutMs,
    });
  }
  return AmqpBus.connect({
    url: config.transport,
    logger: logger.child({ bus: 'amqp' }),
    callTimeoutMs: config.bus.callTimeoutMs,
    exchange: config.bus.exchange,
  });
}

/** Where this host's guests get their network: a namespace data plane, or QEMU's user mode. */
export interface DataPlaneChoice {
  mode: 'namespace' | 'user';
  /** Why the data plane is not used (user mode), for the start-up message. */
  why?: string;
}

export function chooseDataPlane(config: Config): DataPlaneChoice {
  if (config.virt.driver !== 'qemu') return { mode: 'user', why: 'the fake driver has no guests' };
  const unavailable = dataPlaneUnavailable();
  if (config.dataPlane.mode === 'user')
    return { mode: 'user', why: 'asked for (--data-plane user)' };
  if (unavailable === undefined) return { mode: 'namespace' };
  if (config.dataPlane.mode === 'namespace') {
    throw new StratusError('invalid', `--data-plane namespace cannot run here: ${unavailable}`, {
      resource: 'config',
      id: 'dataPlane.mode',
    });
  }
  return { mode: 'user', why: unavailable };
}

/**
 * Whether this process's network service sends floating-IP changes to the compute hosts'
 * agents. Beside a compute service (the all-in-one), that host's own data plane decides. A
 * network service without one (a controller) cannot see the compute hosts' choice: it sends
 * them when guests are real (qemu) and QEMU user mode is not asked for, whether or not the
 * controller itself could run a data plane.
 */
export function floatingIpsToAgents(
  config: Config,
  services: readonly Binary[],
  dataPlane: DataPlaneChoice,
): boolean {
  if (services.includes('compute')) return dataPlane.mode === 'namespace';
  return config.virt.driver === 'qemu' && config.dataPlane.mode !== 'user';
}

/** Floating IPs become NAT rules on the data plane of the instance's host. */
export function floatingIpHook(bus: Bus): FloatingIpHook {
  const agents = new NetworkAgentClient(bus);
  return async (change) => {
    if (!change.host) return;
    if (change.kind === 'mapped') {
      await agents.associateFloatingIp(
        systemContext(),
        change.host,
        change.address,
        change.fixedAddress,
      );
    } else {
      await agents.disassociateFloatingIp(systemContext(), change.host, change.address);
    }
  };
}

/**
 * A host address on the public segment inside the floating range may be handed out as a
 * floating IP one day, and then two hosts claim it: said once at start-up.
 */
function warnFloatingOverlap(config: Config, logger: Logger): void {
  const address = config.dataPlane.publicAddress?.split('/')[0];
  const pool = parseCidr(config.network.floatingRange, 16);
  const ip = address === undefined ? undefined : parseIpv4(address);
  if (pool && ip !== undefined && cidrContains(pool, ip)) {
    logger.warn(
      {
        publicAddress: config.dataPlane.publicAddress,
        floatingRange: config.network.floatingRange,
      },
      "this host's public address is inside the floating range: keep host addresses out of it (e.g. a floating range that is the upper half of the public segment)",
    );
  }
}

/** The project network model over `db`, as configured. */
function projectNetworkService(db: Db, config: Config): ProjectNetworkService {
  return new ProjectNetworkService({
    db,
    floatingPool: DEFAULT_FLOATING_POOL,
    defaultZone: config.compute.availabilityZone,
    restMs: (config.network.leaseSeconds + 60) * 1000,
    vniRange: { min: config.network.projectVniMin, max: config.network.projectVniMax },
    mtu: config.network.projectMtu,
  });
}

/** The domain services the API edges call, each built once for this process. */
function apiServices(
  db: Db,
  bus: Bus,
  config: Config,
  shared: { identity: IdentityService; images: ImageStore; directories: LdapIdentity[] },
  logger: Logger,
): ApiServices {
  const network = new NetworkClient(bus);
  const volumeAttachments = new VolumeAttachOperations({ db, compute: new ComputeClient(bus) });
  const hosts = new HostInventory({
    db,
    downAfterMs: config.service.downAfterSeconds * 1000,
    ratios: config.scheduler,
  });
  const projectNetworks = projectNetworkService(db, config);
  const vpcs = new VpcService({ db, projectNetworks });
  return {
    identity: shared.identity,
    tokens: new TokenService(db, {
      lifetimeMs: config.identity.tokenLifetimeSeconds * 1000,
      identity: shared.identity,
      directories: shared.directories,
      logger: logger.child({ service: 'identity' }),
    }),
    catalog: new Catalog(db),
    instances: new InstanceOperations({
      db,
      scheduler: new SchedulerClient(bus),
      compute: new ComputeClient(bus),
      network,
      logger: logger.child({ service: 'api' }),
      availabilityZone: config.compute.availabilityZone,
      terminatedVisibleMs: config.compute.terminatedVisibleSeconds * 1000,
      inFlightDeadlineMs: config.compute.inFlightDeadlineSeconds * 1000,
      quota: config.quota,
      allocationRatios: {
        cpu: config.scheduler.cpuAllocationRatio,
        ram: config.scheduler.ramAllocationRatio,
        disk: config.scheduler.diskAllocationRatio,
      },
    }),
    lifecycle: new InstanceLifecycle({
      db,
      compute: new ComputeClient(bus),
      quota: config.quota,
      allocationRatios: {
        cpu: config.scheduler.cpuAllocationRatio,
        ram: config.scheduler.ramAllocationRatio,
        disk: config.scheduler.diskAllocationRatio,
      },
    }),
    instanceImages: new InstanceImages({
      db,
      compute: new ComputeClient(bus),
      images: shared.images,
    }),
    keypairs: new KeypairService({ db, quota: config.quota }),
    launchTemplates: new LaunchTemplateService({ db }),
    serverGroups: new ServerGroupService({ db, quota: config.quota }),
    images: new ImageService(shared.images),
    network,
    securityGroups: new SecurityGroupReader({ db, network }),
    addresses: new AddressReader(db),
    tags: new TagService({
      db,
      terminatedVisibleMs: config.compute.terminatedVisibleSeconds * 1000,
    }),
    quota: new QuotaReader(db, config.quota),
    health: new ServiceHealth(db, config.service.downAfterSeconds * 1000, bus),
    hosts,
    volumes: new VolumeOperations({
      db,
      volumes: new VolumeClient(bus),
      extendAttached: (ctx, volume) => volumeAttachments.extendAttached(ctx, volume),
      quota: config.quota,
      availabilityZone: config.compute.availabilityZone,
      zones: async () => (await hosts.zones()).map((z) => z.name),
      downAfterMs: config.service.downAfterSeconds * 1000,
      logger: logger.child({ service: 'api' }),
    }),
    volumeAttachments,
    snapshots: new SnapshotOperations({
      db,
      volumes: new VolumeClient(bus),
      quota: config.quota,
    }),
    volumeImages: new VolumeImages({ db, volumes: new VolumeClient(bus), images: shared.images }),
    flavors: new FlavorService(db),
    hostAdmin: new HostAdmin(db, config.compute.availabilityZone),
    quotaAdmin: new QuotaAdmin(db, config.quota),
    usage: new UsageReport(db),
    projectNetworks,
    vpcs,
    interfaceAttachments: new InterfaceAttachOperations({
      compute: new ComputeClient(bus),
      vpcs,
      projectNetworks,
    }),
    webSessions: new WebSessions(db),
    consoleGrants: new ConsoleGrants(db, { ttlMs: config.api.consoleTokenSeconds * 1000 }),
  };
}

/** Where the fake driver of `host` keeps its VMs. */
export function fakeDriverStateFile(stateDir: string, host: string): string {
  return path.join(stateDir, 'fake', `${encodeURIComponent(host)}.json`);
}

function createDriver(config: Config, logger: Logger): VirtDriver {
  switch (config.virt.driver) {
    case 'fake':
      // Its VMs are kept in the state dir, one file per host, so they outlive the process as
      // QEMU's do.
      return new FakeDriver({
        spawnDelayMs: config.virt.fakeSpawnDelayMs,
        stateFile: fakeDriverStateFile(config.stateDir, config.host),
        capacity: { ...FAKE_HOST_CAPACITY, vcpus: config.virt.fakeVcpus },
      });
    case 'qemu':
      return new QemuDriver({
        stateDir: path.join(config.stateDir, 'qemu'),
        accelerator: config.qemu.accelerator,
        powerOffTimeoutMs: config.qemu.powerOffTimeoutSeconds * 1000,
        rebootTimeoutMs: config.qemu.rebootTimeoutSeconds * 1000,
        logger,
      });
  }
}

/**
 * Starts the named services in this process. With `bootstrap`, also makes sure the admin
 * identity exists and writes `<state-dir>/stratusrc` with the real API addresses.
 */
export async function startCloud(
  config: Config,
  services: readonly Binary[],
  options: {
    bootstrap?: boolean;
    logger?: Logger;
    /** The compute service's virt driver; made from the config when absent. */
    driver?: VirtDriver;
  } = {},
): Promise<Cloud> {
  // The API listeners' certificate is checked before anything is opened or started: a bad
  // file is one error naming it (issue 13).
  const tls = services.includes('api') && config.api.tls ? readTls(config.api.tls) : undefined;
  fs.mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  const logger =
    options.logger ?? createLogger({ level: config.log.level, file: config.log.file ?? undefined });
  const undo: (() => Promise<void>)[] = [];
  const rollback = async () => {
    while (undo.length > 0) await (undo.pop() as () => Promise<void>)().catch(() => undefined);
  };
  try {
    // Both the database and the bus must answer before anything is changed (the schema
    // included): a start that cannot reach one says which, and leaves both as they were.
    const database = await openDatabase(config.database, {
      busyTimeoutMs: config.db.busyTimeoutMs,
      maxConnections: config.db.maxConnections,
      migrate: false,
    });
    undo.push(() => database.close());
    const bus = await createBus(config, logger);
    undo.push(() => bus.close());
    await migrate(database.db);
    const metrics = new Metrics();
    const runner = new ServiceRunner({
      db: database.db,
      bus,
      logger,
      host: config.host,
      heartbeatMs: config.service.heartbeatSeconds * 1000,
      downAfterMs: config.service.downAfterSeconds * 1000,
    });
    undo.push(() => runner.stop());
    // Before anything of a service is built (a compute host's data plane, its VMs).
    for (const binary of services) await runner.refuseDuplicate(binary);

    const downAfterMs = config.service.downAfterSeconds * 1000;
    const dataPlane = chooseDataPlane(config);
    // Built once, used by the services below that need them.
    const images = new ImageStore({
      db: database.db,
      stateDir: config.stateDir,
      directory: config.image.directory,
    });
    const identityLogger = logger.child({ service: 'identity' });
    const identity = new IdentityService(database.db, {
      compliance: config.identity.securityCompliance,
      directoryDomains: config.identity.ldap ? [config.identity.ldap.domain] : [],
      logger: identityLogger,
    });
    let api: ApiService | undefined;
    // Each service starts before the next is built: a compute host asks the network service
    // (over the bus) which network its data plane serves.
    for (const binary of ALL_SERVICES.filter((b) => services.includes(b))) {
      let service: Service;
      switch (binary) {
        case 'network':
          service = new NetworkManager({
            db: database.db,
            host: config.host,
            logger: logger.child({ service: 'network' }),
            ...config.network,
            quota: config.quota,
            onFloatingIpChange: floatingIpsToAgents(config, services, dataPlane)
              ? floatingIpHook(bus)
              : undefined,
            // Running guests get a rule change on every host within a second (issue 5).
            onSecurityGroupsChanged: (ids) =>
              new NetworkAgentClient(bus).securityGroupsChanged(systemContext(), ids),
            // Project networks go to the hosts whose agents carry an overlay.
            overlay: {
              agents: new NetworkAgentClient(bus),
              model: projectNetworkService(database.db, config),
            },
          }).service();
          break;
        case 'scheduler':
          service = new SchedulerManager({
            db: database.db,
            host: config.host,
            downAfterMs,
            ratios: config.scheduler,
            weigher: config.scheduler.weigher,
            logger: logger.child({ service: 'scheduler' }),
          }).service();
          break;
        case 'compute': {
          const network = new NetworkClient(bus);
          const metadataService = new MetadataService(
            new InstanceMetadataReader(database.db),
            config.region,
          );
          let agent: NetworkAgent | undefined;
          if (dataPlane.mode === 'namespace') {
            const dir = dataPlaneRuntimeDir(config.dataPlane.namespace);
            // A host that fails to start (an interface missing) leaves no runtime directory
            // behind unless a data plane it belongs to is there.
            const fresh = !fs.existsSync(dir);
            undo.push(async () => {
              if (fresh && !new Namespace(config.dataPlane.namespace).exists())
                fs.rmSync(dir, { recursive: true, force: true });
            });
            const metadataSocket = path.join(dir, 'metadata.sock');
            const metadata = new MetadataServer(
              metadataService,
              logger.child({ service: 'metadata' }),
            );
            await metadata.listen(metadataSocket);
            undo.push(() => metadata.close());
            warnFloatingOverlap(config, logger);
            agent = new NetworkAgent({
              host: config.host,
              network: await network.hostNetwork(systemContext(), config.host),
              service: network,
              namespace: config.dataPlane.namespace,
              flatInterface: config.dataPlane.flatInterface,
              publicInterface: config.dataPlane.publicInterface,
              publicAddress: config.dataPlane.publicAddress,
              leaseSeconds: config.network.leaseSeconds,
              stateDir: dir,
              metadataSocket,
              logger: logger.child({ service: 'network-agent' }),
              // Project networks (VXLAN) beside the flat network, when an underlay is configured.
              // Their metadata proxies name the network, which tells apart guests of
              // overlapping ranges.
              overlay:
                config.dataPlane.underlayInterface !== undefined &&
                config.dataPlane.underlayAddress !== undefined
                  ? {
                      namespace: overlayNamespaceOf(config.dataPlane.namespace),
                      underlayInterface: config.dataPlane.underlayInterface,
                      underlayAddress: config.dataPlane.underlayAddress,
                      publicInterface: config.dataPlane.routerInterface,
                      serveNetworks: config.dataPlane.networkHost,
                      metadataSocket,
                      stateDir: path.join(dir, 'overlay'),
                    }
                  : undefined,
            });
          }
          const compute = new ComputeManager({
            db: database.db,
            images,
            host: config.host,
            availabilityZone: config.compute.availabilityZone,
            driver:
              options.driver ??
              createDriver(config, logger.child({ service: 'compute', driver: 'qemu' })),
            metadataFor: async (inst) => metadataFiles(await metadataService.forInstance(inst)),
            network,
            volumes: new VolumeClient(bus),
            // A volume the instance holds is copied by the storage daemon that exports it
            // (SnapshotWorker.snapshotThroughStorageDaemon), as a snapshot of a volume in use.
            snapshotVolume: (ctx, volume, _instanceId, args) =>
              new SnapshotOperations({
                db: database.db,
                volumes: new VolumeClient(bus),
                quota: config.quota,
              }).create(ctx, volume, volume.id, { ...args, inUse: true }),
            guestPort: agent,
            logger: logger.child({ service: 'compute' }),
            powerSyncMs: config.compute.powerSyncSeconds * 1000,
            reconcileIntervalMs: config.compute.reconcileIntervalSeconds * 1000,
            inFlightDeadlineMs: config.compute.inFlightDeadlineSeconds * 1000,
            serialConsoles: new SerialConsoleServer({
              address: config.compute.serialAddress,
              port: config.compute.serialPort,
              logger: logger.child({ service: 'compute' }),
            }),
          }).service();
          // The agent runs with the compute host: its data plane before the VMs, its topics
          // beside the host's.
          service = agent ? agent.hostService(compute) : compute;
          break;
        }
        case 'volume':
          service = new VolumeManager({
            db: database.db,
            host: config.host,
            directory: path.join(config.stateDir, 'volumes'),
            qemuImg: new QemuImg(),
            nbd: new NbdExports({
              directory: path.join(config.stateDir, 'nbd'),
              address: config.volume.nbdAddress,
              namespace: config.volume.nbdNamespace || undefined,
              port: config.volume.nbdPort,
              logger: logger.child({ service: 'volume', part: 'nbd' }),
            }),
            images,
            logger: logger.child({ service: 'volume' }),
          }).service();
          break;
        case 'api': {
          // The LDAP domain is a row of the domains table, as every other domain.
          const ldap = config.identity.ldap;
          const directories = ldap ? [new LdapIdentity(database.db, ldap, identityLogger)] : [];
          for (const d of directories) await d.ensureDomain();
          api = new ApiService({
            config,
            services: apiServices(
              database.db,
              bus,
              config,
              { identity, images, directories },
              logger,
            ),
            logger,
            metrics,
            localServices: services.map((b) => ({ host: config.host, binary: b })),
            tls,
          });
          service = api.service();
          break;
        }
      }
      await runner.start(service);
    }

    let admin: AdminIdentity | undefined;
    let rcFile: string | undefined;
    let guestImage: string | undefined;
    if (options.bootstrap) {
      admin = await ensureAdmin(identity, config.stateDir);
      const files =
        config.virt.driver === 'qemu' ? guestImageFiles(config.guest.imageDir) : undefined;
      if (files) {
        try {
          const image = await ensureGuestImage(database.db, images, files);
          if (image) {
            guestImage = `${ec2Id('ami', image.id)} (${image.name}, imported from ${config.guest.imageDir})`;
            logger.info({ imageId: image.id, dir: config.guest.imageDir }, 'guest image imported');
          }
        } catch (err) {
          logger.warn({ err, dir: config.guest.imageDir }, 'could not import the guest image');
        }
      }
      if (api) {
        rcFile = path.join(config.stateDir, 'stratusrc');
        const text = renderRcFile({
          ec2Url: api.urls.ec2,
          identityUrl: api.urls.identity,
          dashboardUrl: api.urls.dashboard,
          accessKey: admin.credential.accessKey,
          secretKey: admin.credential.secretKey,
          region: config.region,
          username: admin.user.name,
          password: admin.password,
          projectName: admin.project.name,
          caFile: config.api.tls?.caFile,
          ...(dataPlane.mode === 'namespace' && services.includes('compute')
            ? { guestNetns: config.dataPlane.namespace }
            : {}),
        });
        fs.writeFileSync(`${rcFile}.tmp`, text, { mode: 0o600 });
        fs.renameSync(`${rcFile}.tmp`, rcFile);
      }
    }
    logger.info({ services, version: VERSION }, 'stratus started');
    let stopped = false;
    return {
      config,
      database,
      bus,
      logger,
      urls: api?.urls,
      admin,
      rcFile,
      guestImage,
      dataPlane,
      async stop() {
        if (stopped) return;
        stopped = true;
        logger.info('stratus stopping');
        await rollback();
        logger.flush();
      },
    };
  } catch (err) {
    await rollback();
    throw err;
  }
}

function describeStart(cloud: Cloud, services: readonly Binary[]): string {
  const c = cloud.config;
  const lines = [
    `Stratus ${VERSION} is running ${services.length === ALL_SERVICES.length ? 'all-in-one' : services.join(', ')} on host '${c.host}'.`,
    `  virt driver:  ${c.virt.driver}`,
    `  database:     ${redactUrl(c.database)}`,
    `  bus:          ${c.transport.replace(/\/\/[^@/]*@/, '//***@')}`,
    `  logs:         ${c.log.file ?? 'standard error'}`,
  ];
  if (cloud.guestImage) lines.push(`  guest image:  ${cloud.guestImage}`);
  if (c.virt.driver === 'qemu' && services.includes('compute')) {
    lines.push(
      cloud.dataPlane.mode === 'namespace'
        ? `  guest network: bridge in namespace ${c.dataPlane.namespace} (reach guests with: ip netns exec ${c.dataPlane.namespace} ssh root@PRIVATE-IP)`
        : `  guest network: QEMU user mode, because ${cloud.dataPlane.why}; each guest's ssh port on 127.0.0.1 is in its console output`,
    );
  }
  if (cloud.urls) {
    lines.push(
      `  EC2 API:      ${cloud.urls.ec2}`,
      `  Identity API: ${cloud.urls.identity} (OpenStack Identity v3: tokens, the catalog, users, projects, roles)`,
      `  Image API:    ${cloud.urls.image} (OpenStack Image v2: list, create, upload, download, delete)`,
      `  Compute API:  ${cloud.urls.compute} (OpenStack Compute v2.1: servers, flavors, key pairs, limits)`,
      `  Volume API:   ${cloud.urls.volume} (OpenStack Block Storage v3: volumes, types, limits)`,
      `  dashboard:    ${cloud.urls.dashboard} (sign in with a user name, password and project, or an application credential)`,
      `  health:       ${cloud.urls.status}/healthz`,
      `  metrics:      ${cloud.urls.status}/metrics`,
    );
  }
  if (cloud.rcFile && cloud.admin) {
    lines.push(
      '',
      `Credentials of user '${cloud.admin.user.name}' in project '${cloud.admin.project.name}' are in ${cloud.rcFile}:`,
      `  . ${cloud.rcFile}`,
      '  aws ec2 describe-regions --endpoint-url "$EC2_URL"',
      '  openstack token issue',
      `More users: stratus manage --state-dir ${c.stateDir} user create NAME --project PROJECT`,
    );
  }
  lines.push('', 'Press Ctrl-C to stop.');
  return lines.join('\n');
}

async function runUntilSignal(
  config: Config,
  services: readonly Binary[],
  bootstrap: boolean,
): Promise<void> {
  const cloud = await startCloud(config, services, { bootstrap });
  process.stdout.write(`${describeStart(cloud, services)}\n`);
  // The services' timers do not hold the process; with nothing else open (the in-process
  // bus on SQLite) it would end at once, so this holds it until a signal comes.
  const hold = setInterval(() => undefined, 1 << 30);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      clearInterval(hold);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.stdout.write(`\nReceived ${signal}; stopping.\n`);
      cloud.stop().then(resolve, (err) => {
        process.stderr.write(`stratus: error while stopping: ${(err as Error).message}\n`);
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** The command line; commands that end with a failure report their exit code through `exit`. */
export function buildProgram(exit: (code: number) => void = () => {}): Command {
  const program = new Command('stratus')
    .description('Stratus: an IaaS compute cloud with EC2 and OpenStack APIs.')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();

  const allInOne = addConfigOptions(
    program
      .command('all-in-one', { isDefault: true })
      .description('Run every service in one process (SQLite, in-process bus by default).'),
  );
  allInOne.action(() => runUntilSignal(configFrom(allInOne), ALL_SERVICES, true));

  for (const binary of ALL_SERVICES) {
    const cmd = addConfigOptions(
      program.command(binary).description(`Run only the ${binary} service (distributed mode).`),
    );
    cmd.action(() => runUntilSignal(configFrom(cmd), [binary], binary === 'api'));
  }
  program.addCommand(manageCommand());
  program.addCommand(smokeCommand(exit));
  program.addCommand(labCommand());
  return program;
}

/** Runs the command line; resolves with the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => {
    code = c;
  });
  const exitOverride = (cmd: Command) => {
    cmd.exitOverride();
    cmd.commands.forEach(exitOverride);
  };
  exitOverride(program);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof StratusError && err.kind !== 'internal') {
      process.stderr.write(`stratus: ${err.message}\n`);
      return err.kind === 'invalid' || err.kind === 'missing' ? 2 : 1;
    }
    throw err;
  }
}
