// Public surface of network.
export { NetworkClient, NETWORK_TOPIC, type NetworkProtocol, type GuestNetwork } from './client.js';
export { NetworkManager, DEFAULT_NETWORK, DEFAULT_FLOATING_POOL } from './manager.js';
export * from './security-groups.js';
export {
  FloatingIpService,
  type FloatingIpChange,
  type FloatingIpHook,
  type FloatingIpMapping,
  type FloatingIpRef,
  type AssociationRef,
  type InstanceRef,
} from './floating-ips.js';
