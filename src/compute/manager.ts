// The compute manager: runs on each host and owns the VMs there through a virt driver. Work on
// one instance is serialised by a per-instance lock; every state change is written to the
// database and recorded as an instance action. An instance that ends (deleted, or its build
// failed) gives back its capacity claim in the same transaction. Every handler may run again
// for the same instance (a bus message delivered twice, work resumed after a crash): each step
// checks the state it starts from. In-flight work nobody finishes is resumed by the host's
// reconciler (host-reconciler.ts).
import { dispatch, hostTopic, type ProtocolHandlers } from '../bus/index.js';
import { systemContext, type RequestContext } from '../context.js';
import {
  CapacityClaimRepo,
  ComputeNodeRepo,
  InstanceRepo,
  now,
  type Db,
  type InstancesTable,
  type InstanceRow,
} from '../db/index.js';
import { asStratusError, notFound, StratusError } from '../errors.js';
import type { ImageStore } from '../image/index.js';
import type { Logger } from '../log.js';
import type { GuestNetwork, GuestNetworkPort, NetworkClient } from '../network/index.js';
import type { Service } from '../service/index.js';
import type {
  GuestDisk,
  GuestFile,
  NicAttachment,
  VirtDriver,
  VolumeAttachment,
} from '../virt/index.js';
import { VERSION } from '../version.js';
import type { VolumeClient } from '../volume/index.js';
import type { SnapshotInstanceVolume } from './volume-backed-images.js';
import { AttachmentWorker } from './attachment-worker.js';
import type {
  ComputeProtocol,
  HostDescription,
  ImageProtocol,
  InstanceRef,
  LifecycleProtocol,
} from './client.js';
import { InstanceImageWorker } from './instance-images.js';
import { InterfaceWorker } from './interface-worker.js';
import { HostReconciler } from './host-reconciler.js';
import { LifecycleWorker } from './lifecycle-worker.js';
import type { SerialConnection, SerialConsoleServer } from './serial-console-server.js';

export interface ComputeOptions {
  db: Db;
  /** Where the files guests boot from are kept; images made from instances go there too. */
  images: Pick<
    ImageStore,
    'fileOf' | 'upload' | 'get' | 'delete' | 'directory' | 'update' | 'activateVolumeBacked'
  >;
  /**
   * Takes a snapshot of a volume an instance holds, for an image of an instance whose root is
   * a volume; absent: such images are refused.
   */
  snapshotVolume?: SnapshotInstanceVolume | undefined;
  host: string;
  /** The availability zone this host serves, reported with its capacity. */
  availabilityZone: string;
  driver: VirtDriver;
  network: NetworkClient;
  logger: Logger;
  /** How often the VMs' power states are compared with the database. */
  powerSyncMs: number;
  /** How often in-flight work on this host is checked for work nobody does (default 10 s). */
  reconcileIntervalMs?: number;
  /**
   * An instance of this host in flight (building, deleting, changing power) that has not
   * changed for this long, and that this process is not working on, is taken over (default
   * 60 s). At start every in-flight instance of the host is taken over at once.
   */
  inFlightDeadlineMs?: number;
  /** How long a build waits for the volumes its block device mappings made (5 min unless told). */
  launchVolumeWaitMs?: number;
  /**
   * The metadata a guest may fetch (request path -> body), handed to drivers that serve it
   * themselves (user-mode networking). None when absent.
   */
  metadataFor?: (instance: InstanceRow) => Promise<Record<string, string>>;
  /**
   * How guests are plugged into the host's data plane (bridge, DHCP, firewall in a
   * namespace): each gets a tap on it. Without one, guests use the driver's own (user-mode)
   * network. The network agent implements it; `main.ts` wires it in.
   */
  guestPort?: GuestNetworkPort | undefined;
  /** The volume hosts, which export the volumes this host's VMs attach. */
  volumes?: VolumeClient | undefined;
  /**
   * Serves the VMs' serial ports to api processes over TCP, behind one-time secrets; without
   * one, serial consoles are refused as unavailable.
   */
  serialConsoles?: SerialConsoleServer | undefined;
}

