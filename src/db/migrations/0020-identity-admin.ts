// The Identity v3 admin model (issue 14): domains (with the `default` one every existing user
// and project belongs to), project tags, groups and their members, roles as rows (reader <
// member < admin by implication), role assignments of users or groups on projects or domains
// (the old user-on-project table moves into them), application credentials, and credentials
// of other types than EC2 (which keep their own table). Changes that can alter who a key or a
// token speaks for bump the `identity` counter, as migration 0012 does for its tables.
import { createHash } from 'node:crypto';
import { sql, SqliteAdapter, type Kysely } from 'kysely';

/** The ids the built-in roles always had in tokens: stable, derived from the name. */
export function builtInRoleId(name: string): string {
  return createHash('sha256').update(`role\0${name}`).digest('hex').slice(0, 32);
}

const BUMP = "UPDATE generations SET value = value + 1 WHERE name = 'identity'";

const WATCHED: readonly [table: string, events: readonly string[]][] = [
  ['assignments', ['INSERT', 'UPDATE', 'DELETE']],
  ['group_members', ['INSERT', 'DELETE']],
  ['implied_roles', ['INSERT', 'DELETE']],
  ['domains', ['UPDATE OF enabled', 'DELETE']],
];

function triggerName(table: string, event: string): string {
  return `${table}_${event.split(' ')[0]?.toLowerCase()}_bumps_identity`;
}

