// Identity domains: the namespaces users, groups and projects live in.
import { alreadyExists, notFound } from '../../errors.js';
import { isUniqueViolation } from '../constraint.js';
import type { Db, DomainRow } from '../schema.js';

export class DomainRepo {
  constructor(private readonly db: Db) {}

  /** Inserts a domain; `already_exists` if the name is taken. */
  async create(row: DomainRow): Promise<DomainRow> {
    try {
      await this.db.insertInto('domains').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw alreadyExists('domain', row.name);
      throw err;
    }
    return row;
  }

  /** A domain by id or name (id first); undefined when there is none. */
  async find(idOrName: string): Promise<DomainRow | undefined> {
    const rows = await this.db
      .selectFrom('domains')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
      .execute();
    return rows.find((r) => r.id === idOrName) ?? rows[0];
  }

  async get(idOrName: string): Promise<DomainRow> {
    const row = await this.find(idOrName);
    if (!row) throw notFound('domain', idOrName, `Could not find domain: ${idOrName}.`);
    return row;
  }

  async list(): Promise<DomainRow[]> {
    return this.db.selectFrom('domains').selectAll().orderBy('name').execute();
  }

  /** Changes name, description or enabled; `already_exists` for a taken name. */
  async update(
    id: string,
    patch: Partial<Pick<DomainRow, 'name' | 'description' | 'enabled'>>,
  ): Promise<void> {
    if (Object.keys(patch).length === 0) return;
    try {
      await this.db.updateTable('domains').set(patch).where('id', '=', id).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw alreadyExists('domain', patch.name ?? id);
      throw err;
    }
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('domains').where('id', '=', id).execute();
  }
}
