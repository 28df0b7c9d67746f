// Roles and the roles they imply.
import { alreadyExists, notFound } from '../../errors.js';
import { isUniqueViolation } from '../constraint.js';
import type { Db, RoleRow } from '../schema.js';

export class RoleRepo {
  constructor(private readonly db: Db) {}

  /** Inserts a role; `already_exists` if the name is taken. */
  async create(row: RoleRow): Promise<RoleRow> {
    try {
      await this.db.insertInto('roles').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw alreadyExists('role', row.name);
      throw err;
    }
    return row;
  }

  /** A role by id or name (id first); undefined when there is none. */
  async find(idOrName: string): Promise<RoleRow | undefined> {
    const rows = await this.db
      .selectFrom('roles')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
      .execute();
    return rows.find((r) => r.id === idOrName) ?? rows[0];
  }

  async get(idOrName: string): Promise<RoleRow> {
    const row = await this.find(idOrName);
    if (!row) throw notFound('role', idOrName, `Could not find role: ${idOrName}.`);
    return row;
  }

  async list(): Promise<RoleRow[]> {
    return this.db.selectFrom('roles').selectAll().orderBy('name').execute();
  }

  async update(id: string, patch: Partial<Pick<RoleRow, 'name' | 'description'>>): Promise<void> {
    if (Object.keys(patch).length === 0) return;
    try {
      await this.db.updateTable('roles').set(patch).where('id', '=', id).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw alreadyExists('role', patch.name ?? id);
      throw err;
    }
  }

  /** Deletes a role; its assignments and implications go with it (foreign keys). */
  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('assignments').where('roleId', '=', id).execute();
    await this.db
      .deleteFrom('impliedRoles')
      .where((eb) => eb.or([eb('priorRoleId', '=', id), eb('impliedRoleId', '=', id)]))
      .execute();
    await this.db.deleteFrom('roles').where('id', '=', id).execute();
  }

  async addImplication(priorRoleId: string, impliedRoleId: string): Promise<void> {
    await this.db
      .insertInto('impliedRoles')
      .values({ priorRoleId, impliedRoleId })
      .onConflict((oc) => oc.columns(['priorRoleId', 'impliedRoleId']).doNothing())
      .execute();
  }

  /** Removes an implication; returns whether it existed. */
  async removeImplication(priorRoleId: string, impliedRoleId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('impliedRoles')
      .where('priorRoleId', '=', priorRoleId)
      .where('impliedRoleId', '=', impliedRoleId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async implications(
    priorRoleId?: string,
  ): Promise<{ priorRoleId: string; impliedRoleId: string }[]> {
    let q = this.db.selectFrom('impliedRoles').selectAll();
    if (priorRoleId) q = q.where('priorRoleId', '=', priorRoleId);
    return q.execute();
  }
}
