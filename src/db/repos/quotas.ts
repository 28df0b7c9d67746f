// Quota limits kept in the database: per-project overrides, and the quota classes, whose class
// `default` overrides the configured defaults for every project. A limit below zero means
// unlimited. A project without a row gets the default.
import type { Db } from '../schema.js';

/** The quota class whose limits are every project's defaults. */
export const DEFAULT_QUOTA_CLASS = 'default';

export class QuotaRepo {
  constructor(private readonly db: Db) {}

  /** What holds for a project beyond the configured defaults: class `default`, then its own. */
  async overrides(projectId: string): Promise<Record<string, number>> {
    const [defaults, own] = await Promise.all([
      this.classLimits(DEFAULT_QUOTA_CLASS),
      this.projectOverrides(projectId),
    ]);
    return { ...defaults, ...own };
  }

  /** The project's own limits (without the class defaults). */
  async projectOverrides(projectId: string): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('quotas')
      .select(['resource', 'hardLimit'])
      .where('projectId', '=', projectId)
      .execute();
    return Object.fromEntries(rows.map((r) => [r.resource, Number(r.hardLimit)]));
  }

  async set(projectId: string, resource: string, hardLimit: number): Promise<void> {
    await this.db
      .insertInto('quotas')
      .values({ projectId, resource, hardLimit })
      .onConflict((oc) => oc.columns(['projectId', 'resource']).doUpdateSet({ hardLimit }))
      .execute();
  }

  /** Forgets a project's own limits: it gets the defaults again. */
  async reset(projectId: string): Promise<void> {
    await this.db.deleteFrom('quotas').where('projectId', '=', projectId).execute();
  }

  /** The limits a quota class sets. */
  async classLimits(className: string): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('quotaClasses')
      .select(['resource', 'hardLimit'])
      .where('className', '=', className)
      .execute();
    return Object.fromEntries(rows.map((r) => [r.resource, Number(r.hardLimit)]));
  }

  async setClass(className: string, resource: string, hardLimit: number): Promise<void> {
    await this.db
      .insertInto('quotaClasses')
      .values({ className, resource, hardLimit })
      .onConflict((oc) => oc.columns(['className', 'resource']).doUpdateSet({ hardLimit }))
      .execute();
  }
}
