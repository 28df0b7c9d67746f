// Identity: users, projects, roles and EC2 credentials, and the checks built on them. Domains,
// groups, roles and assignments are the directory's (directory.ts); application credentials
// and `/v3/credentials` have their own services, reached through this one.
import { randomBytes } from 'node:crypto';
import type { Role } from '../context.js';
import {
  DomainRepo,
  Ec2CredentialRepo,
  GenerationRepo,
  now,
  ProjectRepo,
  RoleAssignmentRepo,
  UserRepo,
  type Db,
  type Ec2CredentialRow,
  type ProjectRow,
  type RoleAssignmentRow,
  type UserRow,
} from '../db/index.js';
import { invalid, notFound, StratusError } from '../errors.js';
import { checkText, PROJECT_DESCRIPTION } from '../text-rules.js';
import type { Logger } from '../log.js';
import { ApplicationCredentialService } from './application-credentials.js';
import { SecurityCompliance } from './compliance.js';
import { CredentialService } from './credential-service.js';
import { IdentityDirectory } from './directory.js';
import { checkName, newId } from './names.js';
import { hashPassword } from './password.js';
import { ProjectResources, type ResourceCounts } from './project-resources.js';
import { NO_COMPLIANCE, type SecurityComplianceOptions } from './security-compliance-options.js';

/** The built-in roles; admin implies member, member implies reader. */
export { checkName, newId };

export const ROLES: readonly Role[] = ['admin', 'member', 'reader'];

/** A built-in role's name, checked (the manage commands' `--role`). */
export function checkRole(role: string): Role {
  if (!(ROLES as readonly string[]).includes(role)) {
    throw invalid(`The role '${role}' does not exist; roles are ${ROLES.join(', ')}.`, {
      resource: 'role',
      id: role,
    });
  }
  return role;
}

/** Access keys look like AWS's: 20 upper-case letters and digits. */
function newAccessKey(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let out = 'SK';
  for (const b of randomBytes(18)) out += alphabet[b % 32];
  return out;
}

