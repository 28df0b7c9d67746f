// Attaching VPC interfaces to instances and changing them (issue 16): AttachNetworkInterface
// records the interface with a stopped or running instance (a running one's host then plugs
// it: compute/interface-attach-operations.ts), detaching all but the primary, their
// attributes, extra private addresses, and the public addresses given at launch. The Compute
// API's os-interface records its ports here too (`attachPort`), so every port attached after
// launch has a device index above 0 and the instance's first card stays its first port.
import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../context.js';
import { VpcInterfaceRepo, type Db } from '../db/index.js';
import { invalid, notFound, StratusError } from '../errors.js';
import type { ProjectNetworkService } from './project-networks.js';
import type { NetworkInterface, VpcService } from './vpcs.js';

/** What attaching needs to know of an instance. */
export interface AttachTarget {
  id: string;
  /** As the caller wrote it, for messages. */
  shown: string;
  availabilityZone: string | null;
  /** 'stopped' or 'running' may take an interface; anything else is refused. */
  state: 'stopped' | 'running' | 'other';
}

export class VpcInterfaces {
  readonly #repo: VpcInterfaceRepo;
  readonly #vpcs: VpcService;
  readonly #networks: ProjectNetworkService;

  constructor(options: { db: Db; vpcs: VpcService; projectNetworks: ProjectNetworkService }) {
    this.#repo = new VpcInterfaceRepo(options.db);
    this.#vpcs = options.vpcs;
    this.#networks = options.projectNetworks;
  }

