// The Networking API's routers: the external gateway (with SNAT) and the add/remove interface
// actions that join a project's subnets to it.
import { isAdmin, type RequestContext } from '../../context.js';
import { invalid } from '../../errors.js';
import type { ProjectRouter } from '../../network/index.js';
import { adminOnly, bool, obj, project, required, str, type Body } from './body.js';
import { resourceRoutes, type IdParams, type NetworkingRoutes } from './resource-router.js';
import { ROUTER_ATTRIBUTES, routerView } from './views.js';

const ROUTER_KEYS = ['name', 'description', 'admin_state_up', 'external_gateway_info'];

function gatewayOf(b: Body) {
  const g = b['external_gateway_info'];
  if (g === undefined) return undefined;
  if (g === null) return null;
  const o = obj(g, 'external_gateway_info');
  if (o['external_fixed_ips'] !== undefined) {
    throw invalid('external_fixed_ips are not chosen here; the gateway is recorded only.', {
      resource: 'parameter',
      id: 'external_fixed_ips',
      reason: 'unsupported',
    });
  }
  if (o['network_id'] === undefined) return null;
  return {
    networkId: required(str(o, 'network_id'), 'external_gateway_info.network_id'),
    enableSnat: bool(o, 'enable_snat'),
  };
}

export function routerRoutes(r: NetworkingRoutes): void {
  const model = r.services.projectNetworks;
  const show = (ctx: RequestContext, x: ProjectRouter) =>
    routerView(x, { admin: isAdmin(ctx), zone: r.zone });

  resourceRoutes(r, {
    path: 'routers',
    member: 'router',
    collection: 'routers',
    attributes: ROUTER_ATTRIBUTES,
    list: async (ctx) => (await model.listRouters(ctx)).map((x) => show(ctx, x)),
    show: async (ctx, id) => show(ctx, await model.getRouter(ctx, id)),
    create: {
      keys: [
        ...ROUTER_KEYS,
        'project_id',
        'tenant_id',
        'distributed',
        'ha',
        'availability_zone_hints',
      ],
      async run(ctx, b) {
        for (const key of ['distributed', 'ha']) {
          if (b[key] !== undefined && !isAdmin(ctx)) throw adminOnly(key);
          if (b[key] === true) {
            throw invalid(`${key} routers are not offered here.`, {
              resource: 'parameter',
              id: key,
              reason: 'unsupported',
            });
          }
        }
        const router = await model.createRouter(ctx, {
          name: str(b, 'name'),
          description: str(b, 'description'),
          adminStateUp: bool(b, 'admin_state_up'),
          externalGateway: gatewayOf(b),
          projectId: project(b),
        });
        return show(ctx, router);
      },
    },
    update: {
      keys: ROUTER_KEYS,
      async run(ctx, id, b) {
        const router = await model.updateRouter(ctx, id, {
          name: str(b, 'name'),
          description: str(b, 'description'),
          adminStateUp: bool(b, 'admin_state_up'),
          externalGateway: gatewayOf(b),
        });
        return show(ctx, router);
      },
    },
    remove: (ctx, id) => model.deleteRouter(ctx, id),
  });

  for (const action of ['add_router_interface', 'remove_router_interface'] as const) {
    r.app.put<IdParams>(`/v2.0/routers/:id/${action}`, async (request) => {
      const ctx = await r.caller(request);
      const b = obj(request.body ?? {}, 'The request body');
      for (const key of Object.keys(b)) {
        if (key !== 'subnet_id' && key !== 'port_id') {
          throw invalid(`Unrecognized attribute(s) '${key}'`, {
            resource: 'parameter',
            id: key,
            reason: 'unrecognized',
          });
        }
      }
      const what = { subnetId: str(b, 'subnet_id'), portId: str(b, 'port_id') };
      if (what.subnetId === undefined && what.portId === undefined) {
        throw invalid('Either subnet_id or port_id must be specified.', {
          resource: 'parameter',
          id: 'subnet_id',
        });
      }
      const done =
        action === 'add_router_interface'
          ? await model.addInterface(ctx, request.params.id, what)
          : await model.removeInterface(ctx, request.params.id, what);
      return {
        id: done.router.id,
        tenant_id: done.router.projectId,
        project_id: done.router.projectId,
        subnet_id: done.subnetId,
        subnet_ids: [done.subnetId],
        port_id: done.portId,
        network_id: (await model.getSubnet(ctx, done.subnetId).catch(() => undefined))?.networkId,
      };
    });
  }
}
