// The network service's bus protocol and its typed client.
import type { Bus } from '../bus/index.js';
import type { RequestContext } from '../context.js';
import type { ServiceStatus } from '../service/index.js';

export const NETWORK_TOPIC = 'network';

export type NetworkProtocol = {
  status: { args: Record<string, never>; result: ServiceStatus };
};

export class NetworkClient {
  constructor(private readonly bus: Bus) {}

  status(ctx: RequestContext): Promise<ServiceStatus> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'status', {});
  }
}
