// Host aggregates: named groups of compute hosts with metadata. The metadata key
// `availability_zone` puts an aggregate's hosts in that zone (see ComputeNodeRepo).
import { randomUUID } from 'node:crypto';
import { StratusError, notFound } from '../../errors.js';
import { isUniqueViolation } from '../constraint.js';
import type { AggregateRow, Db } from '../schema.js';

/** The metadata key whose value is the zone of an aggregate's hosts. */
export const ZONE_KEY = 'availability_zone';

/** An aggregate with its hosts and metadata. */
export interface Aggregate extends AggregateRow {
  hosts: string[];
  metadata: Record<string, string>;
}

export class AggregateRepo {
  constructor(private readonly db: Db) {}

  /** Every aggregate, by id, with its hosts and metadata. */
  async list(): Promise<Aggregate[]> {
    const [rows, hosts, meta] = await Promise.all([
      this.db.selectFrom('aggregates').selectAll().orderBy('id').execute(),
      this.db.selectFrom('aggregateHosts').selectAll().orderBy('host').execute(),
      this.db.selectFrom('aggregateMetadata').selectAll().orderBy('key').execute(),
    ]);
    return rows.map((r) => ({
      ...r,
      id: Number(r.id),
      createdAt: Number(r.createdAt),
      updatedAt: r.updatedAt === null ? null : Number(r.updatedAt),
      hosts: hosts.filter((h) => Number(h.aggregateId) === Number(r.id)).map((h) => h.host),
      metadata: Object.fromEntries(
        meta.filter((m) => Number(m.aggregateId) === Number(r.id)).map((m) => [m.key, m.value]),
      ),
    }));
  }

  /** The aggregate with this id; `not_found` when there is none. */
  async get(id: number): Promise<Aggregate> {
    const found = (await this.list()).find((a) => a.id === id);
    if (!found) throw notFound('aggregate', String(id), `Aggregate ${id} could not be found.`);
    return found;
  }

  /**
   * Records an aggregate under the next free id; a taken name is `already_exists`. With a
   * zone, it is the aggregate's `availability_zone` metadata.
   */
  async create(name: string, zone: string | null, at: number): Promise<Aggregate> {
    const taken = () =>
      new StratusError('already_exists', `Aggregate ${name} already exists.`, {
        resource: 'aggregate',
        id: name,
      });
    for (let attempt = 0; ; attempt++) {
      try {
        const id = await this.db.transaction().execute(async (trx) => {
          const top = await trx
            .selectFrom('aggregates')
            .select((eb) => eb.fn.max<number>('id').as('top'))
            .executeTakeFirst();
          const next = Number(top?.top ?? 0) + 1;
          await trx
            .insertInto('aggregates')
            .values({ id: next, uuid: randomUUID(), name, createdAt: at, updatedAt: null })
            .execute();
          if (zone !== null) {
            await trx
              .insertInto('aggregateMetadata')
              .values({ aggregateId: next, key: ZONE_KEY, value: zone })
              .execute();
          }
          return next;
        });
        return this.get(id);
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        const byName = await this.db
          .selectFrom('aggregates')
          .select('id')
          .where('name', '=', name)
          .executeTakeFirst();
        // Another request took the same id at once: draw again.
        if (byName || attempt >= 4) throw taken();
      }
    }
  }

  /** Renames an aggregate and/or sets its zone (null: no zone). */
  async update(
    id: number,
    change: { name?: string; zone?: string | null },
    at: number,
  ): Promise<Aggregate> {
    await this.get(id);
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx
          .updateTable('aggregates')
          .set({ updatedAt: at, ...(change.name !== undefined ? { name: change.name } : {}) })
          .where('id', '=', id)
          .execute();
        if (change.zone !== undefined) {
          await trx
            .deleteFrom('aggregateMetadata')
            .where('aggregateId', '=', id)
            .where('key', '=', ZONE_KEY)
            .execute();
          if (change.zone !== null) {
            await trx
              .insertInto('aggregateMetadata')
              .values({ aggregateId: id, key: ZONE_KEY, value: change.zone })
              .execute();
          }
        }
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      throw new StratusError('already_exists', `Aggregate ${change.name} already exists.`, {
        resource: 'aggregate',
        id: String(id),
      });
    }
    return this.get(id);
  }

  /** Sets metadata keys; a null value removes its key. */
  async setMetadata(
    id: number,
    metadata: Record<string, string | null>,
    at: number,
  ): Promise<Aggregate> {
    await this.get(id);
    await this.db.transaction().execute(async (trx) => {
      for (const [key, value] of Object.entries(metadata)) {
        await trx
          .deleteFrom('aggregateMetadata')
          .where('aggregateId', '=', id)
          .where('key', '=', key)
          .execute();
        if (value !== null) {
          await trx
            .insertInto('aggregateMetadata')
            .values({ aggregateId: id, key, value })
            .execute();
        }
      }
      await trx.updateTable('aggregates').set({ updatedAt: at }).where('id', '=', id).execute();
    });
    return this.get(id);
  }

  /** Adds a host; `already_exists` when it is in the aggregate already. */
  async addHost(id: number, host: string, at: number): Promise<Aggregate> {
    await this.get(id);
    try {
      await this.db.insertInto('aggregateHosts').values({ aggregateId: id, host }).execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      throw new StratusError('already_exists', `Aggregate ${id} already has host ${host}.`, {
        resource: 'aggregate',
        id: String(id),
      });
    }
    await this.db.updateTable('aggregates').set({ updatedAt: at }).where('id', '=', id).execute();
    return this.get(id);
  }

  /** Removes a host; `not_found` when it is not in the aggregate. */
  async removeHost(id: number, host: string, at: number): Promise<Aggregate> {
    await this.get(id);
    const r = await this.db
      .deleteFrom('aggregateHosts')
      .where('aggregateId', '=', id)
      .where('host', '=', host)
      .executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) {
      throw notFound('host', host, `Cannot remove host ${host} in aggregate ${id}`);
    }
    await this.db.updateTable('aggregates').set({ updatedAt: at }).where('id', '=', id).execute();
    return this.get(id);
  }

  /** Deletes an aggregate that holds no host; `invalid` while it has hosts (as Nova answers). */
  async delete(id: number): Promise<void> {
    const agg = await this.get(id);
    if (agg.hosts.length > 0) {
      throw new StratusError(
        'invalid',
        `Cannot delete aggregate ${id}: it still has hosts; remove them first.`,
        { resource: 'aggregate', id: String(id) },
      );
    }
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('aggregateMetadata').where('aggregateId', '=', id).execute();
      await trx.deleteFrom('aggregates').where('id', '=', id).execute();
    });
  }

  /** The zone the aggregates give each host that is in one with a zone, by host. */
  async zoneOfHosts(): Promise<Map<string, string>> {
    const rows = await this.db
      .selectFrom('aggregateHosts')
      .innerJoin('aggregateMetadata', 'aggregateMetadata.aggregateId', 'aggregateHosts.aggregateId')
      .select(['aggregateHosts.host', 'aggregateMetadata.value'])
      .where('aggregateMetadata.key', '=', ZONE_KEY)
      .orderBy('aggregateHosts.aggregateId')
      .execute();
    const out = new Map<string, string>();
    for (const r of rows) if (!out.has(r.host)) out.set(r.host, r.value);
    return out;
  }
}
