// The health of the cloud's services as a status endpoint reports it: whether the database
// answers, and each registered service with its state from its last heartbeat.
import { sql } from 'kysely';
import { now, ServiceRepo, type Db } from '../db/index.js';
import { serviceState, type ServiceState } from './liveness.js';

export interface ServiceHealthEntry {
  host: string;
  binary: string;
  state: ServiceState;
  disabled: boolean;
  lastHeartbeatAgoMs: number;
}

export interface HealthReport {
  /** 'ok', or 'error: <message>' when the database did not answer. */
  database: string;
  /** Every registered service; empty when the database did not answer. */
  services: ServiceHealthEntry[];
}

export class ServiceHealth {
  readonly #db: Db;
  readonly #services: ServiceRepo;
  readonly #downAfterMs: number;

  /** `downAfterMs`: how long after its last heartbeat a service counts as down. */
  constructor(db: Db, downAfterMs: number) {
    this.#db = db;
    this.#services = new ServiceRepo(db);
    this.#downAfterMs = downAfterMs;
  }

  /** Never throws for a database that does not answer: the report says so. */
  async report(): Promise<HealthReport> {
    let database = 'ok';
    let rows: Awaited<ReturnType<ServiceRepo['list']>> = [];
    try {
      await sql`select 1`.execute(this.#db);
      rows = await this.#services.list();
    } catch (err) {
      database = `error: ${(err as Error).message}`;
    }
    const at = now();
    return {
      database,
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
