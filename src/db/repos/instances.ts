// Instances and what hangs off them: their security groups and their action records.
import { sql } from 'kysely';
import { randomUUID } from 'node:crypto';
import { notFound } from '../../errors.js';
import { idStartsWith } from '../prefix.js';
import { instancePage, type InstancePageQuery } from './instance-pages.js';
import type {
  Db,
  InstanceActionRow,
  InstanceRow,
  InstancesTable,
  TaskState,
  VmState,
} from '../schema.js';

/** States whose instances hold resources and count against quota. */
/** Rows per INSERT statement: 1,000 rows of the widest table stay under 40,000 parameters. */
const INSERT_CHUNK = 1000;

export const LIVE_VM_STATES: readonly VmState[] = [
  'building',
  'active',
  'stopped',
  'paused',
  'suspended',
  'rescued',
  'resized',
];

export interface InstanceListFilter {
  /** Only this project's instances; every project's when absent (admin). */
  projectId?: string;
  /** Instances whose id starts with one of these. */
  idPrefixes?: readonly string[];
  ids?: readonly string[];
  reservationId?: string;
  host?: string;
  vmStates?: readonly VmState[];
  /** Leave out instances terminated before this time. */
  terminatedSince?: number;
}

export interface Usage {
  instances: number;
  cores: number;
  ramMb: number;
}

export class InstanceRepo {
  constructor(private readonly db: Db) {}

