// Public surface of network.
export { NetworkClient, NETWORK_TOPIC, type NetworkProtocol, type GuestNetwork } from './client.js';
export { NetworkManager, DEFAULT_NETWORK, DEFAULT_FLOATING_POOL } from './manager.js';
export * from './security-groups.js';
export { SecurityGroupReader, type SecurityGroupReaderOptions } from './security-group-reader.js';
export { AddressReader, type FixedAddress } from './address-reader.js';
export * from './ipv4.js';
export {
  FloatingIpService,
  type FloatingIpChange,
  type FloatingIpHook,
  type FloatingIpMapping,
  type FloatingIpRef,
  type AssociationRef,
  type InstanceRef,
} from './floating-ips.js';
export {
  NetworkAgent,
  NetworkAgentClient,
  networkHostTopic,
  NETWORK_AGENT_FANOUT,
  type NetworkAgentOptions,
  type NetworkAgentProtocol,
  type NetworkServicePort,
  type OverlayPort,
} from './agent.js';
export type { InterfacePort } from './client.js';
export {
  type GuestNetworkPort,
  type PlugArgs,
  type PluggedPort,
  type PortPlugArgs,
} from './guest-port.js';
export { LeaseBook, LEASE_MARGIN_MS } from './leases.js';
export {
  dataPlaneUnavailable,
  dataPlaneRuntimeDir,
  removeDataPlane,
  Namespace,
  overlayNamespaceOf,
} from './dataplane/index.js';
export * from './project-networks.js';
export * from './launch-ports.js';
export * from './vpcs.js';
export * from './vpc-interfaces.js';
