// The overlay data plane of one host: project networks isolated on the wire across hosts.
//
// Everything lives in namespaces Stratus owns, apart from the flat data plane's:
// - the host's overlay namespace holds the underlay interface (with the host's underlay
//   address), the public interface when the host carries routers, and per project network a
//   bridge with a VXLAN device (vxlan.ts) and the guests' ports, each filtered against
//   spoofing and, when the port has security groups, by them (overlay-nft.ts). It has no
//   address on any project network and IPv6 and forwarding are off; bridged IPv4 passes its
//   IP hooks only for the security-group table: networks are separate bridges with separate
//   VNIs and nothing joins them.
// - on the network host (`serveNetworks`), a namespace per network for DHCP and metadata
//   (network-dhcp.ts) and a namespace per router (router.ts), since project networks may
//   share address ranges.
// Namespaces are named after the overlay namespace (`<ns>-d<vni>`, `<ns>-r<tag>`), so
// `teardown` finds them all, also after a restart.
//
// The methods realise plain specs (overlay-spec.ts) idempotently: calling one again with the
// same spec changes nothing, with another spec changes what differs.
import fs from 'node:fs';
import path from 'node:path';
import { StratusError } from '../../errors.js';
import { parseIpv4 } from '../ipv4.js';
import { addGuestPort, IFNAME, linkExists, removeLink, type GuestPortSpec } from './bridge.js';
import {
  locateInterfaces,
  moveInterfaces,
  returnInterfaces,
  type HostInterface,
} from './host-interfaces.js';
import { Namespace } from './namespace.js';
import { NetworkDhcp } from './network-dhcp.js';
import { applyNft } from './nftables.js';
import {
  renderOverlayPortTable,
  renderOverlaySecurityTable,
  type PortSecurity,
} from './overlay-nft.js';
import {
  checkNetworkSpec,
  VXLAN_OVERHEAD,
  type OverlayPeer,
  type ProjectNetworkSpec,
  type RouterSpec,
} from './overlay-spec.js';
import { ProjectRouter, routerTag } from './router.js';
import { run } from './run.js';
import { ensureSegment, removeSegment, segmentBridge } from './vxlan.js';

export interface OverlayHostOptions {
  /** The host's name (peers are named by it). */
  host: string;
  /** The overlay namespace to create and own, at most 40 characters, e.g. `stratus-<host>-ov`. */
  namespace: string;
  /** The interface on the underlay: looked up in the namespace, else moved there from the root. */
  underlayInterface: string;
  /** This host's underlay address with its prefix, `A.B.C.D/N`, put on `underlayInterface`. */
  underlayAddress: string;
  /** The underlay's MTU; 1500 unless told. Project networks get at most this less 50. */
  underlayMtu?: number;
  /**
   * The interface on the public segment routers' external legs are macvlans of (looked up
   * like the underlay's); only a host that carries routers needs it.
   */
  publicInterface?: string | undefined;
  /**
   * Whether this host is the network host: it serves DHCP and metadata of the project
   * networks (and routers need it). Compute-only hosts carry segments and guest ports.
   */
  serveNetworks: boolean;
  /** The metadata server's unix socket (`X-Forwarded-For` + `X-Stratus-Network-Id`); no metadata when absent. */
  metadataSocket?: string | undefined;
  leaseSeconds: number;
  /** Where dnsmasq's and the proxies' files go (created if missing). */
  stateDir: string;
  /** Errors nobody can be told of (a gratuitous ARP that failed). */
  onError?: (err: unknown) => void;
}

/** The overlay namespace of a host whose flat data plane is in `dataPlaneNamespace` (at most 40 characters). */
export function overlayNamespaceOf(dataPlaneNamespace: string): string {
  return `${dataPlaneNamespace.slice(0, 37)}-ov`;
}

/** A guest port to plug into a project network on this host. */
export interface OverlayPlug {
  networkId: string;
  /** The model's id of the port (or the instance): names the tap. */
  portId: string;
  mac: string;
  fixedIp: string;
  /** A tap for a VM (the default); a veth into a namespace in tests (TEST-ONLY, see bridge.ts). */
  port?: GuestPortSpec;
  /**
   * The port's security groups, in force from its first frame; absent, its traffic is not
   * filtered by groups (port security off). Changed later with `setPortSecurity`.
   */
  security?: PortSecurity | undefined;
}

