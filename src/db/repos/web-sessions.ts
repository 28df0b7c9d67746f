// Dashboard sessions by the SHA-256 of their id, and the key their cookies are signed with.
import type { Db, WebSessionRow } from '../schema.js';

export class WebSessionRepo {
  constructor(private readonly db: Db) {}

  async insert(row: WebSessionRow): Promise<void> {
    await this.db.insertInto('webSessions').values(row).execute();
  }

  /** The session with this hash if it has not expired by `at`. */
  async findLive(idHash: string, at: number): Promise<WebSessionRow | undefined> {
    return this.db
      .selectFrom('webSessions')
      .selectAll()
      .where('idHash', '=', idHash)
      .where('expiresAt', '>', at)
      .executeTakeFirst();
  }

  /** Deletes the session; nothing happens when it is already gone. */
  async delete(idHash: string): Promise<void> {
    await this.db.deleteFrom('webSessions').where('idHash', '=', idHash).execute();
  }

  /** Deletes the sessions that expired by `at`; how many. */
  async deleteExpired(at: number): Promise<number> {
    const r = await this.db
      .deleteFrom('webSessions')
      .where('expiresAt', '<=', at)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /**
   * The secret (hex) named `id`: the one already stored, or `candidate`, stored now. When two
   * processes ask at once, one insert wins and both read it.
   */
  async keyOrCreate(id: string, candidate: string, at: number): Promise<string> {
    await this.db
      .insertInto('webSessionKeys')
      .values({ id, secret: candidate, createdAt: at })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    const row = await this.db
      .selectFrom('webSessionKeys')
      .select('secret')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    return row.secret;
  }
}
