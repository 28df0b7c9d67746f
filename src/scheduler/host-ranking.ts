// Runs the filters over the hosts and orders the survivors by weight: the scheduler's whole
// decision, as a pure function.
import type { HostFilter, HostState, HostWeigher, RequestSpec } from './host-state.js';

/**
 * The hosts that pass every filter, heaviest first (ties by host name). When none passes,
 * `refusal` says why, in the words of the filter that removed the last ones.
 */
export function rankHosts(
  hosts: readonly HostState[],
  spec: RequestSpec,
  filters: readonly HostFilter[],
  weigher: HostWeigher,
  now: number,
): { ranked: HostState[] } | { refusal: string } {
  let left = [...hosts];
  if (left.length === 0) return { refusal: 'No compute host has registered yet.' };
  for (const filter of filters) {
    left = left.filter((h) => filter.passes(h, spec, now));
    if (left.length === 0) return { refusal: filter.refusal(spec) };
  }
  const weights = new Map(left.map((h) => [h.host, weigher.weigh(h, spec)]));
  left.sort(
    (a, b) =>
      (weights.get(b.host) as number) - (weights.get(a.host) as number) ||
      a.host.localeCompare(b.host),
  );
  return { ranked: left };
}
