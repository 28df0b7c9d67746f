// How much projects used in a period: each instance that existed in it, with the hours it ran
// inside it (from launch, or creation before a launch, until termination or now) and its
// sizes. The Compute API's simple tenant usage is built on it.
import { isAdmin, type RequestContext } from '../context.js';
import { InstanceRepo, type Db, type InstanceRow } from '../db/index.js';
import { StratusError } from '../errors.js';

const HOUR_MS = 3_600_000;

/** An instance's share of a period. */
export interface InstanceUsage {
  instance: InstanceRow;
  /** When it started to count: launch, or creation when it never launched (ms). */
  startedAt: number;
  /** When it stopped counting: termination, or null while it lives. */
  endedAt: number | null;
  /** Hours of the period it existed in. */
  hours: number;
}

export class UsageReport {
  readonly #instances: InstanceRepo;

  constructor(db: Db) {
    this.#instances = new InstanceRepo(db);
  }

  /**
   * The instances of a project (every project's when `projectId` is undefined: admins only)
   * that existed between `start` and `end` (ms), with their hours in it. Others than admins
   * may only ask about their own project.
   */
  async between(
    ctx: RequestContext,
    projectId: string | undefined,
    start: number,
    end: number,
    at = Date.now(),
  ): Promise<InstanceUsage[]> {
    if (!isAdmin(ctx) && (projectId === undefined || projectId !== ctx.projectId)) {
      throw new StratusError('forbidden', 'Only an admin may see the usage of other projects.', {
        resource: 'project',
      });
    }
    const rows = await this.#instances.list({
      ...(projectId !== undefined ? { projectId } : {}),
      terminatedSince: start,
    });
    const out: InstanceUsage[] = [];
    for (const instance of rows) {
      const startedAt = Number(instance.launchedAt ?? instance.createdAt);
      const endedAt = instance.terminatedAt === null ? null : Number(instance.terminatedAt);
      const from = Math.max(start, startedAt);
      const to = Math.min(end, endedAt ?? at);
      if (startedAt >= end || to < from) continue;
      out.push({ instance, startedAt, endedAt, hours: (to - from) / HOUR_MS });
    }
    return out;
  }
}
