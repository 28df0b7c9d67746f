// Role assignments (migration 0020): which user or group holds which role on which project or
// domain, and the roles a user holds in effect: directly, through groups, and by implication.
import { notFound } from '../../errors.js';
import type {
  AssignmentActorType,
  AssignmentRow,
  AssignmentTargetType,
  Db,
  RoleAssignmentRow,
} from '../schema.js';

export interface AssignmentFilter {
  actorType?: AssignmentActorType;
  actorId?: string;
  targetType?: AssignmentTargetType;
  targetId?: string;
  roleId?: string;
}

export class RoleAssignmentRepo {
  constructor(private readonly db: Db) {}

  /** Grants a role (by name) to a user on a project; holding it already changes nothing. */
  async grant(userId: string, projectId: string, role: string, at: number): Promise<void> {
    const r = await this.db
      .selectFrom('roles')
      .select('id')
      .where('name', '=', role)
      .executeTakeFirst();
    if (!r) throw notFound('role', role);
    await this.add({
      actorType: 'user',
      actorId: userId,
      targetType: 'project',
      targetId: projectId,
      roleId: r.id,
      createdAt: at,
    });
  }

  /** Removes a role (by name) from a user on a project; returns whether the user held it. */
  async revoke(userId: string, projectId: string, role: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('roles')
      .select('id')
      .where('name', '=', role)
      .executeTakeFirst();
    if (!r) return false;
    return this.remove({
      actorType: 'user',
      actorId: userId,
      targetType: 'project',
      targetId: projectId,
      roleId: r.id,
    });
  }

  /** Adds an assignment; an existing one changes nothing. */
  async add(row: AssignmentRow): Promise<void> {
    await this.db
      .insertInto('assignments')
      .values(row)
      .onConflict((oc) =>
        oc.columns(['actorType', 'actorId', 'targetType', 'targetId', 'roleId']).doNothing(),
      )
      .execute();
  }

  /** Removes one assignment; returns whether it existed. */
  async remove(key: Omit<AssignmentRow, 'createdAt'>): Promise<boolean> {
    const r = await this.db
      .deleteFrom('assignments')
      .where('actorType', '=', key.actorType)
      .where('actorId', '=', key.actorId)
      .where('targetType', '=', key.targetType)
      .where('targetId', '=', key.targetId)
      .where('roleId', '=', key.roleId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Removes every assignment of an actor, or on a target. */
  async removeAll(
    by:
      | { actorType: AssignmentActorType; actorId: string }
      | { targetType: AssignmentTargetType; targetId: string },
  ): Promise<void> {
    let q = this.db.deleteFrom('assignments');
    if ('actorType' in by)
      q = q.where('actorType', '=', by.actorType).where('actorId', '=', by.actorId);
    else q = q.where('targetType', '=', by.targetType).where('targetId', '=', by.targetId);
    await q.execute();
  }

  /** Assignments as stored (no groups expanded, no implied roles). */
  async listAssignments(filter: AssignmentFilter = {}): Promise<AssignmentRow[]> {
    let q = this.db.selectFrom('assignments').selectAll();
    if (filter.actorType) q = q.where('actorType', '=', filter.actorType);
    if (filter.actorId) q = q.where('actorId', '=', filter.actorId);
    if (filter.targetType) q = q.where('targetType', '=', filter.targetType);
    if (filter.targetId) q = q.where('targetId', '=', filter.targetId);
    if (filter.roleId) q = q.where('roleId', '=', filter.roleId);
    return q.orderBy('actorId').orderBy('targetId').orderBy('roleId').execute();
  }

  /** Every (prior, implied) pair. */
  async implications(): Promise<{ priorRoleId: string; impliedRoleId: string }[]> {
    return this.db.selectFrom('impliedRoles').selectAll().execute();
  }

  /** Role ids with everything they imply, transitively. */
  async expand(roleIds: Iterable<string>): Promise<Set<string>> {
    const pairs = await this.implications();
    const out = new Set(roleIds);
    const todo = [...out];
    while (todo.length > 0) {
      const id = todo.pop() as string;
      for (const p of pairs) {
        if (p.priorRoleId === id && !out.has(p.impliedRoleId)) {
          out.add(p.impliedRoleId);
          todo.push(p.impliedRoleId);
        }
      }
    }
    return out;
  }

  /** The group ids a user is a member of. */
  async groupsOf(userId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('groupMembers')
      .select('groupId')
      .where('userId', '=', userId)
      .execute();
    return rows.map((r) => r.groupId);
  }

  /**
   * The role ids a user holds in effect on a target: its own assignments and its groups',
   * with every role they imply.
   */
  async effectiveRoleIds(
    userId: string,
    targetType: AssignmentTargetType,
    targetId: string,
  ): Promise<Set<string>> {
    const groups = await this.groupsOf(userId);
    const rows = await this.db
      .selectFrom('assignments')
      .select('roleId')
      .where('targetType', '=', targetType)
      .where('targetId', '=', targetId)
      .where((eb) =>
        eb.or([
          eb.and([eb('actorType', '=', 'user'), eb('actorId', '=', userId)]),
          ...(groups.length > 0
            ? [eb.and([eb('actorType', '=', 'group'), eb('actorId', 'in', groups)])]
            : []),
        ]),
      )
      .execute();
    if (rows.length === 0) return new Set();
    return this.expand(rows.map((r) => r.roleId));
  }

  /** The names of the roles a user holds in effect on a project, sorted. */
  async rolesOf(userId: string, projectId: string): Promise<string[]> {
    const ids = await this.effectiveRoleIds(userId, 'project', projectId);
    return this.namesOf(ids);
  }

  /** Role names for ids, sorted; unknown ids are left out. */
  async namesOf(ids: Iterable<string>): Promise<string[]> {
    const list = [...ids];
    if (list.length === 0) return [];
    const rows = await this.db
      .selectFrom('roles')
      .select('name')
      .where('id', 'in', list)
      .orderBy('name')
      .execute();
    return rows.map((r) => r.name);
  }

  /** A user's own roles on projects (no groups, no implications), with role names. */
  async list(filter: { userId?: string; projectId?: string } = {}): Promise<RoleAssignmentRow[]> {
    let q = this.db
      .selectFrom('assignments')
      .innerJoin('roles', 'roles.id', 'assignments.roleId')
      .select([
        'assignments.actorId as userId',
        'assignments.targetId as projectId',
        'roles.name as role',
        'assignments.createdAt as createdAt',
      ])
      .where('assignments.actorType', '=', 'user')
      .where('assignments.targetType', '=', 'project');
    if (filter.userId) q = q.where('assignments.actorId', '=', filter.userId);
    if (filter.projectId) q = q.where('assignments.targetId', '=', filter.projectId);
    return q
      .orderBy('assignments.actorId')
      .orderBy('assignments.targetId')
      .orderBy('roles.name')
      .execute();
  }

  /** The project ids where a user (or a group of the user) holds any role. */
  async projectIdsOf(userId: string): Promise<string[]> {
    const groups = await this.groupsOf(userId);
    const rows = await this.db
      .selectFrom('assignments')
      .select('targetId')
      .distinct()
      .where('targetType', '=', 'project')
      .where((eb) =>
        eb.or([
          eb.and([eb('actorType', '=', 'user'), eb('actorId', '=', userId)]),
          ...(groups.length > 0
            ? [eb.and([eb('actorType', '=', 'group'), eb('actorId', 'in', groups)])]
            : []),
        ]),
      )
      .execute();
    return rows.map((r) => r.targetId);
  }
}
