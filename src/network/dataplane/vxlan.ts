// One project network's segment on one host: a bridge and a VXLAN device on it, inside the
// host's overlay namespace. The VXLAN device sends over the host's underlay address on UDP
// 4789; frames to unknown or broadcast MACs go to every peer host by static flood entries
// (the all-zero MAC, one per peer), so no multicast is needed on the underlay, and the device
// learns where each remote MAC lives from what arrives. Bridge, VXLAN device and every port
// carry the network's MTU (the underlay's less the 50 bytes of VXLAN). Names derive from the
// VNI, so they are stable across restarts and unique within the namespace.
import { MAX_VNI, VXLAN_PORT } from './overlay-spec.js';
import { linkExists } from './bridge.js';
import type { Namespace } from './namespace.js';

const ZERO_MAC = '00:00:00:00:00:00';

/** The bridge of network `vni` on a host (at most 11 characters). */
export function segmentBridge(vni: number): string {
  return `obr${checkVni(vni)}`;
}

/** The VXLAN device of network `vni` on a host. */
export function segmentVxlan(vni: number): string {
  return `ovx${checkVni(vni)}`;
}

export interface SegmentOptions {
  vni: number;
  mtu: number;
  /** This host's underlay address (the VXLAN source). */
  localIp: string;
  /** The underlay interface the VXLAN packets leave by. */
  underlayInterface: string;
  /** The other hosts' underlay addresses. */
  peers: readonly string[];
}

/**
 * Creates or repairs the segment: bridge (no STP, no forward delay, no address), VXLAN device
 * enslaved to it, both at the network's MTU and up, and the flood entries set to exactly
 * `peers`. Idempotent; an existing VXLAN device with another VNI, source or port is replaced.
 */
export async function ensureSegment(ns: Namespace, o: SegmentOptions): Promise<void> {
  const br = segmentBridge(o.vni);
  const vx = segmentVxlan(o.vni);
  if (!(await linkExists(ns, br))) {
    await ns.ip(['link', 'add', br, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
  }
  await ns.ip(['link', 'set', br, 'mtu', String(o.mtu)]);
  if ((await linkExists(ns, vx)) && !(await vxlanMatches(ns, vx, o))) {
    await ns.ip(['link', 'del', vx]);
  }
  if (!(await linkExists(ns, vx))) {
    await ns.ip([
      'link',
      'add',
      vx,
      'type',
      'vxlan',
      'id',
      String(o.vni),
      'dstport',
      String(VXLAN_PORT),
      'local',
      o.localIp,
      'dev',
      o.underlayInterface,
    ]);
  }
  await ns.ip(['link', 'set', vx, 'mtu', String(o.mtu)]);
  await ns.ip(['link', 'set', vx, 'master', br]);
  await ns.ip(['link', 'set', vx, 'up']);
  await ns.ip(['link', 'set', br, 'up']);
  await setFloodPeers(ns, vx, o.peers);
}

/** Removes the segment (bridge and VXLAN device); succeeds when it is gone. */
export async function removeSegment(ns: Namespace, vni: number): Promise<void> {
  for (const link of [segmentVxlan(vni), segmentBridge(vni)]) {
    if (await linkExists(ns, link)) await ns.ip(['link', 'del', link]);
  }
}

/** The peers the flood entries of `vx` point at now. */
export async function floodPeers(ns: Namespace, vx: string): Promise<string[]> {
  const { stdout } = await ns.exec('bridge', ['fdb', 'show', 'dev', vx]);
  return parseFloodPeers(stdout);
}

/** The `dst` addresses of the all-zero (flood) entries in `bridge fdb show` output. */
export function parseFloodPeers(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^00:00:00:00:00:00 dst (\d+\.\d+\.\d+\.\d+)\b/.exec(line.trim());
    if (m?.[1] !== undefined && !out.includes(m[1])) out.push(m[1]);
  }
  return out;
}

async function setFloodPeers(ns: Namespace, vx: string, peers: readonly string[]): Promise<void> {
  const now = await floodPeers(ns, vx);
  for (const peer of peers) {
    if (!now.includes(peer)) {
      await ns.exec('bridge', ['fdb', 'append', ZERO_MAC, 'dst', peer, 'dev', vx]);
    }
  }
  for (const old of now) {
    if (!peers.includes(old)) {
      await ns.exec('bridge', ['fdb', 'del', ZERO_MAC, 'dst', old, 'dev', vx]);
    }
  }
}

async function vxlanMatches(ns: Namespace, vx: string, o: SegmentOptions): Promise<boolean> {
  const { stdout } = await ns.ip(['-d', 'link', 'show', 'dev', vx]);
  return (
    new RegExp(`vxlan id ${o.vni} `).test(stdout) &&
    stdout.includes(`local ${o.localIp} `) &&
    stdout.includes(`dstport ${VXLAN_PORT} `)
  );
}

function checkVni(vni: number): number {
  if (!Number.isInteger(vni) || vni < 1 || vni > MAX_VNI) throw new RangeError(`bad VNI ${vni}`);
  return vni;
}
