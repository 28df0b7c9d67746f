// Public surface of compute.
export { ComputeClient, type ComputeProtocol, type HostDescription } from './client.js';
export { ComputeManager, type ComputeOptions } from './manager.js';
