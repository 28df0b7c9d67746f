// Change counters (`generations`): one row per kind of state that processes cache, bumped by
// triggers in the same transaction as the change, so every process sees a change at its next
// read of the counter whoever made it: an API process, `stratus manage` (which works on the
// database directly and has no bus), or an operator's SQL. `identity` counts changes that can
// alter who an EC2 access key speaks for: credentials added or removed, roles granted or
// revoked, users and projects enabled, disabled or deleted. The projects row lock
// (`UPDATE projects SET id = id`) that launches take does not count: only `enabled` does.
// `health` is written by health checks, to see that the database takes a write.
import { sql, SqliteAdapter, type Kysely } from 'kysely';

/** Tables and the changes of theirs that count, as trigger events. */
const WATCHED: readonly [table: string, events: readonly string[]][] = [
  ['ec2_credentials', ['INSERT', 'UPDATE', 'DELETE']],
  ['role_assignments', ['INSERT', 'UPDATE', 'DELETE']],
  ['users', ['UPDATE OF enabled', 'DELETE']],
  ['projects', ['UPDATE OF enabled', 'DELETE']],
];

const BUMP = "UPDATE generations SET value = value + 1 WHERE name = 'identity'";

function triggerName(table: string, event: string): string {
  return `${table}_${event.split(' ')[0]?.toLowerCase()}_bumps_identity`;
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('generations')
    .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('value', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`insert into generations (name, value) values ('identity', 0), ('health', 0)`.execute(
    db,
  );
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  if (!sqlite) {
    await sql
      .raw(
        `CREATE FUNCTION bump_identity_generation() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN ${BUMP}; RETURN NULL; END $$`,
      )
      .execute(db);
  }
  for (const [table, events] of WATCHED) {
    for (const event of events) {
      const name = triggerName(table, event);
      // An UPDATE OF enabled fires for any UPDATE naming the column; count real changes only.
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
  if (!sqlite) await sql.raw('DROP FUNCTION bump_identity_generation()').execute(db);
  await db.schema.dropTable('generations').execute();
}
