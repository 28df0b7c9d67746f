// Networks with their fixed addresses, and the floating address pool. Handing out an address
// is one conditional UPDATE, so no two instances ever hold the same one, whatever the
// concurrency; an address given back rests until `reusableAt` before it is handed out again.
import { randomUUID } from 'node:crypto';
import { alreadyExists } from '../../errors.js';
import { formatIpv4, type Cidr } from '../../util/ipv4.js';
import { isUniqueViolation } from '../constraint.js';
import type { Db, FixedIpRow, NetworkRow } from '../schema.js';

export class NetworkRepo {
  constructor(private readonly db: Db) {}

  async findByName(name: string): Promise<NetworkRow | undefined> {
    return this.db.selectFrom('networks').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async list(): Promise<NetworkRow[]> {
    return this.db.selectFrom('networks').selectAll().orderBy('createdAt').execute();
  }

  /**
   * Creates a network and one fixed-address row per address of its DHCP range (gateway and
   * broadcast excluded). Safe when several processes do it at once: the name decides.
   */
  async ensure(name: string, cidr: Cidr, cidrText: string, dns = ''): Promise<NetworkRow> {
    const existing = await this.findByName(name);
    if (existing) return existing;
    const gateway = cidr.base + 1;
    const first = cidr.base + 2;
    const last = cidr.base + cidr.size - 2;
    const row: NetworkRow = {
      id: randomUUID(),
      name,
      cidr: cidrText,
      gateway: formatIpv4(gateway),
      dhcpStart: formatIpv4(first),
      dhcpEnd: formatIpv4(last),
      dns,
      createdAt: Date.now(),
    };
    await this.db.transaction().execute(async (trx) => {
      const r = await trx
        .insertInto('networks')
        .values(row)
        .onConflict((oc) => oc.column('name').doNothing())
        .executeTakeFirst();
      if (Number(r.numInsertedOrUpdatedRows ?? 0) === 0) return;
      await insertAddresses(trx, row.id, first, last);
    });
    return (await this.findByName(name)) as NetworkRow;
  }

  /**
   * Creates a network with the given gateway and DHCP range, and one fixed-address row per
   * address of the range, in one transaction. A network of the same name already there is
   * an `already_exists` error.
   */
  async create(spec: {
    name: string;
    cidr: string;
    gateway: string;
    dhcpStart: number;
    dhcpEnd: number;
    dns: string;
  }): Promise<NetworkRow> {
    const row: NetworkRow = {
      id: randomUUID(),
      name: spec.name,
      cidr: spec.cidr,
      gateway: spec.gateway,
      dhcpStart: formatIpv4(spec.dhcpStart),
      dhcpEnd: formatIpv4(spec.dhcpEnd),
      dns: spec.dns,
      createdAt: Date.now(),
    };
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx.insertInto('networks').values(row).execute();
        await insertAddresses(trx, row.id, spec.dhcpStart, spec.dhcpEnd);
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

  /** Gives the lowest free, rested address of the network to the instance; undefined if none. */
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
    // `instanceId IS NULL` makes that a miss, and we look again.
    for (let attempt = 0; attempt < 20; attempt++) {
      const candidate = await this.db
        .selectFrom('fixedIps')
        .select('address')
        .where('networkId', '=', networkId)
        .where('instanceId', 'is', null)
        .where('reusableAt', '<=', at)
        .orderBy('seq')
        .limit(1)
        .executeTakeFirst();
      if (!candidate) return undefined;
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

  /** Adds the addresses of a floating pool that are not there yet. */
  async ensureFloatingPool(pool: string, cidr: Cidr): Promise<void> {
    const count = await this.db
      .selectFrom('floatingIps')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('pool', '=', pool)
      .executeTakeFirstOrThrow();
    if (Number(count.n) > 0) return;
    const rows = [];
    for (let ip = cidr.base + 2; ip < cidr.base + cidr.size - 1; ip++) {
      rows.push({
        id: randomUUID(),
        address: formatIpv4(ip),
        pool,
        seq: ip - cidr.base,
        projectId: null,
        instanceId: null,
        associationId: null,
        allocatedAt: null,
        associatedAt: null,
        allocationId: null,
        domain: null,
        fixedAddress: null,
      });
    }
    for (let i = 0; i < rows.length; i += 500) {
      await this.db
        .insertInto('floatingIps')
        .values(rows.slice(i, i + 500))
        .onConflict((oc) => oc.column('address').doNothing())
        .execute();
    }
  }
}

/** One free fixed-address row per address from `first` to `last`, in batches of 500. */
async function insertAddresses(db: Db, networkId: string, first: number, last: number) {
  for (let start = first; start <= last; start += 500) {
    const rows: FixedIpRow[] = [];
    for (let ip = start; ip <= Math.min(last, start + 499); ip++) {
      rows.push({
        networkId,
        address: formatIpv4(ip),
        seq: ip - first,
        instanceId: null,
        macAddress: null,
        allocatedAt: null,
        releasedAt: null,
        leasedAt: null,
        leaseExpiresAt: null,
        reusableAt: 0,
      });
    }
    await db.insertInto('fixedIps').values(rows).execute();
  }
}
