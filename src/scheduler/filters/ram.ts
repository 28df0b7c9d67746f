// Memory filter: the host's claimed memory plus the instance's stays within its memory times
// the RAM allocation ratio.
import { allocatable } from '../allocation.js';
import type { HostFilter } from '../host-state.js';

export function ramFilter(ramAllocationRatio: number): HostFilter {
  return {
    name: 'ram',
    passes: (host, spec) =>
      host.used.memoryMb + spec.memoryMb <= allocatable(host.capacity.memoryMb, ramAllocationRatio),
    refusal: (spec) => `No compute host has ${spec.memoryMb} MiB of memory free.`,
  };
}
