// The Networking API's floating IPs, over the floating addresses of the pool (the external
// network): allocate, associate with a port's instance, disassociate and release.
import type { RequestContext } from '../../context.js';
import { invalid, notFound, StratusError } from '../../errors.js';
import { required, str, type Body } from './body.js';
import { resourceRoutes, type NetworkingRoutes } from './resource-router.js';
import { FLOATING_IP_ATTRIBUTES, floatingIpView } from './views.js';

export function floatingIpRoutes(r: NetworkingRoutes): void {
  const { services } = r;
  const { projectNetworks: model, network: networkClient } = services;

  const floatingViews = async (ctx: RequestContext) => {
    const rows = (await services.addresses.floatingIps(ctx)).filter((r) => r.allocationId);
    const ports = await model.listPorts(ctx);
    const portOf = (instanceId: string | null) =>
      instanceId ? (ports.find((p) => p.deviceId === instanceId)?.id ?? null) : null;
    return rows.map((r) =>
      floatingIpView(r, {
        networkId: model.floatingNetworkId,
        portId: portOf(r.instanceId),
        routerId: null,
      }),
    );
  };
  const findFloating = async (ctx: RequestContext, id: string) => {
    const found = (await floatingViews(ctx)).find((f) => f['id'] === id);
    if (!found) throw notFound('floating_ip', id, `Floating IP ${id} could not be found`);
    return found;
  };
  /** Points the floating address at the port's instance, or (null) at nothing. */
  const associate = async (
    ctx: RequestContext,
    floating: Body,
    portId: string | null,
    fixedAddress: string | undefined,
  ) => {
    const address = String(floating['floating_ip_address']);
    if (portId === null) {
      if (floating['port_id'] !== null)
        await networkClient.disassociateFloatingIp(ctx, { address });
      return;
    }
    const target = await model.floatingIpTarget(ctx, portId, fixedAddress);
    await networkClient.associateFloatingIp(
      ctx,
      { address },
      { idPrefix: target.instanceId, shown: target.instanceId },
      { allowReassociation: true, fixedAddress: target.fixedIp },
    );
  };

  resourceRoutes(r, {
    path: 'floatingips',
    member: 'floatingip',
    collection: 'floatingips',
    attributes: FLOATING_IP_ATTRIBUTES,
    list: floatingViews,
    show: findFloating,
    create: {
      keys: [
        'floating_network_id',
        'port_id',
        'fixed_ip_address',
        'floating_ip_address',
        'subnet_id',
        'description',
        'project_id',
        'tenant_id',
        'dns_domain',
        'dns_name',
        'qos_policy_id',
      ],
      async run(ctx, b) {
        const networkId = required(str(b, 'floating_network_id'), 'floating_network_id');
        const network = await model.getNetwork(ctx, networkId);
        if (!network.external) {
          throw invalid(
            `Bad floatingip request: Network ${networkId} is not a valid external network.`,
            { resource: 'floating_ip', id: networkId },
          );
        }
        if (network.origin !== 'floating') {
          throw new StratusError(
            'unavailable',
            `No more IP addresses available on network ${networkId}: floating IPs come from the pool network ${model.floatingNetworkId} here.`,
            { resource: 'network', id: networkId, reason: 'no_address' },
          );
        }
        for (const key of ['floating_ip_address', 'subnet_id', 'qos_policy_id']) {
          if (b[key] !== undefined && b[key] !== null) {
            throw invalid(`${key} cannot be chosen here; the lowest free address is given.`, {
              resource: 'parameter',
              id: key,
              reason: 'unsupported',
            });
          }
        }
        const portId = str(b, 'port_id');
        // The port is checked before an address is taken, so a bad port leaves nothing behind.
        if (portId !== undefined) await model.getPort(ctx, portId);
        const row = await networkClient.allocateFloatingIp(ctx, 'standard');
        let view = await findFloating(ctx, row.allocationId as string);
        if (portId !== undefined) {
          try {
            await associate(ctx, view, portId, str(b, 'fixed_ip_address'));
          } catch (err) {
            await networkClient.releaseFloatingIp(ctx, { address: row.address });
            throw err;
          }
          view = await findFloating(ctx, row.allocationId as string);
        }
        return view;
      },
    },
    update: {
      keys: ['port_id', 'fixed_ip_address', 'description'],
      async run(ctx, id, b) {
        const view = await findFloating(ctx, id);
        if (b['port_id'] !== undefined) {
          const portId = b['port_id'] === null ? null : (str(b, 'port_id') ?? null);
          await associate(ctx, view, portId, str(b, 'fixed_ip_address'));
        }
        return findFloating(ctx, id);
      },
    },
    async remove(ctx, id) {
      const view = await findFloating(ctx, id);
      await networkClient.releaseFloatingIp(ctx, { address: String(view['floating_ip_address']) });
    },
  });
}
