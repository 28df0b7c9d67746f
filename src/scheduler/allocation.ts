// Allocation ratios: how much of a host's vCPUs, memory and disk the scheduler may hand out
// (overcommit). The one place that turns a host's capacity into what it may hold.
import type { Resources } from '../db/index.js';

export interface AllocationRatios {
  cpuAllocationRatio: number;
  ramAllocationRatio: number;
  diskAllocationRatio: number;
}

/** What `total` allows at `ratio`, in whole units. */
export function allocatable(total: number, ratio: number): number {
  return Math.floor(total * ratio);
}

/** What a host with `capacity` may hold in all under `ratios`. */
export function hostLimits(capacity: Resources, ratios: AllocationRatios): Resources {
  return {
    vcpus: allocatable(capacity.vcpus, ratios.cpuAllocationRatio),
    memoryMb: allocatable(capacity.memoryMb, ratios.ramAllocationRatio),
    diskGb: allocatable(capacity.diskGb, ratios.diskAllocationRatio),
  };
}
