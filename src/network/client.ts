// The network service's bus protocol and its typed client.
import type { Bus } from '../bus/index.js';
import type { RequestContext } from '../context.js';
import type { ServiceStatus } from '../service/index.js';

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
}
