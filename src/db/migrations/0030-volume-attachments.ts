// Volume attachments: one device name per instance (two volumes attached at once cannot both
// take /dev/sdf), and the volumes of an instance found by its id.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Unattached volumes have no instance and no device: NULLs never collide in a unique index.
  await db.schema
    .createIndex('volumes_instance_device')
    .on('volumes')
    .columns(['instance_id', 'device'])
    .unique()
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('volumes_instance_device').execute();
}
