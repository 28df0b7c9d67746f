// Volumes: block devices that outlive instances, kept as files by a volume service host. One
// table behind EC2's volumes and the Block Storage API's; the attachment columns say which
// instance holds the volume and under which device name.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('volumes')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('size_gb', 'integer', (c) => c.notNull())
    .addColumn('availability_zone', 'varchar(255)', (c) => c.notNull())
    .addColumn('status', 'varchar(32)', (c) => c.notNull())
    // The volume service host keeping the volume's file; null until one takes it.
    .addColumn('host', 'varchar(255)')
    .addColumn('volume_type', 'varchar(64)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)')
    .addColumn('description', 'varchar(255)')
    .addColumn('instance_id', 'varchar(64)')
    .addColumn('device', 'varchar(64)')
    .addColumn('attached_at', 'bigint')
    // What went wrong when the status is 'error', for the operator.
    .addColumn('status_reason', 'varchar(1024)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('volumes_project')
    .on('volumes')
    .columns(['project_id', 'created_at'])
    .execute();
  await db.schema.createIndex('volumes_host').on('volumes').column('host').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('volumes').execute();
}
