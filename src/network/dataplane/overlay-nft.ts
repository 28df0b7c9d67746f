// The nftables tables of the overlay data plane, rendered whole and applied with `nft -f` as
// one transaction:
//
// - in a host's overlay namespace, a `bridge` table filtering what each guest port sends
//   (its own MAC, ARP and IPv4 only as its fixed IP, no DHCP server traffic: the same rules
//   as the flat network's guest ports, `portChainRules`), before the bridge learns or
//   forwards the frame;
// - in a host's overlay namespace, an `inet` table enforcing the security groups of the guest
//   ports that have them (`renderOverlaySecurityTable`): bridged frames pass the IPv4 hooks
//   there (br_netfilter), where the bridge is the interface, so a port is found by its
//   network's bridge and its fixed IP (the anti-spoofing table guarantees the source), and
//   each network's bridge is a conntrack zone of its own, as networks may share addresses.
//   What a port sends passes its egress chain (which returns what it allows), then what
//   reaches a port passes its ingress chain; both let replies through by connection state;
//   DHCP and metadata are always allowed, as on the flat network;
// - in a router's namespace, an `inet` table: floating IPs as 1:1 DNAT (from the public
//   segment, from the router itself and from guests) and SNAT, every other guest of the
//   router's networks leaving as the router's external address, hairpin masquerading for a
//   guest reaching a neighbour by its floating IP, the metadata DNAT of each leg to that
//   leg's metadata proxy, nothing from the public segment to a fixed IP unless a floating
//   IP's DNAT sent it there, and nothing to the router itself from there but ping.
import { StratusError } from '../../errors.js';
import { formatIpv4, parseCidr, parseIpv4, parseRuleCidr, type Cidr } from '../ipv4.js';
import type { EffectiveRule } from '../security-groups.js';
import { guestChainRules, guestEgressRules, METADATA_ADDRESS, portChainRules } from './nftables.js';

export const OVERLAY_PORT_TABLE = 'stratus_overlay_ports';
export const OVERLAY_SECURITY_TABLE = 'stratus_overlay_sg';
export const ROUTER_TABLE = 'stratus_router';
/** The port of each router leg's metadata proxy, on the leg's gateway address. */
export const ROUTER_METADATA_PORT = 8775;

export interface OverlayGuestPort {
  ifname: string;
  mac: string;
  fixedIp: string;
}

/**
 * A port's security groups as the data plane enforces them: what may reach it (`ingress`,
 * besides replies, DHCP replies and ICMP) and where it may send to (`egress`, besides replies,
 * DHCP and the metadata address); remote groups already turned into their members' addresses
 * on the port's network (SecurityGroupService.rulesForInstances gives these for instances).
 */
export interface PortSecurity {
  ingress: readonly EffectiveRule[];
  egress: readonly EffectiveRule[];
}

/** A plugged port as the security table sees it. */
export interface SecuredPort {
  ifname: string;
  fixedIp: string;
  /** The bridge of its network (segmentBridge(vni)). */
  bridge: string;
  vni: number;
  /** Undefined: the port's traffic is not filtered by security groups (port security off). */
  security?: PortSecurity | undefined;
}

/**
 * The security-group table of an overlay namespace, replaced whole. Ports without `security`
 * get no chains: their traffic passes unfiltered (the anti-spoofing table still applies).
 */
export function renderOverlaySecurityTable(ports: readonly SecuredPort[]): string {
  const lines = [
    `add table inet ${OVERLAY_SECURITY_TABLE}`,
    `delete table inet ${OVERLAY_SECURITY_TABLE}`,
    `table inet ${OVERLAY_SECURITY_TABLE} {`,
  ];
  const secured = ports.filter((p) => p.security !== undefined);
  const zones = new Map<string, number>();
  for (const p of ports) zones.set(quoteIf(p.bridge), zoneOf(p.vni));
  const inElems: string[] = [];
  const outElems: string[] = [];
  for (const p of secured) {
    const sec = p.security as PortSecurity;
    const name = quoteIf(p.ifname).slice(1, -1);
    const key = `${quoteIf(p.bridge)} . ${checkIp(p.fixedIp)}`;
    lines.push(`  chain in-${name} {`);
    for (const r of guestChainRules(sec.ingress)) lines.push(`    ${r}`);
    lines.push('  }', `  chain out-${name} {`);
    const egress = guestEgressRules(sec.egress);
    // Replies and invalid packets first (as guestEgressRules has them), then DHCP and the
    // metadata address, which no group closes, then the group rules.
    lines.push(
      ...egress.slice(0, 2).map((r) => `    ${r}`),
      '    udp sport 68 udp dport 67 return',
      `    ip daddr ${METADATA_ADDRESS} tcp dport 80 return`,
      ...egress.slice(2).map((r) => `    ${r}`),
      '  }',
    );
    inElems.push(`${key} : jump in-${name}`);
    outElems.push(`${key} : jump out-${name}`);
  }
  const zoneElems = [...zones].map(([bridge, zone]) => `${bridge} : ${zone}`);
  lines.push(
    `  map ingress { type ifname . ipv4_addr : verdict;${elements(inElems)} }`,
    `  map egress { type ifname . ipv4_addr : verdict;${elements(outElems)} }`,
    '  chain zones {',
    '    type filter hook prerouting priority raw; policy accept;',
    ...(zoneElems.length > 0 ? [`    ct zone set iifname map { ${zoneElems.join(', ')} }`] : []),
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    '    iifname . ip saddr vmap @egress',
    '    iifname . ip daddr vmap @ingress',
    '  }',
    '}',
  );
  return lines.join('\n') + '\n';
}