/** The lifecycle actions are handled by its LifecycleWorker, the rest by its own methods. */
export class ComputeManager implements ProtocolHandlers<
  Omit<
    ComputeProtocol,
    | keyof LifecycleProtocol
    | keyof ImageProtocol
    | 'attachVolume'
    | 'detachVolume'
    | 'extendVolume'
    | 'attachInterface'
    | 'detachInterface'
  >
> {
  readonly #opts: ComputeOptions;
  readonly #instances: InstanceRepo;
  /** When the last power-state sync finished (the service's status shows it). */
  #lastPowerSyncAt: number | null = null;
  readonly #startedAt = now();
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #reconciler: HostReconciler;
  /** Pause, suspend, rescue, rebuild and resize (lifecycle-worker.ts). */
  readonly #lifecycle: LifecycleWorker;
  /** Attaching, detaching and growing volumes (attachment-worker.ts). */
  readonly #attachments: AttachmentWorker | undefined;
  /** Images from instances (instance-images.ts). */
  readonly #imageWorker: InstanceImageWorker;
  /** Ports attached to running instances (interface-worker.ts). */
  readonly #interfaces: InterfaceWorker;
  /** The take-over of the host's in-flight work at start, awaited before the driver closes. */
  #resuming: Promise<unknown> = Promise.resolve();

  constructor(options: ComputeOptions) {
    this.#opts = options;
    this.#instances = new InstanceRepo(options.db);
    this.#reconciler = new HostReconciler({
      db: options.db,
      host: options.host,
      logger: options.logger,
      deadlineMs: options.inFlightDeadlineMs ?? 60_000,
      busy: (id) => this.#locks.has(id),
      build: (instanceId, ctx) => this.buildInstance({ instanceId }, ctx),
      terminate: (instanceId, ctx) => this.terminateInstance({ instanceId }, ctx),
      releaseAddresses: (instanceId, ctx) =>
        this.#locked(instanceId, async () => {
          await this.#opts.guestPort?.unplugInstance({ instanceId });
          await this.#opts.network.deallocateForInstance(ctx, instanceId, this.#opts.host);
        }),
    });
    this.#interfaces = new InterfaceWorker({
      db: options.db,
      host: options.host,
      driver: options.driver,
      network: options.network,
      guestPort: options.guestPort,
      logger: options.logger,
      mine: (id) => this.#mine(id),
      locked: (id, fn) => this.#locked(id, fn),
    });
    const volumes = options.volumes;
    this.#attachments = volumes
      ? new AttachmentWorker({
          db: options.db,
          host: options.host,
          driver: options.driver,
          volumes,
          logger: options.logger,
          mine: (id) => this.#mine(id),
          locked: (id, fn) => this.#locked(id, fn),
          busy: (id) => this.#locks.has(id),
        })
      : undefined;
    this.#lifecycle = new LifecycleWorker({
      db: options.db,
      driver: options.driver,
      images: options.images,
      metadataFor: options.metadataFor,
      mine: (id) => this.#mine(id),
      locked: (id, fn) => this.#locked(id, fn),
      action: (inst, action, ctx, fn) => this.#action(inst, action, ctx, fn),
      bootFiles: (inst) => this.#bootFiles(inst),
    });
    this.#imageWorker = new InstanceImageWorker({
      db: options.db,
      driver: options.driver,
      images: options.images,
      snapshotVolume: options.snapshotVolume,
      mine: (id) => this.#mine(id),
      locked: (id, fn) => this.#locked(id, fn),
      action: (inst, action, ctx, fn) => this.#action(inst, action, ctx, fn),
    });
  }

  /** One pass of the host's reconciler (see host-reconciler.ts); `all` at start. */
  reconcile(options: { all?: boolean } = {}): Promise<Map<string, string>> {
    return this.#reconciler.run(options);
  }

  service(): Service {
    const topic = hostTopic('compute', this.#opts.host);
    return {
      binary: 'compute',
      topics: [
        {
          topic,
          handler: dispatch<ComputeProtocol>(topic, {
            status: () => this.status(),
            describeHost: () => this.describeHost(),
            buildInstance: (a, c) => this.buildInstance(a, c),
            terminateInstance: (a, c) => this.terminateInstance(a, c),
            rebootInstance: (a, c) => this.rebootInstance(a, c),
            stopInstance: (a, c) => this.stopInstance(a, c),
            startInstance: (a, c) => this.startInstance(a, c),
            pauseInstance: (a, c) => this.#lifecycle.pause(a, c),
            unpauseInstance: (a, c) => this.#lifecycle.unpause(a, c),
            suspendInstance: (a, c) => this.#lifecycle.suspend(a, c),
            resumeInstance: (a, c) => this.#lifecycle.resume(a, c),
            rebuildInstance: (a, c) => this.#lifecycle.rebuild(a, c),
            resizeInstance: (a, c) => this.#lifecycle.resize(a, c),
            confirmResize: (a, c) => this.#lifecycle.confirmResize(a, c),
            revertResize: (a, c) => this.#lifecycle.revertResize(a, c),
            rescueInstance: (a, c) => this.#lifecycle.rescue(a, c),
            unrescueInstance: (a, c) => this.#lifecycle.unrescue(a, c),
            snapshotInstance: (a, c) => this.#imageWorker.snapshot(a, c),
            consoleOutput: (a) => this.consoleOutput(a),
            consoleScreenshot: (a) => this.consoleScreenshot(a),
            attachVolume: (a, c) => this.#volumeWork().attach(a, c),
            detachVolume: (a, c) => this.#volumeWork().detach(a, c),
            extendVolume: (a, c) => this.#volumeWork().extend(a, c),
            serialConsole: (a) => this.serialConsole(a),
            attachInterface: (a, c) => this.#interfaces.attach(a, c),
            detachInterface: (a, c) => this.#interfaces.detach(a, c),
          }),
          fanout: true,
        },
      ],
      periodicTasks: [
        { name: 'report-capacity', intervalMs: 60_000, run: () => this.#reportCapacity() },
        {
          name: 'power-sync',
          intervalMs: this.#opts.powerSyncMs,
          run: () => this.syncPowerStates(),
        },
        {
          name: 'reconcile-in-flight',
          intervalMs: this.#opts.reconcileIntervalMs ?? 10_000,
          run: async () => {
            await this.reconcile();
            await this.#attachments?.reconcile(this.#opts.inFlightDeadlineMs ?? 60_000);
          },
        },
      ],
      start: async () => {
        const adopted = await this.#opts.driver.init();
        await this.#reportCapacity();
        this.#opts.logger.info(
          { driver: this.#opts.driver.name, adopted: adopted.length },
          'virt driver ready',
        );
        // Nothing of this host is being worked on yet: whatever is in flight was left by a
        // process that died. Resumed in the background, so the host serves meanwhile.
        this.#resuming = this.reconcile({ all: true })
          .then(() => this.#attachments?.reconcile(0, true))
          .catch((err: unknown) =>
            this.#opts.logger.error({ err }, 'resuming in-flight work at start failed'),
          );
      },
      stop: async () => {
        await this.#resuming;
        await this.#opts.serialConsoles?.close();
        await this.#opts.driver.close();
      },
    };
  }

  async status(): Promise<ComputeProtocol['status']['result']> {
    return {
      binary: 'compute',
      host: this.#opts.host,
      startedAt: this.#startedAt,
      version: VERSION,
      details: {
        driver: this.#opts.driver.name,
        ...this.#opts.driver.capabilities,
        lastPowerSyncAt: this.#lastPowerSyncAt,
      },
    };
  }

  async describeHost(): Promise<HostDescription> {
    const d = this.#opts.driver;
    const [capacity, guests] = await Promise.all([d.capacity(), d.list()]);
    return {
      host: this.#opts.host,
      driver: d.name,
      capabilities: d.capabilities,
      capacity,
      instances: guests.length,
    };
  }

  buildInstance({ instanceId }: InstanceRef, ctx: RequestContext): Promise<null> {
    return this.#locked(instanceId, async () => {
      const inst = await this.#mine(instanceId);
      if (!inst || inst.vmState !== 'building' || inst.taskState === 'deleting') return null;
      // Compare-and-set, so a terminate that came in since the read is not overwritten.
      const mine = await this.#instances.transition(
        instanceId,
        { vmStates: ['building'], taskStates: [null, 'scheduling', 'spawning'] },
        { taskState: 'spawning' },
      );
      if (!mine) return null;
      await this.#action(inst, 'spawn', ctx, async () => {
        try {
          const net = await this.#opts.network.allocateForInstance(
            ctx,
            instanceId,
            this.#opts.host,
          );
          await this.#instances.update(instanceId, {
            privateIp: net.address,
            macAddress: net.macAddress,
          });
          // A build resumed after a crash may find its VM made already (the driver adopted
          // it at start; it was plugged before it was spawned): it is kept, not made twice.
          if ((await this.#opts.driver.getState(instanceId)) === 'nostate') {
            // A root volume is made and exported before the VM that boots from it.
            const rootVolume = await this.#attachments?.prepareRootVolume(
              instanceId,
              ctx,
              this.#opts.launchVolumeWaitMs ?? 300_000,
            );
            await this.#spawn(
              { ...inst, privateIp: net.address, macAddress: net.macAddress },
              net,
              rootVolume,
            );
          }
          // Volumes from the launch's block device mappings are plugged before it runs.
          await this.#attachments?.attachLaunchVolumes(
            instanceId,
            ctx,
            this.#opts.launchVolumeWaitMs ?? 300_000,
          );
        } catch (err) {
          await this.#opts.driver.destroy(instanceId).catch(() => undefined);
          await this.#attachments?.releaseAll(instanceId, ctx, true).catch(() => undefined);
          await this.#opts.guestPort?.unplugInstance({ instanceId }).catch(() => undefined);
          await this.#opts.network
            .deallocateForInstance(ctx, instanceId, this.#opts.host)
            .catch(() => undefined);
          await this.#end(instanceId, {
            vmState: 'error',
            taskState: null,
            powerState: 'nostate',
            terminatedAt: now(),
            stateReason: 'build_failed',
            stateMessage: asStratusError(err).message,
          });
          throw err;
        }
        // A real guest on the data plane shows itself there (DHCP lease, metadata requests).
        const observed = this.#opts.driver.capabilities.realGuests && this.#opts.guestPort ? 1 : 0;
        // Terminated while it was being built: the terminate left the VM to us.
        const ok = await this.#instances.transition(
          instanceId,
          { vmStates: ['building'], taskStates: ['spawning'] },
          {
            vmState: 'active',
            taskState: null,
            powerState: 'running',
            launchedAt: now(),
            networkObserved: observed,
          },
        );
        if (!ok) await this.#destroy(instanceId, ctx);
      });
      return null;
    });
  }

  /** Plugs the guest in and has the driver make its VM. */
  async #spawn(inst: InstanceRow, net: GuestNetwork, rootVolume?: VolumeAttachment): Promise<void> {
    const { image, ...files } = await this.#bootFiles(inst, rootVolume !== undefined);
    const attachment = await this.#plug(inst.id, net);
    const guest = await this.#opts.driver.spawn({
      instanceId: inst.id,
      name: inst.id,
      vcpus: inst.vcpus,
      memoryMb: inst.memoryMb,
      diskGb: inst.diskGb,
      imageId: inst.imageId,
      kernelId: inst.kernelId,
      ramdiskId: inst.ramdiskId,
      userData: inst.userData,
      ...files,
      ...(rootVolume ? { rootVolume } : image ? { image } : {}),
      network: { ...net, attachment },
      // On the data plane the metadata service answers; in user mode the driver does.
      metadata: attachment.kind === 'user' ? ((await this.#opts.metadataFor?.(inst)) ?? {}) : {},
    });
    if (guest.ssh) {
      this.#opts.logger.info({ instanceId: inst.id, ssh: guest.ssh }, 'guest ssh forwarded');
    }
  }

  terminateInstance({ instanceId }: InstanceRef, ctx: RequestContext): Promise<null> {
    return this.#locked(instanceId, async () => {
      const inst = await this.#mine(instanceId);
      if (!inst || inst.vmState === 'deleted') return null;
      await this.#action(inst, 'terminate', ctx, () => this.#destroy(instanceId, ctx));
      return null;
    });
  }

  rebootInstance(
    { instanceId, hard }: InstanceRef & { hard: boolean },
    ctx: RequestContext,
  ): Promise<null> {
    return this.#locked(instanceId, async () => {
      const inst = await this.#mine(instanceId);
      if (!inst || inst.vmState !== 'active') return null;
      await this.#action(inst, hard ? 'reboot-hard' : 'reboot', ctx, async () => {
        try {
          await this.#opts.driver.reboot(instanceId, hard);
        } finally {
          await this.#instances.transition(
            instanceId,
            { taskStates: ['rebooting'] },
            { taskState: null },
          );
        }
      });
      return null;
    });
  }

  /** Powers the VM off: the guest is asked (ACPI) unless `force`, which ends it at once. */
  stopInstance(
    { instanceId, force }: InstanceRef & { force: boolean },
    ctx: RequestContext,
  ): Promise<null> {
    return this.#locked(instanceId, async () => {
      const inst = await this.#mine(instanceId);
      if (!inst || inst.vmState !== 'active') return null;
      await this.#action(inst, 'stop', ctx, async () => {
        try {
          await this.#opts.driver.powerOff(instanceId, force);
        } catch (err) {
          await this.#instances.transition(
            instanceId,
            { taskStates: ['powering-off'] },
            { taskState: null },
          );
          throw err;
        }
        await this.#instances.transition(
          instanceId,
          { vmStates: ['active'] },
          {
            vmState: 'stopped',
            taskState: null,
            powerState: 'shutdown',
            stateReason: 'user_stopped',
          },
        );
      });
      return null;
    });
  }

  startInstance({ instanceId }: InstanceRef, ctx: RequestContext): Promise<null> {
    return this.#locked(instanceId, async () => {
      const inst = await this.#mine(instanceId);
      if (!inst || inst.vmState !== 'stopped') return null;
      await this.#action(inst, 'start', ctx, async () => {
        try {
          // The instance's size as recorded: a type changed while it was off applies now.
          await this.#opts.driver.powerOn(instanceId, {
            vcpus: inst.vcpus,
            memoryMb: inst.memoryMb,
          });
        } catch (err) {
          await this.#instances.transition(
            instanceId,
            { taskStates: ['powering-on'] },
            { taskState: null },
          );
          throw err;
        }
        await this.#instances.transition(
          instanceId,
          { vmStates: ['stopped'] },
          {
            vmState: 'active',
            taskState: null,
            powerState: 'running',
            stateReason: null,
            stateMessage: null,
          },
        );
        // Interfaces attached while it was stopped are plugged into the running VM now.
        await this.#interfaces.plugRecorded(instanceId, ctx).catch((err: unknown) => {
          this.#opts.logger.warn({ err, instanceId }, 'plugging the attached interfaces failed');
        });
      });
      return null;
    });
  }

  async consoleOutput({
    instanceId,
    maxBytes,
  }: InstanceRef & { maxBytes: number }): Promise<{ output: string; at: number }> {
    const inst = await this.#mine(instanceId);
    if (!inst) throw notFound('instance', instanceId);
    return { output: await this.#opts.driver.consoleOutput(instanceId, maxBytes), at: now() };
  }

  async serialConsole({ instanceId }: InstanceRef): Promise<SerialConnection> {
    const inst = await this.#mine(instanceId);
    if (!inst) throw notFound('instance', instanceId);
    const serial = this.#opts.serialConsoles;
    if (!serial) {
      throw new StratusError(
        'unavailable',
        `The host of instance '${instanceId}' serves no serial consoles.`,
        { resource: 'instance', id: instanceId },
      );
    }
    const { path } = await this.#opts.driver.serialConsole(instanceId);
    return serial.grant(instanceId, path);
  }

  async consoleScreenshot({
    instanceId,
    wakeUp,
  }: InstanceRef & { wakeUp: boolean }): Promise<{ jpegBase64: string }> {
    const inst = await this.#mine(instanceId);
    if (!inst) throw notFound('instance', instanceId);
    const jpeg = await this.#opts.driver.screenshot(instanceId, { wakeUp });
    return { jpegBase64: jpeg.toString('base64') };
  }

  /**
   * Brings the database and the hypervisor into agreement: a VM that stopped on its own shows
   * as stopped; a VM whose record is terminated is removed.
   */
  async syncPowerStates(): Promise<void> {
    // The records first, then the hypervisor: an instance whose build ends between the two
    // reads is then seen building (skipped) or with its VM, never active without one, which
    // would mark a VM that just started as stopped (found by bench/multi-host-scale.ts).
    const records = await this.#instances.list({ host: this.#opts.host });
    const guests = new Map(
      (await this.#opts.driver.list()).map((g) => [g.instanceId, g.powerState]),
    );
    for (const inst of records) {
      const power = guests.get(inst.id) ?? 'nostate';
      guests.delete(inst.id);
      if (inst.taskState !== null) continue; // work in progress owns the state
      if (inst.vmState === 'active' && power !== 'running' && power !== 'paused') {
        await this.#locked(inst.id, async () => {
          // Ask the driver again under the instance's lock: the VM may have come or gone
          // since the list, and only a VM that is really not running is recorded stopped.
          const now = await this.#opts.driver.getState(inst.id);
          if (now === 'running' || now === 'paused') return;
          // Its shutdown behaviour 'terminate' (RunInstances' InstanceInitiatedShutdownBehavior):
          // a guest that powers itself off is terminated, as EC2 does.
          const current = await this.#mine(inst.id);
          if (current?.shutdownBehavior === 'terminate') {
            const ending = await this.#instances.transition(
              inst.id,
              { vmStates: ['active'], taskStates: [null] },
              { taskState: 'deleting', powerState: now, stateReason: 'guest_shutdown' },
            );
            if (!ending) return;
            this.#opts.logger.warn(
              { instanceId: inst.id, power: now },
              'VM stopped on its own; terminating it (shutdown behaviour terminate)',
            );
            await this.#action(current, 'terminate', systemContext(), () =>
              this.#destroy(inst.id, systemContext()),
            );
            return;
          }
          const changed = await this.#instances.transition(
            inst.id,
            { vmStates: ['active'], taskStates: [null] },
            {
              vmState: 'stopped',
              powerState: now,
              stateReason: 'guest_shutdown',
            },
          );
          if (changed)
            this.#opts.logger.warn({ instanceId: inst.id, power: now }, 'VM stopped on its own');
        });
      } else if ((inst.vmState === 'deleted' || inst.vmState === 'error') && power !== 'nostate') {
        await this.#locked(inst.id, async () => {
          await this.#opts.driver.destroy(inst.id);
          await this.#opts.guestPort?.unplugInstance({ instanceId: inst.id });
        });
      }
    }
    // VMs the database does not know on this host at all.
    for (const [instanceId] of guests) {
      this.#opts.logger.warn({ instanceId }, 'VM without a record on this host; leaving it alone');
    }
    this.#lastPowerSyncAt = now();
  }

  /** The volume work of this host; `unavailable` when it was started without volume hosts. */
  #volumeWork(): AttachmentWorker {
    if (this.#attachments) return this.#attachments;
    throw new StratusError('unavailable', 'This compute host cannot reach volume hosts.', {
      resource: 'volume',
    });
  }

  async #destroy(instanceId: string, ctx: RequestContext): Promise<void> {
    // The cards of ports attached while it ran go with it (the driver forgets them).
    await this.#interfaces.releaseAll(instanceId, ctx);
    await this.#opts.driver.destroy(instanceId);
    // Its volumes are free again once the VM that held them is gone.
    await this.#attachments?.releaseAll(instanceId, ctx);
    // Unplugging releases the DHCP lease, so the address is free again at once.
    await this.#opts.guestPort?.unplugInstance({ instanceId });
    await this.#opts.network.deallocateForInstance(ctx, instanceId, this.#opts.host);
    await this.#end(instanceId, {
      vmState: 'deleted',
      taskState: null,
      powerState: 'nostate',
      terminatedAt: now(),
    });
  }

  /** Records that an instance ended (deleted or failed) and gives back its capacity claim. */
  async #end(instanceId: string, set: Partial<InstancesTable>): Promise<void> {
    await this.#opts.db.transaction().execute(async (trx) => {
      await new InstanceRepo(trx).update(instanceId, set);
      await new CapacityClaimRepo(trx).release([instanceId]);
    });
  }

  /** The guest's network card: a tap on the host's data plane, or the driver's own network. */
  async #plug(instanceId: string, net: GuestNetwork): Promise<NicAttachment> {
    const guestPort = this.#opts.guestPort;
    if (!guestPort) return { kind: 'user' };
    const port = await guestPort.plugInstance({
      instanceId,
      mac: net.macAddress,
      fixedIp: net.address,
      hostname: `ip-${net.address.replace(/\./g, '-')}`,
    });
    return { kind: 'tap', ifname: port.ifname, netns: port.namespace };
  }

  /**
   * The stored files of the instance's machine image, kernel and ramdisk, from the image
   * store, for a driver that boots real guests; an image that is not available fails the
   * spawn with the store's reason.
   */
  async #bootFiles(
    inst: InstanceRow,
    onVolume = false,
  ): Promise<{ image?: GuestDisk; kernel?: GuestFile; ramdisk?: GuestFile }> {
    if (!this.#opts.driver.capabilities.realGuests) return {};
    const store = this.#opts.images;
    const [machine, kernel, ramdisk] = await Promise.all([
      // A VM that boots from a volume needs only the image's kernel and ramdisk (a
      // volume-backed image has no file).
      onVolume ? undefined : store.fileOf(inst.imageId),
      inst.kernelId ? store.fileOf(inst.kernelId) : undefined,
      inst.ramdiskId ? store.fileOf(inst.ramdiskId) : undefined,
    ]);
    return {
      ...(machine ? { image: { path: machine.path, format: machine.format } } : {}),
      ...(kernel ? { kernel: { path: kernel.path } } : {}),
      ...(ramdisk ? { ramdisk: { path: ramdisk.path } } : {}),
    };
  }

  async #reportCapacity(): Promise<void> {
    const c = await this.#opts.driver.capacity();
    await new ComputeNodeRepo(this.#opts.db).report({
      host: this.#opts.host,
      ...c,
      availabilityZone: this.#opts.availabilityZone,
      architecture: this.#opts.driver.capabilities.architecture,
      updatedAt: now(),
    });
  }

  /** The instance if it is placed on this host. */
  async #mine(instanceId: string): Promise<InstanceRow | undefined> {
    const [inst] = await this.#instances.list({ ids: [instanceId] });
    return inst && inst.host === this.#opts.host ? inst : undefined;
  }

  /** Runs `fn` as a recorded instance action. */
  async #action(
    inst: InstanceRow,
    action: string,
    ctx: RequestContext,
    fn: () => Promise<void>,
  ): Promise<void> {
    const id = await this.#instances.startAction({
      instanceId: inst.id,
      action,
      requestId: ctx.requestId,
      userId: ctx.userId,
      projectId: ctx.projectId,
      startedAt: now(),
    });
    try {
      await fn();
      await this.#instances.finishAction(id, 'success');
    } catch (err) {
      const e = asStratusError(err);
      this.#opts.logger.error(
        { err, instanceId: inst.id, action, requestId: ctx.requestId },
        'instance action failed',
      );
      await this.#instances.finishAction(id, 'error', e.message);
    }
  }

  /** Runs `fn` when no other work on the same instance is in progress. */
  #locked<T>(instanceId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(instanceId) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(instanceId, tail);
    void tail.then(() => {
      if (this.#locks.get(instanceId) === tail) this.#locks.delete(instanceId);
    });
    return run;
  }
}
