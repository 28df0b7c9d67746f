// Volumes: the rows behind EC2's and the Block Storage API's volumes, and what a project and a
// volume host hold of them.
import { idStartsWith } from '../prefix.js';
import type { Db, VolumeRow, VolumeStatus, VolumesTable } from '../schema.js';

export interface VolumeListFilter {
  /** Only this project's volumes; every project's when absent. */
  projectId?: string;
  /** Volumes whose id starts with one of these (EC2 ids name a UUID's leading digits). */
  idPrefixes?: readonly string[];
  /** Only volumes kept by this volume host. */
  host?: string;
  /** Only volumes attached (or being attached) to this instance. */
  instanceId?: string;
  /** Only volumes attached (or being attached) to one of these instances. */
  instanceIds?: readonly string[];
  /** Only volumes in one of these statuses. */
  statuses?: readonly VolumeStatus[];
}

export class VolumeRepo {
  constructor(private readonly db: Db) {}

  async insert(row: VolumeRow): Promise<void> {
    await this.db.insertInto('volumes').values(row).execute();
  }

  /** The volume with exactly this id, or undefined. */
  async get(id: string): Promise<VolumeRow | undefined> {
    return this.db.selectFrom('volumes').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Volumes in creation order (oldest first, then by id, a stable order for paging). */
  async list(filter: VolumeListFilter = {}): Promise<VolumeRow[]> {
    let q = this.db.selectFrom('volumes').selectAll();
    if (filter.projectId !== undefined) q = q.where('projectId', '=', filter.projectId);
    if (filter.host !== undefined) q = q.where('host', '=', filter.host);
    if (filter.instanceId !== undefined) q = q.where('instanceId', '=', filter.instanceId);
    if (filter.instanceIds) {
      if (filter.instanceIds.length === 0) return [];
      q = q.where('instanceId', 'in', filter.instanceIds);
    }
    if (filter.statuses) {
      if (filter.statuses.length === 0) return [];
      q = q.where('status', 'in', filter.statuses);
    }
    if (filter.idPrefixes) {
      const prefixes = filter.idPrefixes;
      if (prefixes.length === 0) return [];
      q = q.where((eb) => idStartsWith(eb, 'id', prefixes));
    }
    return q.orderBy('createdAt').orderBy('id').execute();
  }

  /**
   * Changes a volume, but only while its status is one of `from` (when given): a compare and
   * set, so two requests racing on one volume cannot both move it. True when it changed.
   */
  async update(
    id: string,
    change: Partial<Omit<VolumesTable, 'id' | 'projectId' | 'createdAt'>>,
    from?: readonly VolumeStatus[],
  ): Promise<boolean> {
    let q = this.db
      .updateTable('volumes')
      .set({ ...change, updatedAt: change.updatedAt ?? Date.now() })
      .where('id', '=', id);
    if (from) q = q.where('status', 'in', from);
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Removes a volume's row; removing one that is gone is not an error. */
  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('volumes').where('id', '=', id).execute();
  }

  /** How many volumes a project has and their total size in GiB. */
  async usage(projectId: string): Promise<{ volumes: number; gigabytes: number }> {
    const r = await this.db
      .selectFrom('volumes')
      .select((eb) => [
        eb.fn.countAll<number>().as('n'),
        eb.fn.coalesce(eb.fn.sum<number>('sizeGb'), eb.lit(0)).as('gb'),
      ])
      .where('projectId', '=', projectId)
      .executeTakeFirstOrThrow();
    return { volumes: Number(r.n), gigabytes: Number(r.gb) };
  }

  /** The GiB of volumes each volume host keeps (hosts without volumes are absent). */
  async allocatedByHost(): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom('volumes')
      .select((eb) => ['host', eb.fn.sum<number>('sizeGb').as('gb')])
      .where('host', 'is not', null)
      .groupBy('host')
      .execute();
    return new Map(rows.map((r) => [r.host as string, Number(r.gb)]));
  }
}
