// Identity API tokens: issued to a user who proved who they are (a password, or a token they
// already hold), scoped to a project they hold a role in, or unscoped. A token is an opaque
// random string; only its SHA-256 is stored. Roles are read when a token is used, so taking a
// role away (or disabling the user or project) ends the tokens that relied on it at once.
import { createHash, randomBytes } from 'node:crypto';
import type { Role } from '../context.js';
import {
  ProjectRepo,
  RoleAssignmentRepo,
  RoleRepo,
  TokenRepo,
  UserRepo,
  type Db,
  type ProjectRow,
  type UserRow,
} from '../db/index.js';
import { StratusError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ApplicationCredentialReference } from './application-credentials.js';
import { IdentityService, type UserReference } from './identity-service.js';
import type { LdapIdentity } from './ldap/ldap-identity.js';

/** What a caller presents to get a token; several methods must all hold, for one user. */
export type TokenCredential =
  | { method: 'password'; user: UserReference; password: string }
  | { method: 'token'; token: string }
  | ({ method: 'application_credential' } & ApplicationCredentialReference);

/** The project a token is asked for, by id or name. */
export interface ProjectScope {
  kind?: 'project';
  id?: string;
  name?: string;
  /** The project's domain, when the project is named. */
  domain?: { id?: string; name?: string };
}

/** A domain a token is asked for (a domain-scoped token), by id or name. */
export interface DomainScope {
  kind: 'domain';
  id?: string;
  name?: string;
}

/** The whole cloud (a system-scoped token, Keystone's `{"system": {"all": true}}`). */
export interface SystemScope {
  kind: 'system';
}

/** What a token is asked for: a project, a domain or the system (issue 14). */
export type TokenScope = ProjectScope | DomainScope | SystemScope;

/** What a valid token says. */
export interface TokenInfo {
  /** The user; a directory user with its name in the directory. */
  user: UserRow;
  /** When the user's password expires (security compliance); null: never. */
  passwordExpiresAt: number | null;
  /** Null for a token not scoped to a project. */
  project: ProjectRow | null;
  /** The domain of a domain-scoped token; null otherwise. */
  domain: { id: string; name: string } | null;
  /** Whether the token is scoped to the system (the whole cloud). */
  system: boolean;
  /** The user's roles on the project, domain or system; none for an unscoped token. */
  roles: Role[];
  /** The same roles with their ids. */
  roleRefs: { id: string; name: string }[];
  /** The domains of the user and of the project, by id and name. */
  userDomain: { id: string; name: string };
  projectDomain: { id: string; name: string } | null;
  /** Set when the token was issued for an application credential. */
  applicationCredential: { id: string; name: string; restricted: boolean } | null;
  methods: string[];
  auditId: string;
  issuedAt: number;
  expiresAt: number;
}

export interface TokenServiceOptions {
  /** How long a new token lives. */
  lifetimeMs: number;
  /**
   * Checks passwords of SQL users (under the security compliance rules) and application
   * credentials; one on the same database by default.
   */
  identity?: IdentityService;
  /** The LDAP domains, each a row of the domains table with its own id; none by default. */
  directories?: readonly LdapIdentity[];
  /** Where failed directory logins are logged (SQL ones: the identity service's logger). */
  logger?: Logger;
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
  readonly #roleRows: RoleRepo;
  readonly #identity: IdentityService;
  readonly #directories: ReadonlyMap<string, LdapIdentity>;
  #prunedAt = 0;

  constructor(
    db: Db,
    private readonly options: TokenServiceOptions,
  ) {
    this.#tokens = new TokenRepo(db);
    this.#users = new UserRepo(db);
    this.#projects = new ProjectRepo(db);
    this.#roles = new RoleAssignmentRepo(db);
    this.#roleRows = new RoleRepo(db);
    this.#identity = options.identity ?? new IdentityService(db);
    this.#directories = new Map((options.directories ?? []).map((d) => [d.domain, d]));
  }

  /** The LDAP identity of a domain whose users live in a directory; undefined for SQL ones. */
  directoryFor(domainId: string): LdapIdentity | undefined {
    return this.#directories.get(domainId);
  }

