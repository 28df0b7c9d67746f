// Application credentials: secrets a user made for a tool, bound to one project and a subset
// of the user's roles there.
import { alreadyExists, notFound } from '../../errors.js';
import { isUniqueViolation } from '../constraint.js';
import type { ApplicationCredentialRow, Db } from '../schema.js';

export class ApplicationCredentialRepo {
  constructor(private readonly db: Db) {}

  /** Inserts one; `already_exists` if the user has one of that name. */
  async create(row: ApplicationCredentialRow): Promise<ApplicationCredentialRow> {
    try {
      await this.db.insertInto('applicationCredentials').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw alreadyExists('application_credential', row.name);
      throw err;
    }
    return row;
  }

  async find(id: string): Promise<ApplicationCredentialRow | undefined> {
    return this.db
      .selectFrom('applicationCredentials')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async findByName(userId: string, name: string): Promise<ApplicationCredentialRow | undefined> {
    return this.db
      .selectFrom('applicationCredentials')
      .selectAll()
      .where('userId', '=', userId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  async get(id: string): Promise<ApplicationCredentialRow> {
    const row = await this.find(id);
    if (!row) {
      throw notFound('application_credential', id, `Could not find application credential: ${id}.`);
    }
    return row;
  }

  async list(
    filter: { userId?: string; projectId?: string } = {},
  ): Promise<ApplicationCredentialRow[]> {
    let q = this.db.selectFrom('applicationCredentials').selectAll();
    if (filter.userId) q = q.where('userId', '=', filter.userId);
    if (filter.projectId) q = q.where('projectId', '=', filter.projectId);
    return q.orderBy('name').execute();
  }

  /** Deletes one; returns whether it existed. */
  async delete(id: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('applicationCredentials')
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
