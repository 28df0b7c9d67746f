// The health of the cloud's services as a status endpoint reports it: whether the database
// answers and takes a write, whether the bus is connected, and each registered service with
// its state from its last heartbeat. Each part that fails says so in its own field, with the
// underlying error, so an operator knows which part to look at.
import { sql } from 'kysely';
import type { Bus } from '../bus/index.js';
import { GenerationRepo, now, ServiceRepo, type Db } from '../db/index.js';
import { serviceState, type ServiceState } from './liveness.js';

export interface ServiceHealthEntry {
  host: string;
  binary: string;
  state: ServiceState;
  disabled: boolean;
  lastHeartbeatAgoMs: number;
}

export interface HealthReport {
  /**
   * 'ok', or 'error: <which check>: <the underlying error>' when the database did not answer
   * a read ('does not answer') or refused a write ('not writable').
   */
  database: string;
  /** 'ok', or 'error: disconnected' while the bus has no transport (e.g. no broker). */
  bus: string;
  /** Every registered service; empty when the database did not answer. */
  services: ServiceHealthEntry[];
}

export class ServiceHealth {
  readonly #db: Db;
  readonly #services: ServiceRepo;
  readonly #generations: GenerationRepo;
  readonly #downAfterMs: number;
  readonly #bus: Pick<Bus, 'connected'> | undefined;

  /**
   * `downAfterMs`: how long after its last heartbeat a service counts as down. `bus`: this
   * process's bus, whose connection the report includes.
   */
  constructor(db: Db, downAfterMs: number, bus?: Pick<Bus, 'connected'>) {
    this.#db = db;
    this.#services = new ServiceRepo(db);
    this.#generations = new GenerationRepo(db);
    this.#downAfterMs = downAfterMs;
    this.#bus = bus;
  }

  /** Never throws for a database that does not answer: the report says so. */
  async report(): Promise<HealthReport> {
    let database = 'ok';
    let rows: Awaited<ReturnType<ServiceRepo['list']>> = [];
    try {
      await sql`select 1`.execute(this.#db);
      rows = await this.#services.list();
    } catch (err) {
      database = `error: does not answer: ${underlying(err)}`;
    }
    if (database === 'ok') {
      // A committed write, not one rolled back: SQLite writes nothing to disk for a write that
      // is rolled back, so only a commit finds a full disk or a file gone read-only.
      try {
        await this.#generations.bump('health');
      } catch (err) {
        database = `error: not writable: ${underlying(err)}`;
      }
    }
    const at = now();
    return {
      database,
      bus: this.#bus?.connected === false ? 'error: disconnected' : 'ok',
      services: rows.map((r) => ({
        host: r.host,
        binary: r.binary,
        state: serviceState(r, at, this.#downAfterMs),
        disabled: r.disabled === 1,
        lastHeartbeatAgoMs: at - r.heartbeatAt,
      })),
    };
  }
}

/** The driver's own error under the domain's wrapping, with its code: what went wrong. */
function underlying(err: unknown): string {
  let e = err as { message?: unknown; code?: unknown; cause?: unknown } | undefined;
  while (e?.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return typeof e?.code === 'string' ? `${message} (${e.code})` : message;
}
