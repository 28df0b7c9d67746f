// Public surface of the scheduler.
export {
  SchedulerClient,
  SCHEDULER_TOPIC,
  type SchedulerProtocol,
  type SelectDestinationsArgs,
} from './client.js';
export { SchedulerManager, type SchedulerOptions } from './manager.js';
export { type AllocationRatios } from './allocation.js';
export { type WeigherChoice } from './weighers/index.js';
export {
  HostInventory,
  type ComputeHostSummary,
  type ControlServiceSummary,
  type HostInventoryOptions,
  type InstanceOnHost,
  type ZoneSummary,
} from './host-inventory.js';
export { HostAdmin, type ServiceChange } from './host-admin.js';
