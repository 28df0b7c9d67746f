// Identity API tokens, by the SHA-256 of the token.
import type { Db, TokenRow } from '../schema.js';

export class TokenRepo {
  constructor(private readonly db: Db) {}

  async insert(
    row: Omit<TokenRow, 'applicationCredentialId' | 'domainId' | 'systemScope'> &
      Partial<Pick<TokenRow, 'applicationCredentialId' | 'domainId' | 'systemScope'>>,
  ): Promise<void> {
    await this.db
      .insertInto('tokens')
      .values({
        ...row,
        applicationCredentialId: row.applicationCredentialId ?? null,
        domainId: row.domainId ?? null,
        systemScope: row.systemScope ?? 0,
      })
      .execute();
  }

  /** The token with this hash if it has not expired by `at`. */
  async findLive(idHash: string, at: number): Promise<TokenRow | undefined> {
    return this.db
      .selectFrom('tokens')
      .selectAll()
      .where('idHash', '=', idHash)
      .where('expiresAt', '>', at)
      .executeTakeFirst();
  }

  /** Deletes the token; whether there was one. */
  async delete(idHash: string): Promise<boolean> {
    const r = await this.db.deleteFrom('tokens').where('idHash', '=', idHash).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Deletes the tokens that expired by `at`; how many. */
  async deleteExpired(at: number): Promise<number> {
    const r = await this.db.deleteFrom('tokens').where('expiresAt', '<=', at).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
