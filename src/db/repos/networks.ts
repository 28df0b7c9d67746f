// Networks with their fixed addresses, and the floating address pool. Handing out an address
// is one conditional UPDATE, so no two instances ever hold the same one, whatever the
// concurrency; an address given back rests until `reusableAt` before it is handed out again.
import { randomInt, randomUUID } from 'node:crypto';
import { alreadyExists } from '../../errors.js';
import { isUniqueViolation } from '../constraint.js';
import type { Db, FixedIpRow, NetworkRow } from '../schema.js';

/** Misses in a row (each another allocator's success) before an allocation gives up. */
const MAX_MISSES = 10_000;
/** How far past the lowest free address a retry may look. */
const MAX_SPREAD = 63;
export class NetworkRepo {
  constructor(private readonly db: Db) {}

  async findByName(name: string): Promise<NetworkRow | undefined> {
    return this.db.selectFrom('networks').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async list(): Promise<NetworkRow[]> {
    return this.db.selectFrom('networks').selectAll().orderBy('createdAt').execute();
  }

  /**
   * Creates a network and one fixed-address row per address of its DHCP range (`addresses`,
   * in order). Safe when several processes do it at once: the name decides.
   */
  async ensure(spec: NetworkSpecRow, addresses: readonly string[]): Promise<NetworkRow> {
    const existing = await this.findByName(spec.name);
    if (existing) return existing;
    const row: NetworkRow = { id: randomUUID(), ...spec, createdAt: Date.now() };
    await this.db.transaction().execute(async (trx) => {
      const r = await trx
        .insertInto('networks')
        .values(row)
        .onConflict((oc) => oc.column('name').doNothing())
        .executeTakeFirst();
      if (Number(r.numInsertedOrUpdatedRows ?? 0) === 0) return;
      await insertAddresses(trx, row.id, addresses);
    });
    return (await this.findByName(spec.name)) as NetworkRow;
  }

  /**
   * Creates a network with its gateway and DHCP range, and one fixed-address row per address
   * of the range (`addresses`, in order), in one transaction. A network of the same name
   * already there is an `already_exists` error.
   */
  async create(spec: NetworkSpecRow, addresses: readonly string[]): Promise<NetworkRow> {
    const row: NetworkRow = { id: randomUUID(), ...spec, createdAt: Date.now() };
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx.insertInto('networks').values(row).execute();
        await insertAddresses(trx, row.id, addresses);
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw alreadyExists('network', spec.name, `The network '${spec.name}' already exists.`);
      }
      throw err;
    }
    return row;
  }

  /** Per network: how many fixed addresses it has and how many are held by instances. */
  async addressCounts(): Promise<Map<string, { total: number; held: number }>> {
    const rows = await this.db
      .selectFrom('fixedIps')
      .select((eb) => [
        'networkId',
        eb.fn.countAll<number>().as('total'),
        eb.fn.count<number>('instanceId').as('held'),
      ])
      .groupBy('networkId')
      .execute();
    return new Map(
      rows.map((r) => [r.networkId, { total: Number(r.total), held: Number(r.held) }]),
    );
  }

  /**
   * Gives the lowest free, rested address of the network to the instance; undefined only when
   * the network has none. Safe with any number of allocators at once.
   */
  async allocateFixedIp(
    networkId: string,
    instanceId: string,
    macAddress: string,
    at: number,
  ): Promise<FixedIpRow | undefined> {
    const existing = await this.db
      .selectFrom('fixedIps')
      .selectAll()
      .where('networkId', '=', networkId)
      .where('instanceId', '=', instanceId)
      .executeTakeFirst();
    if (existing) return existing;
    // Another allocator may take the same candidate between our read and write; the UPDATE's
    // `instanceId IS NULL` makes that a miss, and we look again. Every miss is another
    // allocator's success, so looking again makes progress; "none left" is only said when the
    // read from the lowest finds no free address. (A bound of 20 misses once told 1 in 500
    // launches from 50 clients that a /20 with 3,500 free addresses was full:
    // bench/multi-host-scale.ts.) After a miss the next try takes one of the few lowest free
    // addresses at random, so that allocators racing for the same one spread out instead of
    // missing in turn; without contention the lowest is taken.
    let spread = 0;
    for (let attempt = 0; attempt < MAX_MISSES; attempt++) {
      const skip = spread > 0 ? randomInt(spread + 1) : 0;
      const candidate = await this.db
        .selectFrom('fixedIps')
        .select('address')
        .where('networkId', '=', networkId)
        .where('instanceId', 'is', null)
        .where('reusableAt', '<=', at)
        .orderBy('seq')
        .limit(1)
        .offset(skip)
        .executeTakeFirst();
      if (!candidate) {
        if (skip === 0) return undefined;
        // Fewer free than the skip: look again from the lowest.
        spread = 0;
        continue;
      }
      const r = await this.db
        .updateTable('fixedIps')
        .set({
          instanceId,
          macAddress,
          allocatedAt: at,
          releasedAt: null,
          leasedAt: null,
          leaseExpiresAt: null,
        })
        .where('networkId', '=', networkId)
        .where('address', '=', candidate.address)
        .where('instanceId', 'is', null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) {
        return (await this.db
          .selectFrom('fixedIps')
          .selectAll()
          .where('networkId', '=', networkId)
          .where('address', '=', candidate.address)
          .executeTakeFirst()) as FixedIpRow;
      }
      spread = Math.min(MAX_SPREAD, spread * 2 + 1);
    }
    return undefined;
  }

  /** Takes back the instance's addresses; they rest until `reusableAt`. */
  async releaseFixedIps(instanceId: string, at: number, reusableAt: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('fixedIps')
      .select('address')
      .where('instanceId', '=', instanceId)
      .execute();
    await this.db
      .updateTable('fixedIps')
      .set({ instanceId: null, releasedAt: at, reusableAt })
      .where('instanceId', '=', instanceId)
      .execute();
    return rows.map((r) => r.address);
  }

  /** The fixed address each of these instances holds, with its network's name and MAC. */
  async fixedByInstance(
    instanceIds: readonly string[],
  ): Promise<Map<string, { network: string; address: string; mac: string | null }>> {
    const out = new Map<string, { network: string; address: string; mac: string | null }>();
    for (let i = 0; i < instanceIds.length; i += 500) {
      const rows = await this.db
        .selectFrom('fixedIps')
        .innerJoin('networks', 'networks.id', 'fixedIps.networkId')
        .select([
          'fixedIps.instanceId as instanceId',
          'fixedIps.address as address',
          'fixedIps.macAddress as mac',
          'networks.name as network',
        ])
        .where('fixedIps.instanceId', 'in', instanceIds.slice(i, i + 500))
        .execute();
      for (const r of rows) {
        out.set(r.instanceId as string, { network: r.network, address: r.address, mac: r.mac });
      }
    }
    return out;
  }

  /**
   * When the guest of each of these instances took the DHCP lease on its fixed IP (dnsmasq's
   * `add`, recorded by the network service); instances whose guest has not are left out.
   */
  async leasedAtByInstance(instanceIds: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (let i = 0; i < instanceIds.length; i += 500) {
      const rows = await this.db
        .selectFrom('fixedIps')
        .select(['instanceId', 'leasedAt'])
        .where('instanceId', 'in', instanceIds.slice(i, i + 500))
        .where('leasedAt', 'is not', null)
        .execute();
      for (const r of rows) out.set(r.instanceId as string, r.leasedAt as number);
    }
    return out;
  }

  /** The Elastic IP each of these instances has, if any. */
  async floatingByInstance(instanceIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < instanceIds.length; i += 500) {
      const rows = await this.db
        .selectFrom('floatingIps')
        .select(['instanceId', 'address'])
        .where('instanceId', 'in', instanceIds.slice(i, i + 500))
        .execute();
      for (const r of rows) out.set(r.instanceId as string, r.address);
    }
    return out;
  }

  /** Adds a floating pool's addresses (`seq` orders them) unless the pool has some already. */
  async ensureFloatingPool(
    pool: string,
    addresses: readonly { address: string; seq: number }[],
  ): Promise<void> {
    const count = await this.db
      .selectFrom('floatingIps')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('pool', '=', pool)
      .executeTakeFirstOrThrow();
    if (Number(count.n) > 0) return;
    const rows = addresses.map(({ address, seq }) => ({
      id: randomUUID(),
      address,
      pool,
      seq,
      projectId: null,
      instanceId: null,
      associationId: null,
      allocatedAt: null,
      associatedAt: null,
      allocationId: null,
      domain: null,
      fixedAddress: null,
    }));
    for (let i = 0; i < rows.length; i += 500) {
      await this.db
        .insertInto('floatingIps')
        .values(rows.slice(i, i + 500))
        .onConflict((oc) => oc.column('address').doNothing())
        .execute();
    }
  }
}

/** One free fixed-address row per address, `seq` their order, in batches of 500. */
async function insertAddresses(db: Db, networkId: string, addresses: readonly string[]) {
  for (let start = 0; start < addresses.length; start += 500) {
    const rows: FixedIpRow[] = addresses.slice(start, start + 500).map((address, i) => ({
      networkId,
      address,
      seq: start + i,
      instanceId: null,
      macAddress: null,
      allocatedAt: null,
      releasedAt: null,
      leasedAt: null,
      leaseExpiresAt: null,
      reusableAt: 0,
    }));
    await db.insertInto('fixedIps').values(rows).execute();
  }
}

/** What a new network row holds besides its id and creation time. */
export type NetworkSpecRow = Omit<NetworkRow, 'id' | 'createdAt'>;
