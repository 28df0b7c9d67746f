// The scheduler's bus protocol and the typed client others use to reach it.
import type { Bus } from '../bus/index.js';
import type { RequestContext } from '../context.js';
import type { ServiceStatus } from '../service/index.js';

export const SCHEDULER_TOPIC = 'scheduler';

export interface SelectDestinationsArgs {
  /**
   * The instances that need a host (each still `building`); the scheduler claims each one's
   * resources on the host it picks, and the caller records the host.
   */
  instanceIds: string[];
  /** Only hosts in this zone; any when null. */
  availabilityZone: string | null;
  /** The image's architecture; any host when null. */
  architecture: string | null;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  /**
   * The server group the instances are members of (its id): its policy is kept, counting the
   * other members placed and being placed. Absent from callers of an earlier version.
   */
  group?: string | null;
}

export interface Destinations {
  /** The host of each instance, in the order asked. */
  hosts: string[];
  /**
   * The availability zone of each of those hosts, as the scheduler read it; absent from a
   * scheduler of an earlier version, whose callers look the zones up themselves.
   */
  zones?: string[];
}

export type SchedulerProtocol = {
  status: { args: Record<string, never>; result: ServiceStatus };
  selectDestinations: { args: SelectDestinationsArgs; result: Destinations };
};

export class SchedulerClient {
  constructor(private readonly bus: Bus) {}

  status(ctx: RequestContext): Promise<ServiceStatus> {
    return this.bus.call(ctx, SCHEDULER_TOPIC, 'status', {});
  }

  /**
   * Call: picks a host for each instance (in order) and claims its resources there; all or
   * nothing. `unavailable` (reason `no_valid_host`) when no compute host can take them.
   */
  selectDestinations(ctx: RequestContext, args: SelectDestinationsArgs): Promise<Destinations> {
    return this.bus.call(ctx, SCHEDULER_TOPIC, 'selectDestinations', args);
  }
}
