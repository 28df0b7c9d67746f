// Server group weigher: the soft policies. Soft affinity prefers the hosts holding most of the
// group's members, soft anti-affinity the hosts holding fewest; no host is refused for it.
// Placed first among the weighers, it decides and free memory breaks ties.
import type { HostWeigher } from '../host-state.js';

export const serverGroupWeigher: HostWeigher = {
  name: 'server-group-soft-policy',
  weigh: (host, spec) => {
    const members = spec.group?.membersOn.get(host.host) ?? 0;
    if (spec.group?.policy === 'soft-affinity') return members;
    if (spec.group?.policy === 'soft-anti-affinity') return -members;
    return 0;
  },
};
