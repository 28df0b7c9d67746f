// The endpoint catalog: where each API listens, per region and interface.
import type { Db, EndpointRow } from '../schema.js';

export class EndpointRepo {
  constructor(private readonly db: Db) {}

  /** Records (or replaces) where a service type listens. */
  async put(row: EndpointRow): Promise<void> {
    await this.db
      .insertInto('endpoints')
      .values(row)
      .onConflict((oc) =>
        oc
          .columns(['serviceType', 'interface', 'region'])
          .doUpdateSet({ url: row.url, updatedAt: row.updatedAt }),
      )
      .execute();
  }

  async list(region?: string): Promise<EndpointRow[]> {
    let q = this.db.selectFrom('endpoints').selectAll();
    if (region) q = q.where('region', '=', region);
    return q.orderBy('serviceType').orderBy('interface').execute();
  }

  /** The public URL of a service type in a region; undefined when none is registered. */
  async publicUrl(serviceType: string, region: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('endpoints')
      .select('url')
      .where('serviceType', '=', serviceType)
      .where('interface', '=', 'public')
      .where('region', '=', region)
      .executeTakeFirst();
    return row?.url;
  }
}