/** A network's conntrack zone: from its VNI, never the default zone 0. */
function zoneOf(vni: number): number {
  if (!Number.isInteger(vni) || vni < 1) throw bad(`'${vni}' is not a VNI`);
  return (vni % 65535) + 1;
}

/** The guest-port filter table of an overlay namespace, with these ports. */
export function renderOverlayPortTable(ports: readonly OverlayGuestPort[]): string {
  const lines = [
    `add table bridge ${OVERLAY_PORT_TABLE}`,
    `delete table bridge ${OVERLAY_PORT_TABLE}`,
    `table bridge ${OVERLAY_PORT_TABLE} {`,
  ];
  for (const p of ports) {
    lines.push(`  chain ${portChain(p.ifname)} {`);
    for (const r of portChainRules(p.fixedIp, p.mac)) lines.push(`    ${r}`);
    lines.push('  }');
  }
  const elems = ports.map((p) => `${quoteIf(p.ifname)} : jump ${portChain(p.ifname)}`);
  lines.push(
    `  map ports { type ifname : verdict;${elements(elems)} }`,
    '  chain prerouting {',
    '    type filter hook prerouting priority -300; policy accept;',
    '    iifname vmap @ports',
    '  }',
    '}',
  );
  return lines.join('\n') + '\n';
}

export interface RouterLeg {
  /** The leg's interface in the router namespace. */
  ifname: string;
  cidr: string;
  gatewayIp: string;
  /** Whether a metadata proxy listens on the leg's gateway address. */
  metadata: boolean;
  /** The destinations the leg reaches through the external leg; absent: all of them. */
  egress?: readonly string[] | undefined;
}

export interface RouterTable {
  /** The public leg; none for a router without an external gateway (it only routes). */
  external?: { ifname: string; address: string } | undefined;
  legs: readonly RouterLeg[];
  /** floating IP -> fixed IP */
  floating: ReadonlyMap<string, string>;
}

/**
 * The router namespace's table. Between its legs a router forwards everything (security
 * groups filter at the guests' ports); without a public leg, metadata is all it translates.
 */
