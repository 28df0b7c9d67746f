// The scheduler manager: answers "which host" for new instances, from the compute services
// that are up and enabled.
import { dispatch, type ProtocolHandlers } from '../bus/index.js';
import { now, ServiceRepo, type Db } from '../db/index.js';
import { StratusError } from '../errors.js';
import { serviceState, type Service } from '../service/index.js';
import { VERSION } from '../version.js';
import { SCHEDULER_TOPIC, type SchedulerProtocol } from './client.js';

export interface SchedulerOptions {
  db: Db;
  host: string;
  downAfterMs: number;
}

export class SchedulerManager implements ProtocolHandlers<SchedulerProtocol> {
  readonly #opts: SchedulerOptions;
  readonly #services: ServiceRepo;
  readonly #startedAt = now();
  #next = 0;

  constructor(options: SchedulerOptions) {
    this.#opts = options;
    this.#services = new ServiceRepo(options.db);
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
      details: {},
    };
  }

  async selectDestinations(
    args: SchedulerProtocol['selectDestinations']['args'],
  ): Promise<{ hosts: string[] }> {
    const at = now();
    const candidates = (await this.#services.list({ binary: 'compute' }))
      .filter((s) => !s.disabled && serviceState(s, at, this.#opts.downAfterMs) === 'up')
      .map((s) => s.host);
    if (candidates.length === 0) {
      throw new StratusError(
        'unavailable',
        'No compute host is up and enabled to take new instances.',
        {
          resource: 'host',
          reason: 'no_valid_host',
        },
      );
    }
    const hosts: string[] = [];
    for (let i = 0; i < args.count; i++)
      hosts.push(candidates[this.#next++ % candidates.length] as string);
    return { hosts };
  }
}
