// The host's nftables table, rendered as text and applied with `nft -f -` inside the host
// namespace, so every change is one atomic transaction. One `inet` table holds it all:
//
// - `guests`, a verdict map from a guest's fixed IP to its own chain, jumped to from `forward`
//   (routed and, through br_netfilter, bridged traffic) and `output` (traffic the host
//   namespace starts). Each guest chain accepts established/related, DHCP replies and ICMP,
//   then its security-group rules, and drops the rest.
// - `fip_dnat` / `fip_snat`, maps for floating IPs: DNAT in `prerouting` and in `output`
//   (traffic that starts in the namespace itself), SNAT in `postrouting` for traffic leaving
//   the guest network, and masquerading of hairpin traffic (a guest reaching another guest
//   at its floating IP) so the reply comes back the way it went.
// - the metadata DNAT: 169.254.169.254:80 to the metadata proxy on the gateway address; each
//   guest chain's first rule sets the IP TTL of the proxy's replies to that guest to its
//   metadata hop limit (EC2's HttpPutResponseHopLimit), so with 1 a reply reaches the guest
//   (the bridge does not route, the TTL is not lowered) but dies at a router inside it, such
//   as a container bridge one hop further in.
//
// A host on a flat segment shared with other hosts (multi-host FlatDHCP) has a second,
// `bridge` family table on the flat uplink port (`renderFlatTable`): every host's bridge
// carries the same gateway address and runs its own dnsmasq, so ARP for or from the gateway
// and DHCP never cross that port, in either direction. It also marks frames the bridge sends
// out by that port, so the `inet` forward chain lets traffic to guests of other hosts leave
// (their own host filters it) where an address of the guest network that is not plugged
// here is otherwise dropped. With a public interface, guests without a floating IP leaving by
// it are translated to the host's own public address.
//
// Guests are untrusted (root in their VM): a `bridge` family table, `stratus_ports`, filters
// every frame a guest port sends before the bridge learns its source MAC or forwards it
// (prerouting), through a verdict map from the port's name to the guest's own chain
// (`portChainRules`): its MAC as source, ARP only for its fixed IP, IPv4 only from its fixed IP
// (or 0.0.0.0 for a DHCP discover/request), DHCP client messages only for its own MAC, no DHCP
// server traffic, and nothing else (no IPv6, no other EtherType). So a guest cannot spoof
// another's address, poison ARP caches or the bridge's MAC table, or run a rogue DHCP server.
// In the `inet` table, the `input` chain lets guests reach the namespace itself (the gateway and
// any other address of the host namespace) only for DHCP, the metadata proxy and ping.
//
// Egress: `guests_out`, a verdict map from a guest's fixed IP to its egress chain
// (`<chain>-o`), jumped to first in `forward`, so what a guest sends to another guest, another
// host or beyond passes its own egress rules before the receiver's ingress chain. An allowed
// packet `return`s (on to the receiver's chain); replies to connections the guest accepted are
// established and return at once; the rest is dropped. A guest whose egress is not filtered
// (`egress` absent) has a chain that only returns. What a guest sends to the namespace itself
// (DHCP, the metadata proxy, ping of the gateway) is the `input` chain's, not egress rules'.
//
// Security-group changes rewrite a guest chain (flush and refill in one transaction) rather
// than adding and deleting elements of a concatenated interval set: the kernel refuses
// overlapping intervals in such sets (0.0.0.0/0 and 10.0.0.0/8 on the same port), and
// deleting one of two overlapping elements can remove the other.
import { StratusError } from '../../errors.js';
import { formatIpv4, parseIpv4, parseRuleCidr } from '../ipv4.js';
import type { EffectiveRule } from '../security-groups.js';
import type { Namespace } from './namespace.js';

export const TABLE = 'stratus';
/** The bridge-family table filtering what guests send (anti-spoofing, rogue DHCP). */
export const PORT_TABLE = 'stratus_ports';
/** The bridge-family table on the flat uplink port (multi-host). */
export const FLAT_TABLE = 'stratus_flat';
/** The packet mark of frames the bridge sends out by the flat uplink port. */
export const FLAT_MARK = 0x5354;
export const METADATA_ADDRESS = '169.254.169.254';

export interface TableConfig {
  bridge: string;
  /** The guest network, e.g. '10.20.0.0/20'. */
  cidr: string;
  /** Where 169.254.169.254:80 is sent: the metadata proxy in the namespace; none when absent. */
  metadata?: { address: string; port: number };
  /** Set on a host joined to others by a flat uplink: traffic may leave by it (FLAT_MARK). */
  flat?: boolean;
  /** The public interface and this host's address on it: where guests without a floating IP go out as. */
  public?: { ifname: string; address: string };
}

