// Public surface of compute.
export {
  ComputeClient,
  type ComputeProtocol,
  type HostDescription,
  type RescueImage,
} from './client.js';
export {
  checkUnlocked,
  InstanceLifecycle,
  invalidState,
  resizeSourceOf,
  type InstanceLifecycleOptions,
  type LifecycleAction,
} from './server-lifecycle.js';
export { ComputeManager, type ComputeOptions } from './manager.js';
export { ConsoleGrants, type ConsoleGrant, type ConsoleGrantsOptions } from './console-grants.js';
export {
  SerialConsoleServer,
  type SerialConnection,
  type SerialConsoleServerOptions,
} from './serial-console-server.js';
export {
  InstanceImages,
  IMAGE_FROM_STATES,
  type InstanceImageRequest,
  type InstanceImagesOptions,
} from './instance-images.js';
export {
  InstanceOperations,
  type AttributeChange,
  DEFAULT_METADATA_OPTIONS,
  MAX_METADATA_HOPS,
  MAX_METADATA_ITEMS,
  MAX_SERVER_TAGS,
  type MetadataOptions,
  type MetadataOptionsChange,
  type RunRequest,
  type Reservation,
  type StateChange,
} from './operations.js';
export type { MetadataChange, ServerDetails } from '../db/index.js';
export { applyLaunchTemplate, type LaunchData } from './launch-data.js';
export {
  LaunchTemplateService,
  type LaunchTemplateServiceOptions,
  type LaunchTemplateVersion,
  type TemplateRef,
  type VersionRefusal,
} from './launch-templates.js';
export { statesWhere } from './instance-states.js';
export {
  ServerGroupService,
  type NewServerGroup,
  type ServerGroupQuery,
  type ServerGroupServiceOptions,
} from './server-groups.js';
export {
  parseGroupRules,
  SERVER_GROUP_POLICIES,
  type ServerGroupPolicy,
  type ServerGroupRow,
} from '../db/index.js';
export { InstanceMetadataReader, type InstanceFacts } from './instance-metadata.js';
export {
  instanceHealth,
  type CheckResult,
  type HealthCheck,
  type HealthFacts,
  type HealthLimits,
  type HealthStatus,
  type InstanceHealth,
} from './instance-status.js';
export { ensureGuestImage, guestImageFiles, GUEST_IMAGE_NAME } from './guest-image.js';
/** What a shutdown from inside a guest may do (an instance's shutdown behaviour). */
export { SHUTDOWN_BEHAVIORS } from '../db/index.js';
/** The values of the metadata options that are words (EC2's MetadataOptions). */
export { METADATA_HTTP_TOKENS, METADATA_SWITCH } from '../db/index.js';
export { FlavorService, type NewFlavor } from './flavors.js';
export { UsageReport, type InstanceUsage } from './usage.js';
export {
  isRootDevice,
  isVolumeDevice,
  normalizeDevice,
  VolumeAttachOperations,
  type VolumeAttachOperationsOptions,
} from './volume-attach-operations.js';
export {
  attachState,
  InterfaceAttachOperations,
  type InterfaceAttachOperationsOptions,
} from './interface-attach-operations.js';