export async function up(db: Kysely<unknown>): Promise<void> {
  const at = Date.now();
  await db.schema
    .createTable('domains')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await sql`insert into domains (id, name, description, enabled, created_at)
            values ('default', 'Default', 'The default domain', 1, ${at})`.execute(db);

  await db.schema
    .alterTable('projects')
    .addColumn('domain_id', 'varchar(64)', (c) => c.notNull().defaultTo('default'))
    .execute();
  await db.schema
    .alterTable('users')
    .addColumn('domain_id', 'varchar(64)', (c) => c.notNull().defaultTo('default'))
    .execute();
  await db.schema.alterTable('users').addColumn('default_project_id', 'varchar(64)').execute();
  await db.schema
    .alterTable('users')
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema.alterTable('users').addColumn('email', 'varchar(255)').execute();

  await db.schema
    .createTable('project_tags')
    .addColumn('project_id', 'varchar(64)', (c) =>
      c.notNull().references('projects.id').onDelete('cascade'),
    )
    .addColumn('tag', 'varchar(255)', (c) => c.notNull())
    .addPrimaryKeyConstraint('project_tags_pk', ['project_id', 'tag'])
    .execute();

  await db.schema
    .createTable('groups')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('domain_id', 'varchar(64)', (c) => c.notNull().references('domains.id'))
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('groups_domain_name', ['domain_id', 'name'])
    .execute();
  await db.schema
    .createTable('group_members')
    .addColumn('group_id', 'varchar(64)', (c) =>
      c.notNull().references('groups.id').onDelete('cascade'),
    )
    .addColumn('user_id', 'varchar(64)', (c) =>
      c.notNull().references('users.id').onDelete('cascade'),
    )
    .addPrimaryKeyConstraint('group_members_pk', ['group_id', 'user_id'])
    .execute();
  await db.schema.createIndex('group_members_user').on('group_members').column('user_id').execute();

  await db.schema
    .createTable('roles')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  for (const name of ['reader', 'member', 'admin']) {
    await sql`insert into roles (id, name, description, created_at)
              values (${builtInRoleId(name)}, ${name}, '', ${at})`.execute(db);
  }
  await db.schema
    .createTable('implied_roles')
    .addColumn('prior_role_id', 'varchar(64)', (c) =>
      c.notNull().references('roles.id').onDelete('cascade'),
    )
    .addColumn('implied_role_id', 'varchar(64)', (c) =>
      c.notNull().references('roles.id').onDelete('cascade'),
    )
    .addPrimaryKeyConstraint('implied_roles_pk', ['prior_role_id', 'implied_role_id'])
    .execute();
  for (const [prior, implied] of [
    ['admin', 'member'],
    ['member', 'reader'],
  ] as const) {
    await sql`insert into implied_roles (prior_role_id, implied_role_id)
              values (${builtInRoleId(prior)}, ${builtInRoleId(implied)})`.execute(db);
  }

  // Who holds which role where. Actors and targets are of two kinds each, so they carry no
  // foreign key; deleting a user, group, project or domain deletes its rows in the same
  // transaction (IdentityService).
  await db.schema
    .createTable('assignments')
    .addColumn('actor_type', 'varchar(16)', (c) => c.notNull())
    .addColumn('actor_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('target_type', 'varchar(16)', (c) => c.notNull())
    .addColumn('target_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('role_id', 'varchar(64)', (c) =>
      c.notNull().references('roles.id').onDelete('cascade'),
    )
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('assignments_pk', [
      'actor_type',
      'actor_id',
      'target_type',
      'target_id',
      'role_id',
    ])
    .execute();
  await db.schema
    .createIndex('assignments_target')
    .on('assignments')
    .columns(['target_type', 'target_id'])
    .execute();
  await sql`insert into assignments (actor_type, actor_id, target_type, target_id, role_id, created_at)
            select 'user', ra.user_id, 'project', ra.project_id, r.id, ra.created_at
            from role_assignments ra join roles r on r.name = ra.role`.execute(db);
  // Its triggers (migration 0012) go with it.
  await db.schema.dropTable('role_assignments').execute();

  await db.schema
    .createTable('application_credentials')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('user_id', 'varchar(64)', (c) =>
      c.notNull().references('users.id').onDelete('cascade'),
    )
    .addColumn('project_id', 'varchar(64)', (c) =>
      c.notNull().references('projects.id').onDelete('cascade'),
    )
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    /** The role ids it carries, comma-separated. */
    .addColumn('role_ids', 'text', (c) => c.notNull())
    .addColumn('unrestricted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('expires_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('application_credentials_user_name', ['user_id', 'name'])
    .execute();

  await db.schema
    .createTable('credentials')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(64)', (c) =>
      c.notNull().references('users.id').onDelete('cascade'),
    )
    .addColumn('project_id', 'varchar(64)', (c) => c.references('projects.id').onDelete('cascade'))
    .addColumn('type', 'varchar(255)', (c) => c.notNull())
    .addColumn('blob', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  // A token issued for an application credential ends with it.
  await db.schema
    .alterTable('tokens')
    .addColumn('application_credential_id', 'varchar(64)', (c) =>
      c.references('application_credentials.id').onDelete('cascade'),
    )
    .execute();

  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  for (const [table, events] of WATCHED) {
    for (const event of events) {
      const name = triggerName(table, event);
      const changed = event.startsWith('UPDATE OF') ? 'OLD.enabled <> NEW.enabled' : undefined;
      await sql
        .raw(
          sqlite
            ? `CREATE TRIGGER ${name} AFTER ${event} ON ${table} FOR EACH ROW ${changed ? `WHEN ${changed} ` : ''}BEGIN ${BUMP}; END`
            : `CREATE TRIGGER ${name} AFTER ${event} ON ${table} FOR EACH ROW ${changed ? `WHEN (${changed}) ` : ''}EXECUTE FUNCTION bump_identity_generation()`,
        )
        .execute(db);
    }
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  for (const [table, events] of WATCHED) {
    for (const event of events) {
      await sql
        .raw(`DROP TRIGGER ${triggerName(table, event)}${sqlite ? '' : ` ON ${table}`}`)
        .execute(db);
    }
  }
  await db.schema
    .createTable('role_assignments')
    .addColumn('user_id', 'varchar(64)', (c) =>
      c.notNull().references('users.id').onDelete('cascade'),
    )
    .addColumn('project_id', 'varchar(64)', (c) =>
      c.notNull().references('projects.id').onDelete('cascade'),
    )
    .addColumn('role', 'varchar(32)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('role_assignments_pk', ['user_id', 'project_id', 'role'])
    .execute();
  await sql`insert into role_assignments (user_id, project_id, role, created_at)
            select a.actor_id, a.target_id, r.name, a.created_at
            from assignments a join roles r on r.id = a.role_id
            where a.actor_type = 'user' and a.target_type = 'project'
              and r.name in ('admin', 'member')`.execute(db);
  for (const event of ['INSERT', 'UPDATE', 'DELETE']) {
    const name = triggerName('role_assignments', event);
    await sql
      .raw(
        sqlite
          ? `CREATE TRIGGER ${name} AFTER ${event} ON role_assignments FOR EACH ROW BEGIN ${BUMP}; END`
          : `CREATE TRIGGER ${name} AFTER ${event} ON role_assignments FOR EACH ROW EXECUTE FUNCTION bump_identity_generation()`,
      )
      .execute(db);
  }
  await db.schema.alterTable('tokens').dropColumn('application_credential_id').execute();
  for (const table of [
    'credentials',
    'application_credentials',
    'assignments',
    'implied_roles',
    'roles',
    'group_members',
    'groups',
    'project_tags',
  ]) {
    await db.schema.dropTable(table).execute();
  }
  for (const column of ['email', 'description', 'default_project_id', 'domain_id']) {
    await db.schema.alterTable('users').dropColumn(column).execute();
  }
  await db.schema.alterTable('projects').dropColumn('domain_id').execute();
  await db.schema.dropTable('domains').execute();
}
