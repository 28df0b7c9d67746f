// The dashboard's sign-in sessions, kept in the database so that every api process behind one
// address accepts them. The browser holds a random session id (in a signed cookie); the table
// keeps only its SHA-256, and the Identity token sealed under a key derived from the id, so a
// copy of the table alone signs nobody in.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { WebSessionRepo, type Db } from '../db/index.js';

export interface WebSession {
  /** The random id the cookie carries. */
  id: string;
  /** The Identity token every request of the session carries. */
  token: string;
  /** When the token (and so the session) stops working. */
  expiresAt: Date;
  /** What changing requests must send in the X-CSRF-Token header. */
  csrf: string;
  user: { id: string; name: string };
  project: { id: string; name: string };
  roles: string[];
}

const COOKIE_KEY_ID = 'dashboard-cookie';

function hash(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

function sealingKey(id: string): Buffer {
  return Buffer.from(hkdfSync('sha256', id, '', 'stratus web session token', 32));
}

function seal(id: string, token: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealingKey(id), iv);
  const body = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

function unseal(id: string, sealed: string): string | undefined {
  const raw = Buffer.from(sealed, 'base64url');
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(id), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

export class WebSessions {
  readonly #repo: WebSessionRepo;
  readonly #now: () => number;
  #cookieKey: Promise<string> | undefined;

  constructor(db: Db, now: () => number = Date.now) {
    this.#repo = new WebSessionRepo(db);
    this.#now = now;
  }

  /**
   * The key (hex) session cookies are signed with: one for the cloud, made by whichever api
   * process asks first, then kept in memory.
   */
  cookieKey(): Promise<string> {
    this.#cookieKey ??= this.#repo
      .keyOrCreate(COOKIE_KEY_ID, randomBytes(32).toString('hex'), this.#now())
      .catch((err: unknown) => {
        this.#cookieKey = undefined;
        throw err;
      });
    return this.#cookieKey;
  }

  /** Starts a session for this token; the id and CSRF token are fresh random values. */
  async create(values: Omit<WebSession, 'id' | 'csrf'>): Promise<WebSession> {
    const session: WebSession = {
      ...values,
      id: randomBytes(24).toString('base64url'),
      csrf: randomBytes(24).toString('base64url'),
    };
    await this.#repo.insert({
      idHash: hash(session.id),
      sealedToken: seal(session.id, session.token),
      csrf: session.csrf,
      userId: session.user.id,
      userName: session.user.name,
      projectId: session.project.id,
      projectName: session.project.name,
      roles: JSON.stringify(session.roles),
      createdAt: this.#now(),
      expiresAt: session.expiresAt.getTime(),
    });
    return session;
  }

  /** The live session with this id; undefined when unknown or its token has expired. */
  async get(id: string | undefined): Promise<WebSession | undefined> {
    if (!id) return undefined;
    const row = await this.#repo.findLive(hash(id), this.#now());
    if (!row) return undefined;
    const token = unseal(id, row.sealedToken);
    if (token === undefined) return undefined;
    return {
      id,
      token,
      expiresAt: new Date(row.expiresAt),
      csrf: row.csrf,
      user: { id: row.userId, name: row.userName },
      project: { id: row.projectId, name: row.projectName },
      roles: JSON.parse(row.roles) as string[],
    };
  }

  /** Ends a session; nothing happens when it is already gone. */
  async delete(id: string): Promise<void> {
    await this.#repo.delete(hash(id));
  }

  /** Deletes the sessions whose tokens have expired; how many (a periodic task calls it). */
  deleteExpired(): Promise<number> {
    return this.#repo.deleteExpired(this.#now());
  }
}

/** Whether the header carries this session's CSRF token (compared in constant time). */
export function csrfMatches(session: WebSession, header: string | undefined): boolean {
  if (!header) return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(header);
  return a.length === b.length && timingSafeEqual(a, b);
}
