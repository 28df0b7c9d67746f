// One-time serial console grants, as the Compute API's remote-consoles answer hands them out:
// each token is bound to one instance and the user who asked, expires after a short while, and
// is used up by the first connection. They live in the database, so a URL one api process
// issued is honoured, once, by any other.
import { createHash, randomBytes } from 'node:crypto';
import { ConsoleGrantRepo, type Db } from '../db/index.js';

export interface ConsoleGrant {
  instanceId: string;
  userId: string | null;
  projectId: string | null;
  /** When the token stops working (ms since the epoch). */
  expiresAt: number;
}

export interface ConsoleGrantsOptions {
  /** How long a token may wait to be used, in milliseconds. */
  ttlMs: number;
  now?: () => number;
}

function hash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class ConsoleGrants {
  readonly #repo: ConsoleGrantRepo;
  readonly #opts: ConsoleGrantsOptions;

  constructor(db: Db, options: ConsoleGrantsOptions) {
    this.#repo = new ConsoleGrantRepo(db);
    this.#opts = options;
  }

  #now(): number {
    return (this.#opts.now ?? Date.now)();
  }

  /** A new token for this instance and caller; only its hash is stored. */
  async issue(grant: Omit<ConsoleGrant, 'expiresAt'>): Promise<string> {
    const token = randomBytes(24).toString('base64url');
    await this.#repo.insert({
      tokenHash: hash(token),
      instanceId: grant.instanceId,
      userId: grant.userId,
      projectId: grant.projectId,
      expiresAt: this.#now() + this.#opts.ttlMs,
    });
    return token;
  }

  /**
   * The grant of a live token, which is used up by this (whichever api process asks);
   * undefined when unknown, used or expired.
   */
  async take(token: string): Promise<ConsoleGrant | undefined> {
    if (!token) return undefined;
    const row = await this.#repo.take(hash(token));
    if (!row || row.expiresAt <= this.#now()) return undefined;
    return {
      instanceId: row.instanceId,
      userId: row.userId,
      projectId: row.projectId,
      expiresAt: row.expiresAt,
    };
  }

  /** Deletes the grants that expired unused; how many (a periodic task calls it). */
  deleteExpired(): Promise<number> {
    return this.#repo.deleteExpired(this.#now());
  }
}
