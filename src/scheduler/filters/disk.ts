// Disk filter: the host's claimed disk plus the instance's stays within its disk times the
// disk allocation ratio.
import { allocatable } from '../allocation.js';
import type { HostFilter } from '../host-state.js';

export function diskFilter(diskAllocationRatio: number): HostFilter {
  return {
    name: 'disk',
    passes: (host, spec) =>
      host.used.diskGb + spec.diskGb <= allocatable(host.capacity.diskGb, diskAllocationRatio),
    refusal: (spec) => `No compute host has ${spec.diskGb} GiB of disk free.`,
  };
}
