// One-time serial console URLs, as the Compute API's remote-consoles answer gives them: each
// token is bound to one instance and the user who asked, expires after a short while, and is
// used up by the first connection (the dashboard's WebSocket proxy takes it).
import { randomBytes } from 'node:crypto';

export interface ConsoleGrant {
  instanceId: string;
  userId: string | null;
  projectId: string | null;
  /** The guest's serial port on its host (a Unix socket). */
  path: string;
  /** When the token stops working (ms since the epoch). */
  expiresAt: number;
}

export interface ConsoleTokensOptions {
  /** How long a URL may wait to be used, in milliseconds. */
  ttlMs: number;
  /** The dashboard's URL (`http://host:port/`), where the WebSocket proxy listens. */
  baseUrl: () => string;
  now?: () => number;
}

export class ConsoleTokens {
  readonly #grants = new Map<string, ConsoleGrant>();
  readonly #opts: ConsoleTokensOptions;

  constructor(options: ConsoleTokensOptions) {
    this.#opts = options;
  }

  #now(): number {
    return (this.#opts.now ?? Date.now)();
  }

  /** A new token for this grant, and the WebSocket URL that carries it. */
  issue(grant: Omit<ConsoleGrant, 'expiresAt'>): { token: string; url: string } {
    const now = this.#now();
    for (const [t, g] of this.#grants) if (g.expiresAt <= now) this.#grants.delete(t);
    const token = randomBytes(24).toString('base64url');
    this.#grants.set(token, { ...grant, expiresAt: now + this.#opts.ttlMs });
    const url = new URL('serial', this.#opts.baseUrl());
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', token);
    return { token, url: url.toString() };
  }

  /** The grant of a live token, which is used up by this; undefined when unknown or expired. */
  take(token: string): ConsoleGrant | undefined {
    const grant = this.#grants.get(token);
    if (!grant) return undefined;
    this.#grants.delete(token);
    return grant.expiresAt > this.#now() ? grant : undefined;
  }
}
