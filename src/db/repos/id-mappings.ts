// Users kept in a directory (LDAP), mapped to the local user ids that role assignments,
// tokens and EC2 credentials refer to (migration 0021).
import type { Db, IdMappingRow } from '../schema.js';

export class IdMappingRepo {
  constructor(private readonly db: Db) {}

  /** The mapping of a local user id; undefined for users kept in SQL. */
  byPublicId(publicId: string): Promise<IdMappingRow | undefined> {
    return this.db
      .selectFrom('idMappings')
      .selectAll()
      .where('publicId', '=', publicId)
      .executeTakeFirst();
  }

  /** The mapping of a directory user; undefined before it first logged in. */
  byLocalId(domain: string, localId: string): Promise<IdMappingRow | undefined> {
    return this.db
      .selectFrom('idMappings')
      .selectAll()
      .where('domain', '=', domain)
      .where('localId', '=', localId)
      .executeTakeFirst();
  }

  /** Records a mapping, or the user's new name in the directory; idempotent. */
  async upsert(row: IdMappingRow): Promise<void> {
    await this.db
      .insertInto('idMappings')
      .values(row)
      .onConflict((oc) => oc.column('publicId').doUpdateSet({ name: row.name }))
      .execute();
  }

  list(domain?: string): Promise<IdMappingRow[]> {
    let q = this.db.selectFrom('idMappings').selectAll();
    if (domain) q = q.where('domain', '=', domain);
    return q.orderBy('name').execute();
  }
}
