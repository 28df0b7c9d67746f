// The scheduler manager: answers "which host" for new instances. Filters keep the compute
// hosts that are up, enabled, in the asked zone and have room under the allocation ratios;
// the weigher prefers the host with the most free memory. Picks are made one at a time and
// recorded on the instance before the next, so concurrent launches never overfill a host.
import { dispatch, type ProtocolHandlers } from '../bus/index.js';
import { ComputeNodeRepo, InstanceRepo, now, ServiceRepo, type Db } from '../db/index.js';
import { StratusError } from '../errors.js';
import { serviceState, type Service } from '../service/index.js';
import { VERSION } from '../version.js';
import { SCHEDULER_TOPIC, type SchedulerProtocol, type SelectDestinationsArgs } from './client.js';

export interface AllocationRatios {
  cpuAllocationRatio: number;
  ramAllocationRatio: number;
  diskAllocationRatio: number;
}

export interface SchedulerOptions {
  db: Db;
  host: string;
  downAfterMs: number;
  ratios: AllocationRatios;
  /** The zone of every compute host (one zone per cloud for now). */
  availabilityZone: string;
}

interface Candidate {
  host: string;
  free: { vcpus: number; memoryMb: number; diskGb: number };
}

export class SchedulerManager implements ProtocolHandlers<SchedulerProtocol> {
  readonly #opts: SchedulerOptions;
  readonly #services: ServiceRepo;
  readonly #nodes: ComputeNodeRepo;
  readonly #instances: InstanceRepo;
  readonly #startedAt = now();
  /** Decisions are made one request at a time: each sees the placements before it. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: SchedulerOptions) {
    this.#opts = options;
    this.#services = new ServiceRepo(options.db);
    this.#nodes = new ComputeNodeRepo(options.db);
    this.#instances = new InstanceRepo(options.db);
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
      details: { ...this.#opts.ratios },
    };
  }

  selectDestinations(args: SelectDestinationsArgs): Promise<{ hosts: string[] }> {
    const run = this.#queue.then(() => this.#select(args));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #select(args: SelectDestinationsArgs): Promise<{ hosts: string[] }> {
    if (args.availabilityZone && args.availabilityZone !== this.#opts.availabilityZone) {
      throw new StratusError(
        'unavailable',
        `No compute host is in availability zone '${args.availabilityZone}'.`,
        {
          resource: 'zone',
          id: args.availabilityZone,
          reason: 'no_valid_host',
        },
      );
    }
    const candidates = await this.#candidates();
    const hosts: string[] = [];
    for (const instanceId of args.instanceIds) {
      const fits = candidates.filter(
        (c) =>
          c.free.vcpus >= args.vcpus &&
          c.free.memoryMb >= args.memoryMb &&
          c.free.diskGb >= args.diskGb,
      );
      fits.sort((a, b) => b.free.memoryMb - a.free.memoryMb || a.host.localeCompare(b.host));
      const pick = fits[0];
      if (!pick) {
        throw new StratusError(
          'unavailable',
          candidates.length === 0
            ? 'No compute host is up and enabled to take new instances.'
            : `No compute host has room for ${args.vcpus} vCPU, ${args.memoryMb} MiB memory and ${args.diskGb} GiB disk.`,
          { resource: 'host', reason: 'no_valid_host' },
        );
      }
      pick.free.vcpus -= args.vcpus;
      pick.free.memoryMb -= args.memoryMb;
      pick.free.diskGb -= args.diskGb;
      await this.#instances.update(instanceId, { host: pick.host });
      hosts.push(pick.host);
    }
    return { hosts };
  }

  async #candidates(): Promise<Candidate[]> {
    const at = now();
    const [services, nodes, used] = await Promise.all([
      this.#services.list({ binary: 'compute' }),
      this.#nodes.list(),
      this.#instances.hostUsage(),
    ]);
    const up = new Set(
      services
        .filter((s) => !s.disabled && serviceState(s, at, this.#opts.downAfterMs) === 'up')
        .map((s) => s.host),
    );
    const { cpuAllocationRatio, ramAllocationRatio, diskAllocationRatio } = this.#opts.ratios;
    return nodes
      .filter((n) => up.has(n.host))
      .map((n) => {
        const u = used.get(n.host) ?? { vcpus: 0, memoryMb: 0, diskGb: 0 };
        return {
          host: n.host,
          free: {
            vcpus: Math.floor(n.vcpus * cpuAllocationRatio) - u.vcpus,
            memoryMb: Math.floor(Number(n.memoryMb) * ramAllocationRatio) - u.memoryMb,
            diskGb: Math.floor(Number(n.diskGb) * diskAllocationRatio) - u.diskGb,
          },
        };
      });
  }
}
