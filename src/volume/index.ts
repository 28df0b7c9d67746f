// Public surface of the volume service: block devices that outlive instances.
export {
  VolumeClient,
  VOLUME_SERVICE,
  type VolumeHostDescription,
  type VolumeProtocol,
} from './client.js';
export { VolumeManager, type VolumeManagerOptions } from './manager.js';
export { NbdExports, type NbdExport, type NbdExportsOptions } from './nbd-exports.js';
export {
  SnapshotOperations,
  type CreateSnapshotArgs,
  type SnapshotOperationsOptions,
  type SnapshotPermissions,
} from './snapshots.js';
export {
  VolumeOperations,
  MIN_VOLUME_GB,
  MAX_VOLUME_GB,
  type CreateVolumeArgs,
  type VolumeOperationsOptions,
} from './operations.js';
export {
  VolumeTypes,
  VOLUME_TYPES,
  volumeTypeId,
  type NewVolumeType,
  type VolumeType,
} from './volume-types.js';
// The statuses a volume may have, for the edges that check a status they are given.
export {
  VOLUME_STATUSES,
  SNAPSHOT_STATUSES,
  type VolumeStatus,
  type SnapshotStatus,
} from '../db/index.js';
export {
  VolumeImages,
  VOLUME_IMAGE_FORMATS,
  type VolumeImageFormat,
  type VolumeImageRequest,
  type VolumeImagesOptions,
} from './volume-images.js';
