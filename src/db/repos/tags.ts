// Tags: key/value pairs on any resource, kept per project.
import type { Db, TagRow } from '../schema.js';

export interface TagListFilter {
  /** Only this project's tags; every project's when absent. */
  projectId?: string;
  resourceIds?: readonly string[];
}

export class TagRepo {
  constructor(private readonly db: Db) {}

  /** Sets tags, replacing the value of keys a resource already has. */
  async put(rows: readonly TagRow[]): Promise<void> {
    for (const row of rows) {
      await this.db
        .insertInto('tags')
        .values(row)
        .onConflict((oc) => oc.columns(['resourceId', 'key']).doUpdateSet({ value: row.value }))
        .execute();
    }
  }

  /** The tags of these resources, by resource id. */
  async of(resourceIds: readonly string[]): Promise<Map<string, TagRow[]>> {
    const out = new Map<string, TagRow[]>();
    for (let i = 0; i < resourceIds.length; i += 500) {
      const rows = await this.db
        .selectFrom('tags')
        .selectAll()
        .where('resourceId', 'in', resourceIds.slice(i, i + 500))
        .orderBy('key')
        .execute();
      for (const r of rows) out.set(r.resourceId, [...(out.get(r.resourceId) ?? []), r]);
    }
    return out;
  }

  /** Tags in a stable order: by resource type, resource id, key. */
  async list(filter: TagListFilter = {}): Promise<TagRow[]> {
    let q = this.db.selectFrom('tags').selectAll();
    if (filter.projectId !== undefined) q = q.where('projectId', '=', filter.projectId);
    if (filter.resourceIds) {
      if (filter.resourceIds.length === 0) return [];
      q = q.where('resourceId', 'in', filter.resourceIds);
    }
    return q.orderBy('resourceType').orderBy('resourceId').orderBy('key').execute();
  }

  /**
   * Removes one tag of a resource: whatever its value when `value` is undefined, otherwise only
   * if it has exactly that value (the empty string included). Removing a tag that is not there
   * is not an error.
   */
  async delete(resourceId: string, key: string, value?: string): Promise<void> {
    let q = this.db.deleteFrom('tags').where('resourceId', '=', resourceId).where('key', '=', key);
    if (value !== undefined) q = q.where('value', '=', value);
    await q.execute();
  }

  /** Removes every tag of a resource (it is gone, or the caller asked for all of them). */
  async deleteResource(resourceId: string): Promise<void> {
    await this.db.deleteFrom('tags').where('resourceId', '=', resourceId).execute();
  }
}
