// One host's data plane: a namespace Stratus owns holding the guest bridge, a port per guest,
// dnsmasq, the lease-event socket, the metadata proxy and the nftables tables (an `inet` table
// for security groups, NAT and the host's own input, and a `bridge` table filtering what each
// guest port may send: anti-spoofing and rogue DHCP; see nftables.ts). Nothing here
// touches the machine's own interfaces, routes or firewall: every command runs in the
// namespace (`ip -n`, `ip netns exec`), except moving the interfaces the host hands the data
// plane (its flat and public interfaces) into the namespace when they are not there yet.
//
// Several hosts (multi-host FlatDHCP): each host's bridge is joined to one flat segment by its
// flat interface and carries the same gateway address; a bridge table on that port keeps ARP
// for the gateway and DHCP on each host, so every host is the gateway, DHCP server and
// metadata proxy of its own guests, which reach guests of other hosts over the segment. A
// guest's floating IP lives on the public interface of the host it runs on, announced by a
// gratuitous ARP when it is added.
import fs from 'node:fs';
import path from 'node:path';
import { StratusError } from '../../errors.js';
import { parseCidr, parseIpv4 } from '../ipv4.js';
import type { EffectiveRule } from '../security-groups.js';
import { addGuestPort, ensureBridge, IFNAME, removeLink, type GuestPortSpec } from './bridge.js';
import { Dnsmasq, dhcpHostname } from './dnsmasq.js';
import {
  locateInterfaces,
  moveInterfaces,
  returnInterfaces,
  type HostInterface,
} from './host-interfaces.js';
import { LeaseSpool, type LeaseEventHandlers } from './lease-events.js';
import { MetadataProxy } from './metadata-proxy-process.js';
import { Namespace } from './namespace.js';
import {
  applyNft,
  associateCommands,
  disassociateCommands,
  removeGuestCommands,
  renderFlatTable,
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
   * The interface joining the bridge to the flat segment the other hosts' bridges are on
   * (enslaved to the bridge, with the bridge table on it); none on a lone host. Looked up in
   * the namespace, else moved there from the root namespace (see host-interfaces.ts).
   */
  flatInterface?: string | undefined;
  /**
   * The interface on the public segment: floating IPs go on it (instead of `uplink`/`lo`),
   * announced by a gratuitous ARP. Looked up like `flatInterface`. Needs `publicAddress`.
   */
  publicInterface?: string | undefined;
  /**
   * This host's address on the public segment, `A.B.C.D/N`, put on `publicInterface`: guests
   * without a floating IP leave by it as this address, and the namespace reaches floating IPs
   * of other hosts from it.
   */
  publicAddress?: string | undefined;
  /**
   * The metadata server guests reach at 169.254.169.254: an HTTP server on a unix socket. A
   * proxy inside the namespace forwards each request to it with the guest's fixed IP in the
   * `X-Forwarded-For` header. No metadata DNAT when absent.
   */
  metadataSocket?: string | undefined;
  /** Port of the metadata proxy on the gateway address; 8775 unless told. */
  metadataPort?: number | undefined;
  /**
   * Called with errors the data plane cannot return to anyone (a failed lease event, a
   * gratuitous ARP that could not be sent).
   */
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
  /**
   * Egress rules to enforce from the first packet (where the guest may send to); egress is
   * not filtered when absent, and an empty list lets nothing out but replies.
   */
  egress?: readonly EffectiveRule[] | undefined;
  /** The IP TTL of the metadata proxy's replies to the guest (its metadata hop limit); 1 unless told. */
  metadataHops?: number | undefined;
}

