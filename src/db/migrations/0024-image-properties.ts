// What the Image API keeps about an image beyond what EC2 does: community visibility (any
// project may launch it; listed to others only when asked for), protection from deletion,
// hiding from listings, the smallest disk and memory it boots with, the virtual size, the MD5
// and SHA-512 of its data (the Image API's `checksum` and multihash, beside the SHA-256 the
// store has always kept), custom properties (a JSON object of strings) and tags (a JSON array).
import { sql, type Kysely } from 'kysely';

const FLAGS = ['community', 'protected', 'hidden', 'min_disk', 'min_ram'] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const column of FLAGS) {
    await db.schema
      .alterTable('images')
      .addColumn(column, 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  }
  await db.schema.alterTable('images').addColumn('virtual_size', 'bigint').execute();
  await db.schema.alterTable('images').addColumn('md5', 'varchar(32)').execute();
  await db.schema.alterTable('images').addColumn('sha512', 'varchar(128)').execute();
  await db.schema
    .alterTable('images')
    .addColumn('properties', 'text', (c) => c.notNull().defaultTo(sql`'{}'`))
    .execute();
  await db.schema
    .alterTable('images')
    .addColumn('tags', 'text', (c) => c.notNull().defaultTo(sql`'[]'`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const column of ['tags', 'properties', 'sha512', 'md5', 'virtual_size', ...FLAGS]) {
    await db.schema.alterTable('images').dropColumn(column).execute();
  }
}
