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
}