interface SavedGuest {
  instanceId: string;
  mac: string;
  fixedIp: string;
  hostname: string;
  /** `veth` only in tests (see `GuestPortSpec`). */
  port: { kind: 'tap' } | { kind: 'veth'; peerNamespace: string; peerName: string };
  rules: EffectiveRule[];
  egress?: EffectiveRule[];
  metadataHops?: number;
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
  /** Where floating addresses go: the public interface, the uplink or `lo`. */
  readonly #floatingDev: string;
  readonly #public: { ifname: string; address: string; cidr: string } | undefined;

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
    for (const name of [options.flatInterface, options.publicInterface]) {
      if (name !== undefined && !IFNAME.test(name))
        throw new StratusError('invalid', `The interface name '${name}' is not valid.`);
    }
    if ((options.publicInterface === undefined) !== (options.publicAddress === undefined)) {
      throw new StratusError(
        'invalid',
        'A public interface needs the host address on it (and an address needs the interface).',
      );
    }
    if (options.publicInterface !== undefined && options.publicAddress !== undefined) {
      const [address = '', bits = ''] = options.publicAddress.split('/');
      if (parseIpv4(address) === undefined || !/^\d{1,2}$/.test(bits) || Number(bits) > 32) {
        throw new StratusError(
          'invalid',
          `The public address '${options.publicAddress}' is not an address with its prefix (A.B.C.D/N).`,
        );
      }
      this.#public = {
        ifname: options.publicInterface,
        address,
        cidr: `${address}/${Number(bits)}`,
      };
    }
    this.#floatingDev = options.publicInterface ?? options.uplink ?? 'lo';
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
   * the state file, so running guests keep their firewall, DHCP and NAT. The flat and public
   * interfaces are found first: when one is in neither the namespace nor the root namespace,
   * it refuses, naming it, before anything changed. Undoes what it made when a step fails.
   */
  start(): Promise<void> {
    return this.#serial(async () => {
      const created = !this.ns.exists();
      const plans = await locateInterfaces(this.ns, !created, this.#interfaces());
      if (this.#public) requireArping();
      if (created) fs.rmSync(this.#statePath, { force: true });
      else this.#load();
      let moved: string[] = [];
      try {
        await this.ns.create();
        await this.ns.sysctl('net.ipv4.ip_forward', '1');
        // Bridged guest-to-guest traffic must pass the inet tables for security groups.
        await this.ns.sysctl('net.bridge.bridge-nf-call-iptables', '1');
        await ensureBridge(this.ns, this.#o.bridge, this.#o.network.gateway, this.#prefix);
        await applyNft(this.ns, this.#render());
        const flat = this.#o.flatInterface;
        if (flat !== undefined) {
          // The port's filter is in place before the port joins the bridge.
          await applyNft(this.ns, renderFlatTable(flat, this.#o.network.gateway));
        }
        moved = await moveInterfaces(plans);
        if (flat !== undefined) {
          await this.ns.ip(['link', 'set', 'dev', flat, 'master', this.#o.bridge]);
          await this.ns.ip(['link', 'set', 'dev', flat, 'up']);
        }
        if (this.#public) {
          await this.ns.ip(['addr', 'replace', this.#public.cidr, 'dev', this.#public.ifname]);
          await this.ns.ip(['link', 'set', 'dev', this.#public.ifname, 'up']);
        }
        for (const g of this.#guests.values()) {
          if ((g.spec.port ?? { kind: 'tap' }).kind === 'tap') {
            await addGuestPort(this.ns, this.#o.bridge, g.ifname, g.spec.mac, { kind: 'tap' });
          }
        }
        for (const floating of this.#floating.keys()) {
          await this.ns.ip(['addr', 'replace', `${floating}/32`, 'dev', this.#floatingDev]);
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
        await returnInterfaces(this.ns, moved).catch(() => undefined);
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
   * Plugs a guest in: its firewall chains first (so it is never reachable unfiltered, and what
   * it sends is filtered from its first frame), then its
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
        egress: spec.egress,
        port: { ifname, mac: spec.mac },
        metadataReplies: this.#metadataReplies(spec.metadataHops),
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

  /**
   * Replaces a plugged guest's security-group rules (ingress `rules`, and `egress`: absent,
   * egress is not filtered) and, when given, the TTL of the metadata proxy's replies to it
   * (one atomic nft transaction).
   */
  setSecurityRules(
    instanceId: string,
    rules: readonly EffectiveRule[],
    metadataHops?: number,
    egress?: readonly EffectiveRule[],
  ): Promise<void> {
    return this.#serial(async () => {
      const g = this.#guests.get(instanceId);
      if (!g) return;
      if (metadataHops !== undefined) g.spec = { ...g.spec, metadataHops };
      g.spec = { ...g.spec, egress };
      g.firewall = {
        ...g.firewall,
        rules,
        egress,
        metadataReplies: this.#metadataReplies(g.spec.metadataHops),
      };
      await applyNft(this.ns, setGuestCommands(g.firewall, false));
      this.#save();
    });
  }

  /**
   * Makes `fixed` reachable at `floating`: the floating address on the public interface
   * (announced there by a gratuitous ARP, so neighbours that knew it on another host follow
   * at once), else the uplink or `lo`; DNAT to the fixed address (from outside, from the
   * namespace itself and from other guests) and SNAT of the guest's outgoing traffic. Moving
   * a floating IP to another fixed IP replaces the old association.
   */
  associate(floating: string, fixed: string): Promise<void> {
    return this.#serial(async () => {
      // Rendering checks both addresses before anything changes.
      const script = associateCommands(floating, fixed);
      if (this.#floating.get(floating) === fixed) return;
      if (this.#floating.has(floating)) await this.#disassociate(floating);
      for (const [f, x] of [...this.#floating]) if (x === fixed) await this.#disassociate(f);
      await this.ns.ip(['addr', 'replace', `${floating}/32`, 'dev', this.#floatingDev]);
      await applyNft(this.ns, script);
      this.#floating.set(floating, fixed);
      this.#save();
      if (this.#public) this.#announce(floating);
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
      .ip(['addr', 'del', `${floating}/32`, 'dev', this.#floatingDev])
      .catch(() => undefined);
    this.#floating.delete(floating);
    this.#save();
  }

  /** The interfaces the host handed the data plane, with the options that named them. */
  #interfaces(): HostInterface[] {
    const out: HostInterface[] = [];
    if (this.#o.flatInterface !== undefined)
      out.push({ name: this.#o.flatInterface, option: '--flat-interface' });
    if (this.#o.publicInterface !== undefined)
      out.push({ name: this.#o.publicInterface, option: '--public-interface' });
    return out;
  }

  /**
   * A gratuitous ARP for `floating` on the public segment. Not awaited: arping waits a second
   * for answers nobody sends, and the announcement is out as soon as it starts.
   */
  #announce(floating: string): void {
    const ifname = this.#public?.ifname;
    if (ifname === undefined) return;
    this.ns
      .exec('arping', ['-U', '-c', '1', '-I', ifname, '-s', floating, floating])
      .catch((err: unknown) =>
        this.#o.onError?.(
          new StratusError('internal', `Announcing the floating IP ${floating} failed.`, {
            cause: err,
          }),
        ),
      );
  }

  /** What a guest chain needs to set the TTL of the metadata proxy's replies; none without a proxy. */
  #metadataReplies(hops: number | undefined): GuestFirewall['metadataReplies'] {
    return this.#metadata
      ? { address: this.#o.network.gateway, port: this.#metadata.port, hops: hops ?? 1 }
      : undefined;
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
        egress: g.firewall.egress,
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
        firewall: {
          chain: `g-${ifname}`,
          fixedIp: spec.fixedIp,
          rules: saved.rules,
          egress: saved.egress,
          port: { ifname, mac: spec.mac },
          metadataReplies: this.#metadataReplies(saved.metadataHops),
        },
      });
    }
    for (const [f, x] of state.floating) this.#floating.set(f, x);
  }

  #render(): string {
    return renderTable(
      {
        bridge: this.#o.bridge,
        cidr: this.#o.network.cidr,
        ...(this.#o.flatInterface !== undefined ? { flat: true } : {}),
        ...(this.#public
          ? { public: { ifname: this.#public.ifname, address: this.#public.address } }
          : {}),
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

/** arping (iputils-arping) announces floating IPs on the public segment; refuses without it. */
function requireArping(): void {
  const found = ['/usr/sbin/arping', '/usr/bin/arping', '/sbin/arping', '/bin/arping'].some((f) =>
    fs.existsSync(f),
  );
  if (!found) {
    throw new StratusError(
      'invalid',
      'A public interface needs arping (Debian package iputils-arping) to announce floating IPs; scripts/setup installs it.',
      { resource: 'config', id: 'public-interface' },
    );
  }
}
