// Runs services: registers each in the database, serves its topics on the bus, beats its
// heartbeat and runs its periodic tasks; stops them in reverse order. A compute host's name is
// its identity (its bus topic, its instances' host), so the runner refuses to start one under
// a name a live process still runs.
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Bus, Subscription } from '../bus/index.js';
import { newRequestId, systemContext } from '../context.js';
import { now, ServiceRepo, type Db, type ServiceOwner, type ServiceRow } from '../db/index.js';
import { StratusError } from '../errors.js';
import type { Logger } from '../log.js';
import { serviceState } from './liveness.js';
import type { Binary, Service } from './service.js';

export interface ServiceRunnerOptions {
  db: Db;
  bus: Bus;
  logger: Logger;
  host: string;
  heartbeatMs: number;
  /** How long after its last heartbeat a service counts as down (a restart may take it over). */
  downAfterMs: number;
}

/** Services of which one host name may run only one at a time. */
const EXCLUSIVE: readonly Binary[] = ['compute', 'volume'];

/** This process, as the services table records it. */
const THIS_PROCESS: ServiceOwner = {
  machine: os.hostname(),
  pid: process.pid,
  bootId: randomUUID(),
};

/** `host/binary` of the services running in this process now. */
const runningHere = new Set<string>();

/** Whether a process with this id runs on this machine. */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Who else runs the service of `row`, in words, or undefined when nobody does: its heartbeat is
 * stale, or it was this process (its service stopped since), or a process on this machine that
 * is gone (a restart after a crash). A row from before owners were recorded tells nothing.
 */
export function otherLiveOwner(
  row: ServiceRow,
  at: number,
  downAfterMs: number,
  self: ServiceOwner = THIS_PROCESS,
): string | undefined {
  if (serviceState(row, at, downAfterMs) === 'down') return undefined;
  if (row.machine === null || row.pid === null) return undefined;
  const ago = `${((at - row.heartbeatAt) / 1000).toFixed(1)} s ago`;
  if (row.machine !== self.machine) {
    return `process ${row.pid} on the machine '${row.machine}' (last heartbeat ${ago})`;
  }
  if (row.bootId === self.bootId) {
    return runningHere.has(`${row.host}/${row.binary}`)
      ? `this process (last heartbeat ${ago})`
      : undefined;
  }
  if (row.pid !== self.pid && pidAlive(row.pid)) {
    return `process ${row.pid} on this machine (last heartbeat ${ago})`;
  }
  return undefined;
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

  /**
   * Refuses (`conflict`) when another live process runs `binary` under this host name, for
   * the services a host name may run only once (compute); changes nothing. Call it before
   * building anything of the service; `start` checks again as it registers.
   */
  async refuseDuplicate(binary: Binary): Promise<void> {
    if (!EXCLUSIVE.includes(binary)) return;
    const row = await this.#repo.find(this.#opts.host, binary);
    if (row) this.#refuseIfTaken(row);
  }

  #refuseIfTaken(row: ServiceRow): void {
    const other = otherLiveOwner(row, now(), this.#opts.downAfterMs);
    if (other === undefined) return;
    throw new StratusError(
      'conflict',
      `The host name '${row.host}' is already in use: its ${row.binary} service is running in ${other}. Give this host another name (--host), or stop the other one first.`,
      { resource: 'host', id: row.host },
    );
  }

  /** Starts one service; if anything fails, what was started of it is undone. */
  async start(service: Service): Promise<void> {
    const { bus, host, logger } = this.#opts;
    const log = logger.child({ service: service.binary, host });
    const running: Running = { service, serviceId: '', subscriptions: [], timers: [] };
    const key = `${host}/${service.binary}`;
    try {
      const exclusive = EXCLUSIVE.includes(service.binary);
      let previousBootId: string | null | undefined;
      if (exclusive) {
        const before = await this.#repo.find(host, service.binary);
        if (before) this.#refuseIfTaken(before);
        previousBootId = before ? before.bootId : null;
      }
      await service.start?.();
      const row = await this.#repo.register(
        host,
        service.binary,
        service.topics[0]?.topic ?? service.binary,
        now(),
        THIS_PROCESS,
        previousBootId,
      );
      if (exclusive && row.bootId !== THIS_PROCESS.bootId) {
        // Another start took the row over between our read and our write.
        this.#refuseIfTaken(row);
        throw new StratusError(
          'conflict',
          `The host name '${host}' was just taken by process ${row.pid} on the machine '${row.machine}'.`,
          { resource: 'host', id: host },
        );
      }
      runningHere.add(key);
      running.serviceId = row.id;
      for (const t of service.topics) {
        running.subscriptions.push(
          await bus.serve(t.topic, t.handler, { fanout: t.fanout ?? false }),
        );
      }
      let takenOver = false;
      running.timers.push(
        this.#every(this.#opts.heartbeatMs, 'heartbeat', log, async () => {
          if (!exclusive) {
            await this.#repo.beat(running.serviceId, now());
            return;
          }
          // A host name taken over while this process stood still (its heartbeat went stale):
          // the other process owns it now; this one says so instead of beating for it.
          if (
            !(await this.#repo.beat(running.serviceId, now(), THIS_PROCESS.bootId)) &&
            !takenOver
          ) {
            takenOver = true;
            const row = await this.#repo.find(host, service.binary);
            log.error(
              { owner: row && { machine: row.machine, pid: row.pid } },
              'another process took over this host name; this one no longer beats for it',
            );
          }
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
    if (running.serviceId !== '')
      runningHere.delete(`${this.#opts.host}/${running.service.binary}`);
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
