// The overlay hosts' registrations (migration 0048), one row per host, replaced by each
// registration; rows not seen since a cut-off are removed by `forgetBefore`.
import type { Db, OverlayHostRow } from '../schema.js';

export class OverlayHostRepo {
  constructor(private readonly db: Db) {}

  /** Records a host's registration (a new row, or its row replaced). */
  async upsert(row: OverlayHostRow): Promise<void> {
    const { host: _host, ...change } = row;
    await this.db
      .insertInto('overlayHosts')
      .values(row)
      .onConflict((oc) => oc.column('host').doUpdateSet(change))
      .execute();
  }

  /** Every host, by name. */
  async list(): Promise<OverlayHostRow[]> {
    const rows = await this.db.selectFrom('overlayHosts').selectAll().orderBy('host').execute();
    return rows.map((r) => ({ ...r, lastSeen: Number(r.lastSeen) }));
  }

  /** Removes the hosts last seen before `cutoff`; returns their names. */
  async forgetBefore(cutoff: number): Promise<string[]> {
    const gone = await this.db
      .selectFrom('overlayHosts')
      .select('host')
      .where('lastSeen', '<', cutoff)
      .execute();
    if (gone.length === 0) return [];
    await this.db
      .deleteFrom('overlayHosts')
      .where('lastSeen', '<', cutoff)
      .where(
        'host',
        'in',
        gone.map((g) => g.host),
      )
      .execute();
    return gone.map((g) => g.host);
  }
}
