// Application credentials: a user makes a secret for a tool that logs in to one project with
// some of the user's roles there (the `application_credential` auth method). The secret is
// shown once and kept as a scrypt hash. A credential ends with its user, its project, its
// expiry, or when the user no longer holds any of its roles.
import { randomBytes } from 'node:crypto';
import {
  ApplicationCredentialRepo,
  now,
  RoleAssignmentRepo,
  RoleRepo,
  type ApplicationCredentialRow,
  type Db,
  type ProjectRow,
  type RoleRow,
  type UserRow,
} from '../db/index.js';
import { invalid, StratusError } from '../errors.js';
import { checkText, PROJECT_DESCRIPTION } from '../text-rules.js';
import type { IdentityService, UserReference } from './identity-service.js';
import { loginFailed } from './identity-service.js';
import { checkName, newId } from './names.js';
import { hashPassword, verifyPassword } from './password.js';

/** How an `application_credential` login names the credential. */
export interface ApplicationCredentialReference {
  id?: string;
  name?: string;
  user?: UserReference;
  secret: string;
}

/** Who an application credential speaks for, when it is valid. */
export interface ApplicationCredentialLogin {
  credential: ApplicationCredentialRow;
  user: UserRow;
  project: ProjectRow;
  /** The roles it carries that the user still holds, with what they imply (names, sorted). */
  roles: string[];
}

export class ApplicationCredentialService {
  readonly #repo: ApplicationCredentialRepo;
  readonly #roles: RoleRepo;
  readonly #assignments: RoleAssignmentRepo;

  constructor(
    db: Db,
    private readonly identity: IdentityService,
  ) {
    this.#repo = new ApplicationCredentialRepo(db);
    this.#roles = new RoleRepo(db);
    this.#assignments = new RoleAssignmentRepo(db);
  }

  /**
   * Makes one for `userId` in `projectId`. `roles` (ids or names) must be roles the user holds
   * there; by default, all of them. Returns the row and the secret (given or generated).
   */
  async create(args: {
    userId: string;
    projectId: string;
    name: string;
    description?: string;
    secret?: string;
    roles?: readonly string[];
    expiresAt?: number | null;
    unrestricted?: boolean;
  }): Promise<{ credential: ApplicationCredentialRow; secret: string; roles: RoleRow[] }> {
    checkName('application_credential', args.name);
    checkText(args.description ?? '', { ...PROJECT_DESCRIPTION, what: 'description' });
    if (args.secret !== undefined && args.secret.length < 8) {
      throw invalid('An application credential secret must have at least 8 characters.', {
        resource: 'application_credential',
      });
    }
    if (args.expiresAt != null && args.expiresAt <= Date.now()) {
      throw invalid('expires_at must be in the future.', { resource: 'application_credential' });
    }
    const held = await this.#assignments.effectiveRoleIds(args.userId, 'project', args.projectId);
    const wanted =
      args.roles === undefined
        ? [...held]
        : await Promise.all(args.roles.map(async (r) => (await this.#roles.get(r)).id));
    const missing = wanted.filter((id) => !held.has(id));
    if (missing.length > 0 || wanted.length === 0) {
      throw new StratusError(
        'forbidden',
        wanted.length === 0
          ? 'You hold no role in this project to give an application credential.'
          : `You do not hold the role(s) ${missing.join(', ')} in this project, so an application credential cannot carry them.`,
        { resource: 'application_credential' },
      );
    }
    const secret = args.secret ?? randomBytes(48).toString('base64url');
    const credential = await this.#repo.create({
      id: newId(),
      name: args.name,
      description: args.description ?? '',
      userId: args.userId,
      projectId: args.projectId,
      secretHash: await hashPassword(secret),
      roleIds: [...new Set(wanted)].join(','),
      unrestricted: args.unrestricted ? 1 : 0,
      expiresAt: args.expiresAt ?? null,
      createdAt: now(),
    });
    return { credential, secret, roles: await this.rolesOf(credential) };
  }

  /** The roles it was made with. */
  async rolesOf(credential: ApplicationCredentialRow): Promise<RoleRow[]> {
    const ids = new Set(credential.roleIds.split(',').filter(Boolean));
    return (await this.#roles.list()).filter((r) => ids.has(r.id));
  }

  list(userId: string, filter: { name?: string } = {}): Promise<ApplicationCredentialRow[]> {
    return this.#repo
      .list({ userId })
      .then((rows) => rows.filter((r) => filter.name === undefined || r.name === filter.name));
  }

  /** One of the user's; `not_found` for another user's. */
  async get(userId: string, idOrName: string): Promise<ApplicationCredentialRow> {
    const row =
      (await this.#repo.find(idOrName)) ?? (await this.#repo.findByName(userId, idOrName));
    if (!row || row.userId !== userId) {
      throw new StratusError('not_found', `Could not find application credential: ${idOrName}.`, {
        resource: 'application_credential',
        id: idOrName,
      });
    }
    return row;
  }

  async delete(userId: string, idOrName: string): Promise<void> {
    const row = await this.get(userId, idOrName);
    await this.#repo.delete(row.id);
  }

  /**
   * Checks an `application_credential` login: the credential exists, is not expired, its
   * secret is right, its user and project are active and the user still holds at least one
   * of its roles. Every failure is the same `unauthenticated` error.
   */
  async authenticate(ref: ApplicationCredentialReference): Promise<ApplicationCredentialLogin> {
    let row: ApplicationCredentialRow | undefined;
    if (ref.id) row = await this.#repo.find(ref.id);
    else if (ref.name && ref.user) {
      const u = await this.identity.findUserByReference(ref.user);
      if (u) row = await this.#repo.findByName(u.id, ref.name);
    }
    if (!row) throw loginFailed();
    if (row.expiresAt !== null && row.expiresAt <= Date.now()) throw loginFailed();
    if (!(await verifyPassword(ref.secret, row.secretHash))) throw loginFailed();
    return this.check(row);
  }

  /** Whether a credential (of a token made with it) still works; `unauthenticated` if not. */
  async check(row: ApplicationCredentialRow): Promise<ApplicationCredentialLogin> {
    if (row.expiresAt !== null && row.expiresAt <= Date.now()) throw loginFailed();
    const [user, project] = await Promise.all([
      this.identity.findUser(row.userId),
      this.identity.findProject(row.projectId),
    ]);
    if (!user || !project) throw loginFailed();
    if (
      !(await this.identity.isUserActive(user)) ||
      !(await this.identity.isProjectActive(project))
    ) {
      throw loginFailed();
    }
    const held = await this.#assignments.effectiveRoleIds(user.id, 'project', project.id);
    const carried = row.roleIds.split(',').filter((id) => held.has(id));
    if (carried.length === 0) throw loginFailed();
    const roles = await this.#assignments.namesOf(await this.#assignments.expand(carried));
    return { credential: row, user, project, roles };
  }

  find(id: string): Promise<ApplicationCredentialRow | undefined> {
    return this.#repo.find(id);
  }
}
