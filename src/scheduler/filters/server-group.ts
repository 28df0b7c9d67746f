// Server group filters: the hard policies. Affinity keeps only the host the group's members
// are on (any host while none is placed); anti-affinity keeps only hosts holding fewer of its
// members than its `max_server_per_host` (1 unless told). Members being placed count, so
// launches in flight into one group see each other. The capacity claim checks the same rule
// under the group's row lock, for schedulers that decide at the same moment.
import type { HostFilter } from '../host-state.js';

export const affinityFilter: HostFilter = {
  name: 'server-group-affinity',
  passes: (host, spec) =>
    spec.group?.policy !== 'affinity' ||
    spec.group.membersOn.size === 0 ||
    spec.group.membersOn.has(host.host),
  refusal: (spec) =>
    `The server group '${spec.group?.id}' has the affinity policy, and the host its members are on (${[...(spec.group?.membersOn.keys() ?? [])].join(', ')}) cannot take another.`,
};

export const antiAffinityFilter: HostFilter = {
  name: 'server-group-anti-affinity',
  passes: (host, spec) =>
    spec.group?.policy !== 'anti-affinity' ||
    (spec.group.membersOn.get(host.host) ?? 0) < spec.group.maxPerHost,
  refusal: (spec) =>
    `The server group '${spec.group?.id}' has the anti-affinity policy, and every host that could take the instance already holds ${spec.group?.maxPerHost === 1 ? 'one of its members' : `${spec.group?.maxPerHost} of its members`}.`,
};
