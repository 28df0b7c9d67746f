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
// - the metadata DNAT: 169.254.169.254:80 to the metadata proxy on the gateway address.
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
export const METADATA_ADDRESS = '169.254.169.254';

export interface TableConfig {
  bridge: string;
  /** The guest network, e.g. '10.20.0.0/20'. */
  cidr: string;
  /** Where 169.254.169.254:80 is sent: the metadata proxy in the namespace; none when absent. */
  metadata?: { address: string; port: number };
}

export interface GuestFirewall {
  chain: string;
  fixedIp: string;
  rules: readonly EffectiveRule[];
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
    for (const r of guestChainRules(g.rules)) lines.push(`    ${r}`);
    lines.push('  }');
  }
  const guestElems = guestList.map((g) => `${checkIp(g.fixedIp)} : jump ${g.chain}`);
  const dnatElems = [...floating].map(([fip, fixed]) => `${checkIp(fip)} : ${checkIp(fixed)}`);
  const snatElems = [...floating].map(([fip, fixed]) => `${checkIp(fixed)} : ${checkIp(fip)}`);
  lines.push(
    `  map guests { type ipv4_addr : verdict;${elements(guestElems)} }`,
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
    `    oifname != ${br} ip saddr ${cidr} masquerade`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    '    ip daddr vmap @guests',
    // An address of the guest network that is not a plugged guest gets nothing (fail closed).
    `    ip daddr ${cidr} drop`,
    '  }',
    '  chain output {',
    '    type filter hook output priority filter; policy accept;',
    '    ip daddr vmap @guests',
    `    oifname ${br} ip daddr ${cidr} drop`,
    '  }',
    '}',
  );
  return lines.join('\n') + '\n';
}

/** The rules of one guest chain, in order: the fixed allowances, the group rules, the drop. */
export function guestChainRules(rules: readonly EffectiveRule[]): string[] {
  const out = [
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
      else if (rule.protocol === 'tcp' || rule.protocol === 'udp') {
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

/** Commands that create or refill a guest chain and point its fixed IP at it. */
export function setGuestCommands(g: GuestFirewall, isNew: boolean): string {
  const chain = checkChain(g.chain);
  const lines = [`add chain inet ${TABLE} ${chain}`, `flush chain inet ${TABLE} ${chain}`];
  for (const r of guestChainRules(g.rules)) lines.push(`add rule inet ${TABLE} ${chain} ${r}`);
  if (isNew)
    lines.push(`add element inet ${TABLE} guests { ${checkIp(g.fixedIp)} : jump ${chain} }`);
  return lines.join('\n') + '\n';
}

export function removeGuestCommands(g: { chain: string; fixedIp: string }): string {
  const chain = checkChain(g.chain);
  return (
    [
      `delete element inet ${TABLE} guests { ${checkIp(g.fixedIp)} }`,
      `flush chain inet ${TABLE} ${chain}`,
      `delete chain inet ${TABLE} ${chain}`,
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

function checkPort(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw bad(`'${n}' is not a port`);
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
