// The overlay hosts (issue 16): each host whose network agent carries the VXLAN overlay, as it
// last registered itself (its underlay address, whether it is the network host, its address
// on the public segment, its agent's boot id) and when. The network service plans from these
// rows, so after a restart it has its hosts at once; a host not seen for a while ages out.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('overlay_hosts')
    .addColumn('host', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('underlay_ip', 'varchar(64)', (c) => c.notNull())
    .addColumn('network_host', 'integer', (c) => c.notNull())
    .addColumn('public_address', 'varchar(64)')
    .addColumn('boot_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('last_seen', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('overlay_hosts').execute();
}
