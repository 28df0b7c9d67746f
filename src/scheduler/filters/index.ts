// The scheduler's host filters, one module each, and the list it runs them in.
import type { AllocationRatios } from '../allocation.js';
import type { HostFilter } from '../host-state.js';
import { availabilityZoneFilter } from './availability-zone.js';
import { computeStatusFilter } from './compute-status.js';
import { cpuFilter } from './cpu.js';
import { diskFilter } from './disk.js';
import { imageArchitectureFilter } from './image-architecture.js';
import { ramFilter } from './ram.js';
import { affinityFilter, antiAffinityFilter } from './server-group.js';

export {
  affinityFilter,
  antiAffinityFilter,
  availabilityZoneFilter,
  computeStatusFilter,
  cpuFilter,
  diskFilter,
  imageArchitectureFilter,
  ramFilter,
};

/**
 * Every filter, cheapest and most telling first: a host must be up and enabled, in the zone,
 * of the image's architecture, and have room for the vCPUs, memory and disk; last, it must
 * keep the hard policy of the instance's server group (so a group's refusal is told only when
 * its policy is what leaves no host).
 */
export function schedulerFilters(options: {
  downAfterMs: number;
  ratios: AllocationRatios;
}): HostFilter[] {
  return [
    computeStatusFilter(options.downAfterMs),
    availabilityZoneFilter,
    imageArchitectureFilter,
    cpuFilter(options.ratios.cpuAllocationRatio),
    ramFilter(options.ratios.ramAllocationRatio),
    diskFilter(options.ratios.diskAllocationRatio),
    affinityFilter,
    antiAffinityFilter,
  ];
}
