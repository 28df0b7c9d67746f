// `stratus manage`: the operator's command line. It works on the database directly, the way
// an operator's tool on the cloud's own host does, and needs no running service.
import { Command, Option } from 'commander';
import type { Config } from '../config/index.js';
import { EndpointRepo, now, openDatabase, ServiceRepo, type Database } from '../db/index.js';
import { IdentityService, renderRcFile, ROLES } from '../identity/index.js';
import { serviceState } from '../service/index.js';
import { addConfigOptions, configFrom } from './config-options.js';
import { StratusError } from '../errors.js';
import { addBackupCommands } from './manage-backup.js';
import { addHostCommands } from './manage-host.js';
import { addIdentityCommands } from './manage-identity.js';
import { addIdentityCheckCommand } from './manage-ldap.js';
import { addImageCommands } from './manage-image.js';
import { addNetworkCommands } from './manage-network.js';
import { isoTime, printRecord, printRows, type Format } from './output.js';

type Action = (ctx: {
  config: Config;
  database: Database;
  identity: IdentityService;
  format: Format;
}) => Promise<void>;

function withDatabase(cmd: Command, action: Action): (...args: unknown[]) => Promise<void> {
  return async () => {
    const config = configFrom(cmd);
    const format = (cmd.optsWithGlobals() as { format?: Format }).format ?? 'table';
    const database = await openDatabase(config.database, {
      busyTimeoutMs: config.db.busyTimeoutMs,
    });
    try {
      const identity = new IdentityService(database.db, {
        compliance: config.identity.securityCompliance,
        directoryDomains: config.identity.ldap ? [config.identity.ldap.domain] : [],
      });
      await action({ config, database, identity, format });
    } finally {
      await database.close();
    }
  };
}

/**
 * `--user-domain` / `--project-domain` (or `--domain` for the record a command is about):
 * names are unique per domain (issue 14), so a name several domains use needs its domain.
 */
function domainOption(cmd: Command, flag: string, of: string): Command {
  return cmd.option(
    `--${flag} <domain>`,
    `Domain (id or name) of ${of}; needed for a name used in several domains.`,
  );
}

function leaf(parent: Command, name: string, description: string): Command {
  const cmd = parent.command(name).description(description);
  addConfigOptions(cmd);
  return cmd;
}

