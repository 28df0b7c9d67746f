// The compute service's bus protocol and its typed client; every method names its host.
import { hostTopic, type Bus } from '../bus/index.js';
import type { RequestContext } from '../context.js';
import type { ServiceStatus } from '../service/index.js';
import type { DriverCapabilities, HostCapacity } from '../virt/index.js';

export interface HostDescription {
  host: string;
  driver: string;
  capabilities: DriverCapabilities;
  capacity: HostCapacity;
  instances: number;
}

export type ComputeProtocol = {
  status: { args: Record<string, never>; result: ServiceStatus };
  describeHost: { args: Record<string, never>; result: HostDescription };
};

export class ComputeClient {
  constructor(private readonly bus: Bus) {}

  status(ctx: RequestContext, host: string): Promise<ServiceStatus> {
    return this.bus.call(ctx, hostTopic('compute', host), 'status', {});
  }

  /** Call: the host's driver, capabilities, capacity and how many VMs it runs. */
  describeHost(ctx: RequestContext, host: string): Promise<HostDescription> {
    return this.bus.call(ctx, hostTopic('compute', host), 'describeHost', {});
  }
}