interface Plugged extends OverlayPlug {
  ifname: string;
  /** The bridge of its network, and the network's VNI (its conntrack zone). */
  bridge: string;
  vni: number;
}

export class OverlayHost {
  readonly ns: Namespace;
  readonly #o: OverlayHostOptions;
  readonly #localIp: string;
  readonly #prefix: number;
  readonly #maxMtu: number;
  readonly #networks = new Map<string, ProjectNetworkSpec>();
  readonly #dhcp = new Map<string, NetworkDhcp>();
  readonly #routers = new Map<string, ProjectRouter>();
  readonly #ports = new Map<string, Plugged>();
  #peers: string[] = [];
  #lock: Promise<unknown> = Promise.resolve();

  constructor(options: OverlayHostOptions) {
    if (options.namespace.length > 40) {
      throw new StratusError(
        'invalid',
        `The overlay namespace name '${options.namespace}' is longer than 40 characters.`,
      );
    }
    this.ns = new Namespace(options.namespace);
    for (const name of [options.underlayInterface, options.publicInterface]) {
      if (name !== undefined && !IFNAME.test(name)) {
        throw new StratusError('invalid', `The interface name '${name}' is not valid.`);
      }
    }
    const [address = '', bits = ''] = options.underlayAddress.split('/');
    if (parseIpv4(address) === undefined || !/^\d{1,2}$/.test(bits) || Number(bits) > 32) {
      throw new StratusError(
        'invalid',
        `The underlay address '${options.underlayAddress}' is not an address with its prefix (A.B.C.D/N).`,
      );
    }
    this.#localIp = address;
    this.#prefix = Number(bits);
    this.#maxMtu = (options.underlayMtu ?? 1500) - VXLAN_OVERHEAD;
    this.#o = options;
  }

  /** The largest MTU a project network can have over this underlay. */
  get maxMtu(): number {
    return this.#maxMtu;
  }

  get underlayIp(): string {
    return this.#localIp;
  }

