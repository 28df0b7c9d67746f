// Identity: users, projects, roles and EC2 credentials, and the checks built on them.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Role } from '../context.js';
import {
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
import { invalid, notFound, StratusError, type ErrorResource } from '../errors.js';
import { checkText, PROJECT_DESCRIPTION } from '../text-rules.js';
import { SecurityCompliance } from './compliance.js';
import { hashPassword, verifyPassword } from './password.js';
import { NO_COMPLIANCE, type SecurityComplianceOptions } from './security-compliance-options.js';

export const ROLES: readonly Role[] = ['admin', 'member'];

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

function checkName(resource: ErrorResource, name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw invalid(
      `The ${resource} name '${name}' is not valid: use 1-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit.`,
      { resource, id: name },
    );
  }
}

export function checkRole(role: string): Role {
  if (!(ROLES as readonly string[]).includes(role)) {
    throw invalid(`The role '${role}' does not exist; roles are ${ROLES.join(' and ')}.`, {
      resource: 'role',
      id: role,
    });
  }
  return role as Role;
}

/** Ids as the Identity API shows them: 32 lowercase hex digits. */
function newId(): string {
  return randomUUID().replace(/-/g, '');
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

/** Who an EC2 access key speaks for. */
export interface Ec2Principal {
  credential: Ec2CredentialRow;
  user: UserRow;
  project: ProjectRow;
  roles: Role[];
}

export class IdentityService {
  readonly #users: UserRepo;
  readonly #projects: ProjectRepo;
  readonly #roles: RoleAssignmentRepo;
  readonly #credentials: Ec2CredentialRepo;
  readonly #generations: GenerationRepo;
  readonly #compliance: SecurityCompliance;

  /** `compliance`: the password rules new passwords must meet (issue 14); none by default. */
  constructor(
    private readonly db: Db,
    options: { compliance?: SecurityComplianceOptions } = {},
  ) {
    this.#compliance = new SecurityCompliance(db, options.compliance ?? NO_COMPLIANCE);
    this.#users = new UserRepo(db);
    this.#projects = new ProjectRepo(db);
    this.#roles = new RoleAssignmentRepo(db);
    this.#credentials = new Ec2CredentialRepo(db);
    this.#generations = new GenerationRepo(db);
  }

  async createProject(args: { name: string; description?: string }): Promise<ProjectRow> {
    checkName('project', args.name);
    checkText(args.description ?? '', PROJECT_DESCRIPTION, 'description');
    return this.#projects.create({
      id: newId(),
      name: args.name,
      description: args.description ?? '',
      enabled: 1,
      createdAt: now(),
    });
  }

  /**
   * Creates a user, its password under the compliance rules unless `generated` says the cloud
   * made it itself (the bootstrap admin's, which need not match an operator's regex).
   */
  async createUser(args: {
    name: string;
    password?: string;
    generated?: boolean;
  }): Promise<UserRow> {
    checkName('user', args.name);
    if (args.password !== undefined && args.password.length < 8) {
      throw invalid('A password must have at least 8 characters.', {
        resource: 'user',
        id: args.name,
      });
    }
    if (args.password !== undefined && !args.generated)
      await this.#compliance.checkNewPassword(undefined, args.password);
    const passwordHash = args.password === undefined ? null : await hashPassword(args.password);
    const row = await this.#users.create({
      id: newId(),
      name: args.name,
      passwordHash,
      enabled: 1,
      createdAt: now(),
    });
    if (passwordHash) await this.#compliance.recordPassword(row.id, passwordHash, row.createdAt);
    return row;
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
    if (password.length < 8) throw invalid('A password must have at least 8 characters.');
    const row = await this.#users.get(user);
    await this.#compliance.checkNewPassword(row.id, password, options);
    const hash = await hashPassword(password);
    await this.#users.setPasswordHash(row.id, hash);
    await this.#compliance.recordPassword(row.id, hash);
  }

  /**
   * Disables or enables a user (by id or name). A disabled user's EC2 keys, password and
   * tokens stop working at once, in every process (see `identityGeneration`).
   */
  async setUserEnabled(user: string, enabled: boolean): Promise<UserRow> {
    const row = await this.#users.get(user);
    await this.#users.setEnabled(row.id, enabled ? 1 : 0);
    // Enabling a user again also ends a lockout, as in Keystone.
    if (enabled) await this.#compliance.unlock(row.id);
    return { ...row, enabled: enabled ? 1 : 0 };
  }

  /** Grants `role` to a user in a project (both by id or name); idempotent. */
  async grantRole(user: string, project: string, role: string): Promise<RoleAssignmentRow> {
    const r = checkRole(role);
    const [u, p] = await Promise.all([this.#users.get(user), this.#projects.get(project)]);
    const at = now();
    await this.#roles.grant(u.id, p.id, r, at);
    return { userId: u.id, projectId: p.id, role: r, createdAt: at };
  }

  async revokeRole(user: string, project: string, role: string): Promise<void> {
    const r = checkRole(role);
    const [u, p] = await Promise.all([this.#users.get(user), this.#projects.get(project)]);
    if (!(await this.#roles.revoke(u.id, p.id, r))) {
      throw notFound(
        'role_assignment',
        `${r}:${u.name}@${p.name}`,
        `The user '${u.name}' does not hold the role '${r}' in project '${p.name}'.`,
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

  /**
   * A counter that grows with every change that can alter what `findEc2Principal` answers
   * (credentials, roles, users and projects enabled, disabled or deleted), whoever made it:
   * database triggers bump it (migration 0012). A cache of principals stays valid while it
   * does not change.
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
    if (!user || !project || !user.enabled || !project.enabled || roles.length === 0)
      return undefined;
    return { credential, user, project, roles };
  }

  /** The user if the password is right; undefined otherwise (no hint which part was wrong). */
  async checkPassword(user: string, password: string): Promise<UserRow | undefined> {
    const row = await this.#users.find(user);
    if (!row || !row.enabled || !row.passwordHash) return undefined;
    return (await verifyPassword(password, row.passwordHash)) ? row : undefined;
  }

  getUser(idOrName: string): Promise<UserRow> {
    return this.#users.get(idOrName);
  }
  findUser(idOrName: string): Promise<UserRow | undefined> {
    return this.#users.find(idOrName);
  }
  getProject(idOrName: string): Promise<ProjectRow> {
    return this.#projects.get(idOrName);
  }
  findProject(idOrName: string): Promise<ProjectRow | undefined> {
    return this.#projects.find(idOrName);
  }
  listUsers(): Promise<UserRow[]> {
    return this.#users.list();
  }
  listProjects(): Promise<ProjectRow[]> {
    return this.#projects.list();
  }
  /** The enabled projects the user holds a role in. */
  async projectsOfUser(userId: string): Promise<ProjectRow[]> {
    const ids = new Set((await this.#roles.list({ userId })).map((a) => a.projectId));
    return (await this.#projects.list()).filter((p) => ids.has(p.id) && p.enabled === 1);
  }
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
