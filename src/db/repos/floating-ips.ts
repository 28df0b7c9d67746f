// Floating IPs: allocation from the pool to a project, association with an
// instance's fixed address, and release. Every change is a compare-and-set on the row, so
// concurrent requests never hand out one address twice or lose an association.
import { randomUUID } from 'node:crypto';
import { idStartsWith } from '../prefix.js';
import type { Db, FloatingIpDomain, FloatingIpRow } from '../schema.js';

export interface FloatingIpFilter {
  /** Only this project's addresses; every project's when absent. */
  projectId?: string;
  addresses?: readonly string[];
  /** Allocation ids, or leading characters of them. */
  allocationPrefixes?: readonly string[];
  /** Association ids, or leading characters of them. */
  associationPrefixes?: readonly string[];
  instanceIds?: readonly string[];
}

/** A floating address mapped onto an instance's fixed address, with the host the instance is on. */
export interface FloatingIpMappingRow {
  address: string;
  fixedAddress: string;
  instanceId: string;
  host: string | null;
}

/**
 * A bound on looking again for a free address that another allocator took first. Each miss
 * means someone else got one, so the pool's size bounds the misses; this only guards against
 * addresses being taken and released again without end.
 */
const TAKE_ATTEMPTS = 100_000;

/**
 * A project router's external address is a pool address held by the router itself: its row's
 * `projectId` is this marker, so no project counts it, lists it or can take it.
 */
export const ROUTER_HOLDER = 'router:';

export class FloatingIpRepo {
  constructor(private readonly db: Db) {}

  /** Allocated addresses (never the free pool), lowest address first. */
  async list(filter: FloatingIpFilter = {}): Promise<FloatingIpRow[]> {
    let q = this.db.selectFrom('floatingIps').selectAll().where('projectId', 'is not', null);
    if (filter.projectId !== undefined) q = q.where('projectId', '=', filter.projectId);
    else q = q.where('projectId', 'not like', `${ROUTER_HOLDER}%`);
    if (filter.addresses) {
      if (filter.addresses.length === 0) return [];
      q = q.where('address', 'in', filter.addresses);
    }
    if (filter.allocationPrefixes) {
      const prefixes = filter.allocationPrefixes;
      if (prefixes.length === 0) return [];
      q = q.where((eb) => idStartsWith(eb, 'allocationId', prefixes));
    }
    if (filter.associationPrefixes) {
      const prefixes = filter.associationPrefixes;
      if (prefixes.length === 0) return [];
      q = q.where((eb) => idStartsWith(eb, 'associationId', prefixes));
    }
    if (filter.instanceIds) {
      if (filter.instanceIds.length === 0) return [];
      q = q.where('instanceId', 'in', filter.instanceIds);
    }
    return q.orderBy('pool').orderBy('seq').execute();
  }

  async get(id: string): Promise<FloatingIpRow | undefined> {
    return this.db.selectFrom('floatingIps').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** How many addresses the project holds. */
  async countAllocated(projectId: string): Promise<number> {
    const row = await this.db
      .selectFrom('floatingIps')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('projectId', '=', projectId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Gives the lowest free address of the pool to the project: one UPDATE that picks and takes
   * the row, guarded by `project_id IS NULL`, so two allocators can never both get it. When a
   * concurrent allocator took the candidate first the statement changes nothing and we look
   * again. Undefined when the pool has no free address.
   */
  async take(
    pool: string,
    projectId: string,
    domain: FloatingIpDomain,
    at: number,
  ): Promise<FloatingIpRow | undefined> {
    for (let attempt = 0; attempt < TAKE_ATTEMPTS; attempt++) {
      const row = await this.db
        .updateTable('floatingIps')
        .set({ projectId, allocationId: randomUUID(), domain, allocatedAt: at })
        .where('projectId', 'is', null)
        .where('id', '=', (eb) =>
          eb
            .selectFrom('floatingIps as free')
            .select('free.id')
            .where('free.pool', '=', pool)
            .where('free.projectId', 'is', null)
            .orderBy('free.seq')
            .limit(1),
        )
        .returningAll()
        .executeTakeFirst();
      if (row) return row;
      const free = await this.db
        .selectFrom('floatingIps')
        .select('id')
        .where('pool', '=', pool)
        .where('projectId', 'is', null)
        .limit(1)
        .executeTakeFirst();
      if (!free) return undefined;
    }
    return undefined;
  }

  /**
   * Associates the allocation with an instance's fixed address, if the row still has the
   * allocation and the association the caller saw (compare-and-set); returns whether it did.
   */
  async associate(
    row: Pick<FloatingIpRow, 'id' | 'allocationId' | 'associationId'>,
    set: { instanceId: string; fixedAddress: string; associationId: string; at: number },
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('floatingIps')
      .set({
        instanceId: set.instanceId,
        fixedAddress: set.fixedAddress,
        associationId: set.associationId,
        associatedAt: set.at,
      })
      .where('id', '=', row.id)
      .where('allocationId', '=', row.allocationId as string)
      .where((eb) =>
        row.associationId === null
          ? eb('associationId', 'is', null)
          : eb('associationId', '=', row.associationId),
      )
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Ends this association, if it is still the row's; returns whether it did. */
  async disassociate(id: string, associationId: string): Promise<boolean> {
    const r = await this.db
      .updateTable('floatingIps')
      .set({ instanceId: null, fixedAddress: null, associationId: null, associatedAt: null })
      .where('id', '=', id)
      .where('associationId', '=', associationId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Gives an unassociated allocation back to the pool; returns whether it did. */
  async release(id: string, allocationId: string): Promise<boolean> {
    const r = await this.db
      .updateTable('floatingIps')
      .set({
        projectId: null,
        allocationId: null,
        domain: null,
        allocatedAt: null,
        instanceId: null,
        fixedAddress: null,
        associationId: null,
        associatedAt: null,
      })
      .where('id', '=', id)
      .where('allocationId', '=', allocationId)
      .where('associationId', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Every floating address associated with an instance on this host (for a data-plane resync). */
  async mappingsOnHost(host: string): Promise<FloatingIpMappingRow[]> {
    const rows = await this.db
      .selectFrom('floatingIps')
      .innerJoin('instances', 'instances.id', 'floatingIps.instanceId')
      .select([
        'floatingIps.address as address',
        'floatingIps.fixedAddress as fixedAddress',
        'floatingIps.instanceId as instanceId',
        'instances.host as host',
      ])
      .where('instances.host', '=', host)
      .where('floatingIps.associationId', 'is not', null)
      .orderBy('floatingIps.address')
      .execute();
    return rows.map((r) => ({
      address: r.address,
      fixedAddress: r.fixedAddress as string,
      instanceId: r.instanceId as string,
      host: r.host,
    }));
  }

  /** The external addresses routers hold, by router id. */
  async routerAddresses(): Promise<Map<string, FloatingIpRow>> {
    const rows = await this.db
      .selectFrom('floatingIps')
      .selectAll()
      .where('projectId', 'like', `${ROUTER_HOLDER}%`)
      .execute();
    return new Map(rows.map((r) => [(r.projectId as string).slice(ROUTER_HOLDER.length), r]));
  }

  /** Takes the lowest free address of the pool for a router's external gateway. */
  takeForRouter(pool: string, routerId: string, at: number): Promise<FloatingIpRow | undefined> {
    return this.take(pool, `${ROUTER_HOLDER}${routerId}`, 'vpc', at);
  }
}