  /**
   * Creates (or adopts) the overlay namespace with the underlay interface addressed and up,
   * the public interface up, and the port filter table. Refuses before changing anything when
   * an interface is nowhere.
   */
  start(): Promise<void> {
    return this.#serial(async () => {
      const created = !this.ns.exists();
      const plans = await locateInterfaces(this.ns, !created, this.#interfaces());
      // dnsmasq, which drops its privileges, reads its hosts file below this directory.
      fs.mkdirSync(this.#o.stateDir, { recursive: true });
      fs.chmodSync(this.#o.stateDir, 0o755);
      let moved: string[] = [];
      try {
        await this.ns.create();
        // Nothing of this namespace may speak on a project network: no IPv6 link-local
        // addresses on the bridges, no forwarding, and bridged frames stay out of IP hooks.
        await this.ns.sysctl('net.ipv6.conf.all.disable_ipv6', '1');
        await this.ns.sysctl('net.ipv6.conf.default.disable_ipv6', '1');
        await this.ns.sysctl('net.ipv4.ip_forward', '0');
        // Bridged IPv4 passes the `inet` hooks, where the security-group table filters the
        // ports that have groups (with connection tracking); nothing else is there.
        await this.ns.sysctl('net.bridge.bridge-nf-call-iptables', '1');
        // After a restart, the ports plugged before keep their filters until plugged again.
        if (!created) this.#loadPorts();
        await this.#applyPortTables();
        moved = await moveInterfaces(plans);
        const ul = this.#o.underlayInterface;
        await this.ns.ip(['link', 'set', 'dev', ul, 'mtu', String(this.#o.underlayMtu ?? 1500)]);
        await this.ns.ip(['addr', 'replace', `${this.#localIp}/${this.#prefix}`, 'dev', ul]);
        await this.ns.ip(['link', 'set', 'dev', ul, 'up']);
        if (this.#o.publicInterface !== undefined) {
          await this.ns.ip(['link', 'set', 'dev', this.#o.publicInterface, 'up']);
        }
      } catch (err) {
        await returnInterfaces(this.ns, moved).catch(() => undefined);
        if (created) await this.ns.destroy().catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * Sets the other hosts of the overlay: every segment floods to exactly these (this host's
   * own address is left out).
   */
  setPeers(peers: readonly OverlayPeer[]): Promise<void> {
    return this.#serial(async () => {
      for (const p of peers) {
        if (parseIpv4(p.underlayIp) === undefined) {
          throw new StratusError(
            'invalid',
            `The peer ${p.host} has no valid underlay address ('${p.underlayIp}').`,
          );
        }
      }
      this.#peers = [...new Set(peers.map((p) => p.underlayIp))].filter(
        (ip) => ip !== this.#localIp,
      );
      for (const spec of this.#networks.values()) await this.#segment(spec);
    });
  }

  /**
   * Makes project network `spec` present on this host: its segment, and on the network host
   * its DHCP and metadata namespace. Idempotent; a changed spec updates what differs (a
   * changed VNI moves the network to a new segment).
   */
  ensureNetwork(spec: ProjectNetworkSpec): Promise<void> {
    return this.#serial(async () => {
      checkNetworkSpec(spec, this.#maxMtu);
      const old = this.#networks.get(spec.networkId);
      for (const [id, other] of this.#networks) {
        if (id !== spec.networkId && other.vni === spec.vni) {
          throw new StratusError(
            'conflict',
            `The VNI ${spec.vni} of network ${spec.networkId} is taken by network ${id} on this host.`,
            {
              resource: 'network',
              id: spec.networkId,
            },
          );
        }
      }
      if (old && old.vni !== spec.vni) await this.#removeNetwork(old);
      // New on this host: neither known to this process nor left by an earlier one.
      const fresh =
        !this.#networks.has(spec.networkId) &&
        !(await linkExists(this.ns, segmentBridge(spec.vni)));
      try {
        await this.#segment(spec);
        this.#networks.set(spec.networkId, spec);
        if (this.#o.serveNetworks) {
          let dhcp = this.#dhcp.get(spec.networkId);
          if (!dhcp) {
            dhcp = this.#networkDhcp(spec.vni);
            this.#dhcp.set(spec.networkId, dhcp);
          }
          await dhcp.ensure(spec);
        }
      } catch (err) {
        // A network that was not here before leaves nothing behind.
        if (fresh) await this.#removeNetwork(spec).catch(() => undefined);
        throw err;
      }
      // Ports plugged here follow a new MTU.
      for (const p of this.#ports.values()) {
        if (p.networkId === spec.networkId) await this.#setPortMtu(p, spec.mtu);
      }
    });
  }

  /** Removes a project network from this host with its ports, DHCP and segment; succeeds when absent. */
  removeNetwork(networkId: string): Promise<void> {
    return this.#serial(async () => {
      const spec = this.#networks.get(networkId);
      if (spec) await this.#removeNetwork(spec);
    });
  }

  /**
   * Plugs a guest port into a project network present on this host: its anti-spoofing
   * filter first, then the tap (or test veth) on the network's bridge at the network's MTU.
   * Plugging again replaces the port.
   */
  plugPort(plug: OverlayPlug): Promise<{ ifname: string; bridge: string; namespace: string }> {
    return this.#serial(async () => {
      const spec = this.#networks.get(plug.networkId);
      if (!spec) {
        throw new StratusError(
          'not_found',
          `The project network ${plug.networkId} is not on host ${this.#o.host}.`,
          {
            resource: 'network',
            id: plug.networkId,
          },
        );
      }
      const ifname = OverlayHost.portName(plug.portId);
      const bridge = segmentBridge(spec.vni);
      const entry: Plugged = {
        ...plug,
        mac: plug.mac.toLowerCase(),
        ifname,
        bridge,
        vni: spec.vni,
      };
      const old = this.#ports.get(plug.portId);
      // The same port plugged again (a repeated spec, or adopted after a restart of the
      // process) keeps its link: a tap may be held open by its VM, and a test veth made again
      // would lose its guest's address.
      const same =
        (old === undefined ||
          (old.networkId === entry.networkId &&
            old.mac === entry.mac &&
            old.fixedIp === entry.fixedIp)) &&
        (await this.#onBridge(ifname, bridge));
      this.#ports.set(plug.portId, entry);
      this.#savePorts();
      try {
        await this.#applyPortTables();
        if (!same) {
          await addGuestPort(this.ns, bridge, ifname, entry.mac, plug.port ?? { kind: 'tap' });
        }
        await this.#setPortMtu(entry, spec.mtu);
        return { ifname, bridge, namespace: this.ns.name };
      } catch (err) {
        await this.#unplug(plug.portId).catch(() => undefined);
        throw err;
      }
    });
  }

  /** Unplugs a guest port; succeeds when it is not plugged. */
  unplugPort(portId: string): Promise<void> {
    return this.#serial(() => this.#unplug(portId));
  }

  /**
   * Replaces a plugged port's security groups (`undefined`: not filtered by groups) in one
   * nft transaction; connections the new rules still allow go on. `not_found` when the port
   * is not plugged here.
   */
  setPortSecurity(portId: string, security: PortSecurity | undefined): Promise<void> {
    return this.#serial(async () => {
      const p = this.#ports.get(portId);
      if (!p) {
        throw new StratusError(
          'not_found',
          `The port ${portId} is not plugged on host ${this.#o.host}.`,
          {
            resource: 'port',
            id: portId,
          },
        );
      }
      const old = p.security;
      p.security = security;
      try {
        await this.#applyPortTables();
      } catch (err) {
        p.security = old;
        throw err;
      }
      this.#savePorts();
    });
  }

  /**
   * Makes a project router present on this (network) host as `spec` says; its networks must
   * have been ensured here first.
   */
  ensureRouter(spec: RouterSpec): Promise<void> {
    return this.#serial(async () => {
      const needsPublic = spec.externalIp !== undefined;
      if (!this.#o.serveNetworks || (needsPublic && this.#o.publicInterface === undefined)) {
        throw new StratusError(
          'invalid',
          `Host ${this.#o.host} is not a network host${needsPublic ? ' with a public interface' : ''}, so it cannot carry router ${spec.routerId}.`,
          { resource: 'network', id: spec.routerId },
        );
      }
      let router = this.#routers.get(spec.routerId);
      if (!router) {
        router = new ProjectRouter({
          overlay: this.ns,
          namespace: this.routerNamespace(spec.routerId),
          publicInterface: this.#o.publicInterface,
          stateDir: path.join(this.#o.stateDir, `router-${routerTag(spec.routerId)}`),
          metadataSocket: this.#o.metadataSocket,
          onError: this.#o.onError,
        });
        this.#routers.set(spec.routerId, router);
      }
      await router.ensure(spec, this.#networks);
    });
  }

  /** Removes a router; succeeds when it is not here. */
  removeRouter(routerId: string): Promise<void> {
    return this.#serial(async () => {
      const router =
        this.#routers.get(routerId) ??
        new ProjectRouter({
          overlay: this.ns,
          namespace: this.routerNamespace(routerId),
          publicInterface: this.#o.publicInterface ?? 'lo',
          stateDir: path.join(this.#o.stateDir, `router-${routerTag(routerId)}`),
        });
      await router.remove();
      this.#routers.delete(routerId);
    });
  }

  /** The DHCP and metadata namespace of network `vni` on this host. */
  dhcpNamespace(vni: number): string {
    return `${this.ns.name}-d${vni}`;
  }

  /** The namespace of router `routerId` on this host. */
  routerNamespace(routerId: string): string {
    return `${this.ns.name}-r${routerTag(routerId)}`;
  }

  /** dnsmasq's log of a network served here (diagnosis and tests). */
  dnsmasqLog(networkId: string): string {
    return this.#dhcp.get(networkId)?.dnsmasqLog() ?? '';
  }

  /**
   * Removes everything: router and DHCP namespaces (also ones a previous process made), then
   * the overlay namespace. The underlay and public interfaces, when moved in from the root
   * namespace, go back there with it (physical ones) or vanish (virtual ones). Idempotent.
   */
  teardown(): Promise<void> {
    return this.#serial(async () => {
      const { stdout } = await run('ip', ['netns', 'list']);
      const prefix = `${this.ns.name}-`;
      for (const line of stdout.split('\n')) {
        const name = line.split(' ')[0] ?? '';
        if (name.startsWith(prefix) && /^[dr]/.test(name.slice(prefix.length))) {
          await new Namespace(name).destroy(200);
        }
      }
      await this.ns.destroy(200);
      fs.rmSync(this.#o.stateDir, { recursive: true, force: true });
      this.#networks.clear();
      this.#dhcp.clear();
      this.#routers.clear();
      this.#ports.clear();
    });
  }

