// The Networking API's networks: project networks, the shared flat (provider) network and the
// external floating pool, with the provider attributes shown to an admin.
import { isAdmin } from '../../context.js';
import { invalid } from '../../errors.js';
import { adminOnly, bool, int, project, str } from './body.js';
import { resourceRoutes, type NetworkingRoutes } from './resource-router.js';
import { NETWORK_ATTRIBUTES, networkView } from './views.js';

export function networkRoutes(routes: NetworkingRoutes): void {
  const model = routes.services.projectNetworks;
  const show = (ctx: Parameters<typeof isAdmin>[0], n: Parameters<typeof networkView>[0]) =>
    networkView(n, { admin: isAdmin(ctx), zone: routes.zone });

  resourceRoutes(routes, {
    path: 'networks',
    member: 'network',
    collection: 'networks',
    attributes: NETWORK_ATTRIBUTES,
    list: async (ctx) => (await model.listNetworks(ctx)).map((n) => show(ctx, n)),
    show: async (ctx, id) => show(ctx, await model.getNetwork(ctx, id)),
    create: {
      keys: [
        'name',
        'description',
        'admin_state_up',
        'shared',
        'router:external',
        'mtu',
        'provider:network_type',
        'provider:physical_network',
        'provider:segmentation_id',
        'project_id',
        'tenant_id',
        'port_security_enabled',
        'availability_zone_hints',
      ],
      async run(ctx, b) {
        const type = b['provider:network_type'];
        if (type !== undefined && type !== 'vxlan') {
          if (!isAdmin(ctx)) throw adminOnly('provider:network_type');
          throw invalid(
            `Network type ${String(type)} is not offered here; project networks are vxlan.`,
            { resource: 'parameter', id: 'provider:network_type', reason: 'unsupported' },
          );
        }
        const physical = b['provider:physical_network'];
        if (physical !== undefined && physical !== null) {
          if (!isAdmin(ctx)) throw adminOnly('provider:physical_network');
          throw invalid('A vxlan network has no physical network.', {
            resource: 'parameter',
            id: 'provider:physical_network',
          });
        }
        if (b['port_security_enabled'] === false) {
          throw invalid('Port security cannot be turned off for a whole network here.', {
            resource: 'parameter',
            id: 'port_security_enabled',
            reason: 'unsupported',
          });
        }
        const network = await model.createNetwork(ctx, {
          name: str(b, 'name'),
          description: str(b, 'description'),
          adminStateUp: bool(b, 'admin_state_up'),
          shared: bool(b, 'shared'),
          external: bool(b, 'router:external'),
          mtu: int(b, 'mtu'),
          segmentationId: int(b, 'provider:segmentation_id'),
          projectId: project(b),
        });
        return show(ctx, network);
      },
    },
    update: {
      keys: ['name', 'description', 'admin_state_up', 'shared', 'router:external'],
      async run(ctx, id, b) {
        const network = await model.updateNetwork(ctx, id, {
          name: str(b, 'name'),
          description: str(b, 'description'),
          adminStateUp: bool(b, 'admin_state_up'),
          shared: bool(b, 'shared'),
          external: bool(b, 'router:external'),
        });
        return show(ctx, network);
      },
    },
    remove: (ctx, id) => model.deleteNetwork(ctx, id),
  });
}
