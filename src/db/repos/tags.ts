// Tags: key/value pairs on any resource, kept per project.
import type { Db, TagRow } from '../schema.js';

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
}
