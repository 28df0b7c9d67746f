// What the overlay data plane realises on a host: project networks (a VXLAN segment each),
// their ports, and project routers, as plain data the network model hands it. Checked here,
// before anything changes, so that no input can make a half-built network or an nft script
// that means something else.
import { StratusError } from '../../errors.js';
import { formatIpv4, parseCidr, parseIpv4, parseRuleCidr } from '../ipv4.js';

/** The bytes VXLAN adds to every frame on the underlay (outer IPv4 20, UDP 8, VXLAN 8, inner Ethernet 14). */
export const VXLAN_OVERHEAD = 50;
/** The IANA port of VXLAN. */
export const VXLAN_PORT = 4789;
/** The largest VXLAN network identifier (24 bits). */
export const MAX_VNI = 0xffffff;

/** One guest port of a project network. */
export interface OverlayPortSpec {
  mac: string;
  ip: string;
  hostname: string;
}

/** A project network: one isolated L2 segment across hosts. */
export interface ProjectNetworkSpec {
  /** The model's id of the network; named to the metadata service with each request. */
  networkId: string;
  /** The VXLAN network identifier (the network's segmentation id), 1 to 16777215. */
  vni: number;
  /** The subnet, e.g. `10.0.0.0/24`; may overlap other projects' networks. */
  cidr: string;
  /** The router's address on the subnet, handed to guests as their default route; none when absent. */
  gatewayIp?: string | undefined;
  /** The address of the network's DHCP and metadata port on the subnet. */
  dhcpIp: string;
  /** The guests' MTU: at most the underlay's MTU less VXLAN_OVERHEAD. */
  mtu: number;
  /** The range dnsmasq serves (it only answers the MACs of `ports`, with their fixed IPs). */
  dhcpRange: { start: string; end: string };
  /** DNS servers for guests; none when absent. */
  dnsServers?: readonly string[];
  /** Every port of the network (on any host): DHCP answers these MACs only. */
  ports: readonly OverlayPortSpec[];
  /**
   * The network's further subnets on the same segment (the fields above are its first): DHCP
   * serves each from an address of its own, a port's address may be in any of them.
   */
  moreSubnets?: readonly SubnetSpec[];
}

/** A further subnet of a project network. */
export interface SubnetSpec {
  cidr: string;
  gatewayIp?: string | undefined;
  dhcpIp: string;
  dhcpRange: { start: string; end: string };
  dnsServers?: readonly string[];
}

/** Every subnet of a network, its first one first. */
export function subnetsOf(spec: ProjectNetworkSpec): SubnetSpec[] {
  return [
    {
      cidr: spec.cidr,
      gatewayIp: spec.gatewayIp,
      dhcpIp: spec.dhcpIp,
      dhcpRange: spec.dhcpRange,
      ...(spec.dnsServers ? { dnsServers: spec.dnsServers } : {}),
    },
    ...(spec.moreSubnets ?? []),
  ];
}

/**
 * A project's router: its networks' gateway (it routes between them), and when it has an
 * external gateway SNAT to the public segment and floating IPs.
 */
export interface RouterSpec {
  routerId: string;
  /**
   * The router's own address on the public segment (SNAT source of guests without a floating
   * IP); none when it has no external gateway (then it has no public leg, no floating IPs).
   */
  externalIp?: string | undefined;
  /** Prefix length of the public segment (with `externalIp`). */
  externalPrefix?: number | undefined;
  /** The public segment's gateway, the router's default route; none when absent. */
  externalGateway?: string | undefined;
  /**
   * The subnets the router joins (a network's first or further ones), with its address on
   * each (their gateway). `egress`: the destinations its guests reach on the public segment
   * and beyond (a VPC subnet's routes to its internet gateway); absent, everywhere (a Neutron
   * router's gateway serves all its networks); empty, nowhere: no SNAT, no floating IPs,
   * nothing forwarded either way.
   */
  interfaces: readonly {
    networkId: string;
    gatewayIp: string;
    cidr: string;
    egress?: readonly string[] | undefined;
  }[];
  /** 1:1 NAT between a floating IP on the public segment and a fixed IP on one of `interfaces`. */
  floatingIps: readonly { floatingIp: string; fixedIp: string; networkId: string }[];
}

