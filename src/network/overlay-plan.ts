// What each overlay host must realise, computed from the project network model (issue 16):
// the peers (every overlay host's underlay address), on a compute host the networks with a
// guest port bound to it, on the network host every network (it serves their DHCP and
// metadata) and every router with its legs, external address and floating IPs. Pure: the
// network service reads the model, this plans, OverlaySync sends.
import { cidrContains, formatIpv4, parseCidr, parseIpv4, type Cidr } from './ipv4.js';
import type { OverlayPeer, ProjectNetworkSpec, RouterSpec } from './dataplane/index.js';

/** A host whose network agent carries an overlay, as it registered itself. */
export interface OverlayHostInfo {
  host: string;
  /** Its underlay address, without the prefix. */
  underlayIp: string;
  /** Whether it serves DHCP and metadata and carries the routers. */
  networkHost: boolean;
  /** On the network host: its address on the public segment `A.B.C.D/N` (routers take N). */
  publicAddress: string | null;
}

export interface PlanNetwork {
  id: string;
  vni: number;
  mtu: number;
}

export interface PlanSubnet {
  id: string;
  networkId: string;
  cidr: string;
  gateway: string | null;
  pools: readonly { start: string; end: string }[];
  dns: readonly string[];
  createdAt: number;
}

export interface PlanPort {
  id: string;
  networkId: string;
  mac: string;
  deviceOwner: string;
  deviceId: string;
  bindingHost: string | null;
  ips: readonly { subnetId: string; address: string }[];
}

export interface PlanRouter {
  id: string;
  /** Its address on the public segment, when it has an external gateway. */
  externalIp: string | null;
  interfaces: readonly { subnetId: string; portId: string }[];
}

export interface PlanFloatingIp {
  address: string;
  fixedAddress: string;
  instanceId: string;
}

export interface OverlayModel {
  hosts: readonly OverlayHostInfo[];
  /** The project networks carried on the overlay (VXLAN; not the default VPC's). */
  networks: readonly PlanNetwork[];
  subnets: readonly PlanSubnet[];
  ports: readonly PlanPort[];
  routers: readonly PlanRouter[];
  floatingIps: readonly PlanFloatingIp[];
}

export interface OverlayPlan {
  peers: OverlayPeer[];
  /** Per host, the networks it must have (the network host: all of them). */
  networks: Map<string, ProjectNetworkSpec[]>;
  /** The network host's routers; empty when there is no network host. */
  routers: RouterSpec[];
  /** The network host, if one has registered. */
  networkHost: string | undefined;
  /** Networks that could not be planned (no subnet yet, no DHCP address): id -> why. */
  skipped: Map<string, string>;
}

const COMPUTE_OWNER = 'compute:';
const NETWORK_OWNER = 'network:';

/**
 * The network's own subnet: its first (oldest) subnet. A network's other subnets are not
 * carried yet (one CIDR per VXLAN segment in the data plane's spec).
 */
export function primarySubnet(
  subnets: readonly PlanSubnet[],
  networkId: string,
): PlanSubnet | undefined {
  return subnets
    .filter((s) => s.networkId === networkId)
    .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))[0];
}

/**
 * The address the network's DHCP (and metadata) port holds: a `network:dhcp` port's, else the
 * lowest host address of the subnet outside its pools that is not the gateway (EC2 keeps the
 * first four addresses of a VPC subnet; the second serves here). Undefined: there is none, and
 * a DHCP port must be made.
 */
export function dhcpAddress(subnet: PlanSubnet, ports: readonly PlanPort[]): string | undefined {
  const own = ports.find(
    (p) => p.deviceOwner === 'network:dhcp' && p.ips.some((i) => i.subnetId === subnet.id),
  );
  const held = own?.ips.find((i) => i.subnetId === subnet.id)?.address;
  if (held) return held;
  const c = parseCidr(subnet.cidr, 0) as Cidr;
  const pools = subnet.pools.map((p) => [parseIpv4(p.start) ?? 0, parseIpv4(p.end) ?? 0]);
  const gateway = subnet.gateway === null ? undefined : parseIpv4(subnet.gateway);
  const taken = new Set(ports.flatMap((p) => p.ips.map((i) => i.address)));
  for (let ip = c.base + 1; ip < c.base + c.size - 1; ip++) {
    if (ip === gateway || pools.some(([a, b]) => ip >= (a ?? 0) && ip <= (b ?? 0))) continue;
    if (taken.has(formatIpv4(ip))) continue;
    return formatIpv4(ip);
  }
  return undefined;
}