  /** The tap name of a port: stable for the port id, 14 characters. */
  static portName(portId: string): string {
    const hex = portId.replace(/[^0-9a-f]/gi, '').toLowerCase();
    if (hex.length < 6) {
      throw new StratusError(
        'invalid',
        `The port id '${portId}' has too few hex digits to name a tap.`,
      );
    }
    return `otp${hex.slice(0, 11)}`;
  }

  async #segment(spec: ProjectNetworkSpec): Promise<void> {
    await ensureSegment(this.ns, {
      vni: spec.vni,
      mtu: spec.mtu,
      localIp: this.#localIp,
      underlayInterface: this.#o.underlayInterface,
      peers: this.#peers,
    });
  }

  async #removeNetwork(spec: ProjectNetworkSpec): Promise<void> {
    for (const p of [...this.#ports.values()])
      if (p.networkId === spec.networkId) await this.#unplug(p.portId);
    const dhcp = this.#dhcp.get(spec.networkId) ?? this.#networkDhcp(spec.vni);
    await dhcp.remove(spec.vni);
    this.#dhcp.delete(spec.networkId);
    await removeSegment(this.ns, spec.vni);
    this.#networks.delete(spec.networkId);
  }

  #networkDhcp(vni: number): NetworkDhcp {
    return new NetworkDhcp({
      overlay: this.ns,
      namespace: this.dhcpNamespace(vni),
      stateDir: path.join(this.#o.stateDir, `net-${vni}`),
      leaseSeconds: this.#o.leaseSeconds,
      metadataSocket: this.#o.metadataSocket,
      maxMtu: this.#maxMtu,
    });
  }

  async #unplug(portId: string): Promise<void> {
    const p = this.#ports.get(portId);
    if (!p) return;
    await removeLink(this.ns, p.ifname);
    this.#ports.delete(portId);
    this.#savePorts();
    await this.#applyPortTables();
  }

  /** The anti-spoofing and security-group tables of the plugged ports, in one transaction. */
  async #applyPortTables(): Promise<void> {
    const ports = [...this.#ports.values()];
    // A port recorded by an older version, without its bridge, gets its groups when plugged again.
    const known = ports.filter((p) => typeof p.bridge === 'string' && p.bridge !== '');
    await applyNft(this.ns, renderOverlayPortTable(ports) + renderOverlaySecurityTable(known));
  }

  get #portsPath(): string {
    return path.join(this.#o.stateDir, 'overlay-ports.json');
  }

  /** Writes the plugged ports (their filters), for a restarted process to keep them. */
  #savePorts(): void {
    const ports = [...this.#ports.values()].map((p) => ({
      networkId: p.networkId,
      portId: p.portId,
      mac: p.mac,
      fixedIp: p.fixedIp,
      ifname: p.ifname,
      bridge: p.bridge,
      vni: p.vni,
      security: p.security,
    }));
    fs.writeFileSync(`${this.#portsPath}.tmp`, JSON.stringify(ports), { mode: 0o600 });
    fs.renameSync(`${this.#portsPath}.tmp`, this.#portsPath);
  }

  #loadPorts(): void {
    let ports: Plugged[];
    try {
      ports = JSON.parse(fs.readFileSync(this.#portsPath, 'utf8')) as Plugged[];
    } catch {
      return;
    }
    for (const p of ports) if (!this.#ports.has(p.portId)) this.#ports.set(p.portId, p);
  }

  async #onBridge(ifname: string, bridge: string): Promise<boolean> {
    if (!(await linkExists(this.ns, ifname))) return false;
    const { stdout } = await this.ns.ip(['-o', 'link', 'show', 'dev', ifname]);
    return stdout.includes(` master ${bridge} `);
  }

  async #setPortMtu(p: Plugged, mtu: number): Promise<void> {
    if (!(await linkExists(this.ns, p.ifname))) return;
    await this.ns.ip(['link', 'set', p.ifname, 'mtu', String(mtu)]);
    if (p.port?.kind === 'veth')
      await p.port.peerNamespace.ip(['link', 'set', p.port.peerName, 'mtu', String(mtu)]);
  }

  #interfaces(): HostInterface[] {
    const out: HostInterface[] = [
      { name: this.#o.underlayInterface, option: '--underlay-interface' },
    ];
    if (this.#o.publicInterface !== undefined) {
      out.push({ name: this.#o.publicInterface, option: '--overlay-public-interface' });
    }
    return out;
  }

  /** Runs changes one at a time, so the in-memory picture always matches the namespaces. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#lock.catch(() => undefined).then(fn);
    this.#lock = p;
    return p;
  }
}