  /**
   * Attaches an available interface to a stopped instance in the same VPC and zone, at a free
   * device index of 1 or more; returns the attachment id. `conflict` (`in_use`) when the
   * interface is attached already; `conflict` (IncorrectState) when the instance is neither
   * stopped nor running. A running instance's host is the caller's to ask to plug it.
   */
  async attach(
    ctx: RequestContext,
    eniId: string,
    instance: AttachTarget,
    deviceIndex: number,
    shownEni = eniId,
  ): Promise<string> {
    const eni = await this.#vpcs.getInterface(ctx, eniId, shownEni);
    if (eni.port.deviceId !== '') {
      throw new StratusError(
        'conflict',
        `Interface: [${shownEni}] in use (attached to ${eni.instanceId ? 'an instance' : eni.port.deviceOwner || 'a device'}).`,
        { resource: 'port', id: shownEni, reason: 'in_use' },
      );
    }
    if (instance.state === 'other') {
      throw new StratusError(
        'conflict',
        `The instance '${instance.shown}' is neither running nor stopped; an interface is attached only then.`,
        { resource: 'instance', id: instance.shown },
      );
    }
    const current = (await this.#vpcs.interfacesOf([instance.id])).get(instance.id) ?? [];
    const primary = current[0];
    if (!primary) {
      throw invalid(
        `The instance '${instance.shown}' is in no VPC; only an instance in a VPC takes network interfaces.`,
        { resource: 'parameter', id: 'InstanceId' },
      );
    }
    if (primary.vpcId !== eni.vpcId) {
      throw invalid(
        `The interface ${shownEni} and the instance '${instance.shown}' are in different VPCs.`,
        { resource: 'parameter', reason: 'combination' },
      );
    }
    if (instance.availabilityZone && instance.availabilityZone !== eni.availabilityZone) {
      throw invalid(
        `The interface ${shownEni} is in zone ${eni.availabilityZone} and the instance '${instance.shown}' in ${instance.availabilityZone}.`,
        { resource: 'parameter', reason: 'combination' },
      );
    }
    if (current.some((e) => (e.attachment?.deviceIndex ?? 0) === deviceIndex)) {
      throw invalid(
        `Instance '${instance.shown}' already has an interface attached at device index '${deviceIndex}'.`,
        { resource: 'parameter', id: 'DeviceIndex' },
      );
    }
    const attachmentId = randomUUID();
    await this.#repo.putAttributes({
      portId: eni.port.id,
      deviceIndex,
      deleteOnTermination: 0,
      sourceDestCheck: eni.sourceDestCheck ? 1 : 0,
      attachmentId,
      attachedAt: Date.now(),
    });
    try {
      await this.#networks.updatePort(ctx, eni.port.id, {
        deviceOwner: `compute:${eni.availabilityZone}`,
        deviceId: instance.id,
      });
    } catch (err) {
      await this.#repo.deleteAttributes(eni.port.id).catch(() => undefined);
      throw err;
    }
    return attachmentId;
  }

  /** The interface an attachment id (or its leading characters) names; `not_found` otherwise. */
  async byAttachment(
    ctx: RequestContext,
    prefix: string,
    shown: string,
  ): Promise<NetworkInterface> {
    const found = (await this.#vpcs.listInterfaces(ctx)).find((e) =>
      e.attachment?.id.startsWith(prefix),
    );
    if (!found) {
      throw notFound('attachment', shown, `The attachment ID '${shown}' does not exist`);
    }
    return found;
  }

  /**
   * Detaches an interface from its instance; the primary (device 0) cannot be
   * (`conflict`, `protected`: OperationNotPermitted). A running instance's host is the
   * caller's to ask to unplug it first (`checkDetach` says whether it may be).
   */
  async detach(ctx: RequestContext, eni: NetworkInterface, shown: string): Promise<void> {
    this.checkDetach(eni, shown);
    await this.#networks.updatePort(ctx, eni.port.id, { deviceOwner: '', deviceId: '' });
    await this.#repo.putAttributes({
      portId: eni.port.id,
      deviceIndex: 0,
      deleteOnTermination: 0,
      sourceDestCheck: eni.sourceDestCheck ? 1 : 0,
      attachmentId: null,
      attachedAt: null,
    });
  }

  /** Refuses the detach of an instance's primary interface (device 0). */
  checkDetach(eni: NetworkInterface, shown: string): void {
    if (!eni.attachment || eni.attachment.deviceIndex === 0) {
      throw new StratusError(
        'conflict',
        `The network interface at device index 0 (${shown}) cannot be detached.`,
        { resource: 'attachment', id: shown, reason: 'protected' },
      );
    }
  }

  /**
   * Records a port (the Compute API's os-interface) with an instance at its next free device
   * index (1 or more), owned by `compute:<zone>`; `deleteWithInstance` when the attach made it.
   */
  async attachPort(
    ctx: RequestContext,
    portId: string,
    instance: { id: string; availabilityZone: string | null },
    deleteWithInstance: boolean,
  ): Promise<void> {
    const held = (await this.#networks.listPorts(ctx)).filter(
      (p) => p.deviceId === instance.id && p.id !== portId,
    );
    const indices = new Set(
      (await this.#repo.attributes(held.map((p) => p.id))).map((a) => a.deviceIndex),
    );
    let deviceIndex = 1;
    while (indices.has(deviceIndex)) deviceIndex++;
    await this.#repo.putAttributes({
      portId,
      deviceIndex,
      deleteOnTermination: deleteWithInstance ? 1 : 0,
      sourceDestCheck: 1,
      attachmentId: randomUUID(),
      attachedAt: Date.now(),
    });
    try {
      await this.#networks.updatePort(ctx, portId, {
        deviceOwner: `compute:${instance.availabilityZone ?? 'nova'}`,
        deviceId: instance.id,
      });
    } catch (err) {
      await this.#repo.deleteAttributes(portId).catch(() => undefined);
      throw err;
    }
  }

  /**
   * The device index of a port on its instance: 0 for the port it was launched with (or one
   * recorded so), 1 or more for one attached later.
   */
  async deviceIndexOf(portId: string): Promise<number> {
    return (await this.#repo.attributes([portId]))[0]?.deviceIndex ?? 0;
  }

  /**
   * Takes a port attached with `attachPort` off its instance: deleted when the attach made it
   * (`deleteWithInstance`), else free again.
   */
  async detachPort(ctx: RequestContext, portId: string): Promise<void> {
    const [a] = await this.#repo.attributes([portId]);
    if (a?.deleteOnTermination === 1) {
      await this.#networks.deletePort(ctx, portId);
    } else {
      await this.#networks.updatePort(ctx, portId, { deviceOwner: '', deviceId: '' });
    }
    await this.#repo.deleteAttributes(portId).catch(() => undefined);
  }

  /** Changes one attribute of an interface (ModifyNetworkInterfaceAttribute). */
  async modify(
    ctx: RequestContext,
    eni: NetworkInterface,
    change: {
      description?: string | undefined;
      securityGroups?: string[] | undefined;
      sourceDestCheck?: boolean | undefined;
      deleteOnTermination?: boolean | undefined;
    },
  ): Promise<void> {
    if (change.description !== undefined || change.securityGroups !== undefined) {
      await this.#networks.updatePort(ctx, eni.port.id, {
        ...(change.description !== undefined ? { description: change.description } : {}),
        ...(change.securityGroups !== undefined ? { securityGroups: change.securityGroups } : {}),
      });
    }
    if (change.sourceDestCheck !== undefined || change.deleteOnTermination !== undefined) {
      await this.#repo.putAttributes({
        portId: eni.port.id,
        deviceIndex: eni.attachment?.deviceIndex ?? 0,
        deleteOnTermination:
          (change.deleteOnTermination ?? eni.attachment?.deleteOnTermination ?? false) ? 1 : 0,
        sourceDestCheck: (change.sourceDestCheck ?? eni.sourceDestCheck) ? 1 : 0,
        // The launch's own attachment keeps the port's id as its id.
        attachmentId: eni.attachment?.id ?? null,
        attachedAt: eni.attachment ? Date.now() : null,
      });
    }
  }

  /** Records the device index and deletion of an interface a launch attached. */
  async recordLaunchAttachment(
    portId: string,
    deviceIndex: number,
    deleteOnTermination: boolean,
  ): Promise<void> {
    await this.#repo.putAttributes({
      portId,
      deviceIndex,
      deleteOnTermination: deleteOnTermination ? 1 : 0,
      sourceDestCheck: 1,
      attachmentId: portId,
      attachedAt: Date.now(),
    });
  }

  /**
   * Adds private addresses to an interface, each as given or the subnet's next free ones
   * (`count`); a taken one is `conflict` (`address_in_use`) and nothing is added.
   */
  async assignPrivateIps(
    ctx: RequestContext,
    eni: NetworkInterface,
    spec: { addresses: readonly string[]; count: number },
  ): Promise<void> {
    const keep = eni.port.fixedIps.map((f) => ({ subnetId: f.subnetId, ipAddress: f.ipAddress }));
    const asked = [
      ...spec.addresses
        .filter((a) => !eni.privateIps.includes(a))
        .map((a) => ({ subnetId: eni.subnetId, ipAddress: a })),
      ...Array.from({ length: spec.count }, () => ({ subnetId: eni.subnetId })),
    ];
    if (asked.length === 0) return;
    await this.#networks.updatePort(ctx, eni.port.id, { fixedIps: [...keep, ...asked] });
  }

  /** Takes secondary addresses off an interface; its primary one cannot be (`invalid`). */
  async unassignPrivateIps(
    ctx: RequestContext,
    eni: NetworkInterface,
    addresses: readonly string[],
    shown: string,
  ): Promise<void> {
    for (const a of addresses) {
      if (a === eni.privateIp) {
        throw invalid(`The primary address ${a} of interface ${shown} cannot be unassigned.`, {
          resource: 'parameter',
          id: 'PrivateIpAddress',
        });
      }
      if (!eni.privateIps.includes(a)) {
        throw invalid(`Some of the specified addresses are not assigned to interface ${shown}.`, {
          resource: 'parameter',
          id: 'PrivateIpAddress',
        });
      }
    }
    const gone = new Set(addresses);
    await this.#networks.updatePort(ctx, eni.port.id, {
      fixedIps: eni.port.fixedIps
        .filter((f) => !gone.has(f.ipAddress))
        .map((f) => ({ subnetId: f.subnetId, ipAddress: f.ipAddress })),
    });
  }

  /**
   * What happens to the interfaces of terminated instances: those to be deleted with their
   * instance are deleted, the others detached (available again). Missing ones are no error.
   */
  async releaseInstances(ctx: RequestContext, instanceIds: readonly string[]): Promise<void> {
    if (instanceIds.length === 0) return;
    const wanted = new Set(instanceIds);
    for (const eni of await this.#vpcs.listInterfaces(ctx)) {
      if (!eni.instanceId || !wanted.has(eni.instanceId)) continue;
      if (eni.attachment?.deleteOnTermination ?? true) {
        await this.#networks.deletePort(ctx, eni.port.id).catch(() => undefined);
        await this.#repo.deleteAttributes(eni.port.id).catch(() => undefined);
      } else {
        await this.#networks
          .updatePort(ctx, eni.port.id, { deviceOwner: '', deviceId: '' })
          .catch(() => undefined);
        await this.#repo.deleteAttributes(eni.port.id).catch(() => undefined);
      }
    }
  }

  // Public addresses given at launch and Elastic IPs bound to an interface

  /** Records that an allocated address is an instance's from its launch (for its release). */
  async recordLaunchAddress(allocationId: string, instanceId: string, portId: string) {
    await this.#repo.insertLaunchAddress({ allocationId, instanceId, portId });
  }

  /** The addresses launches gave, by allocation id: instance and interface. */
  async launchAddresses(
    instanceIds?: readonly string[],
  ): Promise<Map<string, { instanceId: string; portId: string }>> {
    return new Map(
      (await this.#repo.launchAddresses(instanceIds)).map((r) => [
        r.allocationId,
        { instanceId: r.instanceId, portId: r.portId },
      ]),
    );
  }

  async forgetLaunchAddress(allocationId: string): Promise<void> {
    await this.#repo.deleteLaunchAddress(allocationId);
  }

  /** Records the interface and private address an association is bound to. */
  async bindAddress(associationId: string, portId: string, privateIp: string): Promise<void> {
    await this.#repo.putBinding({ associationId, portId, privateIp });
  }

  /** The interface and private address of each of these associations that has them. */
  async addressBindings(
    associationIds: readonly string[],
  ): Promise<Map<string, { portId: string; privateIp: string }>> {
    return new Map(
      (await this.#repo.bindings(associationIds)).map((r) => [
        r.associationId,
        { portId: r.portId, privateIp: r.privateIp },
      ]),
    );
  }
}
