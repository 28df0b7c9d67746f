// Availability zone filter: when a zone is asked for, only hosts in it.
import type { HostFilter } from '../host-state.js';

export const availabilityZoneFilter: HostFilter = {
  name: 'availability-zone',
  passes: (host, spec) =>
    spec.availabilityZone === null || host.availabilityZone === spec.availabilityZone,
  refusal: (spec) => `No compute host is in availability zone '${spec.availabilityZone}'.`,
};