  async #domain(id: string): Promise<{ id: string; name: string }> {
    const d = await this.#identity.directory.findDomain(id);
    return { id, name: d?.name ?? id };
  }

  /**
   * A password login: for a user of an LDAP domain (named in it, or by the id of one who
   * logged in before) a bind to the directory, which also brings the user's SQL row and
   * group roles up to date; for everyone else the identity service's check, where the
   * security compliance rules apply.
   */
  async #password(
    ref: UserReference,
    password: string,
    source: string,
    at: number,
  ): Promise<UserRow> {
    const directory = await this.#directoryOf(ref);
    if (!directory) return this.#identity.authenticatePassword(ref, password, source, at);
    const who = ref.id ?? `${ref.name ?? ''}@${directory.domain}`;
    const row = await directory.authenticate(
      ref.id ? { id: ref.id } : { name: ref.name },
      password,
    );
    if (!row || !(await this.#identity.isUserActive(row))) {
      this.options.logger?.warn({ user: who, source, reason: 'directory refused' }, 'Failed login');
      throw unauthenticated();
    }
    return row;
  }

  /** The LDAP domain a password login names, by the domain or the user's id; else undefined. */
  async #directoryOf(ref: UserReference): Promise<LdapIdentity | undefined> {
    if (this.#directories.size === 0) return undefined;
    if (ref.id) {
      const row = await this.#users.find(ref.id);
      return row?.id === ref.id ? this.#directories.get(row.domainId) : undefined;
    }
    if (!ref.domain) return undefined;
    const d = await this.#identity.directory.findDomain(ref.domain.id ?? ref.domain.name ?? '');
    const named = d && (ref.domain.id ? d.id === ref.domain.id : d.name === ref.domain.name);
    return named ? this.#directories.get(d.id) : undefined;
  }

  /**
   * How a token shows its user: a directory user by its name in the directory, a SQL user
   * with when its password expires; each with its own domain.
   */
  async #presented(user: UserRow): Promise<{
    user: UserRow;
    userDomain: { id: string; name: string };
    passwordExpiresAt: number | null;
  }> {
    const userDomain = await this.#domain(user.domainId);
    const directory = this.#directories.get(user.domainId);
    if (directory) {
      const m = await directory.mappingOf(user.id);
      return { user: { ...user, name: m?.name ?? user.name }, userDomain, passwordExpiresAt: null };
    }
    return {
      user,
      userDomain,
      passwordExpiresAt: await this.#identity.compliance.passwordExpiresAt(user.id),
    };
  }

  async #domainRoles(userId: string, domainId: string): Promise<Role[]> {
    return this.#roles.namesOf(await this.#roles.effectiveRoleIds(userId, 'domain', domainId));
  }
  async #systemRoles(userId: string): Promise<Role[]> {
    return this.#roles.namesOf(await this.#identity.directory.effectiveSystemRoleIds(userId));
  }

  async #refs(names: readonly string[]): Promise<{ id: string; name: string }[]> {
    if (names.length === 0) return [];
    const rows = await this.#roleRows.list();
    return names.map((name) => ({ id: rows.find((r) => r.name === name)?.id ?? name, name }));
  }

  /**
   * Checks every credential (all must name the same, enabled user) and issues a token scoped
   * to `scope`, or unscoped when it is null. A token credential passes on its expiry: the new
   * token lives no longer than the one it came from. `source` is the caller's address, which
   * failed logins are logged with.
   */
  async issue(
    credentials: readonly TokenCredential[],
    scope: TokenScope | null,
    at = Date.now(),
    source = 'unknown',
  ): Promise<{ token: string; info: TokenInfo }> {
    if (credentials.length === 0) throw unauthenticated();
    let user: UserRow | undefined;
    let expiresAt = at + this.options.lifetimeMs;
    let appCred: {
      id: string;
      name: string;
      restricted: boolean;
      project: ProjectRow;
      roles: Role[];
    } | null = null;
    for (const c of credentials) {
      let row: UserRow;
      if (c.method === 'password') {
        row = await this.#password(c.user, c.password, source, at);
      } else if (c.method === 'application_credential') {
        const login = await this.#identity.applicationCredentials.authenticate(c);
        row = login.user;
        appCred = {
          id: login.credential.id,
          name: login.credential.name,
          restricted: login.credential.unrestricted === 0,
          project: login.project,
          roles: login.roles,
        };
        if (login.credential.expiresAt !== null) {
          expiresAt = Math.min(expiresAt, login.credential.expiresAt);
        }
      } else {
        const who = await this.validate(c.token, at);
        row = who.user;
        expiresAt = Math.min(expiresAt, who.expiresAt);
        if (who.applicationCredential) {
          // A token made from one stays bound to its credential, project and roles.
          const cred = await this.#identity.applicationCredentials.find(
            who.applicationCredential.id,
          );
          if (!cred || !who.project) throw unauthenticated();
          appCred = { ...who.applicationCredential, project: who.project, roles: who.roles };
        }
      }
      if (user && user.id !== row.id) throw unauthenticated();
      user = row;
    }
    if (!user) throw unauthenticated();
    let project: ProjectRow | null = null;
    let domain: { id: string; name: string } | null = null;
    let system = false;
    let roles: Role[] = [];
    if (appCred) {
      // An application credential logs in to its own project only (Keystone: scope is implied).
      if (scope?.kind === 'domain' || scope?.kind === 'system') {
        throw unauthenticated('An application credential can only be scoped to its own project.');
      }
      const asked = scope ? (scope.id ?? scope.name) : undefined;
      if (asked !== undefined && asked !== appCred.project.id && asked !== appCred.project.name) {
        throw unauthenticated('An application credential can only be scoped to its own project.');
      }
      project = appCred.project;
      roles = appCred.roles;
    } else if (scope?.kind === 'domain') {
      const d = await this.#identity.directory.findDomain(scope.id ?? scope.name ?? '');
      const named = d && (scope.id ? d.id === scope.id : d.name === scope.name) && d.enabled === 1;
      roles = named ? await this.#domainRoles(user.id, d.id) : [];
      if (!named || roles.length === 0) {
        throw unauthenticated(
          `The user '${user.name}' has no role on the domain '${scope.id ?? scope.name}', or it does not exist.`,
        );
      }
      domain = { id: d.id, name: d.name };
    } else if (scope?.kind === 'system') {
      roles = await this.#systemRoles(user.id);
      if (roles.length === 0) {
        throw unauthenticated(`The user '${user.name}' has no role on the system.`);
      }
      system = true;
    } else if (scope) {
      project = (await this.#identity.findProjectByReference(scope)) ?? null;
      roles =
        project && (await this.#identity.isProjectActive(project))
          ? await this.#roles.rolesOf(user.id, project.id)
          : [];
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
      applicationCredentialId: appCred?.id ?? null,
      domainId: domain?.id ?? null,
      systemScope: system ? 1 : 0,
    });
    await this.#prune(at);
    const applicationCredential = appCred
      ? { id: appCred.id, name: appCred.name, restricted: appCred.restricted }
      : null;
    return {
      token,
      info: {
        ...(await this.#presented(user)),
        project,
        domain,
        system,
        roles,
        roleRefs: await this.#refs(roles),
        projectDomain: project ? await this.#domain(project.domainId) : null,
        applicationCredential,
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
    const dead = () => unauthenticated('The token is not valid: its user or project lost access.');
    const user = await this.#users.find(row.userId);
    if (!user || !(await this.#identity.isUserActive(user))) throw dead();
    // A directory user removed or disabled in the directory is refused at once (issue 14).
    const directory = this.#directories.get(user.domainId);
    if (directory && !(await directory.isStillActive(user.id))) throw dead();
    let project: ProjectRow | null = null;
    let domain: TokenInfo['domain'] = null;
    let roles: Role[] = [];
    let applicationCredential: TokenInfo['applicationCredential'] = null;
    if (row.applicationCredentialId) {
      const cred = await this.#identity.applicationCredentials.find(row.applicationCredentialId);
      if (!cred) throw dead();
      let login;
      try {
        login = await this.#identity.applicationCredentials.check(cred);
      } catch {
        throw dead();
      }
      project = login.project;
      roles = login.roles;
      applicationCredential = { id: cred.id, name: cred.name, restricted: cred.unrestricted === 0 };
    } else if (row.projectId) {
      project = (await this.#projects.find(row.projectId)) ?? null;
      if (!project || !(await this.#identity.isProjectActive(project))) throw dead();
      roles = await this.#roles.rolesOf(row.userId, project.id);
      if (roles.length === 0) throw dead();
    } else if (row.domainId) {
      // A domain-scoped token ends with the domain, or with the user's roles on it.
      const d = await this.#identity.directory.findDomain(row.domainId);
      if (!d || d.id !== row.domainId || d.enabled !== 1) throw dead();
      roles = await this.#domainRoles(row.userId, d.id);
      if (roles.length === 0) throw dead();
      domain = { id: d.id, name: d.name };
    } else if (row.systemScope === 1) {
      roles = await this.#systemRoles(row.userId);
      if (roles.length === 0) throw dead();
    }
    return {
      ...(await this.#presented(user)),
      project,
      domain,
      system: row.systemScope === 1,
      roles,
      roleRefs: await this.#refs(roles),
      projectDomain: project ? await this.#domain(project.domainId) : null,
      applicationCredential,
      methods: row.methods.split(','),
      auditId: row.auditId,
      issuedAt: row.issuedAt,
      expiresAt: row.expiresAt,
    };
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
