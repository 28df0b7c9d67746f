// Volume snapshots: point-in-time copies of a volume, kept as files by the volume service host
// that keeps the volume. One table behind EC2's snapshots and the Block Storage API's; who else
// may make volumes from a snapshot (EC2's createVolumePermission) in a second; and on volumes,
// the snapshot a volume was made from.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('snapshots')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    // The volume the data came from (for a copy, the source snapshot's volume).
    .addColumn('volume_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('volume_size_gb', 'integer', (c) => c.notNull())
    .addColumn('status', 'varchar(32)', (c) => c.notNull())
    .addColumn('progress', 'integer', (c) => c.notNull())
    // The volume service host keeping the snapshot's file.
    .addColumn('host', 'varchar(255)')
    .addColumn('name', 'varchar(255)')
    .addColumn('description', 'varchar(255)')
    // For a copy: the snapshot whose data it copies; null for one taken from a volume.
    .addColumn('source_snapshot_id', 'varchar(64)')
    // 1: every project may make volumes from it (EC2's `all` group).
    .addColumn('is_public', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('status_reason', 'varchar(1024)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('snapshots_project')
    .on('snapshots')
    .columns(['project_id', 'created_at'])
    .execute();
  await db.schema.createIndex('snapshots_volume').on('snapshots').column('volume_id').execute();
  await db.schema.createIndex('snapshots_host').on('snapshots').column('host').execute();
  await db.schema
    .createTable('snapshot_shares')
    .addColumn('snapshot_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addPrimaryKeyConstraint('snapshot_shares_pk', ['snapshot_id', 'project_id'])
    .execute();
  await db.schema
    .createIndex('snapshot_shares_project')
    .on('snapshot_shares')
    .column('project_id')
    .execute();
  await db.schema.alterTable('volumes').addColumn('snapshot_id', 'varchar(64)').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('volumes').dropColumn('snapshot_id').execute();
  await db.schema.dropTable('snapshot_shares').execute();
  await db.schema.dropTable('snapshots').execute();
}
