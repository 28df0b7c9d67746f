// The compute hosts as an operator and the zone listings see them: each host's state from its
// heartbeat, whether an operator disabled it, its zone, what it reported it has, what it may
// hold under the allocation ratios, what the capacity claims on it add up to, and how many
// instances it runs; and the availability zones those hosts make up.
import {
  CapacityClaimRepo,
  ComputeNodeRepo,
  InstanceRepo,
  LIVE_VM_STATES,
  now,
  ServiceRepo,
  type Db,
  type InstanceRow,
  type Resources,
} from '../db/index.js';
import { serviceState, type ServiceState } from '../service/index.js';
import { hostLimits, type AllocationRatios } from './allocation.js';

export interface ComputeHostSummary {
  host: string;
  /** The zone the host reported ('' before it reported). */
  availabilityZone: string;
  architecture: string;
  /** From the compute service's heartbeat; `down` when it never registered. */
  state: ServiceState;
  /** The operator's switch: a disabled host takes no new instances. */
  enabled: boolean;
  disabledReason: string | null;
  /** The compute service's last heartbeat, milliseconds since the epoch (0: never). */
  heartbeatAt: number;
  /** What the host reported it has (zero before it reported). */
  capacity: Resources;
  /** What the scheduler may place on it: the capacity times the allocation ratios. */
  limits: Resources;
  /** What the capacity claims on the host add up to. */
  used: Resources;
  /** Live instances (building, active, stopped) recorded on the host. */
  instances: number;
}

export interface ZoneSummary {
  name: string;
  /** At least one enabled host of the zone is up. */
  available: boolean;
  hosts: ComputeHostSummary[];
}

/** A service that is not a compute host (api, scheduler, network), for the zone details. */
export interface ControlServiceSummary {
  host: string;
  binary: string;
  state: ServiceState;
  enabled: boolean;
  heartbeatAt: number;
}

/** An instance with the state of the host it is on. */
export interface InstanceOnHost {
  instance: InstanceRow;
  /** `up` or `down` from the host's heartbeat; undefined for an instance without a host. */
  hostState: ServiceState | undefined;
}

export interface HostInventoryOptions {
  db: Db;
  /** How long after its last heartbeat a compute service counts as down. */
  downAfterMs: number;
  ratios: AllocationRatios;
}

const NOTHING: Resources = { vcpus: 0, memoryMb: 0, diskGb: 0 };

export class HostInventory {
  readonly #opts: HostInventoryOptions;
  readonly #services: ServiceRepo;
  readonly #nodes: ComputeNodeRepo;
  readonly #claims: CapacityClaimRepo;
  readonly #instances: InstanceRepo;

  constructor(options: HostInventoryOptions) {
    this.#opts = options;
    this.#services = new ServiceRepo(options.db);
    this.#nodes = new ComputeNodeRepo(options.db);
    this.#claims = new CapacityClaimRepo(options.db);
    this.#instances = new InstanceRepo(options.db);
  }

  /**
   * Every compute host, by name: each that registered a compute service or reported its
   * capacity (a host that reported but whose service row is gone shows as down).
   */
  async computeHosts(at = now()): Promise<ComputeHostSummary[]> {
    const [services, nodes, used, counts] = await Promise.all([
      this.#services.list({ binary: 'compute' }),
      this.#nodes.list(),
      this.#claims.usageByHost(),
      this.#instances.liveCountByHost(),
    ]);
    const node = new Map(nodes.map((n) => [n.host, n]));
    const service = new Map(services.map((s) => [s.host, s]));
    const names = [...new Set([...node.keys(), ...service.keys()])].sort();
    return names.map((host) => {
      const n = node.get(host);
      const s = service.get(host);
      const capacity: Resources = n
        ? { vcpus: n.vcpus, memoryMb: Number(n.memoryMb), diskGb: Number(n.diskGb) }
        : NOTHING;
      return {
        host,
        availabilityZone: n?.availabilityZone ?? '',
        architecture: n?.architecture ?? '',
        state: s ? serviceState(s, at, this.#opts.downAfterMs) : 'down',
        enabled: s !== undefined && s.disabled === 0,
        disabledReason: s?.disabledReason ?? null,
        heartbeatAt: s?.heartbeatAt ?? 0,
        capacity,
        limits: hostLimits(capacity, this.#opts.ratios),
        used: used.get(host) ?? NOTHING,
        instances: counts.get(host) ?? 0,
      };
    });
  }

  /** The zones the compute hosts make up, by name; hosts that reported no zone are left out. */
  async zones(at = now()): Promise<ZoneSummary[]> {
    const byZone = new Map<string, ComputeHostSummary[]>();
    for (const h of await this.computeHosts(at)) {
      if (h.availabilityZone === '') continue;
      byZone.set(h.availabilityZone, [...(byZone.get(h.availabilityZone) ?? []), h]);
    }
    return [...byZone.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, hosts]) => ({
        name,
        available: hosts.some((h) => h.enabled && h.state === 'up'),
        hosts,
      }));
  }

  /** The registered services other than compute hosts (api, scheduler, network). */
  async controlServices(at = now()): Promise<ControlServiceSummary[]> {
    return (await this.#services.list())
      .filter((s) => s.binary !== 'compute')
      .map((s) => ({
        host: s.host,
        binary: s.binary,
        state: serviceState(s, at, this.#opts.downAfterMs),
        enabled: s.disabled === 0,
        heartbeatAt: s.heartbeatAt,
      }));
  }

  /** Live instances (of one host, or all), each with the state of its host. */
  async instances(filter: { host?: string } = {}, at = now()): Promise<InstanceOnHost[]> {
    const [rows, services] = await Promise.all([
      this.#instances.list({
        ...(filter.host !== undefined ? { host: filter.host } : {}),
        vmStates: LIVE_VM_STATES,
      }),
      this.#services.list({ binary: 'compute' }),
    ]);
    const state = new Map(
      services.map((s) => [s.host, serviceState(s, at, this.#opts.downAfterMs)]),
    );
    return rows.map((instance) => ({
      instance,
      hostState: instance.host === null ? undefined : (state.get(instance.host) ?? 'down'),
    }));
  }
}
