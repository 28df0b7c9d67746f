// Public surface of the per-host data plane. Callers (the network agent, the compute host)
// use `HostDataPlane`; everything else here is how it is built.
//
// The contract, in short (semantics in host-data-plane.ts):
//   start()                                  build or adopt namespace, bridge, table, dnsmasq, proxy
//   teardown()                               remove all of it (idempotent)
//   plugGuest({instanceId, mac, fixedIp, hostname, port?, rules?, egress?, metadataHops?})
//                                            -> {ifname}
//                                            firewall and port filter, then tap/veth on the
//                                            bridge, then DHCP entry
//   unplugGuest(instanceId, {releaseLease})  the reverse; dhcp_release so dnsmasq reports `del`
//   setSecurityRules(instanceId, rules, metadataHops?, egress?)
//                                            replace a guest's ingress and egress rules (and
//                                            the TTL of the metadata proxy's replies to it)
//                                            atomically; no egress: egress not filtered
//   associate(floating, fixed) / disassociate(floating)
import fs from 'node:fs';
import { Namespace } from './namespace.js';

export {
  HostDataPlane,
  type HostDataPlaneOptions,
  type GuestSpec,
  type GuestNetworkSpec,
} from './host-data-plane.js';
export type { GuestPortSpec } from './bridge.js';
export { Namespace } from './namespace.js';
export { REFUSAL_PATTERNS } from './dnsmasq.js';
export { METADATA_ADDRESS } from './nftables.js';
export {
  LeaseSpool,
  type LeaseEvent,
  type LeaseAction,
  type KnownLease,
  type LeaseEventHandlers,
} from './lease-events.js';
export { dataPlaneUnavailable, DATA_PLANE_TOOLS } from './capabilities.js';

/**
 * Where a namespace data plane keeps its runtime state (hosts file, lease spool, adoption
 * record, metadata socket): it lives as long as the namespace does, until a reboot, and
 * dnsmasq can read it after dropping its privileges.
 */
export function dataPlaneRuntimeDir(namespace: string): string {
  return `/run/stratus/${namespace}`;
}

/**
 * Removes a host's data plane left behind by a stopped compute service: the namespace with
 * everything in it (bridge, taps, dnsmasq, the nftables table) and its runtime directory.
 * Idempotent. The namespace outlives the process by design, so that guests keep their network
 * across a restart; this is how an operator (or a test) takes it away.
 */
export async function removeDataPlane(namespace: string): Promise<void> {
  await new Namespace(namespace).destroy(200);
  fs.rmSync(dataPlaneRuntimeDir(namespace), { recursive: true, force: true });
}

// Project networks (VXLAN overlay), beside the flat network above; see overlay.ts.
export {
  OverlayHost,
  overlayNamespaceOf,
  type OverlayHostOptions,
  type OverlayPlug,
} from './overlay.js';
export {
  VXLAN_OVERHEAD,
  VXLAN_PORT,
  checkNetworkSpec,
  checkRouterSpec,
  type ProjectNetworkSpec,
  type RouterSpec,
  type OverlayPeer,
  type OverlayPortSpec,
  type SubnetSpec,
  subnetsOf,
} from './overlay-spec.js';
