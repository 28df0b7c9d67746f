// `stratus manage` for the identity directory (issue 14): deleting projects and users (refused
// while they own instances, images or addresses, unless --cascade ends those first), domains,
// groups and their members, role definitions and implications, assignments of roles to users
// or groups on projects or domains, and application credentials.
import { Option, type Command } from 'commander';
import type { Config } from '../config/index.js';
import type { Database } from '../db/index.js';
import { invalid } from '../errors.js';
import type { IdentityService } from '../identity/index.js';
import { isoTime, printRecord, printRows, type Format } from './output.js';

type Leaf = (parent: Command, name: string, description: string) => Command;
type WithIdentity = (
  cmd: Command,
  action: (ctx: {
    config: Config;
    database: Database;
    identity: IdentityService;
    format: Format;
  }) => Promise<void>,
) => (...args: unknown[]) => Promise<void>;

const arg = (cmd: Command, i = 0) => cmd.processedArgs[i] as string;

export function addIdentityCommands(
  manage: Command,
  parents: { project: Command; user: Command; role: Command },
  leaf: Leaf,
  withIdentity: WithIdentity,
): void {
  // Deleting projects and users.
  const cascadeOptions = (cmd: Command) =>
    cmd
      .option(
        '--cascade',
        'First terminate its instances, delete its images and release its addresses.',
      )
      .option(
        '--wait-seconds <n>',
        'With --cascade: how long to wait for instances to end.',
        '120',
      );
  const projectDelete = cascadeOptions(
    leaf(
      parents.project,
      'delete',
      'Delete a project; refused while it owns instances, images or addresses (see --cascade).',
    )
      .argument('<project>', 'Project id or name.')
      .option('--domain <domain>', 'Its domain (id or name), for a name used in several domains.'),
  );
  projectDelete.action(
    withIdentity(projectDelete, async ({ identity, format }) => {
      const o = projectDelete.opts() as { cascade?: boolean; waitSeconds: string; domain?: string };
      const p = await identity.getProject(arg(projectDelete), o.domain);
      await identity.deleteProject(p.id, {
        cascade: o.cascade === true,
        waitMs: Number(o.waitSeconds) * 1000,
      });
      printRecord(format, { id: p.id, name: p.name, deleted: true });
    }),
  );
  for (const [name, enabled] of [
    ['disable', false],
    ['enable', true],
  ] as const) {
    const cmd = leaf(
      parents.project,
      name,
      enabled
        ? 'Enable a project again.'
        : "Disable a project: its users' tokens and EC2 keys for it stop working at once.",
    ).argument('<project>', 'Project id or name.');
    cmd.action(
      withIdentity(cmd, async ({ identity, format }) => {
        const p = await identity.updateProject(arg(cmd), { enabled });
        printRecord(format, { id: p.id, name: p.name, enabled: p.enabled === 1 });
      }),
    );
  }
  const userDelete = cascadeOptions(
    leaf(
      parents.user,
      'delete',
      'Delete a user with its credentials; refused while its instances live (see --cascade).',
    )
      .argument('<user>', 'User id or name.')
      .option('--domain <domain>', 'Its domain (id or name), for a name used in several domains.'),
  );
  userDelete.action(
    withIdentity(userDelete, async ({ identity, format }) => {
      const o = userDelete.opts() as { cascade?: boolean; waitSeconds: string; domain?: string };
      const u = await identity.getUser(arg(userDelete), o.domain);
      await identity.deleteUser(u.id, {
        cascade: o.cascade === true,
        waitMs: Number(o.waitSeconds) * 1000,
      });
      printRecord(format, { id: u.id, name: u.name, deleted: true });
    }),
  );

  // Domains.
  const domain = manage.command('domain').description('Identity domains.');
  const domainList = leaf(domain, 'list', 'List domains.');
  domainList.action(
    withIdentity(domainList, async ({ identity, format }) => {
      const rows = (await identity.directory.listDomains()).map((d) => ({
        id: d.id,
        name: d.name,
        enabled: d.enabled === 1,
        description: d.description,
      }));
      printRows(format, rows, ['id', 'name', 'enabled', 'description']);
    }),
  );
  const domainCreate = leaf(domain, 'create', 'Create a domain.')
    .argument('<name>')
    .option('--description <text>', 'What the domain is for.');
  domainCreate.action(
    withIdentity(domainCreate, async ({ identity, format }) => {
      const d = await identity.directory.createDomain({
        name: arg(domainCreate),
        description: (domainCreate.opts() as { description?: string }).description,
      });
      printRecord(format, { id: d.id, name: d.name, enabled: d.enabled === 1 });
    }),
  );
  for (const [name, enabled] of [
    ['disable', false],
    ['enable', true],
  ] as const) {
    const cmd = leaf(
      domain,
      name,
      enabled
        ? 'Enable a domain again.'
        : 'Disable a domain: its users and projects stop working at once.',
    ).argument('<domain>', 'Domain id or name.');
    cmd.action(
      withIdentity(cmd, async ({ identity, format }) => {
        const d = await identity.directory.updateDomain(arg(cmd), { enabled });
        printRecord(format, { id: d.id, name: d.name, enabled: d.enabled === 1 });
      }),
    );
  }
  const domainDelete = leaf(
    domain,
    'delete',
    'Delete a disabled domain that holds no users, groups or projects.',
  ).argument('<domain>', 'Domain id or name.');
  domainDelete.action(
    withIdentity(domainDelete, async ({ identity }) => {
      await identity.directory.deleteDomain(arg(domainDelete));
    }),
  );

  // Groups.
  const group = manage.command('group').description('Groups of users.');
  const groupList = leaf(group, 'list', 'List groups with their members.');
  groupList.action(
    withIdentity(groupList, async ({ identity, format }) => {
      const dir = identity.directory;
      const rows = await Promise.all(
        (await dir.listGroups()).map(async (g) => ({
          id: g.id,
          name: g.name,
          domain_id: g.domainId,
          members: (await dir.groupMembers(g.id)).map((u) => u.name).join(','),
        })),
      );
      printRows(format, rows, ['id', 'name', 'domain_id', 'members']);
    }),
  );
  const groupCreate = leaf(group, 'create', 'Create a group.')
    .argument('<name>')
    .option('--domain <domain>', 'Domain id or name.', 'default')
    .option('--description <text>', 'What the group is for.');
  groupCreate.action(
    withIdentity(groupCreate, async ({ identity, format }) => {
      const o = groupCreate.opts() as { domain: string; description?: string };
      const g = await identity.directory.createGroup({
        name: arg(groupCreate),
        domain: o.domain,
        description: o.description,
      });
      printRecord(format, { id: g.id, name: g.name, domain_id: g.domainId });
    }),
  );
  const groupDelete = leaf(group, 'delete', 'Delete a group and its assignments.').argument(
    '<group>',
    'Group id or name.',
  );
  groupDelete.action(
    withIdentity(groupDelete, async ({ identity }) => {
      await identity.directory.deleteGroup(arg(groupDelete));
    }),
  );
  for (const [name, add] of [
    ['add-user', true],
    ['remove-user', false],
  ] as const) {
    const cmd = leaf(group, name, add ? 'Add a user to a group.' : 'Remove a user from a group.')
      .argument('<group>', 'Group id or name.')
      .argument('<user>', 'User id or name.');
    cmd.action(
      withIdentity(cmd, async ({ identity }) => {
        if (add) await identity.directory.addGroupMember(arg(cmd), arg(cmd, 1));
        else await identity.directory.removeGroupMember(arg(cmd), arg(cmd, 1));
      }),
    );
  }

  // Role definitions (the `role add/remove/list` commands grant them to users in projects).
  const roleDefs = leaf(parents.role, 'definitions', 'List the roles and what each implies.');
  roleDefs.action(
    withIdentity(roleDefs, async ({ identity, format }) => {
      const dir = identity.directory;
      const [roles, pairs] = await Promise.all([dir.listRoles(), dir.implications()]);
      const name = (id: string) => roles.find((r) => r.id === id)?.name ?? id;
      printRows(
        format,
        roles.map((r) => ({
          id: r.id,
          name: r.name,
          implies: pairs
            .filter((p) => p.priorRoleId === r.id)
            .map((p) => name(p.impliedRoleId))
            .join(','),
        })),
        ['id', 'name', 'implies'],
      );
    }),
  );
  const roleCreate = leaf(parents.role, 'create', 'Define a role.')
    .argument('<name>')
    .option('--implies <role>', 'A role that holding this one implies.');
  roleCreate.action(
    withIdentity(roleCreate, async ({ identity, format }) => {
      const r = await identity.directory.createRole({ name: arg(roleCreate) });
      const implies = (roleCreate.opts() as { implies?: string }).implies;
      if (implies) await identity.directory.addImplication(r.id, implies);
      printRecord(format, { id: r.id, name: r.name, implies: implies ?? null });
    }),
  );
  const roleDelete = leaf(
    parents.role,
    'delete',
    'Delete a role (not a built-in one) and every assignment of it.',
  ).argument('<role>', 'Role id or name.');
  roleDelete.action(
    withIdentity(roleDelete, async ({ identity }) => {
      await identity.directory.deleteRole(arg(roleDelete));
    }),
  );

  // Assignments of any role, to users or groups, on projects or domains.
  const assignment = manage
    .command('assignment')
    .description('Role assignments of users or groups on projects or domains.');
  const who = (cmd: Command) =>
    cmd
      .addOption(new Option('--user <user>', 'User id or name.').conflicts('group'))
      .option('--group <group>', 'Group id or name.')
      .addOption(new Option('--project <project>', 'Project id or name.').conflicts('domain'))
      .option('--domain <domain>', 'Domain id or name.')
      .addOption(
        new Option('--system', 'On the system: the whole cloud (system-scoped tokens).').conflicts([
          'project',
          'domain',
        ]),
      )
      .option('--user-domain <domain>', "The user's domain, for a name used in several domains.")
      .option(
        '--project-domain <domain>',
        "The project's domain, for a name used in several domains.",
      );
  type Who = {
    user?: string;
    group?: string;
    project?: string;
    domain?: string;
    system?: boolean;
    userDomain?: string;
    projectDomain?: string;
    role: string;
  };
  const parts = async (identity: IdentityService, o: Who) => {
    if (!o.user && !o.group) throw invalid('Name a --user or a --group.');
    if (!o.project && !o.domain && !o.system) {
      throw invalid('Name a --project, a --domain or --system.');
    }
    const actor = o.user
      ? { type: 'user' as const, id: (await identity.getUser(o.user, o.userDomain)).id }
      : { type: 'group' as const, id: (await identity.directory.getGroup(o.group as string)).id };
    const target = o.system
      ? { type: 'system' as const, id: 'all' }
      : o.project
        ? {
            type: 'project' as const,
            id: (await identity.getProject(o.project, o.projectDomain)).id,
          }
        : {
            type: 'domain' as const,
            id: (await identity.directory.getDomain(o.domain as string)).id,
          };
    return { actor, target };
  };
  for (const [name, add] of [
    ['add', true],
    ['remove', false],
  ] as const) {
    const cmd = who(
      leaf(
        assignment,
        name,
        add ? 'Grant a role to a user or group.' : 'Take a role from a user or group.',
      ),
    ).requiredOption('--role <role>', 'Role id or name.');
    cmd.action(
      withIdentity(cmd, async ({ identity }) => {
        const o = cmd.opts() as Who;
        const { actor, target } = await parts(identity, o);
        if (add) await identity.directory.grant(actor, target, o.role);
        else await identity.directory.revoke(actor, target, o.role);
      }),
    );
  }
  const assignmentList = who(leaf(assignment, 'list', 'List role assignments.'))
    .option('--role <role>', 'Only this role.')
    .option('--effective', 'Expand groups into their members and add implied roles.');
  assignmentList.action(
    withIdentity(assignmentList, async ({ identity, format }) => {
      const o = assignmentList.opts() as Partial<Who> & { effective?: boolean };
      const dir = identity.directory;
      const rows = await dir.listAssignments({
        userId: o.user ? (await identity.getUser(o.user, o.userDomain)).id : undefined,
        groupId: o.group ? (await dir.getGroup(o.group)).id : undefined,
        projectId: o.project
          ? (await identity.getProject(o.project, o.projectDomain)).id
          : undefined,
        domainId: o.domain ? (await dir.getDomain(o.domain)).id : undefined,
        roleId: o.role ? (await dir.getRole(o.role)).id : undefined,
        effective: o.effective === true,
      });
      const [roles, users, groups, projects, domains] = await Promise.all([
        dir.listRoles(),
        identity.listUsers(),
        dir.listGroups(),
        identity.listProjects(),
        dir.listDomains(),
      ]);
      const name = (list: { id: string; name: string }[], id: string) =>
        list.find((x) => x.id === id)?.name ?? id;
      printRows(
        format,
        rows.map((r) => ({
          role: name(roles, r.roleId),
          user: r.actorType === 'user' ? name(users, r.actorId) : '',
          group:
            r.actorType === 'group'
              ? name(groups, r.actorId)
              : r.viaGroupId
                ? name(groups, r.viaGroupId)
                : '',
          project: r.targetType === 'project' ? name(projects, r.targetId) : '',
          domain:
            r.targetType === 'domain'
              ? name(domains, r.targetId)
              : r.targetType === 'system'
                ? '(system)'
                : '',
          implied_by: r.priorRoleId ? name(roles, r.priorRoleId) : '',
        })),
        ['role', 'user', 'group', 'project', 'domain', 'implied_by'],
      );
    }),
  );

  // Application credentials.
  const appCred = manage
    .command('application-credential')
    .description("Application credentials: a tool's secret for one project and some roles.");
  const appList = leaf(appCred, 'list', "List a user's application credentials.").requiredOption(
    '--user <user>',
    'User id or name.',
  );
  appList.action(
    withIdentity(appList, async ({ identity, format }) => {
      const u = await identity.getUser((appList.opts() as { user: string }).user);
      const apps = identity.applicationCredentials;
      const rows = await Promise.all(
        (await apps.list(u.id)).map(async (c) => ({
          id: c.id,
          name: c.name,
          project_id: c.projectId,
          roles: (await apps.rolesOf(c)).map((r) => r.name).join(','),
          expires: c.expiresAt === null ? null : isoTime(c.expiresAt),
        })),
      );
      printRows(format, rows, ['id', 'name', 'project_id', 'roles', 'expires']);
    }),
  );
  const appCreate = leaf(
    appCred,
    'create',
    'Create an application credential for a user in a project (the secret is shown once).',
  )
    .argument('<name>')
    .requiredOption('--user <user>', 'User id or name.')
    .requiredOption('--project <project>', 'Project id or name.')
    .option('--role <role...>', "Roles it carries (default: all of the user's in the project).")
    .option('--secret <secret>', 'The secret (default: generated).')
    .option('--expires <time>', 'When it stops working (ISO 8601).');
  appCreate.action(
    withIdentity(appCreate, async ({ identity, format }) => {
      const o = appCreate.opts() as {
        user: string;
        project: string;
        role?: string[];
        secret?: string;
        expires?: string;
      };
      const [u, p] = await Promise.all([identity.getUser(o.user), identity.getProject(o.project)]);
      const expiresAt = o.expires ? Date.parse(o.expires) : null;
      if (expiresAt !== null && Number.isNaN(expiresAt)) {
        throw invalid(`--expires '${o.expires}' is not a time (ISO 8601).`);
      }
      const made = await identity.applicationCredentials.create({
        userId: u.id,
        projectId: p.id,
        name: arg(appCreate),
        roles: o.role,
        secret: o.secret,
        expiresAt,
      });
      printRecord(format, {
        id: made.credential.id,
        name: made.credential.name,
        user_id: u.id,
        project_id: p.id,
        roles: made.roles.map((r) => r.name).join(','),
        secret: made.secret,
      });
    }),
  );
  const appDelete = leaf(appCred, 'delete', 'Delete an application credential.')
    .argument('<credential>', 'Its id or name.')
    .requiredOption('--user <user>', 'User id or name.');
  appDelete.action(
    withIdentity(appDelete, async ({ identity }) => {
      const u = await identity.getUser((appDelete.opts() as { user: string }).user);
      await identity.applicationCredentials.delete(u.id, arg(appDelete));
    }),
  );
}
