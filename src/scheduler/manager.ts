// The scheduler manager: answers "which host" for new instances and claims their capacity
// there. The filters keep the compute hosts that can take an instance (up and enabled, zone,
// image architecture, room under the allocation ratios), the weigher orders them (spread or
// pack), and each pick is a capacity claim taken atomically in the database, so any number of
// schedulers may run side by side without overfilling a host. It never writes instances: the
// operations that asked record the host.
import { dispatch, type ProtocolHandlers } from '../bus/index.js';
import {
  CapacityClaimRepo,
  ComputeNodeRepo,
  groupPlacement,
  now,
  ServerGroupRepo,
  ServiceRepo,
  type Db,
  type GroupPlacement,
  type Resources,
} from '../db/index.js';
import { StratusError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Service } from '../service/index.js';
import { VERSION } from '../version.js';
import { hostLimits, type AllocationRatios } from './allocation.js';
import {
  SCHEDULER_TOPIC,
  type Destinations,
  type SchedulerProtocol,
  type SelectDestinationsArgs,
} from './client.js';
import { schedulerFilters } from './filters/index.js';
import type { HostFilter, HostState, HostWeigher, RequestSpec } from './host-state.js';
import { rankHosts } from './host-ranking.js';
import { freeMemoryWeigher, serverGroupWeigher, type WeigherChoice } from './weighers/index.js';

export interface SchedulerOptions {
  db: Db;
  host: string;
  downAfterMs: number;
  ratios: AllocationRatios;
  /** Where new instances go among the hosts that can take them: spread or pack. */
  weigher: WeigherChoice;
  /** Each decision is logged with its duration (`decisionMs`), placed or refused. */
  logger?: Logger;
}

const NOTHING: Resources = { vcpus: 0, memoryMb: 0, diskGb: 0 };

/** A claim of this process: being taken, or taken (`settledSeq` set) and perhaps not yet read. */
interface OwnClaim {
  host: string;
  r: Resources;
  /** The decision that takes it. */
  decision: object;
  /** When it began (Date.now()): the claim's row is created no earlier. */
  startedAt: number;
  /** The server group the instance is a member of, if any. */
  group?: string | undefined;
  /** The number of the last read begun when the claim was committed. */
  settledSeq?: number;
}

/**
 * One read of the hosts, numbered as reads begin; `seen`: which of this process's recent
 * claims it shows.
 */
interface HostRead {
  seq: number;
  states: HostState[];
  seen: ReadonlySet<string>;
}

export class SchedulerManager implements ProtocolHandlers<SchedulerProtocol> {
  readonly #opts: SchedulerOptions;
  readonly #services: ServiceRepo;
  readonly #nodes: ComputeNodeRepo;
  readonly #claims: CapacityClaimRepo;
  readonly #groups: ServerGroupRepo;
  readonly #filters: readonly HostFilter[];
  readonly #weighers: readonly HostWeigher[];
  readonly #startedAt = now();
  /**
   * The claims this process is taking or took lately, by instance. Each decision counts the
   * others' claims as used where its read of the hosts does not show them (still being taken,
   * or committed after the read), so decisions at once spread over the hosts instead of all
   * picking the same one and queueing on its row lock. The claim in the database stays what
   * decides. A claim taken is kept until no read in use can lack it.
   */
  readonly #own = new Map<string, OwnClaim>();
  /** Numbers the reads of the hosts as they begin. */
  #readSeq = 0;
  /** The reads begun that decisions still work from, by number: how many decisions each. */
  readonly #readsInUse = new Map<number, number>();
  /**
   * The read of the hosts not started yet, which every decision asking now shares, and how
   * many decisions joined it.
   */
  #pendingRead: { joiners: number; read: Promise<HostRead> } | undefined;
  /** The last read started: the next one starts when it is done. */
  #lastRead: Promise<unknown> = Promise.resolve();