export function renderRouterTable(t: RouterTable): string {
  if (!t.external) {
    if (t.floating.size > 0) throw bad('a router without a public leg has no floating IPs');
    return [
      `add table inet ${ROUTER_TABLE}`,
      `delete table inet ${ROUTER_TABLE}`,
      `table inet ${ROUTER_TABLE} {`,
      '  chain prerouting {',
      '    type nat hook prerouting priority dstnat; policy accept;',
      ...metadataDnat(t.legs),
      '  }',
      '}',
      '',
    ].join('\n');
  }
  const ext = quoteIf(t.external.ifname);
  const extIp = checkIp(t.external.address);
  const dnat = [...t.floating].map(([f, x]) => `${checkIp(f)} : ${checkIp(x)}`);
  const snat = [...t.floating].map(([f, x]) => `${checkIp(x)} : ${checkIp(f)}`);
  const everywhere = (l: RouterLeg) =>
    l.egress === undefined || l.egress.some((d) => checkBlock(d) === '0.0.0.0/0');
  const cidrs = t.legs.filter(everywhere).map((l) => checkCidr(l.cidr));
  // A leg that reaches some destinations only: SNAT to those, and nothing else crosses the
  // external leg either way (replies included, so a floating IP answers those only).
  const partial = t.legs.filter((l) => !everywhere(l));
  const fenced = partial.flatMap((l) => {
    const leg = quoteIf(l.ifname);
    if (l.egress?.length === 0) {
      return [`    iifname ${leg} oifname ${ext} drop`, `    iifname ${ext} oifname ${leg} drop`];
    }
    const to = `{ ${outermost(l.egress ?? []).join(', ')} }`;
    return [
      `    iifname ${leg} oifname ${ext} ip daddr != ${to} drop`,
      `    iifname ${ext} oifname ${leg} ip saddr != ${to} drop`,
    ];
  });
  const partialSnat = partial.flatMap((l) =>
    l.egress && l.egress.length > 0
      ? [
          `    oifname ${ext} ip saddr ${checkCidr(l.cidr)} ip daddr { ${outermost(l.egress).join(', ')} } snat ip to ${extIp}`,
        ]
      : [],
  );
  const lines = [
    `add table inet ${ROUTER_TABLE}`,
    `delete table inet ${ROUTER_TABLE}`,
    `table inet ${ROUTER_TABLE} {`,
    `  map fip_dnat { type ipv4_addr : ipv4_addr;${elements(dnat)} }`,
    `  map fip_snat { type ipv4_addr : ipv4_addr;${elements(snat)} }`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
  ];
  lines.push(
    ...metadataDnat(t.legs),
    '    dnat ip to ip daddr map @fip_dnat',
    '  }',
    '  chain output_nat {',
    '    type nat hook output priority -100; policy accept;',
    '    dnat ip to ip daddr map @fip_dnat',
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    oifname ${ext} snat ip to ip saddr map @fip_snat`,
    ...(cidrs.length > 0
      ? [`    oifname ${ext} ip saddr { ${cidrs.join(', ')} } snat ip to ${extIp}`]
      : []),
    ...partialSnat,
    // A guest reaching another guest of its network by a floating IP: the reply must come back
    // through the router to be translated, so the request leaves as the router.
    ...t.legs.map(
      (l) =>
        `    oifname ${quoteIf(l.ifname)} ip saddr ${checkCidr(l.cidr)} ct status dnat masquerade`,
    ),
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    ...fenced,
    `    iifname ${ext} ct state established,related accept`,
    `    iifname ${ext} ct status dnat accept`,
    `    iifname ${ext} drop`,
    '  }',
    // From the public segment, the router itself answers ping only (its metadata proxies are
    // for its guests).
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    `    iifname ${ext} ct state established,related accept`,
    `    iifname ${ext} icmp type echo-request accept`,
    `    iifname ${ext} drop`,
    '  }',
    '}',
  );
  return lines.join('\n') + '\n';
}

/** Each leg's metadata requests to its proxy (one proxy a leg interface: the first given). */
function metadataDnat(legs: readonly RouterLeg[]): string[] {
  const done = new Set<string>();
  const out: string[] = [];
  for (const l of legs) {
    if (!l.metadata || done.has(l.ifname)) continue;
    done.add(l.ifname);
    out.push(
      `    iifname ${quoteIf(l.ifname)} ip daddr ${METADATA_ADDRESS} tcp dport 80 dnat ip to ${checkIp(l.gatewayIp)}:${ROUTER_METADATA_PORT}`,
    );
  }
  return out;
}

function portChain(ifname: string): string {
  return `p-${quoteIf(ifname).slice(1, -1)}`;
}

function elements(items: readonly string[]): string {
  return items.length === 0 ? '' : ` elements = { ${items.join(', ')} };`;
}

function checkIp(text: string): string {
  const n = parseIpv4(text);
  if (n === undefined) throw bad(`'${text}' is not an IPv4 address`);
  return formatIpv4(n);
}

/** The blocks not inside another of them (an nft set takes no overlapping intervals). */
function outermost(cidrs: readonly string[]): string[] {
  const blocks = [...new Set(cidrs.map(checkBlock))].map((c) => parseRuleCidr(c) as Cidr);
  return blocks
    .filter(
      (b) =>
        !blocks.some(
          (o) => o !== b && o.prefix < b.prefix && b.base >= o.base && b.base < o.base + o.size,
        ),
    )
    .map((b) => `${formatIpv4(b.base)}/${b.prefix}`);
}

/** A destination block, /0 to /32. */
function checkBlock(text: string): string {
  const c = parseRuleCidr(text);
  if (!c) throw bad(`'${text}' is not an IPv4 CIDR block`);
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

function checkCidr(text: string): string {
  const c = parseCidr(text, 8);
  if (!c) throw bad(`'${text}' is not an IPv4 CIDR block`);
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

function quoteIf(name: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) throw bad(`'${name}' is not an interface name`);
  return `"${name}"`;
}

function bad(what: string): StratusError {
  return new StratusError('invalid', `The overlay's nftables table cannot be rendered: ${what}.`);
}
