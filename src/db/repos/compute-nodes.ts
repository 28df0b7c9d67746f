// What each compute host offers, as it last reported it. A host's zone is the one it reported,
// unless a host aggregate with an `availability_zone` key holds it: then it is that one.
import type { ComputeNodeRow, Db } from '../schema.js';
import { AggregateRepo } from './aggregates.js';

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

  /** Every host, by name, each with its zone (an aggregate's, or else the reported one). */
  async list(): Promise<ComputeNodeRow[]> {
    const [rows, aggregateZone] = await Promise.all([
      this.db.selectFrom('computeNodes').selectAll().orderBy('host').execute(),
      new AggregateRepo(this.db).zoneOfHosts(),
    ]);
    return rows.map((r) => ({
      ...r,
      availabilityZone: aggregateZone.get(r.host) ?? r.availabilityZone,
    }));
  }

  /** Whether any host serves this availability zone. */
  async zoneExists(zone: string): Promise<boolean> {
    return (await this.list()).some((n) => n.availabilityZone === zone);
  }

  /** The availability zone of each of these hosts, by host; unknown hosts are absent. */
  async zonesOf(hosts: readonly string[]): Promise<Map<string, string>> {
    if (hosts.length === 0) return new Map();
    const wanted = new Set(hosts);
    return new Map(
      (await this.list())
        .filter((n) => wanted.has(n.host))
        .map((n) => [n.host, n.availabilityZone]),
    );
  }
}
