// vCPU filter: the host's claimed vCPUs plus the instance's stay within its cores times the
// CPU allocation ratio.
import { allocatable } from '../allocation.js';
import type { HostFilter } from '../host-state.js';

export function cpuFilter(cpuAllocationRatio: number): HostFilter {
  return {
    name: 'cpu',
    passes: (host, spec) =>
      host.used.vcpus + spec.vcpus <= allocatable(host.capacity.vcpus, cpuAllocationRatio),
    refusal: (spec) => `No compute host has ${spec.vcpus} vCPU free.`,
  };
}
