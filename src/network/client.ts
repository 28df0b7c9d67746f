// The network service's bus protocol and its typed client.
import type { Bus } from '../bus/index.js';
import type { RequestContext } from '../context.js';
import type { FloatingIpDomain, FloatingIpRow } from '../db/index.js';
import type { ServiceStatus } from '../service/index.js';
import type { AssociationRef, FloatingIpRef, InstanceRef } from './floating-ips.js';

export const NETWORK_TOPIC = 'network';

/** What a guest needs to know about its place on the network. */
export interface GuestNetwork {
  networkId: string;
  networkName: string;
  address: string;
  macAddress: string;
  cidr: string;
  gateway: string;
  dns: string;
}

export type NetworkProtocol = {
  status: { args: Record<string, never>; result: ServiceStatus };
  allocateForInstance: { args: { instanceId: string; host: string }; result: GuestNetwork };
  deallocateForInstance: { args: { instanceId: string; host: string | null }; result: null };
  allocateFloatingIp: { args: { domain: FloatingIpDomain }; result: FloatingIpRow };
  associateFloatingIp: {
    args: {
      ref: FloatingIpRef;
      instance: InstanceRef;
      allowReassociation: boolean | null;
      fixedAddress: string | null;
    };
    result: FloatingIpRow;
  };
  disassociateFloatingIp: { args: { ref: AssociationRef }; result: FloatingIpRow };
  releaseFloatingIp: { args: { ref: FloatingIpRef }; result: null };
};

export class NetworkClient {
  constructor(private readonly bus: Bus) {}

  status(ctx: RequestContext): Promise<ServiceStatus> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'status', {});
  }

  /** Call: gives the instance a fixed address on the default network (the same one again if it has one). */
  allocateForInstance(
    ctx: RequestContext,
    instanceId: string,
    host: string,
  ): Promise<GuestNetwork> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'allocateForInstance', { instanceId, host });
  }

  /** Call: takes back the instance's fixed addresses and detaches its Elastic IPs. */
  async deallocateForInstance(
    ctx: RequestContext,
    instanceId: string,
    host: string | null,
  ): Promise<void> {
    await this.bus.call(ctx, NETWORK_TOPIC, 'deallocateForInstance', { instanceId, host });
  }

  /** Call: allocates the lowest free floating address to the caller's project, within its quota. */
  allocateFloatingIp(ctx: RequestContext, domain: FloatingIpDomain): Promise<FloatingIpRow> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'allocateFloatingIp', { domain });
  }

  /**
   * Call: associates a floating address with a running or stopped instance of its project
   * (see `FloatingIpService.associate`), onto `fixedAddress` if given (it must be the
   * instance's); returns the address with its new association.
   */
  associateFloatingIp(
    ctx: RequestContext,
    ref: FloatingIpRef,
    instance: InstanceRef,
    options: { allowReassociation: boolean | null; fixedAddress: string | null },
  ): Promise<FloatingIpRow> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'associateFloatingIp', {
      ref,
      instance,
      ...options,
    });
  }

  /** Call: ends an association; by address, one that is not associated is left as it is. */
  disassociateFloatingIp(ctx: RequestContext, ref: AssociationRef): Promise<FloatingIpRow> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'disassociateFloatingIp', { ref });
  }

  /** Call: gives a floating address back to the pool (refused for an associated 'vpc' one). */
  async releaseFloatingIp(ctx: RequestContext, ref: FloatingIpRef): Promise<void> {
    await this.bus.call(ctx, NETWORK_TOPIC, 'releaseFloatingIp', { ref });
  }
}
