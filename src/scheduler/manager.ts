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
  now,
  ServiceRepo,
  type Db,
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
import { freeMemoryWeigher, type WeigherChoice } from './weighers/index.js';

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

export class SchedulerManager implements ProtocolHandlers<SchedulerProtocol> {
  readonly #opts: SchedulerOptions;
  readonly #services: ServiceRepo;
  readonly #nodes: ComputeNodeRepo;
  readonly #claims: CapacityClaimRepo;
  readonly #filters: readonly HostFilter[];
  readonly #weigher: HostWeigher;
  readonly #startedAt = now();
  /**
   * Claims this process is taking now, by host, counted as used by its other decisions until
   * they are settled: concurrent decisions then spread over the hosts instead of all picking
   * the same one and queueing on its row lock. The claim in the database stays what decides.
   */
  readonly #inFlight = new Map<string, Resources>();
  /**
   * Claims this process took since a read of the hosts still in use began: the read may not
   * have seen them, so decisions working from it count them as used. `seq` is the number of
   * the last read begun when the claim was taken: reads numbered up to it may lack it.
   */
  readonly #settled: { host: string; r: Resources; seq: number; decision: object }[] = [];
  /** Numbers the reads of the hosts as they begin. */
  #readSeq = 0;
  /** The read each decision under way works from, by its number, counted. */
  readonly #readsInUse = new Map<number, number>();
  /** The read of the hosts not started yet, which every decision asking now shares. */
  #pendingRead: Promise<{ seq: number; states: HostState[] }> | undefined;
  /** The last read started: the next one starts when it is done. */
  #lastRead: Promise<unknown> = Promise.resolve();

  constructor(options: SchedulerOptions) {
    this.#opts = options;
    this.#services = new ServiceRepo(options.db);
    this.#nodes = new ComputeNodeRepo(options.db);
    this.#claims = new CapacityClaimRepo(options.db);
    this.#filters = schedulerFilters(options);
    this.#weigher = freeMemoryWeigher(options.ratios.ramAllocationRatio, options.weigher);
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
    let read: { seq: number; states: HostState[] } | undefined;
    try {
      read = await this.#hostStates();
      let states = read.states;
      for (const instanceId of args.instanceIds) {
        // Hosts whose claim was refused for this instance: another scheduler filled them since
        // they were read.
        const full = new Set<string>();
        for (;;) {
          const result = rankHosts(
            this.#withOthers(
              states.filter((h) => !full.has(h.host)),
              (read as { seq: number }).seq,
              decision,
            ),
            spec,
            this.#filters,
            this.#weigher,
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
          this.#hold(pick.host, spec, 1);
          let outcome;
          try {
            outcome = await this.#claims.claim(
              {
                instanceId,
                host: pick.host,
                vcpus: spec.vcpus,
                memoryMb: spec.memoryMb,
                diskGb: spec.diskGb,
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
            this.#hold(pick.host, spec, -1);
          }
          if (outcome === 'claimed') {
            this.#settled.push({ host: pick.host, r: spec, seq: this.#readSeq, decision });
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
          full.add(pick.host);
          const before = read;
          read = await this.#hostStates();
          this.#release(before);
          states = read.states;
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
   * The hosts with what other decisions of this process hold or took counted as used: claims
   * being taken now, and claims taken since the read `seq` began, which it may not show.
   */
  #withOthers(states: readonly HostState[], seq: number, decision: object): HostState[] {
    const extra = new Map<string, Resources>();
    for (const e of this.#settled) {
      if (e.seq >= seq && e.decision !== decision) {
        extra.set(e.host, plus(extra.get(e.host) ?? NOTHING, e.r));
      }
    }
    return states.map((h) => {
      const more = extra.get(h.host);
      const withHeld = this.#withInFlight(h);
      return more ? { ...withHeld, used: plus(withHeld.used, more) } : withHeld;
    });
  }

  /** A decision is done with a read; claims no read in use can lack are forgotten. */
  #release(read: { seq: number }): void {
    const n = (this.#readsInUse.get(read.seq) ?? 1) - 1;
    if (n > 0) this.#readsInUse.set(read.seq, n);
    else this.#readsInUse.delete(read.seq);
    const oldest = Math.min(...this.#readsInUse.keys());
    for (let i = this.#settled.length - 1; i >= 0; i--) {
      if ((this.#settled[i] as { seq: number }).seq < oldest) this.#settled.splice(i, 1);
    }
  }

  /** A decision that gave its claims back: they no longer count for the others. */
  #forget(decision: object): void {
    for (let i = this.#settled.length - 1; i >= 0; i--) {
      if ((this.#settled[i] as { decision: object }).decision === decision) {
        this.#settled.splice(i, 1);
      }
    }
  }

  /** The host with the claims this process is taking on it now counted as used. */
  #withInFlight(h: HostState): HostState {
    const held = this.#inFlight.get(h.host);
    return held ? { ...h, used: plus(h.used, held) } : h;
  }

  /** Counts (sign 1) or stops counting (-1) a claim being taken on `host`. */
  #hold(host: string, r: Resources, sign: 1 | -1): void {
    const held = this.#inFlight.get(host) ?? NOTHING;
    const next = {
      vcpus: held.vcpus + sign * r.vcpus,
      memoryMb: held.memoryMb + sign * r.memoryMb,
      diskGb: held.diskGb + sign * r.diskGb,
    };
    if (next.vcpus === 0 && next.memoryMb === 0 && next.diskGb === 0) this.#inFlight.delete(host);
    else this.#inFlight.set(host, next);
  }

  /** Every compute host as the database knows it, with its usage from the claims. */
  async #hostStates(): Promise<{ seq: number; states: HostState[] }> {
    // Decisions that come in together share one read, so that many at once cost the database
    // a few reads instead of three queries each. A decision never uses a read that began
    // before it asked (it could miss a host disabled just before): it joins the read that
    // starts when the one under way is done.
    let pending = this.#pendingRead;
    if (!pending) {
      const read: Promise<{ seq: number; states: HostState[] }> = this.#lastRead.then(async () => {
        // Decisions that ask from now on wait for the read after this one.
        if (this.#pendingRead === read) this.#pendingRead = undefined;
        const seq = ++this.#readSeq;
        return { seq, states: await this.#readHostStates() };
      });
      this.#pendingRead = pending = read;
      this.#lastRead = read.catch(() => undefined);
    }
    const { seq, states } = await pending;
    this.#readsInUse.set(seq, (this.#readsInUse.get(seq) ?? 0) + 1);
    return { seq, states: states.map(copyState) };
  }

  async #readHostStates(): Promise<HostState[]> {
    const [services, nodes, used] = await Promise.all([
      this.#services.list({ binary: 'compute' }),
      this.#nodes.list(),
      this.#claims.usageByHost(),
    ]);
    const service = new Map(services.map((s) => [s.host, s]));
    return nodes.map((n) => {
      const s = service.get(n.host);
      return {
        host: n.host,
        availabilityZone: n.availabilityZone,
        architecture: n.architecture,
        enabled: s !== undefined && !s.disabled,
        heartbeatAt: s?.heartbeatAt ?? 0,
        capacity: { vcpus: n.vcpus, memoryMb: Number(n.memoryMb), diskGb: Number(n.diskGb) },
        used: used.get(n.host) ?? NOTHING,
      };
    });
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