export function manageCommand(): Command {
  const manage = new Command('manage').description(
    'Operator commands: users, projects, domains, groups, roles, assignments, credentials, services, hosts, images, networks, backup.',
  );
  addConfigOptions(manage);
  manage.addOption(
    new Option('--format <format>', 'Output format.').choices(['table', 'json']).default('table'),
  );

  const project = manage.command('project').description('Projects (tenants).');
  const projectCreate = leaf(project, 'create', 'Create a project.')
    .argument('<name>')
    .option('--description <text>', 'What the project is for.')
    .option('--domain <domain>', 'Domain (id or name) to create it in.', 'default');
  projectCreate.action(
    withDatabase(projectCreate, async ({ identity, format }) => {
      const [name] = projectCreate.processedArgs as [string];
      const o = projectCreate.opts() as { description?: string; domain: string };
      const p = await identity.createProject({
        name,
        description: o.description,
        domain: o.domain,
      });
      printRecord(format, {
        id: p.id,
        name: p.name,
        domain_id: p.domainId,
        description: p.description,
      });
    }),
  );
  const projectList = leaf(project, 'list', 'List projects.');
  projectList.action(
    withDatabase(projectList, async ({ identity, format }) => {
      const rows = (await identity.listProjects()).map((p) => ({
        ...p,
        enabled: p.enabled === 1,
        created: isoTime(p.createdAt),
      }));
      printRows(format, rows, ['id', 'name', 'enabled', 'description', 'created']);
    }),
  );

  const user = manage.command('user').description('Users.');
  const userCreate = leaf(
    user,
    'create',
    'Create a user; with --project, also grant a role there and make EC2 credentials.',
  )
    .argument('<name>')
    .option('--password <password>', 'Password for the Identity API (at least 8 characters).')
    .option(
      '--project <project>',
      'Project (id or name) to grant the role in; created if it does not exist.',
    )
    .addOption(
      new Option('--role <role>', 'Role to grant in --project.').choices(ROLES).default('member'),
    )
    .option('--domain <domain>', 'Domain (id or name) to create it (and --project) in.', 'default');
  userCreate.action(
    withDatabase(userCreate, async ({ identity, format }) => {
      const [name] = userCreate.processedArgs as [string];
      const o = userCreate.opts() as {
        password?: string;
        project?: string;
        role: string;
        domain: string;
      };
      const u = await identity.createUser({ name, password: o.password, domain: o.domain });
      const out: Record<string, unknown> = { id: u.id, name: u.name, domain_id: u.domainId };
      if (o.project) {
        const p =
          (await identity.findProject(o.project, o.domain)) ??
          (await identity.createProject({ name: o.project, domain: o.domain }));
        await identity.grantRole(u.id, p.id, o.role);
        const c = await identity.createEc2Credential(u.id, p.id);
        Object.assign(out, {
          project: p.name,
          role: o.role,
          access_key: c.accessKey,
          secret_key: c.secretKey,
        });
      }
      printRecord(format, out);
    }),
  );
  const userList = leaf(user, 'list', 'List users.');
  userList.action(
    withDatabase(userList, async ({ identity, format }) => {
      const rows = (await identity.listUsers()).map((u) => ({
        id: u.id,
        name: u.name,
        enabled: u.enabled === 1,
        password: u.passwordHash ? 'set' : 'none',
        created: isoTime(u.createdAt),
      }));
      printRows(format, rows, ['id', 'name', 'enabled', 'password', 'created']);
    }),
  );

  for (const [name, enabled] of [
    ['disable', false],
    ['enable', true],
  ] as const) {
    const cmd = domainOption(
      leaf(
        user,
        name,
        enabled
          ? 'Enable a user again.'
          : 'Disable a user: its EC2 keys, password and tokens stop working at once, in every API process.',
      ).argument('<user>', 'User id or name.'),
      'domain',
      'the user',
    );
    cmd.action(
      withDatabase(cmd, async ({ identity, format }) => {
        const { domain } = cmd.opts() as { domain?: string };
        const found = await identity.getUser(cmd.processedArgs[0] as string, domain);
        const u = await identity.setUserEnabled(found.id, enabled);
        printRecord(format, { id: u.id, name: u.name, enabled: u.enabled === 1 });
      }),
    );
  }

  const role = manage.command('role').description('Role assignments.');
  const roleOptions = (cmd: Command) =>
    withDomains(
      cmd
        .requiredOption('--user <user>', 'User id or name.')
        .requiredOption('--project <project>', 'Project id or name.')
        .addOption(new Option('--role <role>', 'Role.').choices(ROLES).makeOptionMandatory()),
    );
  /** `--user-domain` and `--project-domain` for a command's `--user` and `--project`. */
  const withDomains = (cmd: Command) =>
    domainOption(domainOption(cmd, 'user-domain', '--user'), 'project-domain', '--project');
  /** The ids of a command's `--user` and `--project` (when given), each in its domain. */
  const resolveIds = async (
    identity: IdentityService,
    o: { user?: string; project?: string; userDomain?: string; projectDomain?: string },
  ) => ({
    user: o.user === undefined ? undefined : (await identity.getUser(o.user, o.userDomain)).id,
    project:
      o.project === undefined
        ? undefined
        : (await identity.getProject(o.project, o.projectDomain)).id,
  });
  const roleAdd = roleOptions(leaf(role, 'add', 'Grant a role to a user in a project.'));
  roleAdd.action(
    withDatabase(roleAdd, async ({ identity, format }) => {
      const o = roleAdd.opts() as { user: string; project: string; role: string };
      const ids = await resolveIds(identity, o);
      const a = await identity.grantRole(ids.user as string, ids.project as string, o.role);
      printRecord(format, { user_id: a.userId, project_id: a.projectId, role: a.role });
    }),
  );
  const roleRemove = roleOptions(leaf(role, 'remove', 'Take a role from a user in a project.'));
  roleRemove.action(
    withDatabase(roleRemove, async ({ identity }) => {
      const o = roleRemove.opts() as { user: string; project: string; role: string };
      const ids = await resolveIds(identity, o);
      await identity.revokeRole(ids.user as string, ids.project as string, o.role);
    }),
  );
  const roleList = withDomains(
    leaf(role, 'list', 'List role assignments.')
      .option('--user <user>', 'Only this user.')
      .option('--project <project>', 'Only this project.'),
  );
  roleList.action(
    withDatabase(roleList, async ({ identity, format }) => {
      const ids = await resolveIds(identity, roleList.opts());
      const [rows, users, projects] = await Promise.all([
        identity.listRoleAssignments(ids),
        identity.listUsers(),
        identity.listProjects(),
      ]);
      const name = (list: { id: string; name: string }[], id: string) =>
        list.find((x) => x.id === id)?.name ?? id;
      printRows(
        format,
        rows.map((r) => ({
          user: name(users, r.userId),
          project: name(projects, r.projectId),
          role: r.role,
        })),
        ['user', 'project', 'role'],
      );
    }),
  );

  addIdentityCommands(manage, { project, user, role }, leaf, withDatabase);

  const credential = manage
    .command('credential')
    .description('EC2 credentials (access key and secret).');
  const credCreate = withDomains(
    leaf(credential, 'create', 'Create EC2 credentials for a user in a project.')
      .requiredOption('--user <user>', 'User id or name.')
      .requiredOption('--project <project>', 'Project id or name.'),
  );
  credCreate.action(
    withDatabase(credCreate, async ({ identity, format }) => {
      const ids = await resolveIds(identity, credCreate.opts());
      const c = await identity.createEc2Credential(ids.user as string, ids.project as string);
      printRecord(format, {
        access_key: c.accessKey,
        secret_key: c.secretKey,
        user_id: c.userId,
        project_id: c.projectId,
      });
    }),
  );
  const credList = withDomains(
    leaf(credential, 'list', 'List EC2 credentials (secrets are not shown).')
      .option('--user <user>', 'Only this user.')
      .option('--project <project>', 'Only this project.'),
  );
  credList.action(
    withDatabase(credList, async ({ identity, format }) => {
      const rows = await identity.listEc2Credentials(await resolveIds(identity, credList.opts()));
      printRows(
        format,
        rows.map((c) => ({
          access_key: c.accessKey,
          user_id: c.userId,
          project_id: c.projectId,
          created: isoTime(c.createdAt),
        })),
        ['access_key', 'user_id', 'project_id', 'created'],
      );
    }),
  );
  const credDelete = leaf(credential, 'delete', 'Delete EC2 credentials.').argument('<access-key>');
  credDelete.action(
    withDatabase(credDelete, async ({ identity }) => {
      await identity.deleteEc2Credential(credDelete.processedArgs[0] as string);
    }),
  );

  const service = manage.command('service').description('Registered services.');
  const serviceList = leaf(
    service,
    'list',
    'List services with their state (up or down, from the heartbeat).',
  );
  serviceList.action(
    withDatabase(serviceList, async ({ config, database, format }) => {
      const at = now();
      const rows = (await new ServiceRepo(database.db).list()).map((s) => ({
        binary: s.binary,
        host: s.host,
        state: serviceState(s, at, config.service.downAfterSeconds * 1000),
        status: s.disabled ? 'disabled' : 'enabled',
        disabled_reason: s.disabledReason,
        last_heartbeat: isoTime(s.heartbeatAt),
        // Which machine and process last ran it (what a duplicate host name is told by).
        runs_on: s.machine === null ? null : `${s.machine}:${s.pid}`,
      }));
      printRows(format, rows, [
        'binary',
        'host',
        'state',
        'status',
        'last_heartbeat',
        'runs_on',
        'disabled_reason',
      ]);
    }),
  );
  for (const [name, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    const cmd = leaf(
      service,
      name,
      `${name === 'disable' ? 'Disable' : 'Enable'} a service (a disabled compute host takes no new instances).`,
    )
      .argument('[host]', 'Host the service runs on (or --service-host).')
      .option('--service-host <host>', 'Host the service runs on.')
      .option('--binary <binary>', 'Service binary: compute, scheduler, network, api.', 'compute');
    if (disabled) cmd.option('--reason <text>', 'Why it is disabled.');
    cmd.action(
      withDatabase(cmd, async ({ database, format }) => {
        const o = cmd.opts() as { serviceHost?: string; binary: string; reason?: string };
        const [positional] = cmd.processedArgs as [string | undefined];
        const host = positional ?? o.serviceHost;
        if (host === undefined || (positional !== undefined && o.serviceHost !== undefined)) {
          throw new StratusError(
            'missing',
            `Name the host to ${name}: stratus manage service ${name} HOST (or --service-host HOST).`,
            { resource: 'host' },
          );
        }
        const s = await new ServiceRepo(database.db).setDisabled(
          host,
          o.binary,
          disabled,
          o.reason ?? null,
        );
        printRecord(format, {
          binary: s.binary,
          host: s.host,
          status: s.disabled ? 'disabled' : 'enabled',
        });
      }),
    );
  }

  addHostCommands(manage, leaf, withDatabase);
  addIdentityCheckCommand(manage, leaf);
  addImageCommands(manage, { leaf, withDatabase });

  const rc = leaf(
    manage,
    'rc',
    'Print an rc file (EC2_* , AWS_* and OS_* variables) for a user in a project.',
  )
    .requiredOption('--user <user>', 'User id or name.')
    .requiredOption('--project <project>', 'Project id or name.')
    .option(
      '--password <password>',
      'Password to put in OS_PASSWORD (it is stored only as a hash).',
    );
  rc.action(
    withDatabase(rc, async ({ config, database, identity }) => {
      const o = rc.opts() as { user: string; project: string; password?: string };
      const [u, p] = await Promise.all([identity.getUser(o.user), identity.getProject(o.project)]);
      const creds = await identity.listEc2Credentials({ user: u.id, project: p.id });
      const c = creds[0] ?? (await identity.createEc2Credential(u.id, p.id));
      const endpoints = new EndpointRepo(database.db);
      const scheme = config.api.tls ? 'https' : 'http';
      const listenUrl = (l: { host: string; port: number }) =>
        `${scheme}://${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`;
      process.stdout.write(
        renderRcFile({
          ec2Url:
            (await endpoints.publicUrl('ec2', config.region)) ??
            `${listenUrl(config.api.ec2Listen)}/`,
          identityUrl:
            (await endpoints.publicUrl('identity', config.region)) ??
            `${listenUrl(config.api.identityListen)}/v3`,
          dashboardUrl:
            (await endpoints.publicUrl('dashboard', config.region)) ??
            `${listenUrl(config.api.dashboardListen)}/`,
          accessKey: c.accessKey,
          secretKey: c.secretKey,
          region: config.region,
          username: u.name,
          password: o.password ?? null,
          projectName: p.name,
          caFile: config.api.tls?.caFile,
        }),
      );
    }),
  );
  addNetworkCommands(manage, leaf, withDatabase);
  addBackupCommands(manage, leaf);
  return manage;
}
