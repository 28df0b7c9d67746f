// The data plane's lease bookkeeping: when each fixed IP's DHCP lease ends, as dnsmasq last
// reported it (the lease's expiry on add/old, the moment of `del`), so a released address is
// rested only as long as its lease may really be live, and a restarted dnsmasq can be told
// the leases it had.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('fixed_ips').addColumn('lease_expires_at', 'bigint').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('fixed_ips').dropColumn('lease_expires_at').execute();
}
