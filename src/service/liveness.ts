// Whether a registered service is up: its last heartbeat is recent enough, and no operator
// forced it down (a fenced host counts as down whatever its heartbeat says).
import type { ServiceRow } from '../db/index.js';

export type ServiceState = 'up' | 'down';

export function serviceState(
  row: Pick<ServiceRow, 'heartbeatAt'> & { forcedDown?: number },
  at: number,
  downAfterMs: number,
): ServiceState {
  if (row.forcedDown) return 'down';
  return at - row.heartbeatAt <= downAfterMs ? 'up' : 'down';
}
