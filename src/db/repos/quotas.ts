// Per-project quota overrides; a project without a row gets the configured default.
import type { Db } from '../schema.js';

export class QuotaRepo {
  constructor(private readonly db: Db) {}

  async overrides(projectId: string): Promise<Record<string, number>> {
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
}
