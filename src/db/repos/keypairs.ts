// SSH key pairs: public halves only; a private key is never stored.
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
}
