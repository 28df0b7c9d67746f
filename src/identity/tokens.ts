// Identity API tokens: issued to a user who proved who they are (a password, or a token they
// already hold), scoped to a project they hold a role in, or unscoped. A token is an opaque
// random string; only its SHA-256 is stored. Roles are read when a token is used, so taking a
// role away (or disabling the user or project) ends the tokens that relied on it at once.
import { createHash, randomBytes } from 'node:crypto';
import type { Role } from '../context.js';
import {
  ProjectRepo,
  RoleAssignmentRepo,
  TokenRepo,
  UserRepo,
  type Db,
  type ProjectRow,
  type UserRow,
} from '../db/index.js';
import { StratusError } from '../errors.js';
import { PasswordLogin, type IdentityDomain, type PasswordUser } from './password-login.js';

/** What a caller presents to get a token; several methods must all hold, for one user. */
export type TokenCredential =
  { method: 'password'; user: PasswordUser; password: string } | { method: 'token'; token: string };

/** The project a token is asked for, by id or name. */
export interface ProjectScope {
  id?: string;
  name?: string;
}

/** What a valid token says. */
export interface TokenInfo {
  /** The user; a directory user with its name in the directory. */
  user: UserRow;
  /** The user's domain; the default one when unset. */
  domain?: IdentityDomain;
  /** When the user's password expires (security compliance); null or unset: never. */
  passwordExpiresAt?: number | null;
  /** Null for an unscoped token. */
  project: ProjectRow | null;
  /** The user's roles in the project; none for an unscoped token. */
  roles: Role[];
  methods: string[];
  auditId: string;
  issuedAt: number;
  expiresAt: number;
}

export interface TokenServiceOptions {
  /** How long a new token lives. */
  lifetimeMs: number;
  /** Checks passwords (SQL users under compliance rules, LDAP domains); SQL only by default. */
  passwords?: PasswordLogin;
}

/** Expired tokens are removed at most this often (on issue). */
const PRUNE_EVERY_MS = 60_000;

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

/** The one message for every failed authentication: no hint which part was wrong. */
function unauthenticated(message = 'The request you have made requires authentication.') {
  return new StratusError('unauthenticated', message, { resource: 'token' });
}

export class TokenService {
  readonly #tokens: TokenRepo;
  readonly #users: UserRepo;
  readonly #projects: ProjectRepo;
  readonly #roles: RoleAssignmentRepo;
  readonly #passwords: PasswordLogin;
  #prunedAt = 0;

  constructor(
    db: Db,
    private readonly options: TokenServiceOptions,
  ) {
    this.#tokens = new TokenRepo(db);
    this.#users = new UserRepo(db);
    this.#projects = new ProjectRepo(db);
    this.#roles = new RoleAssignmentRepo(db);
    this.#passwords = options.passwords ?? new PasswordLogin(db);
  }

  /**
   * Checks every credential (all must name the same, enabled user) and issues a token scoped
   * to `scope`, or unscoped when it is null. A token credential passes on its expiry: the new
   * token lives no longer than the one it came from. `source` is the caller's address, which
   * failed logins are logged with.
   */
  async issue(
    credentials: readonly TokenCredential[],
    scope: ProjectScope | null,
    at = Date.now(),
    source = 'unknown',
  ): Promise<{ token: string; info: TokenInfo }> {
    if (credentials.length === 0) throw unauthenticated();
    let user: UserRow | undefined;
    let expiresAt = at + this.options.lifetimeMs;
    for (const c of credentials) {
      const who =
        c.method === 'password'
          ? await this.#passwords.authenticate(c.user, c.password, source, at)
          : await this.validate(c.token, at);
      const row = 'user' in who ? who.user : who;
      if (user && user.id !== row.id) throw unauthenticated();
      user = row;
      if ('expiresAt' in who) expiresAt = Math.min(expiresAt, who.expiresAt);
    }
    if (!user) throw unauthenticated();
    let project: ProjectRow | null = null;
    let roles: Role[] = [];
    if (scope) {
      const found = await this.#projects.find(scope.id ?? scope.name ?? '');
      project =
        found && (scope.id ? found.id === scope.id : found.name === scope.name) ? found : null;
      roles = project?.enabled ? await this.#roles.rolesOf(user.id, project.id) : [];
      if (!project || roles.length === 0) {
        throw unauthenticated(
          `The user '${user.name}' has no role on the project '${scope.id ?? scope.name}', or it does not exist.`,
        );
      }
    }
    const methods = [...new Set(credentials.map((c) => c.method))];
    // A letter first: a token that began with '-' would read as an option on command lines.
    const token = `st${randomBytes(32).toString('base64url')}`;
    const auditId = randomBytes(16).toString('base64url').slice(0, 22);
    await this.#tokens.insert({
      idHash: hashOf(token),
      userId: user.id,
      projectId: project?.id ?? null,
      methods: methods.join(','),
      auditId,
      issuedAt: at,
      expiresAt,
    });
    await this.#prune(at);
    const shown = await this.#passwords.present(user);
    return {
      token,
      info: {
        user: { ...user, name: shown.name },
        domain: shown.domain,
        passwordExpiresAt: shown.passwordExpiresAt,
        project,
        roles,
        methods,
        auditId,
        issuedAt: at,
        expiresAt,
      },
    };
  }

  /**
   * What `token` says, if it is live: not expired or revoked, its user and project enabled,
   * and (scoped) the user still holding a role in the project. Otherwise an `unauthenticated`
   * error.
   */
  async validate(token: string, at = Date.now()): Promise<TokenInfo> {
    const row = await this.#tokens.findLive(hashOf(token), at);
    if (!row) throw unauthenticated('The token is not valid: unknown, expired or revoked.');
    const user = await this.#users.find(row.userId);
    const project = row.projectId ? await this.#projects.find(row.projectId) : null;
    const roles = project ? await this.#roles.rolesOf(row.userId, project.id) : [];
    const projectOk = row.projectId === null || (project?.enabled && roles.length > 0);
    if (!user?.enabled || !projectOk) {
      throw unauthenticated('The token is not valid: its user or project lost access.');
    }
    const shown = await this.#passwords.present(user);
    return {
      user: { ...user, name: shown.name },
      domain: shown.domain,
      passwordExpiresAt: shown.passwordExpiresAt,
      project: project ?? null,
      roles,
      methods: row.methods.split(','),
      auditId: row.auditId,
      issuedAt: row.issuedAt,
      expiresAt: row.expiresAt,
    };
  }

  /** The domains users may log in to: the default one, then any LDAP ones. */
  domains(): IdentityDomain[] {
    return this.#passwords.domains();
  }

  /** Ends a token; false when it was not a live one. */
  async revoke(token: string): Promise<boolean> {
    return this.#tokens.delete(hashOf(token));
  }

  async #prune(at: number): Promise<void> {
    if (at - this.#prunedAt < PRUNE_EVERY_MS) return;
    this.#prunedAt = at;
    await this.#tokens.deleteExpired(at);
  }
}
