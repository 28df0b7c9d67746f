// Public surface of network.
export { NetworkClient, NETWORK_TOPIC, type NetworkProtocol } from './client.js';
export { NetworkManager } from './manager.js';
