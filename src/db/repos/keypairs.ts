// SSH key pairs: public halves only; a private key is never stored.
import { idStartsWith } from '../prefix.js';
import type { Db, KeypairRow } from '../schema.js';

export class KeypairRepo {
  constructor(private readonly db: Db) {}

  async findByName(projectId: string, name: string): Promise<KeypairRow | undefined> {
    return this.db
      .selectFrom('keypairs')
      .selectAll()
      .where('projectId', '=', projectId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  /** Key pairs of one project (every project's when absent), optionally only these ids or prefixes. */
  async list(
    filter: { projectId?: string; idPrefixes?: readonly string[] } = {},
  ): Promise<KeypairRow[]> {
    let q = this.db.selectFrom('keypairs').selectAll();
    if (filter.projectId !== undefined) q = q.where('projectId', '=', filter.projectId);
    if (filter.idPrefixes) {
      const prefixes = filter.idPrefixes;
      if (prefixes.length === 0) return [];
      q = q.where((eb) => idStartsWith(eb, 'id', prefixes));
    }
    return q.orderBy('name').orderBy('createdAt').execute();
  }
}
