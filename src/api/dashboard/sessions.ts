// The dashboard's sessions: the Identity token of a signed-in user, kept in this process and
// found by the random id the browser holds in a signed cookie. The token never reaches the page.
import { randomBytes, timingSafeEqual } from 'node:crypto';

export interface DashboardSession {
  id: string;
  /** The Identity token every proxied request carries. */
  token: string;
  /** When the token (and so the session) stops working. */
  expiresAt: Date;
  /** What mutating requests must send in the X-CSRF-Token header. */
  csrf: string;
  user: { id: string; name: string };
  project: { id: string; name: string };
  roles: string[];
}

/** Sessions in memory; a restart signs everyone out, as a new token would be needed anyway. */
export class SessionStore {
  readonly #sessions = new Map<string, DashboardSession>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Starts a session for this token; the id and CSRF token are fresh random values. */
  create(values: Omit<DashboardSession, 'id' | 'csrf'>): DashboardSession {
    this.#sweep();
    const session: DashboardSession = {
      ...values,
      id: randomBytes(24).toString('base64url'),
      csrf: randomBytes(24).toString('base64url'),
    };
    this.#sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id; undefined when unknown or its token has expired. */
  get(id: string | undefined): DashboardSession | undefined {
    if (!id) return undefined;
    const session = this.#sessions.get(id);
    if (!session) return undefined;
    if (session.expiresAt.getTime() <= this.#now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return session;
  }

  /** Ends a session; nothing happens when it is already gone. */
  delete(id: string): void {
    this.#sessions.delete(id);
  }

  #sweep(): void {
    const now = this.#now();
    for (const [id, s] of this.#sessions)
      if (s.expiresAt.getTime() <= now) this.#sessions.delete(id);
  }
}

/** Whether the header carries this session's CSRF token (compared in constant time). */
export function csrfMatches(session: DashboardSession, header: string | undefined): boolean {
  if (!header) return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(header);
  return a.length === b.length && timingSafeEqual(a, b);
}
