// Public surface of compute.
export { ComputeClient, type ComputeProtocol, type HostDescription } from './client.js';
export { ComputeManager, type ComputeOptions } from './manager.js';
export {
  InstanceOperations,
  type RunRequest,
  type Reservation,
  type StateChange,
} from './operations.js';
export { InstanceMetadataReader, type InstanceFacts } from './instance-metadata.js';
export { ensureGuestImage, guestImageFiles, GUEST_IMAGE_NAME } from './guest-image.js';
