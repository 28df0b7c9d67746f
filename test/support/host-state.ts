// Test data for the scheduler's pure parts (filters, weighers, ranking): a host and a request
// with sensible defaults.
import type { HostState, RequestSpec } from '../../src/scheduler/host-state.js';

export const NOW = 1_000_000;

/** An enabled x86_64 host in zone `az1`, beating now, with 8 vCPUs, 8 GiB and 100 GiB free. */
export function hostState(over: Partial<HostState> = {}): HostState {
  return {
    host: 'h1',
    availabilityZone: 'az1',
    architecture: 'x86_64',
    enabled: true,
    heartbeatAt: NOW,
    capacity: { vcpus: 8, memoryMb: 8192, diskGb: 100 },
    used: { vcpus: 0, memoryMb: 0, diskGb: 0 },
    ...over,
  };
}

/** 1 vCPU, 1 GiB, 10 GiB, any zone and architecture. */
export function requestSpec(over: Partial<RequestSpec> = {}): RequestSpec {
  return {
    vcpus: 1,
    memoryMb: 1024,
    diskGb: 10,
    availabilityZone: null,
    architecture: null,
    ...over,
  };
}