  constructor(options: SchedulerOptions) {
    this.#opts = options;
    this.#services = new ServiceRepo(options.db);
    this.#nodes = new ComputeNodeRepo(options.db);
    this.#claims = new CapacityClaimRepo(options.db);
    this.#groups = new ServerGroupRepo(options.db);
    this.#filters = schedulerFilters(options);
    // A server group's soft policy first; free memory (spread or pack) breaks its ties.
    this.#weighers = [
      serverGroupWeigher,
      freeMemoryWeigher(options.ratios.ramAllocationRatio, options.weigher),
    ];
  }

  service(): Service {
    return {
      binary: 'scheduler',
      topics: [
        {
          topic: SCHEDULER_TOPIC,
          handler: dispatch<SchedulerProtocol>(SCHEDULER_TOPIC, {
            status: () => this.status(),
            selectDestinations: (a) => this.selectDestinations(a),
          }),
        },
      ],
    };
  }

  async status(): Promise<SchedulerProtocol['status']['result']> {
    return {
      binary: 'scheduler',
      host: this.#opts.host,
      startedAt: this.#startedAt,
      version: VERSION,
      details: { ...this.#opts.ratios, weigher: this.#opts.weigher },
    };
  }

  /**
   * Picks a host for each instance and claims its resources there; all or nothing: when one
   * cannot be placed, the claims taken for the others are given back. Requests that arrive
   * together (several clients launching at once) are weighed with each other's claims in
   * flight counted as used, not all against the same stale usage, so they spread as one
   * request would. Claims stay atomic in the database for the schedulers beside this one.
   */
  async selectDestinations(args: SelectDestinationsArgs): Promise<Destinations> {
    const started = performance.now();
    const decisionMs = () => Math.round((performance.now() - started) * 1000) / 1000;
    try {
      const result = await this.#select(args);
      this.#opts.logger?.info(
        {
          instances: args.instanceIds.length,
          hosts: [...new Set(result.hosts)],
          decisionMs: decisionMs(),
        },
        'destinations selected',
      );
      return result;
    } catch (err) {
      this.#opts.logger?.info(
        {
          instances: args.instanceIds.length,
          decisionMs: decisionMs(),
          err: (err as Error).message,
        },
        'no destinations',
      );
      throw err;
    }
  }

  async #select(args: SelectDestinationsArgs): Promise<Destinations> {
    const spec: RequestSpec = {
      vcpus: args.vcpus,
      memoryMb: args.memoryMb,
      diskGb: args.diskGb,
      availabilityZone: args.availabilityZone,
      architecture: args.architecture,
    };
    const claimed: string[] = [];
    const hosts: string[] = [];
    const zones: string[] = [];
    const decision = {};
    let read: HostRead | undefined;
    // The instances' server group (a group deleted meanwhile places them as if none).
    const groupRow = args.group ? await this.#groups.find(args.group) : undefined;
    const group = groupRow ? groupPlacement(groupRow) : undefined;
    try {
      read = await this.#hostStates();
      let states = read.states;
      let memberHosts = group ? await this.#groups.memberHosts(group.id) : new Map();
      for (const instanceId of args.instanceIds) {
        // Hosts whose claim was refused for this instance: another scheduler filled them since
        // they were read.
        const full = new Set<string>();
        for (;;) {
          const result = rankHosts(
            this.#withOthers(
              states.filter((h) => !full.has(h.host)),
              read as HostRead,
              decision,
            ),
            group ? { ...spec, group: this.#groupSpec(group, memberHosts, instanceId) } : spec,
            this.#filters,
            this.#weighers,
            now(),
          );
          if ('refusal' in result) {
            throw new StratusError('unavailable', result.refusal, {
              resource: 'host',
              reason: 'no_valid_host',
            });
          }
          const picked = (result.ranked[0] as HostState).host;
          const pick = states.find((h) => h.host === picked) as HostState;
          const own: OwnClaim = {
            host: pick.host,
            r: spec,
            decision,
            startedAt: Date.now(),
            group: group?.id,
          };
          this.#own.set(instanceId, own);
          let outcome;
          try {
            outcome = await this.#claims.claim(
              {
                instanceId,
                host: pick.host,
                vcpus: spec.vcpus,
                memoryMb: spec.memoryMb,
                diskGb: spec.diskGb,
                group,
              },
              (node) =>
                hostLimits(
                  {
                    vcpus: node.vcpus,
                    memoryMb: Number(node.memoryMb),
                    diskGb: Number(node.diskGb),
                  },
                  this.#opts.ratios,
                ),
            );
          } finally {
            if (outcome === 'claimed') own.settledSeq = this.#readSeq;
            else this.#own.delete(instanceId);
          }
          if (outcome === 'claimed') {
            claimed.push(instanceId);
            hosts.push(pick.host);
            zones.push(pick.availabilityZone);
            pick.used = {
              vcpus: pick.used.vcpus + spec.vcpus,
              memoryMb: pick.used.memoryMb + spec.memoryMb,
              diskGb: pick.used.diskGb + spec.diskGb,
            };
            break;
          }
          if (outcome === 'not_building') {
            throw new StratusError(
              'conflict',
              `The instance '${instanceId}' is no longer waiting for a host.`,
              { resource: 'instance', id: instanceId, reason: 'instance_state' },
            );
          }
          // No room, or (group_conflict) another scheduler placed a member of the group since
          // the hosts were read: read again, without this host.
          full.add(pick.host);
          const before = read;
          read = await this.#hostStates();
          this.#release(before);
          states = read.states;
          if (group) memberHosts = await this.#groups.memberHosts(group.id);
        }
      }
    } catch (err) {
      await this.#claims.release(claimed);
      this.#forget(decision);
      throw err;
    } finally {
      if (read) this.#release(read);
    }
    return { hosts, zones };
  }

  /**
   * The group as the filters see it while `instanceId` is placed: how many of its other
   * members each host holds, from their claims in the database and this process's claims of
   * the group being taken (each member counted once).
   */
  #groupSpec(
    group: GroupPlacement,
    memberHosts: ReadonlyMap<string, string>,
    instanceId: string,
  ): NonNullable<RequestSpec['group']> {
    const hostOf = new Map(memberHosts);
    for (const [id, c] of this.#own) if (c.group === group.id) hostOf.set(id, c.host);
    hostOf.delete(instanceId);
    const membersOn = new Map<string, number>();
    for (const h of hostOf.values()) membersOn.set(h, (membersOn.get(h) ?? 0) + 1);
    return { ...group, membersOn };
  }

  /**
   * The hosts with the claims of this process's other decisions that `read` does not show
   * counted as used: claims being taken, and claims committed after the read.
   */
  #withOthers(states: readonly HostState[], read: HostRead, decision: object): HostState[] {
    const extra = new Map<string, Resources>();
    for (const [instanceId, c] of this.#own) {
      if (c.decision !== decision && !read.seen.has(instanceId)) {
        extra.set(c.host, plus(extra.get(c.host) ?? NOTHING, c.r));
      }
    }
    return states.map((h) => {
      const more = extra.get(h.host);
      return more ? { ...h, used: plus(h.used, more) } : h;
    });
  }

  /**
   * A decision is done with a read. A claim taken while the read numbered `settledSeq` was the
   * last begun is in every read begun after it: once no read in use is that old, it is
   * forgotten.
   */
  #release(read: HostRead): void {
    const n = (this.#readsInUse.get(read.seq) ?? 1) - 1;
    if (n > 0) this.#readsInUse.set(read.seq, n);
    else this.#readsInUse.delete(read.seq);
    const oldest = Math.min(...this.#readsInUse.keys());
    for (const [instanceId, c] of this.#own) {
      if (c.settledSeq !== undefined && c.settledSeq < oldest) this.#own.delete(instanceId);
    }
  }

  /** A decision that gave its claims back: they no longer count for the others. */
  #forget(decision: object): void {
    for (const [instanceId, c] of this.#own) {
      if (c.decision === decision) this.#own.delete(instanceId);
    }
  }

  /** Every compute host as the database knows it, with its usage from the claims. */
  async #hostStates(): Promise<HostRead> {
    // Decisions that come in together share one read, so that many at once cost the database
    // a few reads instead of three queries each. A decision never uses a read that began
    // before it asked (it could miss a host disabled just before): it joins the read that
    // starts when the one under way is done.
    let pending = this.#pendingRead;
    if (!pending) {
      const next: { joiners: number; read: Promise<HostRead> } = {
        joiners: 0,
        read: this.#lastRead.then(async () => {
          // Decisions that ask from now on wait for the read after this one. The read is in
          // use by its joiners from the moment it begins, so the claims it may lack are kept.
          if (this.#pendingRead === next) this.#pendingRead = undefined;
          const seq = ++this.#readSeq;
          this.#readsInUse.set(seq, next.joiners);
          try {
            return { seq, ...(await this.#readHostStates(this.#oldestOwnClaim())) };
          } catch (err) {
            this.#readsInUse.delete(seq);
            throw err;
          }
        }),
      };
      this.#pendingRead = pending = next;
      this.#lastRead = next.read.catch(() => undefined);
    }
    pending.joiners += 1;
    const { seq, states, seen } = await pending.read;
    return { seq, states: states.map(copyState), seen };
  }

  /**
   * A time no later than the start of any claim of this process a read beginning now could
   * be asked about: those it knows of, and any it begins from now on. A second back, so a
   * clock step does not hide one.
   */
  #oldestOwnClaim(): number {
    let oldest = Date.now();
    for (const c of this.#own.values()) oldest = Math.min(oldest, c.startedAt);
    return oldest - 1000;
  }

  async #readHostStates(
    claimsSince: number,
  ): Promise<{ states: HostState[]; seen: ReadonlySet<string> }> {
    const [services, nodes, claims] = await Promise.all([
      this.#services.list({ binary: 'compute' }),
      this.#nodes.list(),
      this.#claims.usageWithRecent(claimsSince),
    ]);
    const service = new Map(services.map((s) => [s.host, s]));
    const states = nodes.map((n) => {
      const s = service.get(n.host);
      return {
        host: n.host,
        availabilityZone: n.availabilityZone,
        architecture: n.architecture,
        // A host an operator forced down takes nothing, whatever its heartbeat says.
        enabled: s !== undefined && !s.disabled && !s.forcedDown,
        heartbeatAt: s?.heartbeatAt ?? 0,
        capacity: { vcpus: n.vcpus, memoryMb: Number(n.memoryMb), diskGb: Number(n.diskGb) },
        used: claims.usage.get(n.host) ?? NOTHING,
      };
    });
    return { states, seen: claims.recent };
  }
}

function plus(a: Resources, b: Resources): Resources {
  return {
    vcpus: a.vcpus + b.vcpus,
    memoryMb: a.memoryMb + b.memoryMb,
    diskGb: a.diskGb + b.diskGb,
  };
}

/** A decision's own copy: it counts its picks in `used` as it goes. */
function copyState(h: HostState): HostState {
  return { ...h, used: { ...h.used } };
}