/** A VXLAN peer: another host's underlay address (flood entries point at it). */
export interface OverlayPeer {
  host: string;
  underlayIp: string;
}

export interface CheckedNetwork {
  base: number;
  prefix: number;
  size: number;
}

/** Checks a network spec; throws `invalid` naming what is wrong. `maxMtu`: underlay MTU - 50. */
export function checkNetworkSpec(spec: ProjectNetworkSpec, maxMtu: number): CheckedNetwork {
  const what = `The project network ${spec.networkId}`;
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(spec.networkId)) {
    throw invalidSpec(`The project network id '${spec.networkId}' is not valid.`);
  }
  if (!Number.isInteger(spec.vni) || spec.vni < 1 || spec.vni > MAX_VNI) {
    throw invalidSpec(`${what} has VNI ${spec.vni}; it must be 1 to ${MAX_VNI}.`);
  }
  if (!Number.isInteger(spec.mtu) || spec.mtu < 576 || spec.mtu > maxMtu) {
    throw invalidSpec(
      `${what} asks for MTU ${spec.mtu}; over this underlay it can be 576 to ${maxMtu} (VXLAN takes ${VXLAN_OVERHEAD} bytes).`,
    );
  }
  const checked: { base: number; prefix: number; size: number; used: number[] }[] = [];
  for (const subnet of subnetsOf(spec)) {
    const c = parseCidr(subnet.cidr, 8);
    if (!c || c.prefix > 29)
      throw invalidSpec(`${what} has '${subnet.cidr}', not a CIDR of /8 to /29.`);
    // The subnets of one segment must not overlap: a port's subnet is found by its address.
    for (const o of checked) {
      if (c.base < o.base + o.size && o.base < c.base + c.size) {
        throw invalidSpec(`${what} has subnets whose addresses overlap (${subnet.cidr}).`);
      }
    }
    const inside = (label: string, ip: string): number => {
      const n = parseIpv4(ip);
      if (n === undefined || n <= c.base || n >= c.base + c.size - 1) {
        throw invalidSpec(`${what}: the ${label} '${ip}' is not a host address of ${subnet.cidr}.`);
      }
      return n;
    };
    const dhcp = inside('DHCP address', subnet.dhcpIp);
    const gateway =
      subnet.gatewayIp === undefined ? undefined : inside('gateway', subnet.gatewayIp);
    if (gateway === dhcp) {
      throw invalidSpec(`${what}: the gateway and the DHCP port cannot share ${subnet.dhcpIp}.`);
    }
    const start = inside('DHCP range start', subnet.dhcpRange.start);
    const end = inside('DHCP range end', subnet.dhcpRange.end);
    if (end < start) throw invalidSpec(`${what}: the DHCP range ends before it starts.`);
    for (const dns of subnet.dnsServers ?? []) {
      if (parseIpv4(dns) === undefined)
        throw invalidSpec(`${what}: '${dns}' is not a DNS server address.`);
    }
    checked.push({
      base: c.base,
      prefix: c.prefix,
      size: c.size,
      used: gateway === undefined ? [dhcp] : [dhcp, gateway],
    });
  }
  const macs = new Set<string>();
  const ips = new Set<number>();
  for (const p of spec.ports) {
    checkMac(p.mac);
    const ip = parseIpv4(p.ip);
    const c =
      ip === undefined ? undefined : checked.find((s) => ip > s.base && ip < s.base + s.size - 1);
    if (ip === undefined || !c) {
      throw invalidSpec(
        `${what}: the port address '${p.ip}' is not a host address of its subnets.`,
      );
    }
    if (c.used.includes(ip)) {
      throw invalidSpec(
        `${what}: the port ${p.mac} cannot use ${p.ip}, which the network uses itself.`,
      );
    }
    if (macs.has(p.mac.toLowerCase()) || ips.has(ip)) {
      throw invalidSpec(`${what}: the port ${p.mac} (${p.ip}) repeats a MAC or an address.`);
    }
    macs.add(p.mac.toLowerCase());
    ips.add(ip);
  }
  const c = checked[0] as { base: number; prefix: number; size: number };
  return { base: c.base, prefix: c.prefix, size: c.size };
}

