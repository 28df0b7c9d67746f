// What each overlay host must realise, computed from the project network model (issue 16):
// the peers (every overlay host's underlay address), on a compute host the networks with a
// guest port bound to it, on the network host every network with all its subnets (it serves
// their DHCP and metadata) and every router with its legs (one a subnet it joins), and when
// it has an external gateway its external address and floating IPs; a VPC's router takes
// each subnet out as the subnet's route table says. Pure: the
// network service reads the model, this plans, OverlaySync sends.
import { cidrContains, formatIpv4, parseCidr, parseIpv4, type Cidr } from './ipv4.js';
import type { OverlayPeer, ProjectNetworkSpec, RouterSpec, SubnetSpec } from './dataplane/index.js';

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

/**
 * A VPC's route tables, as the data plane needs them: the router that carries the VPC, the
 * internet gateway attached to it, which table each subnet uses and the tables' routes.
 */
export interface PlanVpc {
  networkId: string;
  routerId: string;
  /** The internet gateway attached to the VPC, if any. */
  gatewayId: string | null;
  /** The main table's id (the router's, unless another table was made main). */
  mainTable: string;
  /** Subnet id -> the table it is explicitly associated with. */
  associations: Readonly<Record<string, string>>;
  /** Every route of the VPC's tables (beyond the local one). */
  routes: readonly { table: string; destination: string; gatewayId: string }[];
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
  /** The VPCs among the networks (absent: none); their routers follow their route tables. */
  vpcs?: readonly PlanVpc[];
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

/** A network's subnets, oldest first (the first is the one its spec names at the top). */
export function networkSubnets(subnets: readonly PlanSubnet[], networkId: string): PlanSubnet[] {
  return subnets
    .filter((s) => s.networkId === networkId)
    .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
}

/** The network's first (oldest) subnet. */
export function primarySubnet(
  subnets: readonly PlanSubnet[],
  networkId: string,
): PlanSubnet | undefined {
  return networkSubnets(subnets, networkId)[0];
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

/**
 * The destinations a VPC subnet reaches through its VPC's internet gateway: those of the
 * routes of its table (its explicit association, else the main table) that lead to the
 * gateway attached to the VPC. A route to a gateway no longer attached is a blackhole and
 * leads nowhere; no gateway, no route to it: empty (the subnet is private).
 */
export function subnetEgress(vpc: PlanVpc, subnetId: string): string[] {
  if (vpc.gatewayId === null) return [];
  const table = vpc.associations[subnetId] ?? vpc.mainTable;
  return vpc.routes
    .filter((r) => r.table === table && r.gatewayId === vpc.gatewayId)
    .map((r) => r.destination)
    .sort();
}

export function planOverlay(model: OverlayModel): OverlayPlan {
  const peers = model.hosts.map((h) => ({ host: h.host, underlayIp: h.underlayIp }));
  const networkHost = model.hosts.find((h) => h.networkHost);
  const skipped = new Map<string, string>();
  const specs = new Map<string, ProjectNetworkSpec>();
  /** Per network, its carried subnets: id -> CIDR. */
  const carried = new Map<string, Map<string, string>>();
  for (const n of model.networks) {
    const all = networkSubnets(model.subnets, n.id);
    if (all.length === 0) {
      skipped.set(n.id, 'it has no subnet');
      continue;
    }
    const planned: { subnet: PlanSubnet; spec: SubnetSpec; cidr: Cidr }[] = [];
    for (const subnet of all) {
      const dhcpIp = dhcpAddress(subnet, model.ports);
      if (!dhcpIp) {
        // Without its first subnet a network is not carried; a further one only is left out.
        if (planned.length === 0) break;
        skipped.set(subnet.id, 'the subnet has no address left for DHCP');
        continue;
      }
      const c = parseCidr(subnet.cidr, 0) as Cidr;
      // A further subnet that overlaps one already planned cannot share the segment.
      if (
        planned.some((p) => c.base < p.cidr.base + p.cidr.size && p.cidr.base < c.base + c.size)
      ) {
        skipped.set(subnet.id, "the subnet overlaps another of its network's");
        continue;
      }
      const starts = subnet.pools.map((p) => parseIpv4(p.start) ?? c.base + 1);
      const ends = subnet.pools.map((p) => parseIpv4(p.end) ?? c.base + c.size - 2);
      planned.push({
        subnet,
        cidr: c,
        spec: {
          cidr: `${formatIpv4(c.base)}/${c.prefix}`,
          gatewayIp: subnet.gateway ?? undefined,
          dhcpIp,
          dhcpRange: {
            start: formatIpv4(starts.length > 0 ? Math.min(...starts) : c.base + 1),
            end: formatIpv4(ends.length > 0 ? Math.max(...ends) : c.base + c.size - 2),
          },
          ...(subnet.dns.length > 0 ? { dnsServers: [...subnet.dns] } : {}),
        },
      });
    }
    const [first, ...more] = planned;
    if (!first) {
      skipped.set(n.id, 'its subnet has no address left for DHCP');
      continue;
    }
    // The network's own addresses (DHCP ports, gateways) are no guest's.
    const own = new Set(planned.flatMap((p) => [p.spec.dhcpIp, p.spec.gatewayIp ?? '']));
    const ports = model.ports
      .filter((p) => p.networkId === n.id && !p.deviceOwner.startsWith(NETWORK_OWNER))
      .flatMap((p) => {
        // A port's address on its oldest carried subnet: dnsmasq gives a MAC one address.
        const ip = planned
          .flatMap((x) =>
            p.ips.filter((i) => {
              const v = parseIpv4(i.address);
              return i.subnetId === x.subnet.id && v !== undefined && cidrContains(x.cidr, v);
            }),
          )
          .at(0);
        return ip && !own.has(ip.address)
          ? [{ mac: p.mac, ip: ip.address, hostname: `host-${ip.address.replace(/\./g, '-')}` }]
          : [];
      })
      .sort((a, b) => (a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0));
    specs.set(n.id, {
      networkId: n.id,
      vni: n.vni,
      ...first.spec,
      mtu: n.mtu,
      ports,
      ...(more.length > 0 ? { moreSubnets: more.map((m) => m.spec) } : {}),
    });
    carried.set(n.id, new Map(planned.map((p) => [p.subnet.id, p.spec.cidr])));
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
      const vpc = model.vpcs?.find((v) => v.routerId === r.id);
      const legs: RouterSpec['interfaces'][number][] = [];
      const joined: Cidr[] = [];
      for (const i of r.interfaces) {
        const subnet = model.subnets.find((s) => s.id === i.subnetId);
        const cidr = subnet && carried.get(subnet.networkId)?.get(subnet.id);
        const port = model.ports.find((p) => p.id === i.portId);
        const gw = port?.ips.find((x) => x.subnetId === i.subnetId)?.address;
        if (!subnet || !cidr || !gw) continue;
        // It routes by address: of two subnets that overlap, it joins the first.
        const c = parseCidr(cidr, 0) as Cidr;
        if (joined.some((o) => c.base < o.base + o.size && o.base < c.base + c.size)) {
          skipped.set(`${r.id}/${subnet.id}`, 'the subnet overlaps another of the router');
          continue;
        }
        joined.push(c);
        // A VPC's subnet goes out as its route table says; a Neutron router's all do.
        legs.push({
          networkId: subnet.networkId,
          gatewayIp: gw,
          cidr,
          ...(vpc ? { egress: subnetEgress(vpc, i.subnetId) } : {}),
        });
      }
      // A router without an external gateway only routes between its subnets (east-west);
      // one with a gateway waits for the network host to say its public address.
      if (r.externalIp === null) {
        routers.push({ routerId: r.id, interfaces: legs, floatingIps: [] });
        continue;
      }
      if (!Number.isInteger(prefix)) {
        skipped.set(r.id, 'the network host has no public address');
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
        // A subnet that reaches nothing beyond its VPC is not reached at its address either.
        if (leg?.egress?.length === 0) return [];
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
