// An LDAP identity domain as the rest of the cloud sees it: users found and checked in the
// directory, each kept in SQL as a "shadow" user row (no password) under a stable local id,
// so role assignments, tokens and EC2 credentials refer to it like to any user; and the roles
// its groups grant, written to SQL at each login (Keystone's split backends: identity in
// LDAP, assignments in SQL).
import { createHash } from 'node:crypto';
import type { Role } from '../../context.js';
import {
  DomainRepo,
  GroupRepo,
  IdMappingRepo,
  ProjectRepo,
  RoleAssignmentRepo,
  UserRepo,
  type Db,
  type GroupRow,
  type IdMappingRow,
  type UserRow,
} from '../../db/index.js';
import { StratusError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { LdapConfig } from './ldap-config.js';
import {
  LdapDirectory,
  type DirectoryGroup,
  type DirectoryUser,
  type UserKey,
} from './ldap-directory.js';

/** The local id of a directory user: stable, 32 hex digits like every Identity id. */
export function publicUserId(domain: string, localId: string): string {
  return createHash('sha256')
    .update(['user', domain, localId].join('\0'))
    .digest('hex')
    .slice(0, 32);
}

/** The local id of a directory group, as `publicUserId` is of a user. */
export function publicGroupId(domain: string, localId: string): string {
  return createHash('sha256')
    .update(['group', domain, localId].join('\0'))
    .digest('hex')
    .slice(0, 32);
}

/** The name of a directory user's row in SQL: its name qualified by its domain. */
export function shadowName(domain: string, name: string): string {
  return `${name}@${domain}`;
}

export class LdapIdentity {
  readonly directory: LdapDirectory;
  readonly #users: UserRepo;
  readonly #mappings: IdMappingRepo;
  readonly #projects: ProjectRepo;
  readonly #roles: RoleAssignmentRepo;
  readonly #domains: DomainRepo;
  readonly #groups: GroupRepo;

  constructor(
    private readonly db: Db,
    private readonly config: LdapConfig,
    private readonly logger?: Logger,
  ) {
    this.directory = new LdapDirectory(config);
    this.#users = new UserRepo(db);
    this.#mappings = new IdMappingRepo(db);
    this.#projects = new ProjectRepo(db);
    this.#roles = new RoleAssignmentRepo(db);
    this.#domains = new DomainRepo(db);
    this.#groups = new GroupRepo(db);
  }

  /**
   * Makes the domain a row of the domains table (id and name from the config) if it is not
   * one yet, so it is listed, named in logins and owns its users like any domain; and moves
   * the users this directory logged in before into it.
   */
  async ensureDomain(): Promise<void> {
    const id = this.config.domain;
    if (!(await this.#domains.find(id))) {
      try {
        await this.#domains.create({
          id,
          name: id,
          description: `Users of the LDAP directory ${this.config.url}`,
          enabled: 1,
          createdAt: Date.now(),
        });
      } catch (err) {
        // Another API process made it at the same time.
        if (!(err instanceof StratusError && err.kind === 'already_exists')) throw err;
      }
    }
    const mine = (await this.#domains.find(id))?.id;
    if (mine !== id) {
      throw new StratusError(
        'conflict',
        `The LDAP domain '${id}' cannot be made: a domain named '${id}' has another id (${mine}).`,
        { resource: 'domain', id },
      );
    }
    await this.db
      .updateTable('users')
      .set({ domainId: id })
      .where('domainId', '<>', id)
      .where('id', 'in', (eb) =>
        eb.selectFrom('idMappings').select('publicId').where('domain', '=', id),
      )
      .execute();
  }

  /** The domain's id, which is also its name. */
  get domain(): string {
    return this.config.domain;
  }

  /** The mapping of a local user id, when the user lives in this directory. */
  async mappingOf(userId: string): Promise<IdMappingRow | undefined> {
    const m = await this.#mappings.byPublicId(userId);
    return m?.domain === this.config.domain ? m : undefined;
  }

  /**
   * Checks a password against the directory. `user` names the user in this domain, or gives
   * the local id of one who logged in before. Returns the user's SQL row, created or brought
   * up to date, with the roles its groups grant written; undefined for an unknown user, a
   * wrong password or a disabled user alike (a disabled one is disabled in SQL too, so its
   * EC2 keys stop working). An unreachable directory is `unavailable`.
   */
  async authenticate(
    user: { id?: string; name?: string },
    password: string,
  ): Promise<UserRow | undefined> {
    let key: UserKey;
    if (user.id) {
      const m = await this.mappingOf(user.id);
      if (!m) return undefined;
      key = { id: m.localId };
    } else if (user.name) {
      key = { name: user.name };
    } else {
      return undefined;
    }
    const found = await this.directory.authenticate(key, password);
    if (!found) return undefined;
    if (!found.enabled) {
      // Disabled in the directory: its EC2 keys and tokens stop working here too.
      const known = await this.#users.find(publicUserId(this.config.domain, found.id));
      if (known?.enabled) await this.#users.setEnabled(known.id, 0);
      return undefined;
    }
    const row = await this.ensureUser(found);
    await this.syncGroups(row.id, found);
    await this.syncGroupRoles(row.id, found);
    return row;
  }

  /**
   * The directory's users as the Identity API shows them (issue 14: listed and shown from the
   * directory, not from the rows of those who logged in): each under its local id, with its
   * name in the directory. An unreachable directory is `unavailable`.
   */
  async listUsers(): Promise<UserRow[]> {
    return (await this.directory.listUsers()).map((du) => this.#asRow(du));
  }

  /** One directory user by its local id, from the directory; undefined if it is not there. */
  async findUser(publicId: string): Promise<UserRow | undefined> {
    const m = await this.mappingOf(publicId);
    if (m) {
      const du = await this.directory.findUser({ id: m.localId });
      return du ? this.#asRow(du) : undefined;
    }
    // Never logged in: no mapping yet, so find it among the directory's users.
    return (await this.listUsers()).find((u) => u.id === publicId);
  }

  /**
   * Whether a user who logged in before is still in the directory and enabled there; one who
   * is not is disabled in SQL too, so its EC2 keys stop working (token validation asks this).
   */
  async isStillActive(publicId: string): Promise<boolean> {
    const m = await this.mappingOf(publicId);
    const du = m ? await this.directory.findUser({ id: m.localId }) : undefined;
    if (du?.enabled) {
      await this.syncGroups(publicId, du);
      return true;
    }
    const known = await this.#users.find(publicId);
    if (known?.id === publicId && known.enabled) await this.#users.setEnabled(publicId, 0);
    return false;
  }

  /**
   * The directory's groups (issue 14), each kept in SQL as a shadow group row under a stable
   * local id, so roles can be assigned to it like to any group; an unreachable directory is
   * `unavailable`.
   */
  async listGroups(): Promise<GroupRow[]> {
    return Promise.all((await this.directory.listGroups()).map((g) => this.#ensureGroup(g)));
  }

  /**
   * Makes the user's SQL group memberships in this domain what the directory says (at login
   * and at each token validation), so roles assigned to directory groups follow membership.
   */
  async syncGroups(userId: string, du: DirectoryUser): Promise<void> {
    const wanted = await Promise.all(
      (await this.directory.groupsOf(du)).map((g) => this.#ensureGroup(g)),
    );
    const ids = new Set(wanted.map((g) => g.id));
    const held = (await this.#groups.groupsOfUser(userId)).filter(
      (g) => g.domainId === this.config.domain,
    );
    for (const g of held) if (!ids.has(g.id)) await this.#groups.removeMember(g.id, userId);
    const heldIds = new Set(held.map((g) => g.id));
    for (const g of wanted) if (!heldIds.has(g.id)) await this.#groups.addMember(g.id, userId);
  }

  async #ensureGroup(g: DirectoryGroup): Promise<GroupRow> {
    const id = publicGroupId(this.config.domain, g.id);
    const known = await this.#groups.find(id, this.config.domain);
    if (known?.id === id) {
      if (known.name !== g.name) await this.#groups.update(id, { name: g.name });
      return { ...known, name: g.name };
    }
    const row: GroupRow = {
      id,
      domainId: this.config.domain,
      name: g.name,
      description: `The LDAP group ${g.dn}`,
      createdAt: Date.now(),
    };
    try {
      return await this.#groups.create(row);
    } catch (err) {
      // Another request made it at the same time.
      if (!(err instanceof StratusError && err.kind === 'already_exists')) throw err;
      return this.#groups.get(id, this.config.domain);
    }
  }

  #asRow(du: DirectoryUser): UserRow {
    return {
      id: publicUserId(this.config.domain, du.id),
      name: du.name,
      passwordHash: null,
      enabled: du.enabled ? 1 : 0,
      createdAt: 0,
      domainId: this.config.domain,
      defaultProjectId: null,
      description: '',
      email: du.mail ?? null,
    };
  }

  /** The SQL row of a directory user, made on its first login; its enabled state follows. */
  async ensureUser(du: DirectoryUser): Promise<UserRow> {
    const id = publicUserId(this.config.domain, du.id);
    const enabled = du.enabled ? 1 : 0;
    let row = await this.#users.find(id);
    if (!row || row.id !== id) {
      try {
        row = await this.#users.create({
          id,
          name: shadowName(this.config.domain, du.name),
          passwordHash: null,
          enabled,
          createdAt: Date.now(),
          domainId: this.config.domain,
        });
      } catch (err) {
        if (!(err instanceof StratusError && err.kind === 'already_exists')) throw err;
        // A concurrent first login made it; or a SQL user has the qualified name.
        const again = await this.#users.find(id);
        if (!again || again.id !== id) {
          throw new StratusError(
            'conflict',
            `The directory user '${du.name}' cannot log in: a user named '${shadowName(this.config.domain, du.name)}' exists in SQL.`,
            { resource: 'user', id: du.name, cause: err },
          );
        }
        row = again;
      }
    } else if (row.enabled !== enabled) {
      await this.#users.setEnabled(id, enabled);
      row = { ...row, enabled };
    }
    await this.#mappings.upsert({
      publicId: id,
      domain: this.config.domain,
      localId: du.id,
      name: du.name,
    });
    return row;
  }

  /**
   * Writes the roles the user's groups grant (config `groupRoles`): each mapped project and
   * role is granted when one of its groups lists the user, and taken away otherwise. Roles
   * outside the mapping, granted in SQL, are left alone.
   */
  async syncGroupRoles(userId: string, du: DirectoryUser): Promise<void> {
    const mapping = this.config.groupRoles;
    if (mapping.length === 0) return;
    const groups = await this.directory.groupsOf(du);
    const member = new Set(groups.flatMap((g) => [g.id, g.name]));
    const wanted = new Map<string, boolean>();
    for (const m of mapping) {
      const key = `${m.project}\0${m.role}`;
      wanted.set(key, (wanted.get(key) ?? false) || member.has(m.group));
    }
    const at = Date.now();
    for (const [key, held] of wanted) {
      const [projectRef, role] = key.split('\0') as [string, Role];
      const project = await this.#projects.find(projectRef).catch((err: unknown) => {
        // A name several domains use: the mapping must name the project by id.
        if (err instanceof StratusError && err.kind === 'invalid') return undefined;
        throw err;
      });
      if (!project) {
        this.logger?.warn(
          { domain: this.config.domain, project: projectRef },
          'A project named in identity.ldap.groupRoles does not exist',
        );
        continue;
      }
      if (held) await this.#roles.grant(userId, project.id, role, at);
      else await this.#roles.revoke(userId, project.id, role);
    }
  }
}
