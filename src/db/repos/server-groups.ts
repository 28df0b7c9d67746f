// Server groups and their members: the one model behind the Compute API's server groups and
// EC2's placement groups. Changes that must not race (a launch joining a group, a group being
// deleted, a capacity claim of a member) take the group's row lock first.
import { idStartsWith } from '../prefix.js';
import type { Db, ServerGroupPolicy, ServerGroupRow, VmState } from '../schema.js';

/** The rules a group's policy takes (only anti-affinity's `max_server_per_host` exists). */
export interface ServerGroupRules {
  maxServerPerHost?: number;
}

/** What the scheduler needs of a group to place one of its members. */
export interface GroupPlacement {
  id: string;
  policy: ServerGroupPolicy;
  /** The most members on one host (anti-affinity; 1 unless the rules say otherwise). */
  maxPerHost: number;
}

export interface ServerGroupFilter {
  /** Only this project's groups; every project's when absent. */
  projectId?: string;
  /** Groups whose id starts with one of these. */
  idPrefixes?: readonly string[];
  names?: readonly string[];
}

/** Members counted as in a group: instances not yet retired. */
const MEMBER_STATES: readonly VmState[] = ['building', 'active', 'stopped', 'error'];

export function parseGroupRules(rules: string): ServerGroupRules {
  try {
    const o = JSON.parse(rules) as { max_server_per_host?: unknown };
    return typeof o.max_server_per_host === 'number'
      ? { maxServerPerHost: o.max_server_per_host }
      : {};
  } catch {
    return {};
  }
}

export function formatGroupRules(rules: ServerGroupRules): string {
  return JSON.stringify(
    rules.maxServerPerHost === undefined ? {} : { max_server_per_host: rules.maxServerPerHost },
  );
}

export function groupPlacement(row: ServerGroupRow): GroupPlacement {
  return {
    id: row.id,
    policy: row.policy,
    maxPerHost: parseGroupRules(row.rules).maxServerPerHost ?? 1,
  };
}

export class ServerGroupRepo {
  constructor(private readonly db: Db) {}

  async insert(row: ServerGroupRow): Promise<void> {
    await this.db.insertInto('serverGroups').values(row).execute();
  }

  /** The group, or undefined. */
  find(id: string): Promise<ServerGroupRow | undefined> {
    return this.db.selectFrom('serverGroups').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Groups by the filter, oldest first (ties by id). */
  list(filter: ServerGroupFilter = {}): Promise<ServerGroupRow[]> {
    let q = this.db.selectFrom('serverGroups').selectAll();
    if (filter.projectId !== undefined) q = q.where('projectId', '=', filter.projectId);
    if (filter.names && filter.names.length > 0) q = q.where('name', 'in', filter.names);
    if (filter.idPrefixes && filter.idPrefixes.length > 0) {
      const prefixes = filter.idPrefixes;
      q = q.where((eb) => idStartsWith(eb, 'id', prefixes));
    }
    return q.orderBy('createdAt').orderBy('id').execute();
  }

  /** How many groups the project has. */
  async count(projectId: string): Promise<number> {
    const row = await this.db
      .selectFrom('serverGroups')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('projectId', '=', projectId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * The members of these groups that are not retired (`live`: only those building, active or
   * stopped), by group, oldest first.
   */
  async members(
    groupIds: readonly string[],
    opts: { live?: boolean } = {},
  ): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (groupIds.length === 0) return out;
    const rows = await this.db
      .selectFrom('serverGroupMembers as m')
      .innerJoin('instances as i', 'i.id', 'm.instanceId')
      .select(['m.groupId', 'm.instanceId'])
      .where('m.groupId', 'in', groupIds)
      .where(
        'i.vmState',
        'in',
        opts.live ? MEMBER_STATES.filter((s) => s !== 'error') : MEMBER_STATES,
      )
      .orderBy('i.createdAt')
      .orderBy('i.launchIndex')
      .execute();
    for (const r of rows) out.set(r.groupId, [...(out.get(r.groupId) ?? []), r.instanceId]);
    return out;
  }

  /** The group of each of these instances that has one. */
  async ofInstances(instanceIds: readonly string[]): Promise<Map<string, ServerGroupRow>> {
    const out = new Map<string, ServerGroupRow>();
    for (let i = 0; i < instanceIds.length; i += 500) {
      const rows = await this.db
        .selectFrom('serverGroupMembers as m')
        .innerJoin('serverGroups as g', 'g.id', 'm.groupId')
        .selectAll('g')
        .select('m.instanceId')
        .where('m.instanceId', 'in', instanceIds.slice(i, i + 500))
        .execute();
      for (const { instanceId, ...g } of rows) out.set(instanceId, g);
    }
    return out;
  }

  /**
   * The hosts its members hold capacity claims on, by member: placed members and launches in
   * flight alike (a claim is taken before the instance records its host).
   */
  async memberHosts(groupId: string): Promise<Map<string, string>> {
    const rows = await this.db
      .selectFrom('capacityClaims as c')
      .innerJoin('serverGroupMembers as m', 'm.instanceId', 'c.instanceId')
      .select(['c.instanceId', 'c.host'])
      .where('m.groupId', '=', groupId)
      .execute();
    return new Map(rows.map((r) => [r.instanceId, r.host]));
  }

  /** Makes these instances members (their launch's transaction does, after `hold`). */
  async addMembers(rows: readonly { instanceId: string; groupId: string }[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 1000) {
      await this.db
        .insertInto('serverGroupMembers')
        .values(rows.slice(i, i + 1000))
        .execute();
    }
  }

  /**
   * Takes the group's row lock (inside a transaction) and answers whether it exists in the
   * project. Launches joining it, its deletion and its members' capacity claims hold it, so
   * they are decided one at a time.
   */
  async hold(groupId: string, projectId?: string): Promise<boolean> {
    let q = this.db
      .updateTable('serverGroups')
      .set((eb) => ({ policy: eb.ref('policy') }))
      .where('id', '=', groupId);
    if (projectId !== undefined) q = q.where('projectId', '=', projectId);
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Removes the group (its memberships go with it). */
  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('serverGroups').where('id', '=', id).execute();
  }
}
