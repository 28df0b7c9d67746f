// IPv4 addresses and CIDR blocks as numbers: parsing, checking and walking a range.

export interface Cidr {
  /** The network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
  /** Number of addresses in the block. */
  size: number;
}

export function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  if (m.slice(1).some((p) => p.length > 1 && p.startsWith('0'))) return undefined;
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** Parses 'A.B.C.D/N' with N in [minPrefix, 30]; undefined when it is not such a block. */
export function parseCidr(text: string, minPrefix = 8): Cidr | undefined {
  const [addr, bits, extra] = text.split('/');
  if (addr === undefined || bits === undefined || extra !== undefined || !/^\d{1,2}$/.test(bits))
    return undefined;
  const ip = parseIpv4(addr);
  const prefix = Number(bits);
  if (ip === undefined || prefix < minPrefix || prefix > 30) return undefined;
  const size = 2 ** (32 - prefix);
  const base = ip - (ip % size);
  if (base !== ip) return undefined;
  return { base, prefix, size };
}

/** Parses any IPv4 CIDR 0..32, for security-group rules (host bits may not be set). */
export function parseRuleCidr(text: string): Cidr | undefined {
  const [addr, bits, extra] = text.split('/');
  if (addr === undefined || bits === undefined || extra !== undefined || !/^\d{1,2}$/.test(bits))
    return undefined;
  const ip = parseIpv4(addr);
  const prefix = Number(bits);
  if (ip === undefined || prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  if (ip % size !== 0) return undefined;
  return { base: ip, prefix, size };
}

export function cidrContains(cidr: Cidr, ip: number): boolean {
  return ip >= cidr.base && ip < cidr.base + cidr.size;
}

/** The dotted addresses from `first` to `last`, both included. */
export function addressRange(first: number, last: number): string[] {
  const out: string[] = [];
  for (let ip = first; ip <= last; ip++) out.push(formatIpv4(ip));
  return out;
}

/** The usable addresses of a block: all but the network, the gateway (`.1`) and broadcast. */
export function hostRange(cidr: Cidr): { gateway: number; first: number; last: number } {
  return { gateway: cidr.base + 1, first: cidr.base + 2, last: cidr.base + cidr.size - 2 };
}
