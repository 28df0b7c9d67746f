// One host's data plane: a namespace Stratus owns holding the guest bridge, a port per guest,
// dnsmasq, the lease-event socket, the metadata proxy and one nftables table. Nothing here
// touches the machine's own interfaces, routes or firewall: every command runs in the
// namespace (`ip -n`, `ip netns exec`).
import fs from 'node:fs';
import path from 'node:path';
import { StratusError } from '../../errors.js';
import { parseCidr, parseIpv4 } from '../ipv4.js';
import type { EffectiveRule } from '../security-groups.js';
import { addGuestPort, ensureBridge, IFNAME, removeLink, type GuestPortSpec } from './bridge.js';
import { Dnsmasq, dhcpHostname } from './dnsmasq.js';
import { LeaseSpool, type LeaseEventHandlers } from './lease-events.js';
import { MetadataProxy } from './metadata-proxy-process.js';
import { Namespace } from './namespace.js';
import {
  applyNft,
  associateCommands,
  disassociateCommands,
  removeGuestCommands,
  renderTable,
  setGuestCommands,
  type GuestFirewall,
} from './nftables.js';

export interface GuestNetworkSpec {
  cidr: string;
  gateway: string;
  dhcpStart: string;
  dhcpEnd: string;
  /** DNS servers for guests, comma separated; may be empty. */
  dns: string;
}

export interface HostDataPlaneOptions {
  /** The namespace to create and own, e.g. `stratus-<host>`. */
  namespace: string;
  /** The guest bridge inside it, e.g. `br100`. */
  bridge: string;
  network: GuestNetworkSpec;
  leaseSeconds: number;
  /** A directory for dnsmasq's files, the sockets and the logs (created if missing). */
  stateDir: string;
  /** Where lease events go: the network service's lease bookkeeping. */
  leases: LeaseEventHandlers;
  /**
   * The interface in the namespace floating IPs are added to (its outward link); `lo` when
   * not given, which still answers ARP for them on every link of the namespace.
   */
  uplink?: string | undefined;
  /**
   * The metadata server guests reach at 169.254.169.254: an HTTP server on a unix socket. A
   * proxy inside the namespace forwards each request to it with the guest's fixed IP in the
   * `X-Forwarded-For` header. No metadata DNAT when absent.
   */
  metadataSocket?: string | undefined;
  /** Port of the metadata proxy on the gateway address; 8775 unless told. */
  metadataPort?: number | undefined;
  /** Called with errors the data plane cannot return to anyone (a failed lease event). */
  onError?: (err: unknown) => void;
}

export interface GuestSpec {
  instanceId: string;
  mac: string;
  fixedIp: string;
  hostname: string;
  /**
   * The port to create: a tap for a VM (the default, and all production uses). The veth
   * into a namespace is TEST-ONLY (see `GuestPortSpec`).
   */
  port?: GuestPortSpec;
  /** Security-group rules to enforce from the first packet; none (deny inbound) when absent. */
  rules?: readonly EffectiveRule[];
}

interface SavedGuest {
  instanceId: string;
  mac: string;
  fixedIp: string;
  hostname: string;
  /** `veth` only in tests (see `GuestPortSpec`). */
  port: { kind: 'tap' } | { kind: 'veth'; peerNamespace: string; peerName: string };
  rules: EffectiveRule[];
}

interface Guest {
  spec: GuestSpec;
  ifname: string;
  firewall: GuestFirewall;
}

export class HostDataPlane {
  readonly ns: Namespace;
  readonly #o: HostDataPlaneOptions;
  readonly #prefix: number;
  readonly #dnsmasq: Dnsmasq;
  readonly #spool: LeaseSpool;
  readonly #metadata: MetadataProxy | undefined;
  readonly #guests = new Map<string, Guest>();
  /** floating IP -> fixed IP */
  readonly #floating = new Map<string, string>();
  #lock: Promise<unknown> = Promise.resolve();
  readonly #statePath: string;

