// Checking a network an operator asks for: a CIDR, a gateway inside it, a DHCP range inside
// it that leaves out the network, broadcast and gateway addresses, and DNS servers.
import { invalid } from '../errors.js';
import { cidrContains, formatIpv4, parseCidr, parseIpv4, type Cidr } from './ipv4.js';

export interface NetworkSpecInput {
  name: string;
  cidr: string;
  gateway?: string | undefined;
  dhcpStart?: string | undefined;
  dhcpEnd?: string | undefined;
  /** Comma-separated IPv4 addresses; may be empty. */
  dns?: string | undefined;
}

export interface NetworkSpec {
  name: string;
  cidr: Cidr;
  cidrText: string;
  gateway: string;
  dhcpStart: string;
  dhcpEnd: string;
  dns: string;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/;

/** Fills the defaults (gateway = first address, DHCP range = the rest) and checks it all. */
export function checkNetworkSpec(input: NetworkSpecInput): NetworkSpec {
  if (!NAME.test(input.name)) {
    throw invalid(
      `The network name '${input.name.slice(0, 64)}' is not valid: use 1 to 64 letters, digits, '.', '_' or '-'.`,
      { resource: 'network', id: input.name },
    );
  }
  const cidr = parseCidr(input.cidr, 8);
  if (!cidr) {
    throw invalid(
      `The network CIDR '${input.cidr}' is not valid: it must be A.B.C.D/N with N from 8 to 30 and no host bits set.`,
      { resource: 'network', id: input.name },
    );
  }
  const first = cidr.base + 1;
  const last = cidr.base + cidr.size - 2;
  const addr = (what: string, text: string | undefined, dflt: number): number => {
    if (text === undefined || text === '') return dflt;
    const n = parseIpv4(text);
    if (n === undefined || !cidrContains(cidr, n) || n < first || n > last) {
      throw invalid(
        `The ${what} '${text}' is not a usable address of ${input.cidr} (${formatIpv4(first)} to ${formatIpv4(last)}).`,
        { resource: 'network', id: input.name },
      );
    }
    return n;
  };
  const gateway = addr('gateway', input.gateway, first);
  const start = addr('DHCP range start', input.dhcpStart, gateway === first ? first + 1 : first);
  const end = addr('DHCP range end', input.dhcpEnd, gateway === last ? last - 1 : last);
  if (start > end) {
    throw invalid(`The DHCP range ${formatIpv4(start)}-${formatIpv4(end)} is empty.`, {
      resource: 'network',
      id: input.name,
    });
  }
  if (gateway >= start && gateway <= end) {
    throw invalid(
      `The gateway ${formatIpv4(gateway)} is inside the DHCP range ${formatIpv4(start)}-${formatIpv4(end)}.`,
      { resource: 'network', id: input.name },
    );
  }
  const dns = (input.dns ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const d of dns) {
    if (parseIpv4(d) === undefined) {
      throw invalid(`The DNS server '${d}' is not an IPv4 address.`, {
        resource: 'network',
        id: input.name,
      });
    }
  }
  return {
    name: input.name,
    cidr,
    cidrText: `${formatIpv4(cidr.base)}/${cidr.prefix}`,
    gateway: formatIpv4(gateway),
    dhcpStart: formatIpv4(start),
    dhcpEnd: formatIpv4(end),
    dns: dns.join(','),
  };
}