  async insert(
    rows: InstanceRow[],
    securityGroups: { instanceId: string; groupId: string }[],
  ): Promise<void> {
    // In chunks, so that one statement stays well under PostgreSQL's 65,535 parameters.
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      await this.db
        .insertInto('instances')
        .values(rows.slice(i, i + INSERT_CHUNK))
        .execute();
    }
    for (let i = 0; i < securityGroups.length; i += INSERT_CHUNK) {
      await this.db
        .insertInto('instanceSecurityGroups')
        .values(securityGroups.slice(i, i + INSERT_CHUNK))
        .execute();
    }
  }

  async get(id: string): Promise<InstanceRow> {
    const row = await this.db
      .selectFrom('instances')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('instance', id);
    return row;
  }

  async list(filter: InstanceListFilter = {}): Promise<InstanceRow[]> {
    let q = this.db.selectFrom('instances').selectAll();
    if (filter.projectId !== undefined) q = q.where('projectId', '=', filter.projectId);
    if (filter.idPrefixes) {
      const prefixes = filter.idPrefixes;
      if (prefixes.length === 0) return [];
      q = q.where((eb) => idStartsWith(eb, 'id', prefixes));
    }
    if (filter.ids) {
      if (filter.ids.length === 0) return [];
      q = q.where('id', 'in', filter.ids);
    }
    if (filter.reservationId !== undefined) q = q.where('reservationId', '=', filter.reservationId);
    if (filter.host !== undefined) q = q.where('host', '=', filter.host);
    if (filter.vmStates) q = q.where('vmState', 'in', filter.vmStates);
    if (filter.terminatedSince !== undefined) {
      const since = filter.terminatedSince;
      q = q.where((eb) => eb.or([eb('terminatedAt', 'is', null), eb('terminatedAt', '>=', since)]));
    }
    return q.orderBy('createdAt').orderBy('launchIndex').orderBy('id').execute();
  }

  /**
   * One page of a listing, with visibility, filters, order and paging done by the query: rows
   * after `query.after` in the query's order, at most `query.limit` of them. Used by the API
   * listings; `list` is for callers that want every match.
   */
  page(query: InstancePageQuery): Promise<InstanceRow[]> {
    return instancePage(this.db, query);
  }

  async findByClientToken(projectId: string, clientToken: string): Promise<InstanceRow[]> {
    return this.db
      .selectFrom('instances')
      .selectAll()
      .where('projectId', '=', projectId)
      .where('clientToken', '=', clientToken)
      .orderBy('launchIndex')
      .execute();
  }

  /** How many live instances each host runs; hosts without any are absent. */
  async liveCountByHost(): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom('instances')
      .select((eb) => ['host', eb.fn.countAll<number>().as('count')])
      .where('vmState', 'in', LIVE_VM_STATES)
      .where('host', 'is not', null)
      .groupBy('host')
      .execute();
    return new Map(rows.map((r) => [r.host as string, Number(r.count)]));
  }

  /** What a project's live instances hold. */
  async usage(projectId: string): Promise<Usage> {
    const row = await this.db
      .selectFrom('instances')
      .select((eb) => [
        eb.fn.countAll<number>().as('instances'),
        eb.fn.coalesce(eb.fn.sum<number>('vcpus'), sql<number>`0`).as('cores'),
        eb.fn.coalesce(eb.fn.sum<number>('memoryMb'), sql<number>`0`).as('ramMb'),
      ])
      .where('projectId', '=', projectId)
      .where('vmState', 'in', LIVE_VM_STATES)
      .executeTakeFirstOrThrow();
    return { instances: Number(row.instances), cores: Number(row.cores), ramMb: Number(row.ramMb) };
  }

  /**
   * Changes an instance only if it is still in one of the expected states; returns whether it
   * did. This compare-and-set is how concurrent requests on one instance are kept apart.
   */
  async transition(
    id: string,
    expect: {
      vmStates?: readonly VmState[];
      taskStates?: readonly (TaskState | null)[];
      /** Last changed at exactly this time: nobody else changed it since it was read. */
      updatedAt?: number;
    },
    set: Partial<InstancesTable>,
  ): Promise<boolean> {
    let q = this.db
      .updateTable('instances')
      .set({ ...set, updatedAt: set.updatedAt ?? Date.now() })
      .where('id', '=', id);
    if (expect.updatedAt !== undefined) q = q.where('updatedAt', '=', expect.updatedAt);
    if (expect.vmStates) q = q.where('vmState', 'in', expect.vmStates);
    if (expect.taskStates) {
      const tasks = expect.taskStates;
      const named = tasks.filter((t): t is TaskState => t !== null);
      q = q.where((eb) =>
        eb.or([
          ...(tasks.includes(null) ? [eb('taskState', 'is', null)] : []),
          ...(named.length > 0 ? [eb('taskState', 'in', named)] : []),
        ]),
      );
    }
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * Instances with work in flight (being built, or a task such as deleting or powering off under
   * way) on `host` (null: not placed yet), last changed before `updatedBefore` (any time when
   * absent). The reconcilers read these to find work nobody is doing any more.
   */
  async inFlight(filter: { host: string | null; updatedBefore?: number }): Promise<InstanceRow[]> {
    let q = this.db
      .selectFrom('instances')
      .selectAll()
      .where('vmState', 'in', LIVE_VM_STATES)
      .where((eb) => eb.or([eb('vmState', '=', 'building'), eb('taskState', 'is not', null)]));
    q = filter.host === null ? q.where('host', 'is', null) : q.where('host', '=', filter.host);
    if (filter.updatedBefore !== undefined) q = q.where('updatedAt', '<', filter.updatedBefore);
    return q.orderBy('updatedAt').orderBy('id').execute();
  }

  /**
   * Ids of instances on `host` that ended (error or deleted) but still hold a fixed address: a
   * release that failed or was cut short by a crash, which the host's reconciler finishes.
   */
  async endedHoldingAddresses(host: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('instances')
      .innerJoin('fixedIps', 'fixedIps.instanceId', 'instances.id')
      .select('instances.id')
      .distinct()
      .where('instances.host', '=', host)
      .where('instances.vmState', 'in', ['error', 'deleted'])
      .execute();
    return rows.map((r) => r.id);
  }

  async update(id: string, set: Partial<InstancesTable>): Promise<void> {
    await this.db
      .updateTable('instances')
      .set({ ...set, updatedAt: set.updatedAt ?? Date.now() })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Records the guest's first metadata request; later ones change nothing. Called by the
   * metadata service; false when the first was recorded already (or there is no instance).
   */
  async recordMetadataFetch(id: string, at: number): Promise<boolean> {
    const r = await this.db
      .updateTable('instances')
      .set({ metadataFetchedAt: at })
      .where('id', '=', id)
      .where('metadataFetchedAt', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * Keeps the password data a guest posted (base64, encrypted by the guest with its key
   * pair's public key) if it has none yet; returns whether it was kept. Like Nova's metadata
   * service, a password is posted once: a second post is refused until the instance is gone.
   */
  async recordPasswordData(id: string, data: string, at: number): Promise<boolean> {
    const r = await this.db
      .updateTable('instances')
      .set({ passwordData: data, passwordDataAt: at })
      .where('id', '=', id)
      .where('passwordData', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * Removes instances that never got going (their launch was refused or undone after the
   * insert); their capacity claims go with them (the foreign key cascades).
   */
  async deleteMany(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.deleteFrom('instanceSecurityGroups').where('instanceId', 'in', ids).execute();
    await this.db.deleteFrom('instanceActions').where('instanceId', 'in', ids).execute();
    await this.db.deleteFrom('instances').where('id', 'in', ids).execute();
  }

  async securityGroupsOf(instanceIds: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (instanceIds.length === 0) return out;
    for (let i = 0; i < instanceIds.length; i += 500) {
      const rows = await this.db
        .selectFrom('instanceSecurityGroups')
        .select(['instanceId', 'groupId'])
        .where('instanceId', 'in', instanceIds.slice(i, i + 500))
        .execute();
      for (const r of rows) out.set(r.instanceId, [...(out.get(r.instanceId) ?? []), r.groupId]);
    }
    return out;
  }

  /** Records the start of an action on an instance; returns its id for `finishAction`. */
  async startAction(
    row: Omit<InstanceActionRow, 'id' | 'finishedAt' | 'result' | 'message'>,
  ): Promise<string> {
    const id = randomUUID();
    await this.db
      .insertInto('instanceActions')
      .values({ ...row, id, finishedAt: null, result: null, message: null })
      .execute();
    return id;
  }

  /** Records several started actions in one statement (per chunk); returns their ids. */
  async startActions(
    rows: readonly Omit<InstanceActionRow, 'id' | 'finishedAt' | 'result' | 'message'>[],
  ): Promise<string[]> {
    const values = rows.map((row) => ({
      ...row,
      id: randomUUID(),
      finishedAt: null,
      result: null,
      message: null,
    }));
    for (let i = 0; i < values.length; i += INSERT_CHUNK) {
      await this.db
        .insertInto('instanceActions')
        .values(values.slice(i, i + INSERT_CHUNK))
        .execute();
    }
    return values.map((v) => v.id);
  }

  async finishAction(
    id: string,
    result: 'success' | 'error',
    message: string | null = null,
  ): Promise<void> {
    await this.db
      .updateTable('instanceActions')
      .set({ finishedAt: Date.now(), result, message })
      .where('id', '=', id)
      .execute();
  }

  async actions(instanceId: string): Promise<InstanceActionRow[]> {
    return this.db
      .selectFrom('instanceActions')
      .selectAll()
      .where('instanceId', '=', instanceId)
      .orderBy('startedAt')
      .execute();
  }
}