function newSecretKey(): string {
  return randomBytes(30).toString('base64').replace(/\+/g, 'A').replace(/\//g, 'B');
}

function checkPasswordLength(password: string, id?: string): void {
  if (password.length < 8) {
    throw invalid('A password must have at least 8 characters.', { resource: 'user', id });
  }
}

/** Who an EC2 access key speaks for. */
export interface Ec2Principal {
  credential: Ec2CredentialRow;
  user: UserRow;
  project: ProjectRow;
  roles: Role[];
}

/** A user as a login names it: by id, or by name within a domain (id or name). */
export interface UserReference {
  id?: string;
  name?: string;
  domain?: { id?: string; name?: string };
}

/** What a user or a project still owns in the cloud, and how deleting it treats that. */
export interface DeleteOptions {
  /**
   * Terminate the instances, delete the images and release the addresses first (the
   * operator's `--cascade`); without it, a project or user that owns any is refused.
   */
  cascade?: boolean;
  /** With `cascade`, how long to wait for instances to end (milliseconds). */
  waitMs?: number;
}

/** The one failure of every login: no hint which part was wrong. */
export function loginFailed(
  message = 'The request you have made requires authentication.',
): StratusError {
  return new StratusError('unauthenticated', message, { resource: 'token' });
}

export class IdentityService {
  readonly #users: UserRepo;
  readonly #projects: ProjectRepo;
  readonly #domains: DomainRepo;
  readonly #roles: RoleAssignmentRepo;
  readonly #credentials: Ec2CredentialRepo;
  readonly #generations: GenerationRepo;
  readonly #resources: ProjectResources;
  /** Domains, groups, roles and role assignments. */
  readonly directory: IdentityDirectory;
  /** Application credentials. */
  readonly applicationCredentials: ApplicationCredentialService;
  /** `/v3/credentials`: EC2 keys and credentials of other types. */
  readonly credentials: CredentialService;
  /** The security compliance rules of SQL users (issue 14): logins and new passwords. */
  readonly compliance: SecurityCompliance;
  readonly #logger: Logger | undefined;
  readonly #directoryDomains: ReadonlySet<string>;

  /** Users of a directory domain are the directory's to make and to give passwords. */
  #refuseDirectoryDomain(domainId: string, user: string): void {
    if (this.#directoryDomains.has(domainId)) {
      throw new StratusError(
        'forbidden',
        `The users of domain '${domainId}' live in its LDAP directory, which is read-only here: create, change and delete them there.`,
        { resource: 'user', id: user },
      );
    }
  }

  /**
   * `compliance`: the rules SQL users' logins and new passwords follow (issue 14), none by
   * default; `logger`: where failed logins are logged; `directoryDomains`: the ids of the
   * domains whose users live in an LDAP directory (no user is made, nor password set, there).
   */
  constructor(
    private readonly db: Db,
    options: {
      compliance?: SecurityComplianceOptions;
      logger?: Logger;
      directoryDomains?: readonly string[];
    } = {},
  ) {
    this.compliance = new SecurityCompliance(db, options.compliance ?? NO_COMPLIANCE);
    this.#logger = options.logger;
    this.#directoryDomains = new Set(options.directoryDomains ?? []);
    this.#users = new UserRepo(db);
    this.#projects = new ProjectRepo(db);
    this.#domains = new DomainRepo(db);
    this.#roles = new RoleAssignmentRepo(db);
    this.#credentials = new Ec2CredentialRepo(db);
    this.#generations = new GenerationRepo(db);
    this.#resources = new ProjectResources(db);
    this.directory = new IdentityDirectory(db);
    this.applicationCredentials = new ApplicationCredentialService(db, this);
    this.credentials = new CredentialService(db, this);
  }

  async createProject(args: {
    name: string;
    description?: string;
    domain?: string;
    enabled?: boolean;
    tags?: readonly string[];
  }): Promise<ProjectRow> {
    checkName('project', args.name);
    checkText(args.description ?? '', PROJECT_DESCRIPTION, 'description');
    const domain = await this.#domains.get(args.domain ?? 'default');
    this.#refuseDirectoryDomain(domain.id, args.name);
    const row = await this.#projects.create({
      id: newId(),
      name: args.name,
      description: args.description ?? '',
      enabled: args.enabled === false ? 0 : 1,
      createdAt: now(),
      domainId: domain.id,
    });
    if (args.tags?.length) await this.setProjectTags(row.id, args.tags);
    return row;
  }

  async updateProject(
    project: string,
    patch: { name?: string; description?: string; enabled?: boolean },
  ): Promise<ProjectRow> {
    const row = await this.#projects.get(project);
    if (patch.name !== undefined) checkName('project', patch.name);
    if (patch.description !== undefined) {
      checkText(patch.description, PROJECT_DESCRIPTION, 'description');
    }
    await this.#projects.update(row.id, {
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.enabled !== undefined ? { enabled: patch.enabled ? 1 : 0 } : {}),
    });
    return this.#projects.get(row.id);
  }

  /**
   * Deletes a project with its assignments, credentials and tokens. One that still owns
   * instances, images or addresses is refused (`conflict`, naming them) unless `cascade`.
   */
  async deleteProject(project: string, options: DeleteOptions = {}): Promise<void> {
    const row = await this.#projects.get(project);
    if (options.cascade) await this.#resources.release({ projectId: row.id }, options.waitMs);
    const left = await this.#resources.count({ projectId: row.id });
    refuseOwner('project', row.name, left);
    await this.db.transaction().execute(async (tx) => {
      await new RoleAssignmentRepo(tx).removeAll({ targetType: 'project', targetId: row.id });
      await tx
        .updateTable('users')
        .set({ defaultProjectId: null })
        .where('defaultProjectId', '=', row.id)
        .execute();
      await new ProjectRepo(tx).delete(row.id);
    });
  }

  /** What a project (or a user) still owns: live instances, images, addresses, volumes. */
  resourcesOf(owner: { projectId?: string; userId?: string }): Promise<ResourceCounts> {
    return this.#resources.count(owner);
  }

  projectTags(project: string): Promise<string[]> {
    return this.#projects.tags(project);
  }
  allProjectTags(): Promise<Map<string, string[]>> {
    return this.#projects.allTags();
  }
  async setProjectTags(projectId: string, tags: readonly string[]): Promise<void> {
    for (const t of tags) checkTag(t);
    if (tags.length > 80) throw invalid('A project has at most 80 tags.', { resource: 'project' });
    await this.#projects.setTags(projectId, tags);
  }
  async addProjectTag(projectId: string, tag: string): Promise<void> {
    checkTag(tag);
    await this.#projects.addTag(projectId, tag);
  }
  async removeProjectTag(projectId: string, tag: string): Promise<void> {
    if (!(await this.#projects.removeTag(projectId, tag))) {
      throw notFound('project', tag, `Could not find tag: ${tag}.`);
    }
  }

  /**
   * Creates a user, its password under the compliance rules unless `generated` says the cloud
   * made it itself (the bootstrap admin's, which need not match an operator's regex).
   */
  async createUser(args: {
    name: string;
    password?: string;
    generated?: boolean;
    domain?: string;
    defaultProject?: string;
    enabled?: boolean;
    description?: string;
    email?: string;
  }): Promise<UserRow> {
    checkName('user', args.name);
    if (args.password !== undefined) checkPasswordLength(args.password, args.name);
    if (args.password !== undefined && !args.generated)
      await this.compliance.checkNewPassword(undefined, args.password);
    const domain = await this.#domains.get(args.domain ?? 'default');
    this.#refuseDirectoryDomain(domain.id, args.name);
    const defaultProjectId = args.defaultProject
      ? (await this.#projects.get(args.defaultProject)).id
      : null;
    const passwordHash = args.password === undefined ? null : await hashPassword(args.password);
    const row = await this.#users.create({
      id: newId(),
      name: args.name,
      passwordHash,
      enabled: args.enabled === false ? 0 : 1,
      createdAt: now(),
      domainId: domain.id,
      defaultProjectId,
      description: args.description ?? '',
      email: args.email ?? null,
    });
    if (passwordHash) await this.compliance.recordPassword(row.id, passwordHash, row.createdAt);
    return row;
  }

  async updateUser(
    user: string,
    patch: {
      name?: string;
      password?: string;
      enabled?: boolean;
      defaultProject?: string | null;
      description?: string;
      email?: string | null;
    },
  ): Promise<UserRow> {
    const row = await this.#users.get(user);
    this.#refuseDirectoryDomain(row.domainId, row.name);
    if (patch.name !== undefined) checkName('user', patch.name);
    if (patch.description !== undefined) {
      checkText(patch.description, PROJECT_DESCRIPTION, 'description');
    }
    const defaultProjectId =
      patch.defaultProject === undefined
        ? undefined
        : patch.defaultProject === null
          ? null
          : (await this.#projects.get(patch.defaultProject)).id;
    await this.#users.update(row.id, {
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.enabled !== undefined ? { enabled: patch.enabled ? 1 : 0 } : {}),
      ...(defaultProjectId !== undefined ? { defaultProjectId } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.email !== undefined ? { email: patch.email } : {}),
    });
    if (patch.password !== undefined) await this.setPassword(row.id, patch.password);
    // Enabling a user again also ends a lockout, as in Keystone.
    if (patch.enabled === true) await this.compliance.unlock(row.id);
    return this.#users.get(row.id);
  }

  /**
   * Sets a user's password, under the security compliance rules; `bySelf` when users change
   * their own (the minimum password age applies to them, not to operators).
   */
  async setPassword(
    user: string,
    password: string,
    options: { bySelf?: boolean } = {},
  ): Promise<void> {
    checkPasswordLength(password);
    const row = await this.#users.get(user);
    this.#refuseDirectoryDomain(row.domainId, row.name);
    await this.compliance.checkNewPassword(row.id, password, options);
    const hash = await hashPassword(password);
    await this.#users.setPasswordHash(row.id, hash);
    await this.compliance.recordPassword(row.id, hash);
  }

  /**
   * A user changes their own password: the original must be right (else `unauthenticated`).
   * Their tokens stay; Keystone ends them, and so do we: every token of the user goes.
   */
  async changePassword(
    userId: string,
    original: string,
    password: string,
    source = 'unknown',
  ): Promise<void> {
    const user = await this.authenticatePassword({ id: userId }, original, source);
    checkPasswordLength(password, user.name);
    await this.setPassword(user.id, password, { bySelf: true });
    await this.db.deleteFrom('tokens').where('userId', '=', user.id).execute();
  }

  /**
   * Deletes a user with its credentials, memberships, assignments and tokens. A user whose
   * instances still live is refused (`conflict`) unless `cascade`.
   */
  async deleteUser(user: string, options: DeleteOptions = {}): Promise<void> {
    const row = await this.#users.get(user);
    this.#refuseDirectoryDomain(row.domainId, row.name);
    if (options.cascade) await this.#resources.release({ userId: row.id }, options.waitMs);
    refuseOwner('user', row.name, await this.#resources.count({ userId: row.id }));
    await this.db.transaction().execute(async (tx) => {
      await new RoleAssignmentRepo(tx).removeAll({ actorType: 'user', actorId: row.id });
      await new UserRepo(tx).delete(row.id);
    });
  }

  /**
   * Disables or enables a user (by id or name). A disabled user's EC2 keys, password and
   * tokens stop working at once, in every process (see `identityGeneration`).
   */
  async setUserEnabled(user: string, enabled: boolean): Promise<UserRow> {
    const row = await this.#users.get(user);
    await this.#users.setEnabled(row.id, enabled ? 1 : 0);
    // Enabling a user again also ends a lockout, as in Keystone.
    if (enabled) await this.compliance.unlock(row.id);
    return { ...row, enabled: enabled ? 1 : 0 };
  }

  /** Grants `role` (any role, by id or name) to a user in a project (both by id or name); idempotent. */
  async grantRole(user: string, project: string, role: string): Promise<RoleAssignmentRow> {
    const [u, p] = await Promise.all([this.#users.get(user), this.#projects.get(project)]);
    const r = await this.directory.findRole(role);
    if (!r) {
      throw invalid(`The role '${role}' does not exist; see 'stratus manage role list'.`, {
        resource: 'role',
        id: role,
      });
    }
    const at = now();
    await this.#roles.add({
      actorType: 'user',
      actorId: u.id,
      targetType: 'project',
      targetId: p.id,
      roleId: r.id,
      createdAt: at,
    });
    return { userId: u.id, projectId: p.id, role: r.name, createdAt: at };
  }

  async revokeRole(user: string, project: string, role: string): Promise<void> {
    const [u, p] = await Promise.all([this.#users.get(user), this.#projects.get(project)]);
    const r = await this.directory.getRole(role);
    const key = {
      actorType: 'user' as const,
      actorId: u.id,
      targetType: 'project' as const,
      targetId: p.id,
      roleId: r.id,
    };
    if (!(await this.#roles.remove(key))) {
      throw notFound(
        'role_assignment',
        `${r.name}:${u.name}@${p.name}`,
        `The user '${u.name}' does not hold the role '${r.name}' in project '${p.name}'.`,
      );
    }
  }

  /**
   * Makes a new EC2 access key and secret for a user in a project. The user must hold a role
   * in that project, or the key would authenticate to nothing.
   */
  async createEc2Credential(user: string, project: string): Promise<Ec2CredentialRow> {
    const [u, p] = await Promise.all([this.#users.get(user), this.#projects.get(project)]);
    const roles = await this.#roles.rolesOf(u.id, p.id);
    if (roles.length === 0) {
      throw new StratusError(
        'conflict',
        `The user '${u.name}' has no role in project '${p.name}'; grant one before creating credentials.`,
        { resource: 'credential', id: `${u.name}@${p.name}` },
      );
    }
    return this.#credentials.create({
      accessKey: newAccessKey(),
      secretKey: newSecretKey(),
      userId: u.id,
      projectId: p.id,
      createdAt: now(),
    });
  }

  async deleteEc2Credential(accessKey: string): Promise<void> {
    if (!(await this.#credentials.delete(accessKey))) throw notFound('credential', accessKey);
  }

  findEc2Credential(accessKey: string): Promise<Ec2CredentialRow | undefined> {
    return this.#credentials.find(accessKey);
  }

  /**
   * A counter that grows with every change that can alter what `findEc2Principal` answers
   * (credentials, roles, group memberships, role implications, users, projects and domains
   * enabled, disabled or deleted), whoever made it: database triggers bump it (migrations
   * 0012 and 0020). A cache of principals stays valid while it does not change.
   */
  identityGeneration(): Promise<number> {
    return this.#generations.get('identity');
  }

  /** The principal an access key speaks for; undefined for unknown keys or disabled owners. */
  async findEc2Principal(accessKey: string): Promise<Ec2Principal | undefined> {
    const credential = await this.#credentials.find(accessKey);
    if (!credential) return undefined;
    const [user, project, roles] = await Promise.all([
      this.#users.find(credential.userId),
      this.#projects.find(credential.projectId),
      this.#roles.rolesOf(credential.userId, credential.projectId),
    ]);
    if (!user || !project || roles.length === 0) return undefined;
    if (!(await this.isUserActive(user)) || !(await this.isProjectActive(project))) {
      return undefined;
    }
    return { credential, user, project, roles };
  }

  /** Enabled, in an enabled domain. */
  async isUserActive(user: UserRow): Promise<boolean> {
    if (!user.enabled) return false;
    return (await this.#domains.find(user.domainId))?.enabled === 1;
  }

  /** Enabled, in an enabled domain. */
  async isProjectActive(project: ProjectRow): Promise<boolean> {
    if (!project.enabled) return false;
    return (await this.#domains.find(project.domainId))?.enabled === 1;
  }

  /**
   * The one password check of SQL users: the user named by `ref` (an id, or a name in a domain
   * by id or name) if the password is right and the compliance rules let it in. Every failure
   * is `unauthenticated` with the same message (Keystone's own for a locked account and an
   * expired password aside) and is logged with the reason and `source`, the caller's address.
   */
  async authenticatePassword(
    ref: UserReference,
    password: string,
    source = 'unknown',
    at = Date.now(),
  ): Promise<UserRow> {
    const who = ref.id ?? `${ref.name ?? ''}@${ref.domain?.id ?? ref.domain?.name ?? 'default'}`;
    const refuse = (reason: string, message?: string): never => {
      this.#logger?.warn({ user: who, source, reason }, 'Failed login');
      throw loginFailed(message);
    };
    const row = await this.findUserByReference(ref);
    if (!row) return refuse('unknown user');
    if (!row.passwordHash) return refuse('unknown user');
    if (!(await this.isUserActive(row))) return refuse('user disabled');
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

  /** The user if the password is right; undefined otherwise (no hint which part was wrong). */
  async checkPassword(user: string, password: string): Promise<UserRow | undefined> {
    const row = await this.#users.find(user);
    if (!row) return undefined;
    try {
      return await this.authenticatePassword({ id: row.id }, password);
    } catch (err) {
      if (err instanceof StratusError && err.kind === 'unauthenticated') return undefined;
      throw err;
    }
  }

  /**
   * A user by id or name. Names are unique per domain (migration 0023): `domain` (id or name)
   * says which; without it a name several domains use is `invalid`.
   */
  async getUser(idOrName: string, domain?: string): Promise<UserRow> {
    return this.#users.get(idOrName, await this.#domainId(domain));
  }
  async findUser(idOrName: string, domain?: string): Promise<UserRow | undefined> {
    return this.#users.find(idOrName, await this.#domainId(domain));
  }
  /** A project by id or name, its name looked up in `domain` (id or name) as `getUser` does. */
  async getProject(idOrName: string, domain?: string): Promise<ProjectRow> {
    return this.#projects.get(idOrName, await this.#domainId(domain));
  }
  async findProject(idOrName: string, domain?: string): Promise<ProjectRow | undefined> {
    return this.#projects.find(idOrName, await this.#domainId(domain));
  }

  /**
   * The user a login names: by id, or by name in its domain (by id or name; Keystone's
   * `user.domain`). Undefined when nothing matches exactly, the domain does not exist, or a
   * name without a domain is used in several domains.
   */
  findUserByReference(ref: UserReference): Promise<UserRow | undefined> {
    return this.#byReference(ref, (key, domainId) => this.#users.find(key, domainId));
  }
  /** The project a token scope names, as `findUserByReference` finds users. */
  findProjectByReference(ref: UserReference): Promise<ProjectRow | undefined> {
    return this.#byReference(ref, (key, domainId) => this.#projects.find(key, domainId));
  }

  async #byReference<T extends { id: string; name: string }>(
    ref: UserReference,
    find: (key: string, domainId?: string) => Promise<T | undefined>,
  ): Promise<T | undefined> {
    if (ref.id) {
      const row = await find(ref.id);
      return row?.id === ref.id ? row : undefined;
    }
    if (!ref.name) return undefined;
    let domainId: string | undefined;
    if (ref.domain) {
      const d = await this.#domains.find(ref.domain.id ?? ref.domain.name ?? '');
      const named = d && (ref.domain.id ? d.id === ref.domain.id : d.name === ref.domain.name);
      if (!named) return undefined;
      domainId = d.id;
    }
    try {
      const row = await find(ref.name, domainId);
      return row?.name === ref.name ? row : undefined;
    } catch (err) {
      // A name several domains use, given without its domain, names no one.
      if (err instanceof StratusError && err.kind === 'invalid') return undefined;
      throw err;
    }
  }

  async #domainId(domain: string | undefined): Promise<string | undefined> {
    return domain === undefined ? undefined : (await this.#domains.get(domain)).id;
  }
  listUsers(): Promise<UserRow[]> {
    return this.#users.list();
  }
  listProjects(): Promise<ProjectRow[]> {
    return this.#projects.list();
  }
  /** The enabled projects (in enabled domains) where the user holds a role, or a group of theirs. */
  async projectsOfUser(userId: string): Promise<ProjectRow[]> {
    const ids = new Set(await this.#roles.projectIdsOf(userId));
    const enabled = new Set((await this.#domains.list()).filter((d) => d.enabled).map((d) => d.id));
    return (await this.#projects.list()).filter(
      (p) => ids.has(p.id) && p.enabled === 1 && enabled.has(p.domainId),
    );
  }
  /** The roles a user holds in effect in a project: directly, through groups, by implication. */
  rolesOf(userId: string, projectId: string): Promise<Role[]> {
    return this.#roles.rolesOf(userId, projectId);
  }
  async listRoleAssignments(
    filter: { user?: string; project?: string } = {},
  ): Promise<RoleAssignmentRow[]> {
    const userId = filter.user ? (await this.#users.get(filter.user)).id : undefined;
    const projectId = filter.project ? (await this.#projects.get(filter.project)).id : undefined;
    return this.#roles.list({ userId, projectId });
  }
  async listEc2Credentials(
    filter: { user?: string; project?: string } = {},
  ): Promise<Ec2CredentialRow[]> {
    const userId = filter.user ? (await this.#users.get(filter.user)).id : undefined;
    const projectId = filter.project ? (await this.#projects.get(filter.project)).id : undefined;
    return this.#credentials.list({ userId, projectId });
  }
}

function checkTag(tag: string): void {
  if (tag.length === 0 || tag.length > 255 || /[,/]/.test(tag)) {
    throw invalid(`The tag '${tag}' is not valid: 1-255 characters, without ',' or '/'.`, {
      resource: 'project',
      id: tag,
    });
  }
  checkText(tag, { what: 'project tag', min: 1, max: 255 });
}

/** Refuses to delete an owner of cloud resources, naming what remains. */
function refuseOwner(resource: 'project' | 'user', name: string, left: ResourceCounts): void {
  const parts = (Object.entries(left) as [string, number][])
    .filter(([, n]) => n > 0)
    .map(([what, n]) => `${n} ${n === 1 ? what.replace(/s$/, '').replace(/sse$/, 'ss') : what}`);
  if (parts.length === 0) return;
  throw new StratusError(
    'conflict',
    `The ${resource} '${name}' still has ${parts.join(', ')}; delete them first, or ask an operator to run 'stratus manage ${resource} delete --cascade'.`,
    { resource, id: name, reason: 'in_use' },
  );
}
