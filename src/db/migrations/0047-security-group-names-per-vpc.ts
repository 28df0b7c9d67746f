// Security group names are unique per VPC (issue 16), and every VPC has its own `default`
// group. Migration 0002 made (project_id, name) unique; now a group of a VPC (vpc_id set) is
// unique by (vpc_id, name) and a group of no VPC of its own (the default VPC's, the flat
// network's: every group made before 0044) keeps its project-wide (project_id, name), each a
// partial unique index. PostgreSQL drops the constraint; SQLite cannot drop a table constraint,
// so it rebuilds the table as migration 0023 does (foreign keys off in a transaction of its
// own, every reference checked before it commits). The VPCs EC2 made before this migration get
// their `default` group with EC2's rules (ingress from the group itself, egress anywhere).
import { randomUUID } from 'node:crypto';
import { sql, SqliteAdapter, type Kysely } from 'kysely';

const OLD = 'constraint "security_groups_project_name" unique ("project_id", "name")';

export async function up(db: Kysely<unknown>): Promise<void> {
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    await rebuildSqlite(db, (create) => {
      const without = create.replace(new RegExp(`,\\s*${escape(OLD)}`), '');
      if (without === create) throw new Error('The security_groups table has no unique name.');
      return without;
    });
  } else {
    await sql`alter table security_groups drop constraint security_groups_project_name`.execute(db);
  }
  await sql`create unique index security_groups_project_name on security_groups (project_id, name)
            where vpc_id is null`.execute(db);
  await sql`create unique index security_groups_vpc_name on security_groups (vpc_id, name)
            where vpc_id is not null`.execute(db);
  await vpcDefaultGroups(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index security_groups_vpc_name`.execute(db);
  await sql`drop index security_groups_project_name`.execute(db);
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    await rebuildSqlite(db, (create) => create.replace(/\)\s*$/, `, ${OLD})`));
  } else {
    await sql`alter table security_groups add constraint security_groups_project_name
              unique (project_id, name)`.execute(db);
  }
}

/** A `default` group for each VPC EC2 made that has none. */
async function vpcDefaultGroups(db: Kysely<unknown>): Promise<void> {
  // Single-word names: the database's row names may be camel-cased on the way back.
  const vpcs = await sql<{ vpc: string; project: string }>`
    select v.network_id as vpc, v.project_id as project from vpcs v
    where v.is_default = 0
      and not exists (select 1 from security_groups g
                      where g.vpc_id = v.network_id and g.name = 'default')`.execute(db);
  const at = Date.now();
  for (const v of vpcs.rows) {
    const id = randomUUID();
    await sql`insert into security_groups (id, project_id, name, description, created_at, vpc_id)
              values (${id}, ${v.project}, 'default', 'default VPC security group', ${at},
                      ${v.vpc})`.execute(db);
    await sql`insert into security_group_rules
                (id, group_id, direction, protocol, from_port, to_port, cidr, source_group_id,
                 description, created_at)
              values (${randomUUID()}, ${id}, 'ingress', '-1', null, null, null, ${id}, null, ${at}),
                     (${randomUUID()}, ${id}, 'egress', '-1', null, null, '0.0.0.0/0', null, null,
                      ${at + 1})`.execute(db);
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Rebuilds `security_groups` with the CREATE TABLE statement `change` makes of it. */
async function rebuildSqlite(
  db: Kysely<unknown>,
  change: (create: string) => string,
): Promise<void> {
  const table = 'security_groups';
  await sql`commit`.execute(db);
  await sql`pragma foreign_keys = off`.execute(db);
  await sql`begin immediate`.execute(db);
  try {
    const schema = await sql<{ type: string; name: string; sql: string | null }>`
      select type, name, sql from sqlite_master where tbl_name = ${table}`.execute(db);
    const create = schema.rows.find((r) => r.type === 'table')?.sql;
    if (!create) throw new Error(`The ${table} table is missing.`);
    const rebuilt = change(create).replace(
      `CREATE TABLE "${table}"`,
      `CREATE TABLE "${table}_new"`,
    );
    await sql.raw(rebuilt).execute(db);
    await sql.raw(`INSERT INTO "${table}_new" SELECT * FROM "${table}"`).execute(db);
    await sql.raw(`DROP TABLE "${table}"`).execute(db);
    await sql.raw(`ALTER TABLE "${table}_new" RENAME TO "${table}"`).execute(db);
    // Dropping the table dropped its triggers and indexes; the autoindexes come back by themselves.
    for (const r of schema.rows) {
      if (r.type !== 'table' && r.sql) await sql.raw(r.sql).execute(db);
    }
    const broken = await sql`pragma foreign_key_check`.execute(db);
    if (broken.rows.length > 0) {
      throw new Error(`Rebuilding ${table} broke ${broken.rows.length} references.`);
    }
    await sql`commit`.execute(db);
  } catch (err) {
    await sql`rollback`.execute(db);
    throw err;
  } finally {
    await sql`pragma foreign_keys = on`.execute(db);
    await sql`begin immediate`.execute(db);
  }
}
