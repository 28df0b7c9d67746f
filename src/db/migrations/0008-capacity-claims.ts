// Capacity claims: every placed instance holds a claim on its host's vCPUs, memory and disk,
// taken by the scheduler in one transaction that locks the host's compute-node row, and given
// back when the instance is retired or its build fails. Compute nodes also report the
// availability zone and guest architecture they serve, for the scheduler's filters.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('compute_nodes')
    .addColumn('availability_zone', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema
    .alterTable('compute_nodes')
    .addColumn('architecture', 'varchar(16)', (c) => c.notNull().defaultTo('x86_64'))
    .execute();
  await db.schema
    .createTable('capacity_claims')
    .addColumn('instance_id', 'varchar(64)', (c) =>
      c.primaryKey().references('instances.id').onDelete('cascade'),
    )
    .addColumn('host', 'varchar(255)', (c) =>
      c.notNull().references('compute_nodes.host').onDelete('cascade'),
    )
    .addColumn('vcpus', 'integer', (c) => c.notNull())
    .addColumn('memory_mb', 'integer', (c) => c.notNull())
    .addColumn('disk_gb', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('capacity_claims_host')
    .on('capacity_claims')
    .column('host')
    .execute();
  // Instances placed before claims existed keep holding what they hold.
  await sql`
    INSERT INTO capacity_claims (instance_id, host, vcpus, memory_mb, disk_gb, created_at)
    SELECT id, host, vcpus, memory_mb, disk_gb, updated_at FROM instances
    WHERE host IS NOT NULL
      AND vm_state IN ('building', 'active', 'stopped')
      AND host IN (SELECT host FROM compute_nodes)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('capacity_claims').execute();
  await db.schema.alterTable('compute_nodes').dropColumn('architecture').execute();
  await db.schema.alterTable('compute_nodes').dropColumn('availability_zone').execute();
}
