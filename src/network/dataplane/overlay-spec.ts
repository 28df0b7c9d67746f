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
}

/** A project's router: its networks' gateway, SNAT to the public segment, floating IPs. */
export interface RouterSpec {
  routerId: string;
  /** The router's own address on the public segment (SNAT source of guests without a floating IP). */
  externalIp: string;
  /** Prefix length of the public segment. */
  externalPrefix: number;
  /** The public segment's gateway, the router's default route; none when absent. */
  externalGateway?: string | undefined;
  /**
   * The networks the router joins, with its address on each (their gateway). `egress`: the
   * destinations its guests reach on the public segment and beyond (a VPC subnet's routes to
   * its internet gateway); absent, everywhere (a Neutron router's gateway serves all its
   * networks); empty, nowhere: no SNAT, no floating IPs, nothing forwarded either way.
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
  const c = parseCidr(spec.cidr, 8);
  if (!c || c.prefix > 29)
    throw invalidSpec(`${what} has '${spec.cidr}', not a CIDR of /8 to /29.`);
  if (!Number.isInteger(spec.mtu) || spec.mtu < 576 || spec.mtu > maxMtu) {
    throw invalidSpec(
      `${what} asks for MTU ${spec.mtu}; over this underlay it can be 576 to ${maxMtu} (VXLAN takes ${VXLAN_OVERHEAD} bytes).`,
    );
  }
  const inside = (label: string, ip: string): number => {
    const n = parseIpv4(ip);
    if (n === undefined || n <= c.base || n >= c.base + c.size - 1) {
      throw invalidSpec(`${what}: the ${label} '${ip}' is not a host address of ${spec.cidr}.`);
    }
    return n;
  };
  const dhcp = inside('DHCP address', spec.dhcpIp);
  if (spec.gatewayIp !== undefined && inside('gateway', spec.gatewayIp) === dhcp) {
    throw invalidSpec(`${what}: the gateway and the DHCP port cannot share ${spec.dhcpIp}.`);
  }
  const start = inside('DHCP range start', spec.dhcpRange.start);
  const end = inside('DHCP range end', spec.dhcpRange.end);
  if (end < start) throw invalidSpec(`${what}: the DHCP range ends before it starts.`);
  for (const dns of spec.dnsServers ?? []) {
    if (parseIpv4(dns) === undefined)
      throw invalidSpec(`${what}: '${dns}' is not a DNS server address.`);
  }
  const macs = new Set<string>();
  const ips = new Set<number>();
  for (const p of spec.ports) {
    checkMac(p.mac);
    const ip = inside(`port address`, p.ip);
    if (ip === dhcp || ip === parseIpv4(spec.gatewayIp ?? '')) {
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
  if (parseIpv4(spec.externalIp) === undefined) {
    throw invalidSpec(`${what}: '${spec.externalIp}' is not an external address.`);
  }
  if (
    !Number.isInteger(spec.externalPrefix) ||
    spec.externalPrefix < 8 ||
    spec.externalPrefix > 32
  ) {
    throw invalidSpec(`${what}: the external prefix /${spec.externalPrefix} is not valid.`);
  }
  if (spec.externalGateway !== undefined && parseIpv4(spec.externalGateway) === undefined) {
    throw invalidSpec(`${what}: '${spec.externalGateway}' is not a gateway address.`);
  }
  const cidrs: { networkId: string; base: number; size: number }[] = [];
  for (const leg of spec.interfaces) {
    const net = networks.get(leg.networkId);
    if (!net) throw invalidSpec(`${what} joins the network ${leg.networkId}, which is not here.`);
    const c = parseCidr(leg.cidr, 8);
    if (!c || leg.cidr !== net.cidr) {
      throw invalidSpec(
        `${what}: the interface on ${leg.networkId} names '${leg.cidr}', not the network's ${net.cidr}.`,
      );
    }
    const gw = parseIpv4(leg.gatewayIp);
    if (
      gw === undefined ||
      gw <= c.base ||
      gw >= c.base + c.size - 1 ||
      leg.gatewayIp === net.dhcpIp
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
    const leg = cidrs.find((c) => c.networkId === f.networkId);
    const fixed = parseIpv4(f.fixedIp);
    if (parseIpv4(f.floatingIp) === undefined || f.floatingIp === spec.externalIp) {
      throw invalidSpec(`${what}: '${f.floatingIp}' cannot be a floating IP.`);
    }
    if (!leg || fixed === undefined || fixed < leg.base || fixed >= leg.base + leg.size) {
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
