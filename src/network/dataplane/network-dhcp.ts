// DHCP and metadata of one project network, in a namespace of its own (project networks may
// share address ranges, so nothing that holds one of their addresses can live in a shared
// namespace). The namespace joins the network's bridge by a veth holding the network's DHCP
// address on each of its subnets; dnsmasq there (a static range a subnet) answers only the MACs of the network's ports, with their fixed IPs,
// and hands out the MTU and a classless route to 169.254.169.254 via itself. The metadata
// proxy listens on 169.254.169.254:80 in the same namespace and names the network to the
// metadata service with every request, so two guests with one address on two networks get
// their own answers. Guests that ignore the classless route reach metadata through their
// router instead (router.ts), which names the network the same way.
import fs from 'node:fs';
import path from 'node:path';
import { formatIpv4, parseCidr, parseIpv4 } from '../ipv4.js';
import { linkExists } from './bridge.js';
import { Dnsmasq, dhcpHostname } from './dnsmasq.js';
import { MetadataProxy } from './metadata-proxy-process.js';
import { Namespace } from './namespace.js';
import { METADATA_ADDRESS } from './nftables.js';
import { checkNetworkSpec, type ProjectNetworkSpec } from './overlay-spec.js';
import { segmentBridge } from './vxlan.js';

/** Inside the DHCP namespace, the leg on the network. */
const LEG = 'dhcp0';

/** dnsmasq's hook when nobody follows the leases of a project network: it records nothing. */
const NO_HOOK = '#!/bin/sh\nexit 0\n';

export interface NetworkDhcpOptions {
  /** The host's overlay namespace, where the network's bridge is. */
  overlay: Namespace;
  /** The namespace to own for this network. */
  namespace: string;
  stateDir: string;
  leaseSeconds: number;
  /** The metadata server's unix socket; no metadata proxy when absent. */
  metadataSocket?: string | undefined;
  maxMtu: number;
}

/** The overlay-side name of a network's DHCP leg. */
export function dhcpLegName(vni: number): string {
  return `odh${vni}`;
}

export class NetworkDhcp {
  readonly ns: Namespace;
  readonly #o: NetworkDhcpOptions;
  #dnsmasq: Dnsmasq | undefined;
  #proxy: MetadataProxy | undefined;
  /** The spec dnsmasq was started with (its arguments); a change of these restarts it. */
  #startedWith: string | undefined;

  constructor(options: NetworkDhcpOptions) {
    this.#o = options;
    this.ns = new Namespace(options.namespace);
  }