export function planOverlay(model: OverlayModel): OverlayPlan {
  const peers = model.hosts.map((h) => ({ host: h.host, underlayIp: h.underlayIp }));
  const networkHost = model.hosts.find((h) => h.networkHost);
  const skipped = new Map<string, string>();
  const specs = new Map<string, ProjectNetworkSpec>();
  for (const n of model.networks) {
    const subnet = primarySubnet(model.subnets, n.id);
    if (!subnet) {
      skipped.set(n.id, 'it has no subnet');
      continue;
    }
    const dhcpIp = dhcpAddress(subnet, model.ports);
    if (!dhcpIp) {
      skipped.set(n.id, 'its subnet has no address left for DHCP');
      continue;
    }
    const c = parseCidr(subnet.cidr, 0) as Cidr;
    const inSubnet = (ip: string) => {
      const v = parseIpv4(ip);
      return v !== undefined && cidrContains(c, v);
    };
    const ports = model.ports
      .filter((p) => p.networkId === n.id && !p.deviceOwner.startsWith(NETWORK_OWNER))
      .flatMap((p) => {
        const ip = p.ips.find((i) => i.subnetId === subnet.id && inSubnet(i.address));
        return ip && ip.address !== dhcpIp && ip.address !== subnet.gateway
          ? [{ mac: p.mac, ip: ip.address, hostname: `host-${ip.address.replace(/\./g, '-')}` }]
          : [];
      })
      .sort((a, b) => (a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0));
    const starts = subnet.pools.map((p) => parseIpv4(p.start) ?? c.base + 1);
    const ends = subnet.pools.map((p) => parseIpv4(p.end) ?? c.base + c.size - 2);
    specs.set(n.id, {
      networkId: n.id,
      vni: n.vni,
      cidr: `${formatIpv4(c.base)}/${c.prefix}`,
      gatewayIp: subnet.gateway ?? undefined,
      dhcpIp,
      mtu: n.mtu,
      dhcpRange: {
        start: formatIpv4(starts.length > 0 ? Math.min(...starts) : c.base + 1),
        end: formatIpv4(ends.length > 0 ? Math.max(...ends) : c.base + c.size - 2),
      },
      ...(subnet.dns.length > 0 ? { dnsServers: [...subnet.dns] } : {}),
      ports,
    });
  }
  const byHost = new Map<string, ProjectNetworkSpec[]>();
  for (const h of model.hosts) {
    const wanted = h.networkHost
      ? [...specs.values()]
      : [...specs.values()].filter((s) =>
          model.ports.some(
            (p) =>
              p.networkId === s.networkId &&
              p.bindingHost === h.host &&
              p.deviceOwner.startsWith(COMPUTE_OWNER),
          ),
        );
    byHost.set(
      h.host,
      wanted.sort((a, b) => a.vni - b.vni),
    );
  }
  const routers: RouterSpec[] = [];
  const prefix = Number(networkHost?.publicAddress?.split('/')[1] ?? NaN);
  if (networkHost) {
    for (const r of model.routers) {
      const legs = r.interfaces.flatMap((i) => {
        const subnet = model.subnets.find((s) => s.id === i.subnetId);
        const spec = subnet && specs.get(subnet.networkId);
        const primary = subnet && primarySubnet(model.subnets, subnet.networkId);
        const port = model.ports.find((p) => p.id === i.portId);
        const gw = port?.ips.find((x) => x.subnetId === i.subnetId)?.address;
        if (!spec || !gw || primary?.id !== subnet?.id) return [];
        return [{ networkId: spec.networkId, gatewayIp: gw, cidr: spec.cidr }];
      });
      // The data plane's router always has a public leg: one without an external gateway
      // (or before the network host said its public address) is not carried yet.
      if (r.externalIp === null || !Number.isInteger(prefix)) {
        if (legs.length > 0) skipped.set(r.id, 'it has no external gateway');
        continue;
      }
      const floatingIps = model.floatingIps.flatMap((f) => {
        // The instance's port with the address (it may have more than one port).
        const port = model.ports.find(
          (p) =>
            p.deviceId === f.instanceId &&
            p.deviceOwner.startsWith(COMPUTE_OWNER) &&
            p.ips.some((i) => i.address === f.fixedAddress),
        );
        const leg = port && legs.find((l) => l.networkId === port.networkId);
        return leg
          ? [{ floatingIp: f.address, fixedIp: f.fixedAddress, networkId: leg.networkId }]
          : [];
      });
      routers.push({
        routerId: r.id,
        externalIp: r.externalIp,
        externalPrefix: prefix,
        interfaces: legs,
        floatingIps: floatingIps.sort((a, b) => (a.floatingIp < b.floatingIp ? -1 : 1)),
      });
    }
  }
  return { peers, networks: byHost, routers, networkHost: networkHost?.host, skipped };
}