  constructor(options: HostDataPlaneOptions) {
    this.#o = options;
    this.ns = new Namespace(options.namespace);
    if (!IFNAME.test(options.bridge)) {
      throw new StratusError('invalid', `The bridge name '${options.bridge}' is not valid.`);
    }
    const cidr = parseCidr(options.network.cidr, 8);
    if (!cidr)
      throw new StratusError('invalid', `The network '${options.network.cidr}' is not a CIDR.`);
    this.#prefix = cidr.prefix;
    const start = parseIpv4(options.network.dhcpStart) ?? cidr.base + 2;
    const end = parseIpv4(options.network.dhcpEnd) ?? cidr.base + cidr.size - 2;
    fs.mkdirSync(options.stateDir, { recursive: true });
    this.#statePath = path.join(options.stateDir, 'dataplane.json');
    this.#spool = new LeaseSpool(
      options.stateDir,
      options.leases,
      options.onError ?? (() => undefined),
    );
    this.#dnsmasq = new Dnsmasq({
      ns: this.ns,
      bridge: options.bridge,
      gateway: options.network.gateway,
      prefix: cidr.prefix,
      dhcpStart: options.network.dhcpStart,
      maxLeases: end - start + 1,
      leaseSeconds: options.leaseSeconds,
      dns: options.network.dns,
      stateDir: options.stateDir,
      hookScript: this.#spool.hookScript(),
    });
    this.#metadata = options.metadataSocket
      ? new MetadataProxy({
          ns: this.ns,
          address: options.network.gateway,
          port: options.metadataPort ?? 8775,
          upstreamSocket: options.metadataSocket,
          stateDir: options.stateDir,
        })
      : undefined;
  }

  get namespace(): string {
    return this.ns.name;
  }

  get bridge(): string {
    return this.#o.bridge;
  }

  /** dnsmasq's log file and what it wrote since it started (for diagnosis and tests). */
  get dnsmasqLog(): { path: string; text(): string } {
    return { path: this.#dnsmasq.logPath, text: () => this.#dnsmasq.logSinceStart() };
  }

  /**
   * Builds everything: the namespace, forwarding, the bridge with the gateway address, the
   * nftables table, the lease spool, dnsmasq and the metadata proxy. When the namespace is
   * there already (the agent restarted), the guests and floating IPs it had are adopted from
   * the state file, so running guests keep their firewall, DHCP and NAT. Undoes what it made
   * when a step fails.
   */
  start(): Promise<void> {
    return this.#serial(async () => {
      const created = !this.ns.exists();
      if (created) fs.rmSync(this.#statePath, { force: true });
      else this.#load();
      try {
        await this.ns.create();
        await this.ns.sysctl('net.ipv4.ip_forward', '1');
        // Bridged guest-to-guest traffic must pass the inet tables for security groups.
        await this.ns.sysctl('net.bridge.bridge-nf-call-iptables', '1');
        await ensureBridge(this.ns, this.#o.bridge, this.#o.network.gateway, this.#prefix);
        await applyNft(this.ns, this.#render());
        for (const g of this.#guests.values()) {
          if ((g.spec.port ?? { kind: 'tap' }).kind === 'tap') {
            await addGuestPort(this.ns, this.#o.bridge, g.ifname, g.spec.mac, { kind: 'tap' });
          }
        }
        for (const floating of this.#floating.keys()) {
          await this.ns.ip(['addr', 'replace', `${floating}/32`, 'dev', this.#o.uplink ?? 'lo']);
        }
        this.#dnsmasq.preload(
          [...this.#guests.values()].map((g) => ({
            mac: g.spec.mac,
            hostname: dhcpHostname(g.spec.hostname),
            ip: g.spec.fixedIp,
          })),
        );
        await this.#spool.start();
        await this.#dnsmasq.start();
        await this.#metadata?.start();
      } catch (err) {
        await this.#spool.stop().catch(() => undefined);
        if (created) await this.ns.destroy().catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * Lets go of the data plane without changing it, as when the agent's process stops while
   * the host's guests keep running: dnsmasq, the proxy and every rule stay; lease events
   * wait in the spool for the next `start`, which adopts it all.
   */
  detach(): Promise<void> {
    return this.#serial(() => this.#spool.stop());
  }

  /** Removes the namespace with every process, link and rule in it. Safe to call twice. */
  teardown(): Promise<void> {
    return this.#serial(async () => {
      // Everything goes with the namespace, so dnsmasq (which takes about a second to exit on
      // SIGTERM) and the proxy get only a short grace before SIGKILL.
      await this.ns.destroy(200);
      await this.#spool.stop();
      fs.rmSync(this.#statePath, { force: true });
      this.#guests.clear();
      this.#floating.clear();
    });
  }

  /** The tap (or veth) name a guest's port gets: stable for the instance, 14 characters. */
  static portName(instanceId: string): string {
    return `tap${instanceId
      .replace(/[^0-9a-f]/gi, '')
      .slice(0, 11)
      .toLowerCase()}`;
  }

  /**
   * Plugs a guest in: its firewall chain first (so it is never reachable unfiltered), then its
   * port on the bridge, then its dnsmasq entry; resolves once dnsmasq will answer its DHCP.
   * Plugging a plugged guest again replaces its port and rules.
   */
  plugGuest(spec: GuestSpec): Promise<{ ifname: string }> {
    return this.#serial(async () => {
      const ifname = HostDataPlane.portName(spec.instanceId);
      const old = this.#guests.get(spec.instanceId);
      const firewall: GuestFirewall = {
        chain: `g-${ifname}`,
        fixedIp: spec.fixedIp,
        rules: spec.rules ?? [],
      };
      if (old && old.firewall.fixedIp !== spec.fixedIp) {
        await applyNft(this.ns, removeGuestCommands(old.firewall));
      }
      if (old && old.spec.mac.toLowerCase() !== spec.mac.toLowerCase()) {
        await this.#dnsmasq.removeHost(old.spec.mac);
      }
      await applyNft(
        this.ns,
        setGuestCommands(firewall, !old || old.firewall.fixedIp !== spec.fixedIp),
      );
      this.#guests.set(spec.instanceId, { spec, ifname, firewall });
      this.#save();
      try {
        await addGuestPort(this.ns, this.#o.bridge, ifname, spec.mac, spec.port ?? { kind: 'tap' });
        await this.#dnsmasq.setHost({
          mac: spec.mac,
          hostname: dhcpHostname(spec.hostname),
          ip: spec.fixedIp,
        });
        // A guest that held this address before may have left its MAC in the namespace's
        // neighbour table; traffic to the new guest would go to it until that entry expires.
        await this.ns.ip(['neigh', 'flush', 'to', spec.fixedIp, 'dev', this.#o.bridge]);
      } catch (err) {
        await this.#unplug(spec.instanceId, false).catch(() => undefined);
        throw err;
      }
      return { ifname };
    });
  }

  /**
   * Unplugs a guest: its dnsmasq entry, port, firewall chain and floating IPs go. With
   * `releaseLease` (the default: the guest is gone) dnsmasq is told to drop its lease, which
   * it reports as `del`, so the address can be handed out again at once. Succeeds when the
   * guest is not plugged.
   */
  unplugGuest(instanceId: string, opts: { releaseLease?: boolean } = {}): Promise<void> {
    return this.#serial(() => this.#unplug(instanceId, opts.releaseLease ?? true));
  }

  /**
   * Tells dnsmasq the lease of `ip` for `mac` is gone (the guest that held it is known dead),
   * so it reports `del`. Harmless when there is no such lease.
   */
  releaseLease(ip: string, mac: string): Promise<void> {
    return this.#dnsmasq.release(ip, mac);
  }

  /** Records the lease events dnsmasq has reported so far; resolves when they are recorded. */
  flushLeaseEvents(): Promise<void> {
    return this.#spool.flush();
  }

  /** Replaces a plugged guest's security-group rules (one atomic nft transaction). */
  setSecurityRules(instanceId: string, rules: readonly EffectiveRule[]): Promise<void> {
    return this.#serial(async () => {
      const g = this.#guests.get(instanceId);
      if (!g) return;
      g.firewall = { ...g.firewall, rules };
      await applyNft(this.ns, setGuestCommands(g.firewall, false));
      this.#save();
    });
  }

  /**
   * Makes `fixed` reachable at `floating`: the floating address on the uplink, DNAT to the
   * fixed address (from outside, from the namespace itself and from other guests) and SNAT of
   * the guest's outgoing traffic. Moving a floating IP to another fixed IP replaces the old
   * association.
   */
  associate(floating: string, fixed: string): Promise<void> {
    return this.#serial(async () => {
      // Rendering checks both addresses before anything changes.
      const script = associateCommands(floating, fixed);
      if (this.#floating.get(floating) === fixed) return;
      if (this.#floating.has(floating)) await this.#disassociate(floating);
      for (const [f, x] of [...this.#floating]) if (x === fixed) await this.#disassociate(f);
      await this.ns.ip(['addr', 'replace', `${floating}/32`, 'dev', this.#o.uplink ?? 'lo']);
      await applyNft(this.ns, script);
      this.#floating.set(floating, fixed);
      this.#save();
    });
  }

  /** Removes a floating IP's NAT and address; succeeds when it is not associated. */
  disassociate(floating: string): Promise<void> {
    return this.#serial(() => this.#disassociate(floating));
  }

  /** The floating IPs in force: floating -> fixed. */
  associations(): Map<string, string> {
    return new Map(this.#floating);
  }

  /** The instances plugged here. */
  guests(): string[] {
    return [...this.#guests.keys()];
  }

  async #unplug(instanceId: string, releaseLease: boolean): Promise<void> {
    const g = this.#guests.get(instanceId);
    if (!g) return;
    for (const [f, x] of this.#floating) if (x === g.spec.fixedIp) await this.#disassociate(f);
    await this.#dnsmasq.removeHost(g.spec.mac);
    await removeLink(this.ns, g.ifname);
    if (releaseLease) await this.#dnsmasq.release(g.spec.fixedIp, g.spec.mac);
    await applyNft(this.ns, removeGuestCommands(g.firewall));
    this.#guests.delete(instanceId);
    this.#save();
  }

  async #disassociate(floating: string): Promise<void> {
    const fixed = this.#floating.get(floating);
    if (fixed === undefined) return;
    await applyNft(this.ns, disassociateCommands(floating, fixed));
    await this.ns
      .ip(['addr', 'del', `${floating}/32`, 'dev', this.#o.uplink ?? 'lo'])
      .catch(() => undefined);
    this.#floating.delete(floating);
    this.#save();
  }

  /** Writes what is plugged and associated, for adoption after a restart. */
  #save(): void {
    const guests = [...this.#guests.values()].map((g) => {
      const port = g.spec.port ?? { kind: 'tap' as const };
      return {
        ...g.spec,
        port:
          port.kind === 'tap'
            ? port
            : { kind: 'veth', peerNamespace: port.peerNamespace.name, peerName: port.peerName },
        rules: g.firewall.rules,
      };
    });
    const text = JSON.stringify({ guests, floating: [...this.#floating] });
    fs.writeFileSync(`${this.#statePath}.tmp`, text, { mode: 0o600 });
    fs.renameSync(`${this.#statePath}.tmp`, this.#statePath);
  }

  #load(): void {
    let state: { guests: SavedGuest[]; floating: [string, string][] };
    try {
      state = JSON.parse(fs.readFileSync(this.#statePath, 'utf8')) as typeof state;
    } catch {
      return;
    }
    for (const saved of state.guests) {
      const port: GuestPortSpec =
        saved.port.kind === 'tap'
          ? { kind: 'tap' }
          : {
              kind: 'veth',
              peerNamespace: new Namespace(saved.port.peerNamespace),
              peerName: saved.port.peerName,
            };
      const spec: GuestSpec = { ...saved, port };
      const ifname = HostDataPlane.portName(spec.instanceId);
      this.#guests.set(spec.instanceId, {
        spec,
        ifname,
        firewall: { chain: `g-${ifname}`, fixedIp: spec.fixedIp, rules: saved.rules },
      });
    }
    for (const [f, x] of state.floating) this.#floating.set(f, x);
  }

  #render(): string {
    return renderTable(
      {
        bridge: this.#o.bridge,
        cidr: this.#o.network.cidr,
        ...(this.#metadata
          ? { metadata: { address: this.#o.network.gateway, port: this.#metadata.port } }
          : {}),
      },
      [...this.#guests.values()].map((g) => g.firewall),
      this.#floating,
    );
  }

  /** Runs changes one at a time, so the in-memory picture always matches the table. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#lock.catch(() => undefined).then(fn);
    this.#lock = p;
    return p;
  }
}