  /**
   * Creates or updates the network's DHCP namespace to match `spec`: the leg on the bridge
   * with the DHCP address and MTU, 169.254.169.254 on its loopback, dnsmasq with exactly the
   * spec's ports (rewritten and re-read when only they changed; restarted when the subnet,
   * range, gateway or MTU did) and the metadata proxy. Idempotent.
   */
  async ensure(spec: ProjectNetworkSpec): Promise<void> {
    const net = checkNetworkSpec(spec, this.#o.maxMtu);
    const ns = this.ns;
    await ns.create();
    await ns.sysctl('net.ipv6.conf.all.disable_ipv6', '1');
    const outer = dhcpLegName(spec.vni);
    if (!(await linkExists(ns, LEG))) {
      if (await linkExists(this.#o.overlay, outer))
        await this.#o.overlay.ip(['link', 'del', outer]);
      await this.#o.overlay.ip([
        'link',
        'add',
        outer,
        'type',
        'veth',
        'peer',
        'name',
        LEG,
        'netns',
        ns.name,
      ]);
    }
    for (const [space, link] of [
      [this.#o.overlay, outer],
      [ns, LEG],
    ] as const) {
      await space.ip(['link', 'set', link, 'mtu', String(spec.mtu)]);
    }
    await this.#o.overlay.ip(['link', 'set', outer, 'master', segmentBridge(spec.vni)]);
    await this.#o.overlay.ip(['link', 'set', outer, 'up']);
    // The DHCP address of each of the network's subnets, its first subnet's first.
    const more = (spec.moreSubnets ?? []).map((s) => ({
      ...s,
      prefix: (parseCidr(s.cidr, 8) as { prefix: number }).prefix,
    }));
    const addresses = [
      `${spec.dhcpIp}/${net.prefix}`,
      ...more.map((s) => `${s.dhcpIp}/${s.prefix}`),
    ];
    const { stdout } = await ns.ip(['-4', '-o', 'addr', 'show', 'dev', LEG]);
    const have = [...stdout.matchAll(/ inet (\d+\.\d+\.\d+\.\d+\/\d+) /g)].map((m) => m[1]);
    if (have.join(' ') !== addresses.join(' ')) {
      await ns.ip(['addr', 'flush', 'dev', LEG]);
      for (const a of addresses) await ns.ip(['addr', 'add', a, 'dev', LEG]);
    }
    await ns.ip(['link', 'set', LEG, 'up']);
    await ns.ip(['addr', 'replace', `${METADATA_ADDRESS}/32`, 'dev', 'lo']);

    const dir = path.join(this.#o.stateDir, 'dhcp');
    // dnsmasq drops its privileges and re-reads its hosts file from there.
    fs.mkdirSync(this.#o.stateDir, { recursive: true });
    fs.chmodSync(this.#o.stateDir, 0o755);
    const start = parseIpv4(spec.dhcpRange.start) as number;
    const end = parseIpv4(spec.dhcpRange.end) as number;
    const routes = [`${METADATA_ADDRESS}/32,${spec.dhcpIp}`];
    if (spec.gatewayIp !== undefined) routes.push(`0.0.0.0/0,${spec.gatewayIp}`);
    const config = {
      ns,
      bridge: LEG,
      gateway: spec.dhcpIp,
      router: spec.gatewayIp ?? null,
      prefix: net.prefix,
      dhcpStart: formatIpv4(start),
      maxLeases: end - start + 1,
      leaseSeconds: this.#o.leaseSeconds,
      dns: (spec.dnsServers ?? []).join(','),
      stateDir: dir,
      hookScript: NO_HOOK,
      // RFC 3442: a client given classless routes ignores the router option, so the default
      // route is among them too.
      extraOptions: [`option:mtu,${spec.mtu}`, `option:classless-static-route,${routes.join(',')}`],
      // Each further subnet: its own range, gateway and routes (metadata via its DHCP address).
      moreRanges: more.map((s) => {
        const first = parseIpv4(s.dhcpRange.start) as number;
        const last = parseIpv4(s.dhcpRange.end) as number;
        const via = [`${METADATA_ADDRESS}/32,${s.dhcpIp}`];
        if (s.gatewayIp !== undefined) via.push(`0.0.0.0/0,${s.gatewayIp}`);
        return {
          listen: s.dhcpIp,
          prefix: s.prefix,
          dhcpStart: formatIpv4(first),
          maxLeases: last - first + 1,
          router: s.gatewayIp ?? null,
          dns: (s.dnsServers ?? []).join(','),
          extraOptions: [
            `option:mtu,${spec.mtu}`,
            `option:classless-static-route,${via.join(',')}`,
          ],
        };
      }),
    };
    const key = JSON.stringify({ ...config, ns: ns.name });
    const hosts = spec.ports.map((p) => ({
      mac: p.mac.toLowerCase(),
      hostname: dhcpHostname(p.hostname),
      ip: p.ip,
    }));
    if (!this.#dnsmasq || this.#startedWith !== key || this.#dnsmasq.pid() === undefined) {
      await this.#dnsmasq?.stop();
      this.#dnsmasq = new Dnsmasq(config);
      this.#dnsmasq.preload(hosts);
      await this.#dnsmasq.start();
      this.#startedWith = key;
    } else {
      const want = new Map(hosts.map((h) => [h.mac, h]));
      const have = this.#dnsmasq.hosts();
      let changed = false;
      for (const h of have) {
        const w = want.get(h.mac);
        if (!w || w.ip !== h.ip || w.hostname !== h.hostname) {
          await this.#dnsmasq.removeHost(h.mac);
          changed = true;
        }
      }
      const now = new Map(this.#dnsmasq.hosts().map((h) => [h.mac, h]));
      const add = hosts.filter((h) => !now.has(h.mac));
      if (add.length > 0) {
        this.#dnsmasq.preload(add);
        changed = true;
      }
      if (changed) await this.#dnsmasq.reload();
    }

    if (this.#o.metadataSocket !== undefined && !this.#proxy?.pid()) {
      const proxyDir = path.join(this.#o.stateDir, 'metadata');
      fs.mkdirSync(proxyDir, { recursive: true });
      this.#proxy = new MetadataProxy({
        ns,
        address: METADATA_ADDRESS,
        port: 80,
        upstreamSocket: this.#o.metadataSocket,
        stateDir: proxyDir,
        networkId: spec.networkId,
      });
      await this.#proxy.start();
    }
  }

  /** dnsmasq's log since it started (for diagnosis and tests). */
  dnsmasqLog(): string {
    return this.#dnsmasq?.logSinceStart() ?? '';
  }

  /** Removes the namespace with dnsmasq and the proxy in it; succeeds when it is gone. */
  async remove(vni: number): Promise<void> {
    await this.ns.destroy(200);
    if (await linkExists(this.#o.overlay, dhcpLegName(vni))) {
      await this.#o.overlay.ip(['link', 'del', dhcpLegName(vni)]);
    }
    fs.rmSync(this.#o.stateDir, { recursive: true, force: true });
    this.#dnsmasq = undefined;
    this.#proxy = undefined;
    this.#startedWith = undefined;
  }
}
