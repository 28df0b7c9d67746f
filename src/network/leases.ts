// Lease bookkeeping: what dnsmasq's lease events mean for the fixed IPs of a network. A fixed
// IP given back by its instance is not handed out again while its old lease may be live:
// until dnsmasq reports the lease gone (`del`, e.g. after `dhcp_release` when the guest is
// destroyed) or its lease time plus a margin has passed. A released address whose old guest
// still renews it stays out of circulation for as long as it does.
import { FixedIpLeaseRepo, now, type Db } from '../db/index.js';
import type { Logger } from '../log.js';
import type { KnownLease, LeaseEvent } from './dataplane/index.js';

/** Extra rest for a returned address beyond its lease end, for clocks and late renewals. */
export const LEASE_MARGIN_MS = 30_000;

export interface LeaseBookOptions {
  db: Db;
  networkId: string;
  leaseSeconds: number;
  marginMs?: number;
  logger?: Logger;
  /** The clock, ms since the epoch; `now()` unless told (tests move it). */
  clock?: () => number;
}

export class LeaseBook {
  readonly #o: LeaseBookOptions;
  readonly #repo: FixedIpLeaseRepo;

  constructor(options: LeaseBookOptions) {
    this.#o = options;
    this.#repo = new FixedIpLeaseRepo(options.db);
  }

  get marginMs(): number {
    return this.#o.marginMs ?? LEASE_MARGIN_MS;
  }

  /** When an address given back at `at` may be reused if nothing is heard from dnsmasq. */
  restUntil(at: number): number {
    return at + this.#o.leaseSeconds * 1000 + this.marginMs;
  }

  /**
   * Records one dnsmasq event, from `host`'s dnsmasq when given. Events about a MAC that no
   * longer holds the address, or (with `host`) about an address an instance on another host
   * holds, are ignored.
   */
  async record(event: LeaseEvent, host?: string): Promise<void> {
    const at = this.#clock();
    const { networkId } = this.#o;
    let known: boolean;
    if (event.action === 'del') {
      known = await this.#repo.ended(networkId, event.ip, event.mac, at, host);
    } else {
      const expiresAt = event.expiresAt ?? at + this.#o.leaseSeconds * 1000;
      known = await this.#repo.leased(
        networkId,
        event.ip,
        event.mac,
        at,
        expiresAt,
        expiresAt + this.marginMs,
        event.action === 'old',
        host,
      );
    }
    this.#o.logger?.debug({ ...event, known }, 'DHCP lease event');
  }

  /**
   * To be called right after addresses were given back at `at`: those whose lease already
   * ended (dnsmasq's `del` came first) are free at once.
   */
  async settleReleased(addresses: readonly string[], at: number): Promise<void> {
    await this.#repo.settleReleased(this.#o.networkId, addresses, at);
  }

  /**
   * The network's live leases, for dnsmasq's `init`; with `host`, only those of instances on
   * that host (its dnsmasq must not believe it holds another host's leases).
   */
  async knownLeases(host?: string): Promise<KnownLease[]> {
    const rows = await this.#repo.live(this.#o.networkId, this.#clock(), host);
    return rows.map((r) => ({
      mac: r.macAddress as string,
      ip: r.address,
      hostname: null,
      expiresAt: r.leaseExpiresAt as number,
    }));
  }

  #clock(): number {
    return (this.#o.clock ?? now)();
  }
}
