// Security compliance for users kept in SQL, as Keystone's `[security_compliance]` offers it:
// lockout after failed logins, password expiry, password history, a password regex, and a
// minimum password age. Each rule is off unless configured. Directory (LDAP) users are the
// directory's business and never pass through here.
import { UserSecurityRepo, type Db, type UserRow } from '../db/index.js';
import { StratusError } from '../errors.js';
import { verifyPassword } from './password.js';
import type { SecurityComplianceOptions } from './security-compliance-options.js';

const DAY_MS = 86_400_000;

/** Why a login with a password failed; 'ok' when it did not. */
export type LoginOutcome = 'ok' | 'wrong_password' | 'locked' | 'expired';

export class SecurityCompliance {
  readonly #security: UserSecurityRepo;

  constructor(
    db: Db,
    readonly options: SecurityComplianceOptions,
  ) {
    this.#security = new UserSecurityRepo(db);
  }

  /**
   * Checks a login of a SQL user with a password hash. A locked-out user fails before the
   * password is looked at; a wrong password counts towards a lockout; a right one clears the
   * count, then fails if the password has expired.
   */
  async login(user: UserRow & { passwordHash: string }, password: string, at: number) {
    const o = this.options;
    const state = await this.#security.get(user.id);
    if (o.lockoutFailureAttempts > 0 && state.failedAuthCount >= o.lockoutFailureAttempts) {
      const over =
        o.lockoutDuration > 0 && at >= (state.failedAuthAt ?? 0) + o.lockoutDuration * 1000;
      if (!over) return 'locked';
      await this.#security.resetFailures(user.id);
    }
    if (!(await verifyPassword(password, user.passwordHash))) {
      const count = await this.#security.recordFailure(user.id, at);
      return o.lockoutFailureAttempts > 0 && count >= o.lockoutFailureAttempts
        ? 'locked'
        : 'wrong_password';
    }
    if (state.failedAuthCount > 0) await this.#security.resetFailures(user.id);
    const expires = this.#expiresAt(state.passwordSetAt);
    if (expires !== null && at >= expires) return 'expired';
    return 'ok';
  }

  /** When the user's password expires; null when it never does. */
  async passwordExpiresAt(userId: string): Promise<number | null> {
    if (this.options.passwordExpiresDays <= 0) return null;
    return this.#expiresAt((await this.#security.get(userId)).passwordSetAt);
  }

  #expiresAt(setAt: number | null): number | null {
    const days = this.options.passwordExpiresDays;
    return days > 0 && setAt !== null ? setAt + days * DAY_MS : null;
  }

  /**
   * Refuses a new password that breaks a rule, with Keystone's messages (`invalid`: a 400):
   * the regex, the history of the user's last passwords, and (when the users set it
   * themselves) the minimum age of the current one. `userId` is undefined for a new user.
   */
  async checkNewPassword(
    userId: string | undefined,
    password: string,
    options: { bySelf?: boolean; at?: number } = {},
  ): Promise<void> {
    const o = this.options;
    const refuse = (message: string) =>
      new StratusError('invalid', message, { resource: 'user', ...(userId ? { id: userId } : {}) });
    if (o.passwordRegex !== undefined && !new RegExp(o.passwordRegex).test(password)) {
      const detail = o.passwordRegexDescription ?? `it must match ${o.passwordRegex}`;
      throw refuse(`The password does not meet the requirements: ${detail}.`);
    }
    if (userId === undefined) return;
    const at = options.at ?? Date.now();
    if (options.bySelf && o.minimumPasswordAge > 0) {
      const setAt = (await this.#security.get(userId)).passwordSetAt;
      const until = setAt === null ? 0 : setAt + o.minimumPasswordAge * DAY_MS;
      if (at < until) {
        const left = Math.ceil((until - at) / DAY_MS);
        throw refuse(
          `You cannot change your password at this time due to the minimum password age. Once you change your password, it must be used for ${o.minimumPasswordAge} day(s) before it can be changed. Please try again in ${left} day(s) or contact your administrator to reset your password.`,
        );
      }
    }
    if (o.uniqueLastPasswordCount > 1) {
      for (const hash of await this.#security.recentHashes(userId, o.uniqueLastPasswordCount - 1)) {
        if (await verifyPassword(password, hash)) {
          throw refuse(
            `The new password cannot be identical to a previous password. The total number which includes the new password must be unique is ${o.uniqueLastPasswordCount}.`,
          );
        }
      }
    }
  }

  /** Records that the user's password was set to `hash` at `at` (time and history). */
  recordPassword(userId: string, hash: string, at = Date.now()): Promise<void> {
    return this.#security.recordPassword(
      userId,
      hash,
      at,
      Math.max(1, this.options.uniqueLastPasswordCount),
    );
  }

  /** Ends a lockout: an operator enabled the user again. */
  unlock(userId: string): Promise<void> {
    return this.#security.resetFailures(userId);
  }
}
