// Whether a registered service is up: its last heartbeat is recent enough.
import type { ServiceRow } from '../db/index.js';

export type ServiceState = 'up' | 'down';

export function serviceState(
  row: Pick<ServiceRow, 'heartbeatAt'>,
  at: number,
  downAfterMs: number,
): ServiceState {
  return at - row.heartbeatAt <= downAfterMs ? 'up' : 'down';
}
