// The guest bridge of a host namespace and the ports on it: a tap per VM (the QEMU driver
// opens it by name) or, TEST-ONLY, for namespace "guests" in tests, a veth pair whose far end
// sits in another namespace the test created.
import type { Namespace } from './namespace.js';
import { tryRun } from './run.js';

/** Linux interface names are at most 15 characters. */
export const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

/** Creates the bridge (no-op when it exists), gives it `address/prefix` and brings it up. */
export async function ensureBridge(
  ns: Namespace,
  bridge: string,
  address: string,
  prefix: number,
): Promise<void> {
  if (!(await linkExists(ns, bridge))) {
    // No STP and no forward delay: a new port forwards at once, so a guest's first DHCP
    // packets are not dropped while the port "learns".
    await ns.ip(['link', 'add', bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
  }
  await ns.ip(['addr', 'replace', `${address}/${prefix}`, 'dev', bridge]);
  await ns.ip(['link', 'set', bridge, 'up']);
}

/** A port for one guest on the bridge. */
export type GuestPortSpec =
  /** A tap device left for a VM to open (`-netdev tap,ifname=NAME`). */
  | { kind: 'tap' }
  /**
   * TEST-ONLY: a veth pair, one end on the bridge, the other moved into `peerNamespace` as
   * `peerName` with the guest's MAC, where a namespace stands in for a VM in tests without
   * QEMU. Production plugs only taps; it is a test seam kept here because the data plane
   * saves and adopts ports of either kind.
   */
  | { kind: 'veth'; peerNamespace: Namespace; peerName: string };

/** Creates the port `ifname` for a guest with `mac`, attached to `bridge` and up. */
export async function addGuestPort(
  ns: Namespace,
  bridge: string,
  ifname: string,
  mac: string,
  spec: GuestPortSpec,
): Promise<void> {
  const exists = await linkExists(ns, ifname);
  if (spec.kind === 'tap') {
    // A tap that exists may be held open by the guest's VM (plugged again after a restart of
    // the agent): keep it, or the VM loses its network.
    if (!exists) await ns.ip(['tuntap', 'add', 'dev', ifname, 'mode', 'tap']);
  } else {
    if (exists) await ns.ip(['link', 'del', ifname]);
    await ns.ip([
      'link',
      'add',
      ifname,
      'type',
      'veth',
      'peer',
      'name',
      spec.peerName,
      'address',
      mac,
      'netns',
      spec.peerNamespace.name,
    ]);
    await spec.peerNamespace.ip(['link', 'set', spec.peerName, 'up']);
  }
  await ns.ip(['link', 'set', ifname, 'master', bridge]);
  await ns.ip(['link', 'set', ifname, 'up']);
}

/** Removes a link; succeeds when it is already gone. */
export async function removeLink(ns: Namespace, ifname: string): Promise<void> {
  if (await linkExists(ns, ifname)) await ns.ip(['link', 'del', ifname]);
}

export function linkExists(ns: Namespace, ifname: string): Promise<boolean> {
  return tryRun('ip', ['-n', ns.name, 'link', 'show', 'dev', ifname]);
}
