// The Networking API's network IP availabilities (admin-only in Neutron's policy): per network
// and subnet, how many addresses there are and how many are used.
import { isAdmin, type RequestContext } from '../../context.js';
import { notFound, StratusError } from '../../errors.js';
import { resourceRoutes, type NetworkingRoutes } from './resource-router.js';
import { IP_AVAILABILITY_ATTRIBUTES, ipAvailabilityView } from './views.js';

export function ipAvailabilityRoutes(r: NetworkingRoutes): void {
  const model = r.services.projectNetworks;
  const availabilities = async (ctx: RequestContext) => {
    if (!isAdmin(ctx)) {
      throw new StratusError(
        'forbidden',
        'rule:get_network_ip_availability is disallowed by policy: it needs the admin role.',
        { resource: 'network' },
      );
    }
    return (await model.ipAvailabilities(ctx)).map(ipAvailabilityView);
  };
  resourceRoutes(r, {
    path: 'network-ip-availabilities',
    member: 'network_ip_availability',
    collection: 'network_ip_availabilities',
    attributes: IP_AVAILABILITY_ATTRIBUTES,
    list: availabilities,
    listQuery(query) {
      // ip_version is always 4 here: a filter on it keeps all or none.
      const q = { ...query };
      const version = q['ip_version'];
      delete q['ip_version'];
      const all = version === undefined || [version].flat().includes('4');
      return { query: q, items: (items) => (all ? items : []) };
    },
    async show(ctx, id) {
      const found = (await availabilities(ctx)).find((a) => a['network_id'] === id);
      if (!found) throw notFound('network', id, `Network ${id} could not be found.`);
      return found;
    },
  });
}
