// What the cloud sees of a guest on the network, for DescribeInstanceStatus: when it first
// asked the metadata service (`metadata_fetched_at`, recorded by the metadata service), and
// whether its DHCP lease and metadata requests can be seen at all (`network_observed`: 1 for
// a real guest on the host's data plane; 0 for the fake driver and QEMU's user-mode network).
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('instances').addColumn('metadata_fetched_at', 'bigint').execute();
  await db.schema
    .alterTable('instances')
    .addColumn('network_observed', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('instances').dropColumn('network_observed').execute();
  await db.schema.alterTable('instances').dropColumn('metadata_fetched_at').execute();
}
