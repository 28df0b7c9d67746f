// One-time serial console grants by the SHA-256 of their token.
import type { ConsoleGrantRow, Db } from '../schema.js';

export class ConsoleGrantRepo {
  constructor(private readonly db: Db) {}

  async insert(row: ConsoleGrantRow): Promise<void> {
    await this.db.insertInto('consoleGrants').values(row).execute();
  }

  /**
   * Deletes the grant with this hash and returns it, if it was there: of two processes taking
   * the same token at once, exactly one gets it. Expired grants are returned too (the caller
   * compares `expiresAt`), so a used-up and an expired token both end here.
   */
  async take(tokenHash: string): Promise<ConsoleGrantRow | undefined> {
    return this.db
      .deleteFrom('consoleGrants')
      .where('tokenHash', '=', tokenHash)
      .returningAll()
      .executeTakeFirst();
  }

  /** Deletes the grants that expired by `at`; how many. */
  async deleteExpired(at: number): Promise<number> {
    const r = await this.db
      .deleteFrom('consoleGrants')
      .where('expiresAt', '<=', at)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
