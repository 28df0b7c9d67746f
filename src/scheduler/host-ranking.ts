// Runs the filters over the hosts and orders the survivors by weight: the scheduler's whole
// decision, as a pure function.
import type { HostFilter, HostState, HostWeigher, RequestSpec } from './host-state.js';

/**
 * The hosts that pass every filter, heaviest first (ties by host name). With several weighers
 * the first decides, the next breaks its ties, and so on. When none passes, `refusal` says
 * why, in the words of the filter that removed the last ones.
 */
export function rankHosts(
  hosts: readonly HostState[],
  spec: RequestSpec,
  filters: readonly HostFilter[],
  weighers: HostWeigher | readonly HostWeigher[],
  now: number,
): { ranked: HostState[] } | { refusal: string } {
  const list: readonly HostWeigher[] = Array.isArray(weighers)
    ? weighers
    : [weighers as HostWeigher];
  let left = [...hosts];
  if (left.length === 0) return { refusal: 'No compute host has registered yet.' };
  for (const filter of filters) {
    left = left.filter((h) => filter.passes(h, spec, now));
    if (left.length === 0) return { refusal: filter.refusal(spec) };
  }
  const weights = new Map(left.map((h) => [h.host, list.map((w) => w.weigh(h, spec))]));
  const order = (a: HostState, b: HostState): number => {
    const wa = weights.get(a.host) as number[];
    const wb = weights.get(b.host) as number[];
    for (let i = 0; i < wa.length; i++) {
      const d = (wb[i] as number) - (wa[i] as number);
      if (d !== 0) return d;
    }
    return a.host.localeCompare(b.host);
  };
  left.sort(order);
  return { ranked: left };
}
