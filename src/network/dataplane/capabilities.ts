// Whether this machine can run a namespace data plane, as data: callers choose a fallback
// (QEMU user-mode networking) from the answer instead of trying and failing half-way.
import fs from 'node:fs';
import path from 'node:path';

/** The programs the data plane runs, and the Debian package of each. */
export const DATA_PLANE_TOOLS: readonly { tool: string; pkg: string }[] = [
  { tool: 'ip', pkg: 'iproute2' },
  { tool: 'nft', pkg: 'nftables' },
  { tool: 'dnsmasq', pkg: 'dnsmasq-base' },
  { tool: 'dhcp_release', pkg: 'dnsmasq-utils' },
];

const SEARCH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Why a namespace data plane cannot run here (a sentence), or undefined when it can. */
export function dataPlaneUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'Network namespaces need Linux.';
  if (process.getuid?.() !== 0) return 'Creating network namespaces needs root.';
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d !== ''), ...SEARCH];
  const missing = DATA_PLANE_TOOLS.filter(
    ({ tool }) => !dirs.some((d) => fs.existsSync(path.join(d, tool))),
  );
  if (missing.length > 0) {
    return `Missing ${missing.map((m) => `${m.tool} (${m.pkg})`).join(', ')}; scripts/setup installs them.`;
  }
  return undefined;
}
