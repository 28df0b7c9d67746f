// The service registry: one row per (host, binary), with its heartbeat.
import { randomUUID } from 'node:crypto';
import { notFound } from '../../errors.js';
import type { Db, ServiceRow } from '../schema.js';

/** Which process runs a service: see `ServicesTable`. */
export interface ServiceOwner {
  machine: string;
  pid: number;
  bootId: string;
}

export class ServiceRepo {
  constructor(private readonly db: Db) {}

  /**
   * Records that `binary` runs on `host` and beats now. Creates the row on first start and
   * keeps `disabled` as an operator left it on later starts. With `owner`, also records which
   * process runs it; with `previousBootId` too, the row changes only if the process that ran
   * it before is still the one recorded (compare-and-set: of two processes taking over one
   * row at once, one wins), and the returned row says who won.
   */
  async register(
    host: string,
    binary: string,
    topic: string,
    at: number,
    owner?: ServiceOwner,
    previousBootId?: string | null,
  ): Promise<ServiceRow> {
    const ownerColumns = owner
      ? { machine: owner.machine, pid: owner.pid, bootId: owner.bootId }
      : {};
    await this.db
      .insertInto('services')
      .values({
        id: randomUUID(),
        host,
        binary,
        topic,
        disabled: 0,
        disabledReason: null,
        reportCount: 0,
        heartbeatAt: at,
        createdAt: at,
        ...ownerColumns,
      })
      .onConflict((oc) => {
        const update = oc
          .columns(['host', 'binary'])
          .doUpdateSet({ topic, heartbeatAt: at, ...ownerColumns });
        if (previousBootId === undefined) return update;
        return previousBootId === null
          ? update.where('services.bootId', 'is', null)
          : update.where('services.bootId', '=', previousBootId);
      })
      .execute();
    return this.get(host, binary);
  }

  /** The row of `binary` on `host`, or undefined when it never registered. */
  async find(host: string, binary: string): Promise<ServiceRow | undefined> {
    return this.db
      .selectFrom('services')
      .selectAll()
      .where('host', '=', host)
      .where('binary', '=', binary)
      .executeTakeFirst();
  }

  /**
   * Records a heartbeat. With `bootId`, only while that process is the one recorded; returns
   * whether the row was updated (false: another process took the service over, or it is gone).
   */
  async beat(id: string, at: number, bootId?: string): Promise<boolean> {
    let q = this.db
      .updateTable('services')
      .set((eb) => ({ heartbeatAt: at, reportCount: eb('reportCount', '+', 1) }))
      .where('id', '=', id);
    if (bootId !== undefined) q = q.where('bootId', '=', bootId);
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async get(host: string, binary: string): Promise<ServiceRow> {
    const row = await this.db
      .selectFrom('services')
      .selectAll()
      .where('host', '=', host)
      .where('binary', '=', binary)
      .executeTakeFirst();
    if (!row) throw notFound('service', `${binary}@${host}`);
    return row;
  }

  async list(filter: { binary?: string; host?: string } = {}): Promise<ServiceRow[]> {
    let q = this.db.selectFrom('services').selectAll();
    if (filter.binary) q = q.where('binary', '=', filter.binary);
    if (filter.host) q = q.where('host', '=', filter.host);
    return q.orderBy('binary').orderBy('host').execute();
  }

  /** Sets or clears the operator's disabled flag. */
  async setDisabled(
    host: string,
    binary: string,
    disabled: boolean,
    reason: string | null,
  ): Promise<ServiceRow> {
    const r = await this.db
      .updateTable('services')
      .set({ disabled: disabled ? 1 : 0, disabledReason: disabled ? reason : null })
      .where('host', '=', host)
      .where('binary', '=', binary)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw notFound('service', `${binary}@${host}`);
    return this.get(host, binary);
  }

  /** The row with this id, or undefined. */
  async findById(id: string): Promise<ServiceRow | undefined> {
    return this.db.selectFrom('services').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Sets or clears the operator's forced-down flag (the service counts as down while set). */
  async setForcedDown(id: string, forcedDown: boolean): Promise<void> {
    await this.db
      .updateTable('services')
      .set({ forcedDown: forcedDown ? 1 : 0 })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Deletes a service's row; a compute service's host leaves with it (its reported capacity
   * and its aggregate memberships). False when there was no such row. A process still running
   * the service registers it again when it restarts.
   */
  async delete(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('services')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirst();
      if (!row) return false;
      await trx.deleteFrom('services').where('id', '=', id).execute();
      if (row.binary === 'compute') {
        await trx.deleteFrom('computeNodes').where('host', '=', row.host).execute();
        await trx.deleteFrom('aggregateHosts').where('host', '=', row.host).execute();
      }
      return true;
    });
  }
}
