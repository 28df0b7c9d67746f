// What the scheduler knows of each compute host and of what new instances need: the data its
// filters and weighers are pure functions of.
import type { Resources, ServerGroupPolicy } from '../db/index.js';

export interface HostState {
  host: string;
  /** The zone the host reported ('' when it has not said). */
  availabilityZone: string;
  /** The guest architecture the host runs, as images name it ('x86_64', 'arm64'). */
  architecture: string;
  /** The host's compute service is registered and no operator disabled it. */
  enabled: boolean;
  /** The compute service's last heartbeat, milliseconds since the epoch (0: never). */
  heartbeatAt: number;
  /** What the host reported it has. */
  capacity: Resources;
  /** What the capacity claims on the host add up to. */
  used: Resources;
}

/** What each of the instances to place needs. */
export interface RequestSpec extends Resources {
  /** Only hosts in this zone; any zone when null. */
  availabilityZone: string | null;
  /** The image's architecture; any host when null. */
  architecture: string | null;
  /** The server group the instances join; none when absent or null. */
  group?: GroupSpec | null;
}

/** A server group as the filters and weighers see it while one of its members is placed. */
export interface GroupSpec {
  id: string;
  policy: ServerGroupPolicy;
  /** The most members on one host (anti-affinity). */
  maxPerHost: number;
  /**
   * How many of the group's other members each host holds: placed, or being placed (their
   * capacity claim is taken, by this scheduler or another). Hosts without any are absent.
   */
  membersOn: ReadonlyMap<string, number>;
}

/** Keeps the hosts that can take an instance of `spec`. */
export interface HostFilter {
  readonly name: string;
  passes(host: HostState, spec: RequestSpec, now: number): boolean;
  /** Why no host is left once this filter has run, as a sentence for the user. */
  refusal(spec: RequestSpec): string;
}

/** Orders the hosts that passed the filters: the highest weight is tried first. */
export interface HostWeigher {
  readonly name: string;
  weigh(host: HostState, spec: RequestSpec): number;
}
