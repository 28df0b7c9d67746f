// The identity directory: domains, groups and their members, roles and what they imply, and
// role assignments of users or groups on projects or domains, with the effective view
// (groups expanded, implied roles added) that `/v3/role_assignments?effective` shows.
import {
  DomainRepo,
  GroupRepo,
  now,
  ProjectRepo,
  RoleAssignmentRepo,
  RoleRepo,
  UserRepo,
  type AssignmentActorType,
  type AssignmentRow,
  type AssignmentTargetType,
  type Db,
  type DomainRow,
  type GroupRow,
  type RoleRow,
  type UserRow,
} from '../db/index.js';
import { invalid, notFound, StratusError } from '../errors.js';
import { checkText, PROJECT_DESCRIPTION } from '../text-rules.js';
import { checkName, newId } from './names.js';

/** One assignment as listed: who, where, which role, and through which group if effective. */
export interface AssignmentView {
  actorType: AssignmentActorType;
  actorId: string;
  targetType: AssignmentTargetType;
  targetId: string;
  roleId: string;
  /** Effective listings: the group the user holds the role through. */
  viaGroupId?: string;
  /** Effective listings: the role the assigned one implied this one from. */
  priorRoleId?: string;
}

export interface AssignmentQuery {
  userId?: string;
  groupId?: string;
  roleId?: string;
  projectId?: string;
  domainId?: string;
  /** Expand groups into their members and add implied roles; group rows are left out. */
  effective?: boolean;
}

const DESCRIPTION = { ...PROJECT_DESCRIPTION, what: 'description' };

export class IdentityDirectory {
  readonly #domains: DomainRepo;
  readonly #groups: GroupRepo;
  readonly #roles: RoleRepo;
  readonly #assignments: RoleAssignmentRepo;
  readonly #users: UserRepo;
  readonly #projects: ProjectRepo;

  constructor(private readonly db: Db) {
    this.#domains = new DomainRepo(db);
    this.#groups = new GroupRepo(db);
    this.#roles = new RoleRepo(db);
    this.#assignments = new RoleAssignmentRepo(db);
    this.#users = new UserRepo(db);
    this.#projects = new ProjectRepo(db);
  }

  // Domains.

