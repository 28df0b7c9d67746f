// What each compute host offers, as it last reported it.
import type { ComputeNodeRow, Db } from '../schema.js';

export class ComputeNodeRepo {
  constructor(private readonly db: Db) {}

  /** Records (or replaces) what a host offers; each compute host calls it for itself. */
  async report(row: ComputeNodeRow): Promise<void> {
    await this.db
      .insertInto('computeNodes')
      .values(row)
      .onConflict((oc) =>
        oc.column('host').doUpdateSet({
          vcpus: row.vcpus,
          memoryMb: row.memoryMb,
          diskGb: row.diskGb,
          availabilityZone: row.availabilityZone,
          architecture: row.architecture,
          updatedAt: row.updatedAt,
        }),
      )
      .execute();
  }

  async list(): Promise<ComputeNodeRow[]> {
    return this.db.selectFrom('computeNodes').selectAll().orderBy('host').execute();
  }

  /** Whether any host serves this availability zone. */
  async zoneExists(zone: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('computeNodes')
      .select('host')
      .where('availabilityZone', '=', zone)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** The availability zone of each of these hosts, by host; unknown hosts are absent. */
  async zonesOf(hosts: readonly string[]): Promise<Map<string, string>> {
    if (hosts.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('computeNodes')
      .select(['host', 'availabilityZone'])
      .where('host', 'in', [...new Set(hosts)])
      .execute();
    return new Map(rows.map((r) => [r.host, r.availabilityZone]));
  }
}
