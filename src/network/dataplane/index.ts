// Public surface of the per-host data plane. Callers (the network agent, the compute host)
// use `HostDataPlane`; everything else here is how it is built.
//
// The contract, in short (semantics in host-data-plane.ts):
//   start()                                  build or adopt namespace, bridge, table, dnsmasq, proxy
//   teardown()                               remove all of it (idempotent)
//   plugGuest({instanceId, mac, fixedIp, hostname, port?, rules?}) -> {ifname}
//                                            firewall, then tap/veth on the bridge, then DHCP entry
//   unplugGuest(instanceId, {releaseLease})  the reverse; dhcp_release so dnsmasq reports `del`
//   setSecurityRules(instanceId, rules)      replace a guest's ingress rules atomically
//   associate(floating, fixed) / disassociate(floating)
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
