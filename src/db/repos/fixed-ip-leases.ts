// DHCP lease state of fixed IPs, as the network service records it from dnsmasq's events.
// Each change is one conditional UPDATE keyed on the address and the MAC that holds the
// lease, so a late event about an address's previous holder never touches its new one.
//
// Several hosts serve one network, each with its own dnsmasq for its own guests. An event a
// host reports is not taken when the MAC it names is an instance's on another host, and a
// restarting dnsmasq is not handed the leases of other hosts' instances: a
// dnsmasq that believed it held another host's lease would refuse that address to its own
// guest later, and report it gone while the other host's guest still holds it.
import type { ExpressionBuilder } from 'kysely';
import type { Db, FixedIpRow, Schema } from '../schema.js';

/** The row's MAC is not that of an instance placed on a host other than `host`. */
function notAnotherHostsMac(eb: ExpressionBuilder<Schema, 'fixedIps'>, host: string) {
  return eb.not(
    eb.exists(
      eb
        .selectFrom('instances')
        .select('instances.id')
        .whereRef('instances.macAddress', '=', 'fixedIps.macAddress')
        .where('instances.host', 'is not', null)
        .where('instances.host', '!=', host),
    ),
  );
}

export class FixedIpLeaseRepo {
  constructor(private readonly db: Db) {}

  /**
   * Records a lease granted or renewed for `mac` on `address`, ending at `expiresAt`. If the
   * address was already given back (its guest still renews it), it stays out of circulation
   * until `restUntil`. Returns false when no such address is held by that MAC.
   */
  async leased(
    networkId: string,
    address: string,
    mac: string,
    at: number,
    expiresAt: number,
    restUntil: number,
    renewal: boolean,
    host?: string,
  ): Promise<boolean> {
    const r = await this.#held(networkId, address, mac, host)
      .set((eb) => ({
        leasedAt: renewal ? eb.fn.coalesce('leasedAt', eb.val(at)) : at,
        leaseExpiresAt: expiresAt,
      }))
      .executeTakeFirst();
    await this.#held(networkId, address, mac, host)
      .set({ reusableAt: restUntil })
      .where('instanceId', 'is', null)
      .where('reusableAt', '<', restUntil)
      .execute();
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * Records that the lease of `mac` on `address` is gone. An address already given back is
   * free from `at` on. Returns false when no such address is held by that MAC.
   */
  async ended(
    networkId: string,
    address: string,
    mac: string,
    at: number,
    host?: string,
  ): Promise<boolean> {
    const r = await this.#held(networkId, address, mac, host)
      .set({ leaseExpiresAt: at })
      .executeTakeFirst();
    await this.#held(networkId, address, mac, host)
      .set({ reusableAt: at })
      .where('instanceId', 'is', null)
      .where('reusableAt', '>', at)
      .execute();
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * An UPDATE of `address`'s row while `mac` holds it (a later holder's row is never touched)
   * and, with `host`, unless the instance with that MAC runs on another host.
   */
  #held(networkId: string, address: string, mac: string, host?: string) {
    const q = this.db
      .updateTable('fixedIps')
      .where('networkId', '=', networkId)
      .where('address', '=', address)
      .where('macAddress', '=', mac);
    if (host === undefined) return q;
    return q.where((eb) => notAnotherHostsMac(eb, host));
  }

  /**
   * Of addresses just given back, frees at once those whose lease is known to have ended; the
   * others (lease live, or never reported) keep the rest they were given.
   */
  async settleReleased(networkId: string, addresses: readonly string[], at: number): Promise<void> {
    if (addresses.length === 0) return;
    await this.db
      .updateTable('fixedIps')
      .set({ reusableAt: at })
      .where('networkId', '=', networkId)
      .where('address', 'in', addresses)
      .where('instanceId', 'is', null)
      .where('leaseExpiresAt', 'is not', null)
      .where('leaseExpiresAt', '<=', at)
      .execute();
  }

  /**
   * Addresses of the network whose lease was live at `at` (for a restarting dnsmasq); with
   * `host`, not those whose MAC is an instance's on another host.
   */
  async live(networkId: string, at: number, host?: string): Promise<FixedIpRow[]> {
    let q = this.db
      .selectFrom('fixedIps')
      .selectAll('fixedIps')
      .where('fixedIps.networkId', '=', networkId)
      .where('fixedIps.macAddress', 'is not', null)
      .where('fixedIps.leaseExpiresAt', '>', at);
    if (host !== undefined) {
      q = q.where((eb) => notAnotherHostsMac(eb, host));
    }
    return q.orderBy('fixedIps.seq').execute();
  }

  async byAddress(networkId: string, address: string): Promise<FixedIpRow | undefined> {
    return this.db
      .selectFrom('fixedIps')
      .selectAll()
      .where('networkId', '=', networkId)
      .where('address', '=', address)
      .executeTakeFirst();
  }
}
