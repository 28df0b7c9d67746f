// What a service is to the runner: a binary name, a bus topic with its handler, periodic
// tasks, and start/stop hooks.
import type { Handler } from '../bus/index.js';
import type { RequestContext } from '../context.js';

export type Binary = 'api' | 'scheduler' | 'compute' | 'network' | 'volume';

export interface PeriodicTask {
  name: string;
  intervalMs: number;
  /** Runs once per interval; a run never overlaps the previous one. Errors are logged. */
  run(context: RequestContext): Promise<void>;
}

export interface Service {
  readonly binary: Binary;
  /** Topics this service serves on the bus, each with its handler. */
  readonly topics: readonly { topic: string; handler: Handler; fanout?: boolean }[];
  readonly periodicTasks?: readonly PeriodicTask[];
  /** Called before the service serves its topics (open listeners, adopt state). */
  start?(): Promise<void>;
  /** Called after its topics stopped; release what start took. */
  stop?(): Promise<void>;
}

/** What every service answers to a `status` call. */
export interface ServiceStatus {
  binary: Binary;
  host: string;
  /** Milliseconds since the epoch when the service started. */
  startedAt: number;
  version: string;
  details: Record<string, unknown>;
}
