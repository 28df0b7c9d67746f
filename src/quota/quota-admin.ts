// What an admin changes of quotas: the default limits of every project (the quota class
// `default`, over the configured defaults), one project's limits, and resetting a project to
// the defaults. A limit of -1 is unlimited. A project's new limit may not be below what it
// uses already, unless forced.
import { isAdmin, type RequestContext } from '../context.js';
import { DEFAULT_QUOTA_CLASS, ProjectRepo, QuotaRepo, type Db } from '../db/index.js';
import { StratusError, invalid } from '../errors.js';
import { effectiveLimits, QuotaReader, type QuotaLimits, type QuotaUsage } from './quota.js';

export type QuotaResource = keyof QuotaLimits;

export class QuotaAdmin {
  readonly #db: Db;
  readonly #defaults: QuotaLimits;
  readonly #reader: QuotaReader;

  constructor(db: Db, defaults: QuotaLimits) {
    this.#db = db;
    this.#defaults = defaults;
    this.#reader = new QuotaReader(db, defaults);
  }

  /** Every project's default limits (`Infinity`: unlimited). */
  async defaults(): Promise<QuotaLimits> {
    return effectiveLimits(
      this.#defaults,
      await new QuotaRepo(this.#db).classLimits(DEFAULT_QUOTA_CLASS),
    );
  }

  /** Changes default limits (admin only); -1 is unlimited. */
  async setDefaults(
    ctx: RequestContext,
    changes: Partial<Record<QuotaResource, number>>,
  ): Promise<QuotaLimits> {
    adminOnly(ctx);
    const repo = new QuotaRepo(this.#db);
    for (const [resource, limit] of Object.entries(changes)) {
      await repo.setClass(DEFAULT_QUOTA_CLASS, resource, checkLimit(resource, limit));
    }
    return this.defaults();
  }

  /**
   * A project's limits and usage. Its own members and admins may look; anyone else is
   * `forbidden`.
   */
  ofProject(
    ctx: RequestContext,
    projectId: string,
  ): Promise<{ limits: QuotaLimits; used: QuotaUsage }> {
    if (!isAdmin(ctx) && ctx.projectId !== projectId) {
      throw new StratusError(
        'forbidden',
        `Only an admin may see the quotas of project ${projectId}.`,
        {
          resource: 'project',
          id: projectId,
        },
      );
    }
    return this.#reader.ofProject(projectId);
  }

  /**
   * Changes a project's limits (admin only). Without `force`, a limit below what the project
   * holds now is `invalid` and nothing changes.
   */
  async setProject(
    ctx: RequestContext,
    projectId: string,
    changes: Partial<Record<QuotaResource, number>>,
    force: boolean,
  ): Promise<{ limits: QuotaLimits; used: QuotaUsage }> {
    adminOnly(ctx);
    // Limits are kept for projects that exist (the Compute API answers 400 for others).
    const project = await new ProjectRepo(this.#db).find(projectId);
    if (!project || project.id !== projectId) {
      throw invalid(`Project ID ${projectId} is not a valid project.`, {
        resource: 'project',
        id: projectId,
      });
    }
    const entries = Object.entries(changes).map(
      ([resource, limit]) => [resource, checkLimit(resource, limit)] as const,
    );
    if (!force) {
      const { used } = await this.#reader.ofProject(projectId);
      for (const [resource, limit] of entries) {
        const inUse = used[resource as QuotaResource];
        if (limit >= 0 && inUse > limit) {
          throw invalid(
            `Quota limit ${limit} for ${resource} must be greater than or equal to already used and reserved ${inUse}.`,
            { resource: 'limit', id: resource },
          );
        }
      }
    }
    const repo = new QuotaRepo(this.#db);
    for (const [resource, limit] of entries) await repo.set(projectId, resource, limit);
    return this.#reader.ofProject(projectId);
  }

  /** Forgets a project's own limits (admin only): it gets the defaults again. */
  async resetProject(ctx: RequestContext, projectId: string): Promise<void> {
    adminOnly(ctx);
    await new QuotaRepo(this.#db).reset(projectId);
  }
}

/** A limit as stored: a whole number, -1 (any negative) for unlimited. */
function checkLimit(resource: string, limit: number | undefined): number {
  if (limit === undefined || !Number.isSafeInteger(limit) || limit < -1) {
    throw invalid(`The quota limit of ${resource} must be a whole number, or -1 for unlimited.`, {
      resource: 'limit',
      id: resource,
    });
  }
  return limit;
}

function adminOnly(ctx: RequestContext): void {
  if (!isAdmin(ctx)) {
    throw new StratusError('forbidden', 'Only an admin may change quotas.', {
      resource: 'project',
    });
  }
}
