// Users: people and tools that call the APIs.
import { alreadyExists, invalid, notFound } from '../../errors.js';
import { isUniqueViolation } from '../constraint.js';
import type { Db, UserRow } from '../schema.js';

export class UserRepo {
  constructor(private readonly db: Db) {}

  /** Inserts a user; `already_exists` if the name is taken in its domain. */
  async create(
    fields: Omit<UserRow, 'domainId' | 'defaultProjectId' | 'description' | 'email'> &
      Partial<Pick<UserRow, 'domainId' | 'defaultProjectId' | 'description' | 'email'>>,
  ): Promise<UserRow> {
    const row: UserRow = {
      domainId: 'default',
      defaultProjectId: null,
      description: '',
      email: null,
      ...fields,
    };
    try {
      await this.db.insertInto('users').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw alreadyExists('user', row.name);
      throw err;
    }
    return row;
  }

  /**
   * Finds a user by id, or by name: names are unique per domain (migration 0023), so a name
   * is looked up in `domainId` when given; without one, a name that several domains use is
   * `invalid` (the caller must name the domain). Undefined when there is none.
   */
  async find(idOrName: string, domainId?: string): Promise<UserRow | undefined> {
    let q = this.db
      .selectFrom('users')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]));
    if (domainId) q = q.where('domainId', '=', domainId);
    const rows = await q.orderBy('createdAt').execute();
    const byId = rows.find((r) => r.id === idOrName);
    if (byId) return byId;
    if (rows.length > 1) {
      throw invalid(
        `Several domains have a user named '${idOrName}' (${rows.map((r) => r.domainId).join(', ')}): name its domain too.`,
        { resource: 'user', id: idOrName },
      );
    }
    return rows[0];
  }

  async get(idOrName: string, domainId?: string): Promise<UserRow> {
    const row = await this.find(idOrName, domainId);
    if (!row) throw notFound('user', idOrName);
    return row;
  }

  async list(): Promise<UserRow[]> {
    return this.db.selectFrom('users').selectAll().orderBy('name').execute();
  }

  async count(): Promise<number> {
    const r = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Enables (1) or disables (0) a user; a disabled user's keys and password stop working. */
  async setEnabled(id: string, enabled: 0 | 1): Promise<void> {
    await this.db.updateTable('users').set({ enabled }).where('id', '=', id).execute();
  }

  /** Changes the fields given; `already_exists` for a name another user has. */
  async update(
    id: string,
    patch: Partial<
      Pick<UserRow, 'name' | 'description' | 'email' | 'defaultProjectId' | 'enabled' | 'domainId'>
    >,
  ): Promise<void> {
    if (Object.keys(patch).length === 0) return;
    try {
      await this.db.updateTable('users').set(patch).where('id', '=', id).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw alreadyExists('user', patch.name ?? id);
      throw err;
    }
  }

  /** Deletes a user; its credentials, tokens and memberships go with it (foreign keys). */
  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('users').where('id', '=', id).execute();
  }

  async setPasswordHash(id: string, passwordHash: string | null): Promise<void> {
    const r = await this.db
      .updateTable('users')
      .set({ passwordHash })
      .where('id', '=', id)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw notFound('user', id);
  }
}
