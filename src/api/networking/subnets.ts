// The Networking API's subnets: IPv4 ranges of a network with allocation pools, gateway, DNS
// servers and host routes.
import { invalid } from '../../errors.js';
import { bool, list, obj, project, required, routes, str, strings } from './body.js';
import { resourceRoutes, type NetworkingRoutes } from './resource-router.js';
import { SUBNET_ATTRIBUTES, subnetView } from './views.js';

export function subnetRoutes(r: NetworkingRoutes): void {
  const model = r.services.projectNetworks;
  resourceRoutes(r, {
    path: 'subnets',
    member: 'subnet',
    collection: 'subnets',
    attributes: SUBNET_ATTRIBUTES,
    list: async (ctx) => (await model.listSubnets(ctx)).map(subnetView),
    show: async (ctx, id) => subnetView(await model.getSubnet(ctx, id)),
    create: {
      keys: [
        'name',
        'description',
        'network_id',
        'ip_version',
        'cidr',
        'gateway_ip',
        'enable_dhcp',
        'allocation_pools',
        'dns_nameservers',
        'host_routes',
        'project_id',
        'tenant_id',
        'ipv6_ra_mode',
        'ipv6_address_mode',
        'subnetpool_id',
        'prefixlen',
        'use_default_subnetpool',
        'service_types',
        'segment_id',
      ],
      async run(ctx, b) {
        const version = b['ip_version'];
        if (version !== 4 && version !== '4') {
          throw invalid(
            version === undefined
              ? "Invalid input for operation: 'ip_version' must be specified."
              : `Invalid input for ip_version: only IPv4 subnets (4) are offered here, not ${String(version)}.`,
            { resource: 'parameter', id: 'ip_version', reason: 'unsupported' },
          );
        }
        for (const key of ['subnetpool_id', 'prefixlen', 'segment_id']) {
          if (b[key] !== undefined && b[key] !== null) {
            throw invalid(`${key} is not supported here; give a cidr.`, {
              resource: 'parameter',
              id: key,
              reason: 'unsupported',
            });
          }
        }
        const gateway = b['gateway_ip'];
        const subnet = await model.createSubnet(ctx, {
          networkId: required(str(b, 'network_id'), 'network_id'),
          cidr: required(str(b, 'cidr'), 'cidr'),
          name: str(b, 'name'),
          description: str(b, 'description'),
          gateway: gateway === null ? null : str(b, 'gateway_ip'),
          enableDhcp: bool(b, 'enable_dhcp'),
          allocationPools: list(b, 'allocation_pools')?.map((p) => {
            const o = obj(p, 'allocation_pools');
            return {
              start: required(str(o, 'start'), 'allocation_pools.start'),
              end: required(str(o, 'end'), 'allocation_pools.end'),
            };
          }),
          dnsNameservers: strings(b, 'dns_nameservers'),
          hostRoutes: routes(b),
          projectId: project(b),
        });
        return subnetView(subnet);
      },
    },
    update: {
      keys: ['name', 'description', 'enable_dhcp', 'dns_nameservers', 'host_routes'],
      async run(ctx, id, b) {
        const subnet = await model.updateSubnet(ctx, id, {
          name: str(b, 'name'),
          description: str(b, 'description'),
          enableDhcp: bool(b, 'enable_dhcp'),
          dnsNameservers: strings(b, 'dns_nameservers'),
          hostRoutes: routes(b),
        });
        return subnetView(subnet);
      },
    },
    remove: (ctx, id) => model.deleteSubnet(ctx, id),
  });
}
