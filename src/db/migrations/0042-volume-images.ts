// The image a volume holds the data of (a volume made from an image, or from a snapshot of an
// instance's root volume): such a volume is bootable, and an instance booted from it takes the
// image's kernel, ramdisk and architecture.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('volumes').addColumn('image_id', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('volumes').dropColumn('image_id').execute();
}
