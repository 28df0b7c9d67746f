// The compute host's side of ports attached to running instances (hot-plug): the network
// service binds the port to this host (on the overlay its network comes here), the host's
// data plane plugs a tap for it, and the driver gives the VM a new network card; detaching
// undoes the three in the reverse order. The API side has recorded the port with the
// instance; a failure on the way undoes what was done and is the caller's answer.
import type { RequestContext } from '../context.js';
import { ProjectNetworkRepo, VpcInterfaceRepo, type Db, type InstanceRow } from '../db/index.js';
import { StratusError } from '../errors.js';
import type { Logger } from '../log.js';
import type { GuestNetworkPort, NetworkClient } from '../network/index.js';
import type { NicAttachment, VirtDriver } from '../virt/index.js';

export interface InterfaceWorkerOptions {
  host: string;
  driver: VirtDriver;
  network: Pick<NetworkClient, 'bindInterface'>;
  guestPort?: GuestNetworkPort | undefined;
  logger: Logger;
  db: Db;
  mine(instanceId: string): Promise<InstanceRow | undefined>;
  locked<T>(instanceId: string, fn: () => Promise<T>): Promise<T>;
}

export interface InterfaceWork {
  instanceId: string;
  portId: string;
}

export class InterfaceWorker {
  readonly #o: InterfaceWorkerOptions;

  constructor(options: InterfaceWorkerOptions) {
    this.#o = options;
  }

  /**
   * Gives the running instance a network card for the port. An instance that is not running
   * here: `conflict` (reason `instance_state`); a port this host cannot plug (its network is
   * not carried on the overlay here): `conflict`.
   */
  attach({ instanceId, portId }: InterfaceWork, ctx: RequestContext): Promise<null> {
    return this.#o.locked(instanceId, async () => {
      const inst = await this.#o.mine(instanceId);
      if (!inst || inst.vmState !== 'active' || inst.taskState !== null) {
        throw new StratusError(
          'conflict',
          `The instance '${instanceId}' is not running on host ${this.#o.host} with nothing else under way.`,
          { resource: 'instance', id: instanceId, reason: 'instance_state' },
        );
      }
      await this.#plug(instanceId, portId, ctx);
      return null;
    });
  }

  /**
   * Ports attached while the instance was stopped get their cards once its VM runs again:
   * each of the instance's attached ports (a device index above 0) that the VM lacks is
   * plugged as `attach` plugs one. The caller holds the lock; a port that cannot be plugged
   * stays recorded, and is logged.
   */
  async plugRecorded(instanceId: string, ctx: RequestContext): Promise<void> {
    const ports = await new ProjectNetworkRepo(this.#o.db).portsOfDevice(instanceId);
    const attached = [
      ...(await new VpcInterfaceRepo(this.#o.db).attachedLater(ports.map((p) => p.id))),
    ];
    if (attached.length === 0) return;
    const cards = new Set((await this.#o.driver.listInterfaces(instanceId)).map((n) => n.portId));
    for (const portId of attached.filter((p) => !cards.has(p))) {
      await this.#plug(instanceId, portId, ctx).catch((err: unknown) =>
        this.#o.logger.warn(
          { err, instanceId, portId },
          'could not plug a port attached while the instance was stopped',
        ),
      );
    }
  }

  /** Binds the port here, plugs its tap and gives the VM its card; undone on a failure. */
  async #plug(instanceId: string, portId: string, ctx: RequestContext): Promise<void> {
    const log = this.#o.logger.child({ instanceId, portId });
    const port = await this.#o.network.bindInterface(ctx, portId, this.#o.host);
    let plugged = false;
    try {
      let attachment: NicAttachment = { kind: 'user' };
      if (this.#o.guestPort) {
        if (!port.overlay) {
          throw new StratusError(
            'conflict',
            `The port '${portId}' is not on a project network this host carries; it cannot be plugged into a running instance.`,
            { resource: 'port', id: portId },
          );
        }
        const p = await this.#o.guestPort.plugPort({
          instanceId,
          networkId: port.networkId,
          portId,
          mac: port.mac,
          fixedIp: port.fixedIp,
        });
        plugged = true;
        attachment = { kind: 'tap', ifname: p.ifname, netns: p.namespace };
      }
      await this.#o.driver.attachInterface(instanceId, {
        portId,
        macAddress: port.mac,
        attachment,
      });
    } catch (err) {
      log.error({ err }, 'plugging the port failed; undoing it');
      if (plugged) await this.#o.guestPort?.unplugPort({ portId }).catch(() => undefined);
      await this.#o.network.bindInterface(ctx, portId, null).catch(() => undefined);
      throw err;
    }
    log.info({ mac: port.mac, address: port.fixedIp }, 'port attached to the running instance');
  }

  /** Takes the port's card out of the instance's VM and unplugs it; succeeds when it has none. */
  detach({ instanceId, portId }: InterfaceWork, ctx: RequestContext): Promise<null> {
    return this.#o.locked(instanceId, async () => {
      await this.#o.driver.detachInterface(instanceId, portId);
      await this.#o.guestPort?.unplugPort({ portId });
      await this.#o.network.bindInterface(ctx, portId, null);
      this.#o.logger.info({ instanceId, portId }, 'port detached from the instance');
      return null;
    });
  }

  /**
   * The instance's VM is going: its attached ports' taps are unplugged and the ports unbound.
   * Call before the driver destroys the VM (which forgets its cards). The caller holds the lock.
   */
  async releaseAll(instanceId: string, ctx: RequestContext): Promise<void> {
    for (const nic of await this.#o.driver.listInterfaces(instanceId)) {
      await this.#o.guestPort?.unplugPort({ portId: nic.portId }).catch(() => undefined);
      await this.#o.network.bindInterface(ctx, nic.portId, null).catch(() => undefined);
    }
  }
}
