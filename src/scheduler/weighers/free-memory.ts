// Free-memory weigher: weighs a host by the memory it has left to hand out (its memory times
// the RAM allocation ratio, less its claims). Spread puts the most free first; pack the least
// free (that passed the filters) first.
import { allocatable } from '../allocation.js';
import type { HostWeigher } from '../host-state.js';

/** `spread`: new instances go where most memory is free. `pack`: where least is. */
export type WeigherChoice = 'spread' | 'pack';

export function freeMemoryWeigher(ramAllocationRatio: number, choice: WeigherChoice): HostWeigher {
  const sign = choice === 'spread' ? 1 : -1;
  return {
    name: `free-memory-${choice}`,
    weigh: (host) =>
      sign * (allocatable(host.capacity.memoryMb, ramAllocationRatio) - host.used.memoryMb),
  };
}