  listDomains(): Promise<DomainRow[]> {
    return this.#domains.list();
  }
  getDomain(idOrName: string): Promise<DomainRow> {
    return this.#domains.get(idOrName);
  }
  findDomain(idOrName: string): Promise<DomainRow | undefined> {
    return this.#domains.find(idOrName);
  }
  async createDomain(args: {
    name: string;
    description?: string;
    enabled?: boolean;
  }): Promise<DomainRow> {
    checkName('domain', args.name);
    checkText(args.description ?? '', DESCRIPTION);
    return this.#domains.create({
      id: newId(),
      name: args.name,
      description: args.description ?? '',
      enabled: args.enabled === false ? 0 : 1,
      createdAt: now(),
    });
  }
  async updateDomain(
    domain: string,
    patch: { name?: string; description?: string; enabled?: boolean },
  ): Promise<DomainRow> {
    const row = await this.#domains.get(domain);
    if (patch.name !== undefined) checkName('domain', patch.name);
    if (patch.description !== undefined) checkText(patch.description, DESCRIPTION);
    if (row.id === 'default' && patch.enabled === false) {
      throw new StratusError('forbidden', 'The default domain cannot be disabled.', {
        resource: 'domain',
        id: row.id,
      });
    }
    await this.#domains.update(row.id, {
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.enabled !== undefined ? { enabled: patch.enabled ? 1 : 0 } : {}),
    });
    return this.#domains.get(row.id);
  }
  /** Deletes a disabled domain that holds no users, groups or projects any more. */
  async deleteDomain(domain: string): Promise<void> {
    const row = await this.#domains.get(domain);
    if (row.enabled) {
      throw new StratusError(
        'forbidden',
        `Cannot delete the domain '${row.name}': it is enabled; disable it first.`,
        { resource: 'domain', id: row.id },
      );
    }
    const [users, projects, groups] = await Promise.all([
      this.db.selectFrom('users').select('id').where('domainId', '=', row.id).execute(),
      this.db.selectFrom('projects').select('id').where('domainId', '=', row.id).execute(),
      this.#groups.list({ domainId: row.id }),
    ]);
    const left = [
      users.length ? `${users.length} user(s)` : '',
      projects.length ? `${projects.length} project(s)` : '',
      groups.length ? `${groups.length} group(s)` : '',
    ].filter(Boolean);
    if (left.length > 0) {
      throw new StratusError(
        'conflict',
        `Cannot delete the domain '${row.name}': it still has ${left.join(', ')}; delete them first.`,
        { resource: 'domain', id: row.id, reason: 'in_use' },
      );
    }
    await this.db.transaction().execute(async (tx) => {
      await new RoleAssignmentRepo(tx).removeAll({ targetType: 'domain', targetId: row.id });
      await new DomainRepo(tx).delete(row.id);
    });
  }

  // Groups.

  listGroups(filter: { domainId?: string; name?: string } = {}): Promise<GroupRow[]> {
    return this.#groups.list(filter);
  }
  getGroup(idOrName: string, domain?: string): Promise<GroupRow> {
    return this.#groups.get(idOrName, domain);
  }
  async createGroup(args: {
    name: string;
    domain?: string;
    description?: string;
  }): Promise<GroupRow> {
    checkName('group', args.name);
    checkText(args.description ?? '', DESCRIPTION);
    const d = await this.#domains.get(args.domain ?? 'default');
    return this.#groups.create({
      id: newId(),
      domainId: d.id,
      name: args.name,
      description: args.description ?? '',
      createdAt: now(),
    });
  }
  async updateGroup(
    group: string,
    patch: { name?: string; description?: string },
  ): Promise<GroupRow> {
    const row = await this.#groups.get(group);
    if (patch.name !== undefined) checkName('group', patch.name);
    if (patch.description !== undefined) checkText(patch.description, DESCRIPTION);
    await this.#groups.update(row.id, patch);
    return this.#groups.get(row.id);
  }
  async deleteGroup(group: string): Promise<void> {
    const row = await this.#groups.get(group);
    await this.db.transaction().execute(async (tx) => {
      await new RoleAssignmentRepo(tx).removeAll({ actorType: 'group', actorId: row.id });
      await new GroupRepo(tx).delete(row.id);
    });
  }
  async addGroupMember(group: string, user: string): Promise<void> {
    const [g, u] = await Promise.all([this.#groups.get(group), this.#users.get(user)]);
    await this.#groups.addMember(g.id, u.id);
  }
  async removeGroupMember(group: string, user: string): Promise<void> {
    const [g, u] = await Promise.all([this.#groups.get(group), this.#users.get(user)]);
    if (!(await this.#groups.removeMember(g.id, u.id))) {
      throw notFound(
        'group',
        g.id,
        `The user '${u.name}' is not a member of the group '${g.name}'.`,
      );
    }
  }
  async isGroupMember(group: string, user: string): Promise<boolean> {
    const [g, u] = await Promise.all([this.#groups.get(group), this.#users.get(user)]);
    return this.#groups.isMember(g.id, u.id);
  }
  async groupMembers(group: string): Promise<UserRow[]> {
    return this.#groups.members((await this.#groups.get(group)).id);
  }
  groupsOfUser(userId: string): Promise<GroupRow[]> {
    return this.#groups.groupsOfUser(userId);
  }

  // Roles.

  listRoles(filter: { name?: string } = {}): Promise<RoleRow[]> {
    return this.#roles
      .list()
      .then((rows) =>
        filter.name === undefined ? rows : rows.filter((r) => r.name === filter.name),
      );
  }
  findRole(idOrName: string): Promise<RoleRow | undefined> {
    return this.#roles.find(idOrName);
  }
  getRole(idOrName: string): Promise<RoleRow> {
    return this.#roles.get(idOrName);
  }
  async createRole(args: { name: string; description?: string }): Promise<RoleRow> {
    checkName('role', args.name);
    checkText(args.description ?? '', DESCRIPTION);
    return this.#roles.create({
      id: newId(),
      name: args.name,
      description: args.description ?? '',
      createdAt: now(),
    });
  }
  async updateRole(role: string, patch: { name?: string; description?: string }): Promise<RoleRow> {
    const row = await this.#roles.get(role);
    if (patch.name !== undefined && patch.name !== row.name) {
      builtIn(row, 'renamed');
      checkName('role', patch.name);
    }
    if (patch.description !== undefined) checkText(patch.description, DESCRIPTION);
    await this.#roles.update(row.id, patch);
    return this.#roles.get(row.id);
  }
  async deleteRole(role: string): Promise<void> {
    const row = await this.#roles.get(role);
    builtIn(row, 'deleted');
    await this.db.transaction().execute((tx) => new RoleRepo(tx).delete(row.id));
  }
  /** Every implication, or those of one prior role. */
  async implications(prior?: string): Promise<{ priorRoleId: string; impliedRoleId: string }[]> {
    return this.#roles.implications(prior ? (await this.#roles.get(prior)).id : undefined);
  }
  async addImplication(prior: string, implied: string): Promise<[RoleRow, RoleRow]> {
    const [p, i] = await Promise.all([this.#roles.get(prior), this.#roles.get(implied)]);
    if (p.id === i.id || (await this.#assignments.expand([i.id])).has(p.id)) {
      throw invalid(`The role '${i.name}' already implies '${p.name}': no cycles.`, {
        resource: 'role',
        id: p.id,
      });
    }
    await this.#roles.addImplication(p.id, i.id);
    return [p, i];
  }
  async getImplication(prior: string, implied: string): Promise<[RoleRow, RoleRow]> {
    const [p, i] = await Promise.all([this.#roles.get(prior), this.#roles.get(implied)]);
    const found = (await this.#roles.implications(p.id)).some((x) => x.impliedRoleId === i.id);
    if (!found) {
      throw notFound('role', `${p.id}/${i.id}`, `The role '${p.name}' does not imply '${i.name}'.`);
    }
    return [p, i];
  }
  async removeImplication(prior: string, implied: string): Promise<void> {
    const [p, i] = await this.getImplication(prior, implied);
    await this.#roles.removeImplication(p.id, i.id);
  }

  // Assignments.

  /** Resolves an actor, a target and a role, each of which must exist (`not_found`). */
  async #key(
    actor: { type: AssignmentActorType; id: string },
    target: { type: AssignmentTargetType; id: string },
    role: string,
  ): Promise<Omit<AssignmentRow, 'createdAt'>> {
    const [a, t, r] = await Promise.all([
      actor.type === 'user' ? this.#users.get(actor.id) : this.#groups.get(actor.id),
      target.type === 'project'
        ? this.#projects.get(target.id)
        : target.type === 'domain'
          ? this.#domains.get(target.id)
          : systemTarget(target.id),
      this.#roles.get(role),
    ]);
    return {
      actorType: actor.type,
      actorId: a.id,
      targetType: target.type,
      targetId: t.id,
      roleId: r.id,
    };
  }
  /** Grants a role; idempotent. */
  async grant(
    actor: { type: AssignmentActorType; id: string },
    target: { type: AssignmentTargetType; id: string },
    role: string,
  ): Promise<void> {
    await this.#assignments.add({ ...(await this.#key(actor, target, role)), createdAt: now() });
  }
  /** Whether the assignment exists (as stored, not in effect). */
  async isGranted(
    actor: { type: AssignmentActorType; id: string },
    target: { type: AssignmentTargetType; id: string },
    role: string,
  ): Promise<boolean> {
    const key = await this.#key(actor, target, role);
    return (await this.#assignments.listAssignments(key)).length > 0;
  }
  /** Takes a role back; `not_found` when it was not granted. */
  async revoke(
    actor: { type: AssignmentActorType; id: string },
    target: { type: AssignmentTargetType; id: string },
    role: string,
  ): Promise<void> {
    if (!(await this.#assignments.remove(await this.#key(actor, target, role)))) {
      throw notFound(
        'role_assignment',
        `${actor.id}@${target.id}`,
        `Could not find role assignment with role: ${role}, ${actor.type}: ${actor.id}, ${target.type}: ${target.id}.`,
      );
    }
  }
  /** The roles an actor holds on a target as stored. */
  async rolesOn(
    actor: { type: AssignmentActorType; id: string },
    target: { type: AssignmentTargetType; id: string },
  ): Promise<RoleRow[]> {
    const rows = await this.#assignments.listAssignments({
      actorType: actor.type,
      actorId: actor.id,
      targetType: target.type,
      targetId: target.id,
    });
    const ids = new Set(rows.map((r) => r.roleId));
    return (await this.#roles.list()).filter((r) => ids.has(r.id));
  }
  /** The role ids a user holds in effect on a domain. */
  effectiveDomainRoleIds(userId: string, domainId: string): Promise<Set<string>> {
    return this.#assignments.effectiveRoleIds(userId, 'domain', domainId);
  }
  /** The role ids a user holds in effect on the system (the whole cloud). */
  effectiveSystemRoleIds(userId: string): Promise<Set<string>> {
    return this.#assignments.effectiveRoleIds(userId, 'system', SYSTEM);
  }
  /** The domain ids where a user holds any role (directly or through a group). */
  async domainIdsOf(userId: string): Promise<string[]> {
    const groups = (await this.#groups.groupsOfUser(userId)).map((g) => g.id);
    const rows = await this.#assignments.listAssignments({ targetType: 'domain' });
    return [
      ...new Set(
        rows
          .filter(
            (r) =>
              (r.actorType === 'user' && r.actorId === userId) ||
              (r.actorType === 'group' && groups.includes(r.actorId)),
          )
          .map((r) => r.targetId),
      ),
    ];
  }

  /** `/v3/role_assignments`: stored, or in effect (groups expanded, implied roles added). */
  async listAssignments(query: AssignmentQuery): Promise<AssignmentView[]> {
    const target =
      query.projectId !== undefined
        ? { targetType: 'project' as const, targetId: query.projectId }
        : query.domainId !== undefined
          ? { targetType: 'domain' as const, targetId: query.domainId }
          : {};
    let rows: AssignmentView[] = await this.#assignments.listAssignments(target);
    if (query.effective) {
      const out: AssignmentView[] = [];
      const members = new Map<string, string[]>();
      const pairs = await this.#assignments.implications();
      const implied = (roleId: string): string[] => {
        const seen = new Set<string>();
        const todo = [roleId];
        while (todo.length) {
          const id = todo.pop() as string;
          for (const p of pairs) {
            if (p.priorRoleId === id && !seen.has(p.impliedRoleId) && p.impliedRoleId !== roleId) {
              seen.add(p.impliedRoleId);
              todo.push(p.impliedRoleId);
            }
          }
        }
        return [...seen];
      };
      for (const r of rows) {
        let users: { id: string; via?: string }[] = [{ id: r.actorId }];
        if (r.actorType === 'group') {
          if (!members.has(r.actorId)) {
            members.set(
              r.actorId,
              (await this.#groups.members(r.actorId)).map((u) => u.id),
            );
          }
          users = (members.get(r.actorId) ?? []).map((id) => ({ id, via: r.actorId }));
        }
        for (const u of users) {
          const base = {
            actorType: 'user' as const,
            actorId: u.id,
            targetType: r.targetType,
            targetId: r.targetId,
            ...(u.via ? { viaGroupId: u.via } : {}),
          };
          out.push({ ...base, roleId: r.roleId });
          for (const i of implied(r.roleId))
            out.push({ ...base, roleId: i, priorRoleId: r.roleId });
        }
      }
      rows = out;
    }
    return rows.filter(
      (r) =>
        (query.userId === undefined || (r.actorType === 'user' && r.actorId === query.userId)) &&
        (query.groupId === undefined || (r.actorType === 'group' && r.actorId === query.groupId)) &&
        (query.roleId === undefined || r.roleId === query.roleId),
    );
  }
}

function builtIn(row: RoleRow, what: string): void {
  if (['admin', 'member', 'reader'].includes(row.name)) {
    throw new StratusError('forbidden', `The built-in role '${row.name}' cannot be ${what}.`, {
      resource: 'role',
      id: row.id,
    });
  }
}

/** The id of the one system target: the whole cloud (Keystone's `{"system": {"all": true}}`). */
export const SYSTEM = 'all';

async function systemTarget(id: string): Promise<{ id: string }> {
  if (id !== SYSTEM)
    throw notFound('role_assignment', id, `The system target is 'all', not '${id}'.`);
  return { id };
}