/** Checks a router spec; every network it joins must be given (by id) in `networks`. */
export function checkRouterSpec(
  spec: RouterSpec,
  networks: ReadonlyMap<string, ProjectNetworkSpec>,
): void {
  const what = `The router ${spec.routerId}`;
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(spec.routerId)) {
    throw invalidSpec(`The router id '${spec.routerId}' is not valid.`);
  }
  if (spec.externalIp !== undefined) {
    if (parseIpv4(spec.externalIp) === undefined) {
      throw invalidSpec(`${what}: '${spec.externalIp}' is not an external address.`);
    }
    if (
      spec.externalPrefix === undefined ||
      !Number.isInteger(spec.externalPrefix) ||
      spec.externalPrefix < 8 ||
      spec.externalPrefix > 32
    ) {
      throw invalidSpec(`${what}: the external prefix /${spec.externalPrefix} is not valid.`);
    }
  } else if (spec.floatingIps.length > 0 || spec.externalGateway !== undefined) {
    throw invalidSpec(`${what} has no external gateway, so it cannot have floating IPs.`);
  }
  if (spec.externalGateway !== undefined && parseIpv4(spec.externalGateway) === undefined) {
    throw invalidSpec(`${what}: '${spec.externalGateway}' is not a gateway address.`);
  }
  const cidrs: { networkId: string; base: number; size: number }[] = [];
  for (const leg of spec.interfaces) {
    const net = networks.get(leg.networkId);
    if (!net) throw invalidSpec(`${what} joins the network ${leg.networkId}, which is not here.`);
    const c = parseCidr(leg.cidr, 8);
    const subnet = subnetsOf(net).find((s) => s.cidr === leg.cidr);
    if (!c || !subnet) {
      throw invalidSpec(
        `${what}: the interface on ${leg.networkId} names '${leg.cidr}', not a subnet of the network.`,
      );
    }
    const gw = parseIpv4(leg.gatewayIp);
    if (
      gw === undefined ||
      gw <= c.base ||
      gw >= c.base + c.size - 1 ||
      leg.gatewayIp === subnet.dhcpIp
    ) {
      throw invalidSpec(`${what}: '${leg.gatewayIp}' cannot be its address on ${leg.cidr}.`);
    }
    // One router's networks must not overlap: it routes between them by address.
    for (const o of cidrs) {
      if (c.base < o.base + o.size && o.base < c.base + c.size) {
        throw invalidSpec(
          `${what} joins ${leg.networkId} and ${o.networkId}, whose addresses overlap.`,
        );
      }
    }
    for (const d of leg.egress ?? []) {
      if (typeof d !== 'string' || parseRuleCidr(d) === undefined) {
        throw invalidSpec(`${what}: '${String(d)}' cannot be a destination of ${leg.networkId}.`);
      }
    }
    cidrs.push({ networkId: leg.networkId, base: c.base, size: c.size });
  }
  const floats = new Set<string>();
  const fixeds = new Set<string>();
  for (const f of spec.floatingIps) {
    const fixed = parseIpv4(f.fixedIp);
    if (parseIpv4(f.floatingIp) === undefined || f.floatingIp === spec.externalIp) {
      throw invalidSpec(`${what}: '${f.floatingIp}' cannot be a floating IP.`);
    }
    const onLeg = cidrs.some(
      (c) =>
        c.networkId === f.networkId &&
        fixed !== undefined &&
        fixed >= c.base &&
        fixed < c.base + c.size,
    );
    if (!onLeg || fixed === undefined) {
      throw invalidSpec(
        `${what}: the floating IP ${f.floatingIp} points at ${f.fixedIp}, not on a network the router joins.`,
      );
    }
    if (floats.has(f.floatingIp) || fixeds.has(formatIpv4(fixed))) {
      throw invalidSpec(
        `${what}: the floating IP ${f.floatingIp} or its fixed IP ${f.fixedIp} is given twice.`,
      );
    }
    floats.add(f.floatingIp);
    fixeds.add(formatIpv4(fixed));
  }
}

export function checkMac(mac: string): string {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac) || (parseInt(mac.slice(0, 2), 16) & 1) === 1) {
    throw invalidSpec(`'${mac}' is not a unicast MAC address.`);
  }
  return mac.toLowerCase();
}

function invalidSpec(message: string): StratusError {
  return new StratusError('invalid', message, { resource: 'network' });
}
