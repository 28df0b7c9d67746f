// What the API edges call to attach ports to instances and detach them (EC2's
// AttachNetworkInterface and DetachNetworkInterface, Compute's os-interface): the port is
// recorded with the instance in the model (VpcInterfaces), and a running instance's host is
// called to plug it live (interface-worker.ts); when the host cannot, the record is undone and
// its answer is the caller's. A stopped instance's port is only recorded.
import type { RequestContext } from '../context.js';
import type { InstanceRow } from '../db/index.js';
import { StratusError } from '../errors.js';
import type { NetworkInterface, ProjectNetworkService, VpcService } from '../network/index.js';
import type { ComputeClient } from './client.js';

export interface InterfaceAttachOperationsOptions {
  compute: Pick<ComputeClient, 'attachInterface' | 'detachInterface'>;
  vpcs: VpcService;
  projectNetworks: ProjectNetworkService;
}

/** Where an instance stands for attaching: running (plugged live), stopped, or neither. */
export function attachState(inst: InstanceRow): 'running' | 'stopped' | 'other' {
  if (inst.taskState !== null || inst.host === null) return 'other';
  if (inst.vmState === 'active' && inst.powerState === 'running') return 'running';
  return inst.vmState === 'stopped' ? 'stopped' : 'other';
}

export class InterfaceAttachOperations {
  readonly #o: InterfaceAttachOperationsOptions;

  constructor(options: InterfaceAttachOperationsOptions) {
    this.#o = options;
  }

  /** EC2: attaches a VPC interface at `deviceIndex`; returns the attachment id. */
  async attachInterface(
    ctx: RequestContext,
    args: {
      eniId: string;
      shownEni: string;
      instance: InstanceRow;
      shown: string;
      deviceIndex: number;
    },
  ): Promise<string> {
    const inst = args.instance;
    const state = attachState(inst);
    const attachmentId = await this.#o.vpcs.interfaces.attach(
      ctx,
      args.eniId,
      { id: inst.id, shown: args.shown, availabilityZone: inst.availabilityZone, state },
      args.deviceIndex,
      args.shownEni,
    );
    if (state === 'running') {
      try {
        await this.#o.compute.attachInterface(ctx, inst.host as string, inst.id, args.eniId);
      } catch (err) {
        const eni = await this.#o.vpcs.getInterface(ctx, args.eniId, args.shownEni);
        await this.#o.vpcs.interfaces.detach(ctx, eni, args.shownEni).catch(() => undefined);
        throw err;
      }
    }
    return attachmentId;
  }

  /** EC2: detaches a VPC interface (not the primary); a running instance's host unplugs it first. */
  async detachInterface(
    ctx: RequestContext,
    args: { eni: NetworkInterface; instance: InstanceRow | undefined; shown: string },
  ): Promise<void> {
    const { eni, instance } = args;
    this.#o.vpcs.interfaces.checkDetach(eni, args.shown);
    if (instance && instance.host !== null) {
      const state = attachState(instance);
      if (state === 'other' && instance.vmState !== 'deleted' && instance.vmState !== 'error') {
        throw new StratusError(
          'conflict',
          `The instance of attachment ${args.shown} is busy; try again when it is running or stopped.`,
          { resource: 'attachment', id: args.shown },
        );
      }
      if (state === 'running') {
        await this.#o.compute.detachInterface(ctx, instance.host, instance.id, eni.port.id);
      }
    }
    await this.#o.vpcs.interfaces.detach(ctx, eni, args.shown);
  }

  /**
   * Compute: attaches a port (`portId`), or a new port on network `networkId` (with
   * `fixedIps`), to a running or stopped server; returns the port as attached. A port in use:
   * `conflict` (`in_use`); a server neither running nor stopped: `conflict`
   * (`instance_state`).
   */
  async attachPort(
    ctx: RequestContext,
    instance: InstanceRow,
    spec:
      | { portId: string }
      | { networkId: string; fixedIps?: { ipAddress?: string | undefined }[] | undefined },
  ) {
    const state = attachState(instance);
    if (state === 'other') {
      throw new StratusError(
        'conflict',
        `Cannot 'attach_interface' instance ${instance.id} while it is neither active nor stopped, or busy.`,
        { resource: 'instance', id: instance.id, reason: 'instance_state' },
      );
    }
    const nets = this.#o.projectNetworks;
    let portId: string;
    let made = false;
    if ('portId' in spec) {
      const port = await nets.getPort(ctx, spec.portId);
      if (port.deviceId !== '' || port.deviceOwner !== '') {
        throw new StratusError('conflict', `Port ${port.id} is still in use.`, {
          resource: 'port',
          id: port.id,
          reason: 'in_use',
        });
      }
      portId = port.id;
    } else {
      const port = await nets.createPort(ctx, {
        networkId: spec.networkId,
        ...(spec.fixedIps ? { fixedIps: spec.fixedIps } : {}),
      });
      portId = port.id;
      made = true;
    }
    try {
      await this.#o.vpcs.interfaces.attachPort(ctx, portId, instance, made);
      if (state === 'running') {
        try {
          await this.#o.compute.attachInterface(ctx, instance.host as string, instance.id, portId);
        } catch (err) {
          await this.#o.vpcs.interfaces.detachPort(ctx, portId).catch(() => undefined);
          made = false;
          throw err;
        }
      }
    } catch (err) {
      if (made) await nets.deletePort(ctx, portId).catch(() => undefined);
      throw err;
    }
    return nets.getPort(ctx, portId);
  }

  /**
   * Compute: detaches a port from its server (deleted when the attach made it). Not attached
   * to it: `not_found`; the server's first port: `conflict`.
   */
  async detachPort(ctx: RequestContext, instance: InstanceRow, portId: string): Promise<void> {
    const port = (await this.#o.projectNetworks.listPorts(ctx)).find(
      (p) => p.id === portId && p.deviceId === instance.id,
    );
    if (!port) {
      throw new StratusError(
        'not_found',
        `Port ${portId} is not attached to server ${instance.id}.`,
        { resource: 'port', id: portId },
      );
    }
    if ((await this.#o.vpcs.interfaces.deviceIndexOf(port.id)) === 0) {
      throw new StratusError(
        'conflict',
        `Port ${portId} is the first interface of server ${instance.id}; it stays until the server is deleted.`,
        { resource: 'port', id: portId, reason: 'protected' },
      );
    }
    const state = attachState(instance);
    if (state === 'other') {
      throw new StratusError(
        'conflict',
        `Cannot 'detach_interface' instance ${instance.id} while it is neither active nor stopped, or busy.`,
        { resource: 'instance', id: instance.id, reason: 'instance_state' },
      );
    }
    if (state === 'running') {
      await this.#o.compute.detachInterface(ctx, instance.host as string, instance.id, port.id);
    }
    await this.#o.vpcs.interfaces.detachPort(ctx, port.id);
  }
}
