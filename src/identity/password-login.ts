// Password logins for every identity domain: users of the default domain are checked in SQL
// under the security compliance rules; users of an LDAP domain by binding to the directory.
// Every failure is the same `unauthenticated` error (Keystone's own messages for a locked
// account and an expired password aside) and is logged with the address it came from.
import { UserRepo, type Db, type UserRow } from '../db/index.js';
import { StratusError } from '../errors.js';
import type { Logger } from '../log.js';
import { SecurityCompliance } from './compliance.js';
import type { LdapIdentity } from './ldap/ldap-identity.js';
import { NO_COMPLIANCE, type SecurityComplianceOptions } from './security-compliance-options.js';

/** The default domain, where SQL users live. */
export const DEFAULT_DOMAIN = { id: 'default', name: 'Default' } as const;

export interface IdentityDomain {
  id: string;
  name: string;
}

/** Who logs in: a user id, or a name in a domain (by its id; the default one when unset). */
export interface PasswordUser {
  id?: string;
  name?: string;
  domain?: string;
}

/** How a user is shown: its domain, its name there, and when its password expires. */
export interface UserPresentation {
  domain: IdentityDomain;
  name: string;
  passwordExpiresAt: number | null;
}

export interface PasswordLoginOptions {
  compliance?: SecurityComplianceOptions;
  /** The LDAP domains, each with its own id. */
  directories?: readonly LdapIdentity[];
  logger?: Logger;
}

const failed = (message = 'The request you have made requires authentication.') =>
  new StratusError('unauthenticated', message, { resource: 'token' });

export class PasswordLogin {
  readonly compliance: SecurityCompliance;
  readonly #users: UserRepo;
  readonly #directories: ReadonlyMap<string, LdapIdentity>;

  constructor(
    db: Db,
    private readonly options: PasswordLoginOptions = {},
  ) {
    this.#users = new UserRepo(db);
    this.compliance = new SecurityCompliance(db, options.compliance ?? NO_COMPLIANCE);
    this.#directories = new Map((options.directories ?? []).map((d) => [d.domain, d]));
  }

  /** Every domain users can log in to: the default one, then the LDAP ones. */
  domains(): IdentityDomain[] {
    return [DEFAULT_DOMAIN, ...[...this.#directories.keys()].map((d) => ({ id: d, name: d }))];
  }

  /**
   * The user whose password this is; otherwise `unauthenticated`, logged with `source` (the
   * caller's address). An unreachable directory is `unavailable`.
   */
  async authenticate(
    user: PasswordUser,
    password: string,
    source: string,
    at = Date.now(),
  ): Promise<UserRow> {
    const who = user.id ?? `${user.name ?? ''}@${user.domain ?? DEFAULT_DOMAIN.id}`;
    const refuse = (reason: string, message?: string): never => {
      this.options.logger?.warn({ user: who, source, reason }, 'Failed login');
      throw failed(message);
    };
    let directory: LdapIdentity | undefined;
    if (user.domain !== undefined && user.domain !== DEFAULT_DOMAIN.id) {
      directory = this.#directories.get(user.domain);
      if (!directory) return refuse('unknown domain');
    } else if (user.id) {
      for (const d of this.#directories.values()) {
        if (await d.mappingOf(user.id)) directory = d;
      }
    }
    if (directory) {
      const row = await directory.authenticate(user, password);
      if (!row || !row.enabled) return refuse('directory refused');
      return row;
    }
    const row = await this.#users.find(user.id ?? user.name ?? '');
    const named = row && (user.id ? row.id === user.id : row.name === user.name);
    if (!row || !named || !row.passwordHash) return refuse('unknown user');
    if (!row.enabled) return refuse('user disabled');
    const outcome = await this.compliance.login(
      { ...row, passwordHash: row.passwordHash },
      password,
      at,
    );
    switch (outcome) {
      case 'ok':
        return row;
      case 'locked':
        return refuse('account locked', `The account is locked for user: ${row.id}.`);
      case 'expired':
        return refuse(
          'password expired',
          `The password is expired and needs to be changed for user: ${row.id}.`,
        );
      case 'wrong_password':
        return refuse('wrong password');
    }
  }

  /** How a user is shown in tokens: directory users by their directory name and domain. */
  async present(user: UserRow): Promise<UserPresentation> {
    for (const d of this.#directories.values()) {
      const m = await d.mappingOf(user.id);
      if (m)
        return { domain: { id: d.domain, name: d.domain }, name: m.name, passwordExpiresAt: null };
    }
    return {
      domain: DEFAULT_DOMAIN,
      name: user.name,
      passwordExpiresAt: await this.compliance.passwordExpiresAt(user.id),
    };
  }
}
