// Login security of SQL users: failed-login counters, when passwords were set, and the
// hashes of previous passwords (migration 0021).
import type { Db, UserSecurityRow } from '../schema.js';

export class UserSecurityRepo {
  constructor(private readonly db: Db) {}

  /** The user's state; a user without a row has no failures and no recorded password time. */
  async get(userId: string): Promise<UserSecurityRow> {
    const row = await this.db
      .selectFrom('userSecurity')
      .selectAll()
      .where('userId', '=', userId)
      .executeTakeFirst();
    return row ?? { userId, failedAuthCount: 0, failedAuthAt: null, passwordSetAt: null };
  }

  /** Counts one more failed login at `at`; returns the new count. */
  async recordFailure(userId: string, at: number): Promise<number> {
    await this.db
      .insertInto('userSecurity')
      .values({ userId, failedAuthCount: 1, failedAuthAt: at, passwordSetAt: null })
      .onConflict((oc) =>
        oc.column('userId').doUpdateSet((eb) => ({
          failedAuthCount: eb('userSecurity.failedAuthCount', '+', 1),
          failedAuthAt: at,
        })),
      )
      .execute();
    return (await this.get(userId)).failedAuthCount;
  }

  /** Forgets failed logins (a success, the end of a lockout, an operator's unlock). */
  async resetFailures(userId: string): Promise<void> {
    await this.db
      .updateTable('userSecurity')
      .set({ failedAuthCount: 0, failedAuthAt: null })
      .where('userId', '=', userId)
      .execute();
  }

  /**
   * Records a new password hash set at `at`: its time, and the hash in the history, of which
   * only the newest `keep` are kept (at least the current one).
   */
  async recordPassword(userId: string, hash: string, at: number, keep: number): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx
        .insertInto('userSecurity')
        .values({ userId, failedAuthCount: 0, failedAuthAt: null, passwordSetAt: at })
        .onConflict((oc) => oc.column('userId').doUpdateSet({ passwordSetAt: at }))
        .execute();
      await tx
        .insertInto('passwordHistory')
        .values({ userId, passwordHash: hash, createdAt: at })
        .execute();
      const old = await tx
        .selectFrom('passwordHistory')
        .select('createdAt')
        .where('userId', '=', userId)
        .orderBy('createdAt', 'desc')
        .offset(Math.max(1, keep))
        .limit(1)
        .executeTakeFirst();
      if (old) {
        await tx
          .deleteFrom('passwordHistory')
          .where('userId', '=', userId)
          .where('createdAt', '<=', old.createdAt)
          .execute();
      }
    });
  }

  /** The newest `count` password hashes of the user, newest first. */
  async recentHashes(userId: string, count: number): Promise<string[]> {
    if (count <= 0) return [];
    const rows = await this.db
      .selectFrom('passwordHistory')
      .select('passwordHash')
      .where('userId', '=', userId)
      .orderBy('createdAt', 'desc')
      .limit(count)
      .execute();
    return rows.map((r) => r.passwordHash);
  }
}
