// Groups of users: a role given to a group is held by each of its members.
import { alreadyExists, notFound } from '../../errors.js';
import { isUniqueViolation } from '../constraint.js';
import type { Db, GroupRow, UserRow } from '../schema.js';

export class GroupRepo {
  constructor(private readonly db: Db) {}

  /** Inserts a group; `already_exists` if its domain has one of that name. */
  async create(row: GroupRow): Promise<GroupRow> {
    try {
      await this.db.insertInto('groups').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw alreadyExists('group', row.name);
      throw err;
    }
    return row;
  }

  /** A group by id, or by name (in `domainId` when given); undefined when there is none. */
  async find(idOrName: string, domainId?: string): Promise<GroupRow | undefined> {
    let q = this.db
      .selectFrom('groups')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]));
    if (domainId) q = q.where('domainId', '=', domainId);
    const rows = await q.orderBy('createdAt').execute();
    return rows.find((r) => r.id === idOrName) ?? rows[0];
  }

  async get(idOrName: string, domainId?: string): Promise<GroupRow> {
    const row = await this.find(idOrName, domainId);
    if (!row) throw notFound('group', idOrName, `Could not find group: ${idOrName}.`);
    return row;
  }

  async list(filter: { domainId?: string; name?: string } = {}): Promise<GroupRow[]> {
    let q = this.db.selectFrom('groups').selectAll();
    if (filter.domainId) q = q.where('domainId', '=', filter.domainId);
    if (filter.name) q = q.where('name', '=', filter.name);
    return q.orderBy('name').execute();
  }

  async update(id: string, patch: Partial<Pick<GroupRow, 'name' | 'description'>>): Promise<void> {
    if (Object.keys(patch).length === 0) return;
    try {
      await this.db.updateTable('groups').set(patch).where('id', '=', id).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw alreadyExists('group', patch.name ?? id);
      throw err;
    }
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('groups').where('id', '=', id).execute();
  }

  /** Adds a member; a member already in changes nothing. */
  async addMember(groupId: string, userId: string): Promise<void> {
    await this.db
      .insertInto('groupMembers')
      .values({ groupId, userId })
      .onConflict((oc) => oc.columns(['groupId', 'userId']).doNothing())
      .execute();
  }

  /** Removes a member; returns whether the user was one. */
  async removeMember(groupId: string, userId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('groupMembers')
      .where('groupId', '=', groupId)
      .where('userId', '=', userId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async isMember(groupId: string, userId: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('groupMembers')
      .select('userId')
      .where('groupId', '=', groupId)
      .where('userId', '=', userId)
      .executeTakeFirst();
    return r !== undefined;
  }

  async members(groupId: string): Promise<UserRow[]> {
    return this.db
      .selectFrom('groupMembers')
      .innerJoin('users', 'users.id', 'groupMembers.userId')
      .selectAll('users')
      .where('groupMembers.groupId', '=', groupId)
      .orderBy('users.name')
      .execute();
  }

  async groupsOfUser(userId: string): Promise<GroupRow[]> {
    return this.db
      .selectFrom('groupMembers')
      .innerJoin('groups', 'groups.id', 'groupMembers.groupId')
      .selectAll('groups')
      .where('groupMembers.userId', '=', userId)
      .orderBy('groups.name')
      .execute();
  }
}
