// Runs services: registers each in the database, serves its topics on the bus, beats its
// heartbeat and runs its periodic tasks; stops them in reverse order.
import type { Bus, Subscription } from '../bus/index.js';
import { newRequestId, systemContext } from '../context.js';
import { now, ServiceRepo, type Db } from '../db/index.js';
import type { Logger } from '../log.js';
import type { Service } from './service.js';

export interface ServiceRunnerOptions {
  db: Db;
  bus: Bus;
  logger: Logger;
  host: string;
  heartbeatMs: number;
}

interface Running {
  service: Service;
  serviceId: string;
  subscriptions: Subscription[];
  timers: NodeJS.Timeout[];
}

export class ServiceRunner {
  readonly #opts: ServiceRunnerOptions;
  readonly #repo: ServiceRepo;
  readonly #running: Running[] = [];
  #stopping = false;

  constructor(options: ServiceRunnerOptions) {
    this.#opts = options;
    this.#repo = new ServiceRepo(options.db);
  }

  /** Starts one service; if anything fails, what was started of it is undone. */
  async start(service: Service): Promise<void> {
    const { bus, host, logger } = this.#opts;
    const log = logger.child({ service: service.binary, host });
    const running: Running = { service, serviceId: '', subscriptions: [], timers: [] };
    try {
      await service.start?.();
      const row = await this.#repo.register(
        host,
        service.binary,
        service.topics[0]?.topic ?? service.binary,
        now(),
      );
      running.serviceId = row.id;
      for (const t of service.topics) {
        running.subscriptions.push(
          await bus.serve(t.topic, t.handler, { fanout: t.fanout ?? false }),
        );
      }
      running.timers.push(
        this.#every(this.#opts.heartbeatMs, 'heartbeat', log, async () => {
          await this.#repo.beat(running.serviceId, now());
        }),
      );
      for (const task of service.periodicTasks ?? []) {
        running.timers.push(
          this.#every(task.intervalMs, task.name, log, () => task.run(systemContext())),
        );
      }
    } catch (err) {
      await this.#stopOne(running, log);
      throw err;
    }
    this.#running.push(running);
    log.info({ topics: service.topics.map((t) => t.topic) }, 'service started');
  }

  /** Stops every service, last started first. */
  async stop(): Promise<void> {
    this.#stopping = true;
    while (this.#running.length > 0) {
      const running = this.#running.pop() as Running;
      await this.#stopOne(running, this.#opts.logger.child({ service: running.service.binary }));
    }
  }

  async #stopOne(running: Running, log: Logger): Promise<void> {
    for (const t of running.timers) clearInterval(t);
    for (const s of running.subscriptions)
      await s.close().catch((err) => log.warn({ err }, 'unsubscribe failed'));
    await running.service.stop?.().catch((err) => log.error({ err }, 'service stop failed'));
    log.info('service stopped');
  }

  /** Runs `fn` every `ms`, never two runs at once, logging failures instead of crashing. */
  #every(ms: number, name: string, log: Logger, fn: () => Promise<void>): NodeJS.Timeout {
    let busy = false;
    const timer = setInterval(() => {
      if (busy || this.#stopping) return;
      busy = true;
      fn()
        .catch((err) =>
          log.error({ err, task: name, requestId: newRequestId() }, 'periodic task failed'),
        )
        .finally(() => {
          busy = false;
        });
    }, ms);
    timer.unref();
    return timer;
  }
}
