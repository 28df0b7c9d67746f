// Identity credentials of types other than EC2 (`/v3/credentials` with type 'totp', 'cert',
// ...): stored as given.
import { notFound } from '../../errors.js';
import type { CredentialRow, Db } from '../schema.js';

export class CredentialRepo {
  constructor(private readonly db: Db) {}

  async create(row: CredentialRow): Promise<CredentialRow> {
    await this.db.insertInto('credentials').values(row).execute();
    return row;
  }

  async find(id: string): Promise<CredentialRow | undefined> {
    return this.db.selectFrom('credentials').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async get(id: string): Promise<CredentialRow> {
    const row = await this.find(id);
    if (!row) throw notFound('credential', id, `Could not find credential: ${id}.`);
    return row;
  }

  async list(filter: { userId?: string; type?: string } = {}): Promise<CredentialRow[]> {
    let q = this.db.selectFrom('credentials').selectAll();
    if (filter.userId) q = q.where('userId', '=', filter.userId);
    if (filter.type) q = q.where('type', '=', filter.type);
    return q.orderBy('createdAt').execute();
  }

  async update(
    id: string,
    patch: Partial<Pick<CredentialRow, 'blob' | 'projectId' | 'type'>>,
  ): Promise<void> {
    if (Object.keys(patch).length === 0) return;
    await this.db.updateTable('credentials').set(patch).where('id', '=', id).execute();
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('credentials').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
