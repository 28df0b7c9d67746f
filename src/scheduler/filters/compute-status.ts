// Enabled-and-alive filter: only hosts whose compute service is enabled and whose heartbeat is
// recent (the same rule as `stratus manage service list`).
import { serviceState } from '../../service/index.js';
import type { HostFilter } from '../host-state.js';

/** Hosts whose last heartbeat is older than `downAfterMs` are down. */
export function computeStatusFilter(downAfterMs: number): HostFilter {
  return {
    name: 'compute-status',
    passes: (host, _spec, now) =>
      host.enabled && serviceState({ heartbeatAt: host.heartbeatAt }, now, downAfterMs) === 'up',
    refusal: () => 'No compute host is up and enabled to take new instances.',
  };
}
