// Snapshots: the rows behind EC2's and the Block Storage API's volume snapshots, who else may
// use each one, and what a project holds of them.
import { idStartsWith } from '../prefix.js';
import type { Db, SnapshotRow, SnapshotStatus, SnapshotsTable } from '../schema.js';

export interface SnapshotListFilter {
  /**
   * Only snapshots this project may see: its own, those shared with it and public ones (with
   * `ownOnly`, its own alone). Every project's when absent.
   */
  projectId?: string;
  ownOnly?: boolean;
  /** Snapshots whose id starts with one of these (EC2 ids name a UUID's leading digits). */
  idPrefixes?: readonly string[];
  /** Only snapshots of this volume. */
  volumeId?: string;
  /** Only snapshots kept by this volume host. */
  host?: string;
}

export class SnapshotRepo {
  constructor(private readonly db: Db) {}

  async insert(row: SnapshotRow): Promise<void> {
    await this.db.insertInto('snapshots').values(row).execute();
  }

  /** The snapshot with exactly this id, or undefined. */
  async get(id: string): Promise<SnapshotRow | undefined> {
    return this.db.selectFrom('snapshots').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Snapshots in creation order (oldest first, then by id, a stable order for paging). */
  async list(filter: SnapshotListFilter = {}): Promise<SnapshotRow[]> {
    let q = this.db.selectFrom('snapshots').selectAll();
    const projectId = filter.projectId;
    if (projectId !== undefined) {
      if (filter.ownOnly) q = q.where('projectId', '=', projectId);
      else {
        const shared = this.db
          .selectFrom('snapshotShares')
          .select('snapshotId')
          .where('projectId', '=', projectId);
        q = q.where((eb) =>
          eb.or([eb('projectId', '=', projectId), eb('isPublic', '=', 1), eb('id', 'in', shared)]),
        );
      }
    }
    if (filter.host !== undefined) q = q.where('host', '=', filter.host);
    if (filter.volumeId !== undefined) q = q.where('volumeId', '=', filter.volumeId);
    if (filter.idPrefixes) {
      const prefixes = filter.idPrefixes;
      if (prefixes.length === 0) return [];
      q = q.where((eb) => idStartsWith(eb, 'id', prefixes));
    }
    return q.orderBy('createdAt').orderBy('id').execute();
  }

  /**
   * Changes a snapshot, but only while its status is one of `from` (when given): a compare and
   * set. True when it changed.
   */
  async update(
    id: string,
    change: Partial<Omit<SnapshotsTable, 'id' | 'projectId' | 'createdAt'>>,
    from?: readonly SnapshotStatus[],
  ): Promise<boolean> {
    let q = this.db
      .updateTable('snapshots')
      .set({ ...change, updatedAt: change.updatedAt ?? Date.now() })
      .where('id', '=', id);
    if (from) q = q.where('status', 'in', from);
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Removes a snapshot's row and its shares; removing one that is gone is not an error. */
  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('snapshotShares').where('snapshotId', '=', id).execute();
    await this.db.deleteFrom('snapshots').where('id', '=', id).execute();
  }

  /**
   * How many snapshots were taken of a volume, in any status (copies of them are left out:
   * their data is their own).
   */
  async countOfVolume(volumeId: string): Promise<number> {
    const r = await this.db
      .selectFrom('snapshots')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('volumeId', '=', volumeId)
      .where('sourceSnapshotId', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** How many snapshots a project has and the GiB of the volumes they were taken of. */
  async usage(projectId: string): Promise<{ snapshots: number; gigabytes: number }> {
    const r = await this.db
      .selectFrom('snapshots')
      .select((eb) => [
        eb.fn.countAll<number>().as('n'),
        eb.fn.coalesce(eb.fn.sum<number>('volumeSizeGb'), eb.lit(0)).as('gb'),
      ])
      .where('projectId', '=', projectId)
      .executeTakeFirstOrThrow();
    return { snapshots: Number(r.n), gigabytes: Number(r.gb) };
  }

  /** The projects a snapshot is shared with (besides its owner), sorted. */
  async sharesOf(snapshotId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('snapshotShares')
      .select('projectId')
      .where('snapshotId', '=', snapshotId)
      .orderBy('projectId')
      .execute();
    return rows.map((r) => r.projectId);
  }

  /** The projects each of these snapshots is shared with, by snapshot id (none: absent). */
  async sharesOfMany(snapshotIds: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (snapshotIds.length === 0) return out;
    const rows = await this.db
      .selectFrom('snapshotShares')
      .selectAll()
      .where('snapshotId', 'in', snapshotIds)
      .orderBy('projectId')
      .execute();
    for (const r of rows) out.set(r.snapshotId, [...(out.get(r.snapshotId) ?? []), r.projectId]);
    return out;
  }

  /** Shares a snapshot with a project; sharing again is not an error. */
  async share(snapshotId: string, projectId: string): Promise<void> {
    await this.db
      .insertInto('snapshotShares')
      .values({ snapshotId, projectId })
      .onConflict((oc) => oc.columns(['snapshotId', 'projectId']).doNothing())
      .execute();
  }

  /** Ends one share, or every share of the snapshot when `projectId` is absent. */
  async unshare(snapshotId: string, projectId?: string): Promise<void> {
    let q = this.db.deleteFrom('snapshotShares').where('snapshotId', '=', snapshotId);
    if (projectId !== undefined) q = q.where('projectId', '=', projectId);
    await q.execute();
  }
}