export interface GuestFirewall {
  chain: string;
  fixedIp: string;
  /** Ingress rules: what may reach the guest (besides replies, DHCP and ICMP). */
  rules: readonly EffectiveRule[];
  /**
   * Egress rules: where the guest may send to (besides replies); absent, egress is not
   * filtered. An empty list lets nothing out.
   */
  egress?: readonly EffectiveRule[] | undefined;
  /** The guest's port on the bridge (tap) and its MAC: what the port may send as. */
  port: { ifname: string; mac: string };
  /**
   * The metadata proxy's address and port and the IP TTL of its replies to this guest (the
   * guest's metadata hop limit); none when the host serves no metadata.
   */
  metadataReplies?: { address: string; port: number; hops: number } | undefined;
}

/** The whole table, with the guests and floating IPs given, as one `nft -f` script. */
export function renderTable(
  cfg: TableConfig,
  guests: Iterable<GuestFirewall>,
  floating: ReadonlyMap<string, string>,
): string {
  const cidr = checkCidr(cfg.cidr);
  const br = quoteIf(cfg.bridge);
  const guestList = [...guests];
  const lines: string[] = [
    // `add table` first so the `delete` never fails, which makes the script idempotent.
    `add table inet ${TABLE}`,
    `delete table inet ${TABLE}`,
    `table inet ${TABLE} {`,
  ];
  for (const g of guestList) {
    lines.push(`  chain ${checkChain(g.chain)} {`);
    for (const r of guestChainRules(g.rules, g.metadataReplies)) lines.push(`    ${r}`);
    lines.push('  }');
    lines.push(`  chain ${egressChain(g.chain)} {`);
    for (const r of guestEgressRules(g.egress)) lines.push(`    ${r}`);
    lines.push('  }');
  }
  const guestElems = guestList.map((g) => `${checkIp(g.fixedIp)} : jump ${g.chain}`);
  const outElems = guestList.map((g) => `${checkIp(g.fixedIp)} : jump ${egressChain(g.chain)}`);
  const dnatElems = [...floating].map(([fip, fixed]) => `${checkIp(fip)} : ${checkIp(fixed)}`);
  const snatElems = [...floating].map(([fip, fixed]) => `${checkIp(fixed)} : ${checkIp(fip)}`);
  // Guests reach the namespace itself (the gateway, the namespace's other addresses) for DHCP,
  // the metadata proxy (where the 169.254.169.254 DNAT sends them) and ping only; replies to
  // connections the namespace opened come back as established.
  const fromGuests = [
    `iifname ${br} ct state established,related accept`,
    `iifname ${br} udp dport 67 accept`,
    ...(cfg.metadata
      ? [
          `iifname ${br} ip daddr ${checkIp(cfg.metadata.address)} tcp dport ${checkPort(cfg.metadata.port)} accept`,
        ]
      : []),
    `iifname ${br} icmp type echo-request accept`,
    `iifname ${br} drop`,
  ];
  lines.push(
    `  map guests { type ipv4_addr : verdict;${elements(guestElems)} }`,
    `  map guests_out { type ipv4_addr : verdict;${elements(outElems)} }`,
    `  map fip_dnat { type ipv4_addr : ipv4_addr;${elements(dnatElems)} }`,
    `  map fip_snat { type ipv4_addr : ipv4_addr;${elements(snatElems)} }`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
  );
  if (cfg.metadata) {
    lines.push(
      `    ip daddr ${METADATA_ADDRESS} tcp dport 80 dnat ip to ${checkIp(cfg.metadata.address)}:${checkPort(cfg.metadata.port)}`,
    );
  }
  lines.push(
    '    dnat ip to ip daddr map @fip_dnat',
    '  }',
    '  chain output_nat {',
    '    type nat hook output priority -100; policy accept;',
    '    dnat ip to ip daddr map @fip_dnat',
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    oifname ${br} ip saddr ${cidr} ip daddr ${cidr} ct status dnat masquerade`,
    `    oifname != ${br} snat ip to ip saddr map @fip_snat`,
    ...(cfg.public
      ? [
          `    oifname ${quoteIf(cfg.public.ifname)} ip saddr ${cidr} snat ip to ${checkIp(cfg.public.address)}`,
        ]
      : []),
    `    oifname != ${br} ip saddr ${cidr} masquerade`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    // The sender's egress rules first (they return what they allow), then the receiver's.
    `    iifname ${br} ip saddr vmap @guests_out`,
    '    ip daddr vmap @guests',
    // Bridged out by the flat uplink to a guest of another host, which filters it itself.
    ...(cfg.flat ? [`    meta mark ${FLAT_MARK} accept`] : []),
    // An address of the guest network that is not a plugged guest gets nothing (fail closed).
    `    ip daddr ${cidr} drop`,
    '  }',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    ...fromGuests.map((r) => `    ${r}`),
    '  }',
    '  chain output {',
    '    type filter hook output priority filter; policy accept;',
    '    ip daddr vmap @guests',
    `    oifname ${br} ip daddr ${cidr} drop`,
    '  }',
    '}',
    ...renderPortTable(guestList),
  );
  return lines.join('\n') + '\n';
}

/**
 * The `bridge` table of the guest ports, replaced whole: a chain per guest port, a verdict map
 * from port name to chain, and the prerouting hook that jumps there. Prerouting runs before
 * the bridge learns a frame's source MAC, so a dropped frame does not move another guest's MAC
 * to the sender's port, and before br_netfilter hands IPv4 to the `inet` table.
 */
function renderPortTable(guests: readonly GuestFirewall[]): string[] {
  const lines = [
    `add table bridge ${PORT_TABLE}`,
    `delete table bridge ${PORT_TABLE}`,
    `table bridge ${PORT_TABLE} {`,
  ];
  for (const g of guests) {
    lines.push(`  chain ${checkChain(g.chain)} {`);
    for (const r of portChainRules(g.fixedIp, g.port.mac)) lines.push(`    ${r}`);
    lines.push('  }');
  }
  const portElems = guests.map((g) => `${quoteIf(g.port.ifname)} : jump ${g.chain}`);
  lines.push(
    `  map ports { type ifname : verdict;${elements(portElems)} }`,
    '  chain prerouting {',
    '    type filter hook prerouting priority -300; policy accept;',
    '    iifname vmap @ports',
    '  }',
    '}',
  );
  return lines;
}

/**
 * What a guest's port may send, in order: frames from its own MAC only; ARP only as itself
 * (its MAC, its fixed IP, or 0.0.0.0 for an address probe); no DHCP server traffic (UDP source
 * port 67 or destination port 68); DHCP client messages only for its own MAC (the `chaddr`
 * field, 28 bytes into the DHCP payload, is what dnsmasq hands leases by); IPv4 from its fixed
 * IP, or from 0.0.0.0 as a DHCP discover/request; everything else (IPv6, other EtherTypes) is
 * dropped.
 */
export function portChainRules(fixedIp: string, mac: string): string[] {
  const ip = checkIp(fixedIp);
  const m = checkMac(mac);
  return [
    `ether saddr != ${m} drop`,
    `ether type arp arp saddr ether != ${m} drop`,
    `ether type arp arp saddr ip != { ${ip}, 0.0.0.0 } drop`,
    'ether type arp accept',
    'ether type ip udp sport 67 drop',
    'ether type ip udp dport 68 drop',
    // UDP header (8 bytes) + op, htype, hlen, hops, xid, secs, flags, 4 addresses (28 bytes).
    `ether type ip udp dport 67 @th,288,48 != 0x${m.replace(/:/g, '')} drop`,
    `ether type ip ip saddr ${ip} accept`,
    'ether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept',
    'drop',
  ];
}

/**
 * The rules of one guest chain, in order: the TTL of the metadata proxy's replies (a statement
 * that lets the packet go on through the chain), the fixed allowances, the group rules, the drop.
 */
export function guestChainRules(
  rules: readonly EffectiveRule[],
  metadataReplies?: { address: string; port: number; hops: number },
): string[] {
  const out = [
    ...(metadataReplies
      ? [
          `ip saddr ${checkIp(metadataReplies.address)} tcp sport ${checkPort(metadataReplies.port)} ip ttl set ${checkHops(metadataReplies.hops)}`,
        ]
      : []),
    'ct state established,related accept',
    'ct state invalid drop',
    'udp sport 67 udp dport 68 accept',
    // ICMP is always allowed (echo, unreachable, fragmentation needed), so ICMP group rules
    // add nothing here.
    'meta l4proto icmp accept',
  ];
  const seen = new Set<string>();
  for (const rule of rules) {
    for (const source of rule.sources) {
      const src = checkCidr(source);
      let text: string | undefined;
      if (rule.protocol === '-1') text = `ip saddr ${src} accept`;
      else if (rule.protocol !== 'tcp' && rule.protocol !== 'udp' && rule.protocol !== 'icmp') {
        text = `ip saddr ${src} meta l4proto ${checkProtocol(rule.protocol)} accept`;
      } else if (rule.protocol === 'tcp' || rule.protocol === 'udp') {
        const from = checkPort(rule.fromPort ?? 0);
        const to = checkPort(rule.toPort ?? 65535);
        const ports = from === to ? `${from}` : `${from}-${to}`;
        text = `ip saddr ${src} ${rule.protocol} dport ${ports} accept`;
      }
      if (text !== undefined && !seen.has(text)) {
        seen.add(text);
        out.push(text);
      }
    }
  }
  out.push('drop');
  return out;
}

/**
 * The rules of a guest's egress chain, in order: replies to what the guest accepted return,
 * invalid packets are dropped, then each egress rule returns what it allows to its
 * destinations, and the rest is dropped. Without rules (`undefined`) the chain only returns:
 * egress is not filtered. ICMP rules match their type and code (-1: any).
 */
export function guestEgressRules(rules: readonly EffectiveRule[] | undefined): string[] {
  if (rules === undefined) return ['return'];
  const out = ['ct state established,related return', 'ct state invalid drop'];
  const seen = new Set<string>();
  for (const rule of rules) {
    for (const dest of rule.sources) {
      const text = `ip daddr ${checkCidr(dest)}${matchOf(rule)} return`;
      if (!seen.has(text)) {
        seen.add(text);
        out.push(text);
      }
    }
  }
  out.push('drop');
  return out;
}

/** What a rule matches besides its remote address: protocol, ports, ICMP type and code. */
function matchOf(rule: EffectiveRule): string {
  if (rule.protocol === '-1') return '';
  if (rule.protocol !== 'tcp' && rule.protocol !== 'udp' && rule.protocol !== 'icmp') {
    return ` meta l4proto ${checkProtocol(rule.protocol)}`;
  }
  if (rule.protocol === 'icmp') {
    const type = rule.fromPort ?? -1;
    const code = rule.toPort ?? -1;
    if (type === -1) return ' meta l4proto icmp';
    const t = ` icmp type ${checkIcmp(type)}`;
    return code === -1 ? t : `${t} icmp code ${checkIcmp(code)}`;
  }
  const from = checkPort(rule.fromPort ?? 0);
  const to = checkPort(rule.toPort ?? 65535);
  return ` ${rule.protocol} dport ${from === to ? `${from}` : `${from}-${to}`}`;
}

/** A guest's egress chain, named after its ingress chain. */
export function egressChain(chain: string): string {
  return checkChain(`${checkChain(chain)}-o`);
}

/**
 * The bridge-family table of a host joined to the flat segment by `uplink`: ARP for or from
 * `gateway` and DHCP (UDP 67 and 68) are dropped on that port both ways, so each host is the
 * gateway and the DHCP server of its own guests only; frames the bridge sends out by it are
 * marked FLAT_MARK for the `inet` forward chain. Runs before br_netfilter (priority -200).
 */
export function renderFlatTable(uplink: string, gateway: string): string {
  const up = quoteIf(uplink);
  const gw = checkIp(gateway);
  const drops = (dir: 'iifname' | 'oifname') => [
    `    ${dir} ${up} arp saddr ip ${gw} drop`,
    `    ${dir} ${up} arp daddr ip ${gw} drop`,
    `    ${dir} ${up} udp dport { 67, 68 } drop`,
  ];
  return (
    [
      `add table bridge ${FLAT_TABLE}`,
      `delete table bridge ${FLAT_TABLE}`,
      `table bridge ${FLAT_TABLE} {`,
      '  chain input {',
      '    type filter hook input priority -200; policy accept;',
      ...drops('iifname'),
      '  }',
      '  chain forward {',
      '    type filter hook forward priority -200; policy accept;',
      ...drops('iifname'),
      ...drops('oifname'),
      `    oifname ${up} meta mark set ${FLAT_MARK}`,
      '  }',
      '  chain output {',
      '    type filter hook output priority -200; policy accept;',
      ...drops('oifname'),
      '  }',
      '}',
    ].join('\n') + '\n'
  );
}

/**
 * Commands that create or refill a guest's chains (its security groups in the `inet` table,
 * its port filter in the `bridge` table) and point its fixed IP and port at them. `isNew`:
 * the map elements are added too (a new guest, or one whose old elements were removed).
 */
export function setGuestCommands(g: GuestFirewall, isNew: boolean): string {
  const chain = checkChain(g.chain);
  const port = quoteIf(g.port.ifname);
  const out = egressChain(chain);
  const lines = [
    `add chain bridge ${PORT_TABLE} ${chain}`,
    `flush chain bridge ${PORT_TABLE} ${chain}`,
    `add chain inet ${TABLE} ${chain}`,
    `flush chain inet ${TABLE} ${chain}`,
    `add chain inet ${TABLE} ${out}`,
    `flush chain inet ${TABLE} ${out}`,
  ];
  for (const r of portChainRules(g.fixedIp, g.port.mac))
    lines.push(`add rule bridge ${PORT_TABLE} ${chain} ${r}`);
  for (const r of guestChainRules(g.rules, g.metadataReplies))
    lines.push(`add rule inet ${TABLE} ${chain} ${r}`);
  for (const r of guestEgressRules(g.egress)) lines.push(`add rule inet ${TABLE} ${out} ${r}`);
  if (isNew) {
    lines.push(
      `add element bridge ${PORT_TABLE} ports { ${port} : jump ${chain} }`,
      `add element inet ${TABLE} guests { ${checkIp(g.fixedIp)} : jump ${chain} }`,
      `add element inet ${TABLE} guests_out { ${checkIp(g.fixedIp)} : jump ${out} }`,
    );
  }
  return lines.join('\n') + '\n';
}

export function removeGuestCommands(g: {
  chain: string;
  fixedIp: string;
  port: { ifname: string };
}): string {
  const chain = checkChain(g.chain);
  const out = egressChain(chain);
  return (
    [
      `delete element inet ${TABLE} guests { ${checkIp(g.fixedIp)} }`,
      `delete element inet ${TABLE} guests_out { ${checkIp(g.fixedIp)} }`,
      `flush chain inet ${TABLE} ${chain}`,
      `delete chain inet ${TABLE} ${chain}`,
      `flush chain inet ${TABLE} ${out}`,
      `delete chain inet ${TABLE} ${out}`,
      `delete element bridge ${PORT_TABLE} ports { ${quoteIf(g.port.ifname)} }`,
      `flush chain bridge ${PORT_TABLE} ${chain}`,
      `delete chain bridge ${PORT_TABLE} ${chain}`,
    ].join('\n') + '\n'
  );
}

export function associateCommands(floating: string, fixed: string): string {
  const f = checkIp(floating);
  const x = checkIp(fixed);
  return `add element inet ${TABLE} fip_dnat { ${f} : ${x} }\nadd element inet ${TABLE} fip_snat { ${x} : ${f} }\n`;
}

export function disassociateCommands(floating: string, fixed: string): string {
  const f = checkIp(floating);
  const x = checkIp(fixed);
  return `delete element inet ${TABLE} fip_dnat { ${f} }\ndelete element inet ${TABLE} fip_snat { ${x} }\n`;
}

/** Applies an nft script inside the namespace as one transaction. */
export async function applyNft(ns: Namespace, script: string): Promise<void> {
  await ns.exec('nft', ['-f', '-'], { input: script });
}

function elements(items: readonly string[]): string {
  return items.length === 0 ? '' : ` elements = { ${items.join(', ')} };`;
}

// Everything that goes into the script is checked first, so no input can change its meaning.
function checkIp(text: string): string {
  const n = parseIpv4(text);
  if (n === undefined) throw bad(`'${text}' is not an IPv4 address`);
  return formatIpv4(n);
}

function checkCidr(text: string): string {
  const c = parseRuleCidr(text);
  if (!c) throw bad(`'${text}' is not an IPv4 CIDR block`);
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

function checkMac(text: string): string {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(text)) throw bad(`'${text}' is not a MAC address`);
  return text.toLowerCase();
}

function checkPort(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw bad(`'${n}' is not a port`);
  return n;
}

function checkProtocol(text: string): number {
  if (!/^\d{1,3}$/.test(text) || Number(text) > 255) throw bad(`'${text}' is not an IP protocol`);
  return Number(text);
}

function checkIcmp(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 255) throw bad(`'${n}' is not an ICMP type or code`);
  return n;
}

function checkHops(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 255) throw bad(`'${n}' is not a hop limit`);
  return n;
}

function checkChain(name: string): string {
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,60}$/.test(name)) throw bad(`'${name}' is not a chain name`);
  return name;
}

function quoteIf(name: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) throw bad(`'${name}' is not an interface name`);
  return `"${name}"`;
}

function bad(what: string): StratusError {
  return new StratusError('invalid', `The nftables table cannot be rendered: ${what}.`);
}
