// The Networking API's ports: fixed IPs, MAC, device owner and id, security groups, port
// security, allowed address pairs and (for an admin) the binding host.
import { isAdmin, type RequestContext } from '../../context.js';
import { invalid } from '../../errors.js';
import type { PortSpec, ProjectPort } from '../../network/index.js';
import { adminOnly, bool, list, obj, project, required, str, strings, type Body } from './body.js';
import { resourceRoutes, type NetworkingRoutes } from './resource-router.js';
import { PORT_ATTRIBUTES, portView } from './views.js';

const PORT_KEYS = [
  'name',
  'description',
  'admin_state_up',
  'fixed_ips',
  'device_owner',
  'device_id',
  'security_groups',
  'port_security_enabled',
  'allowed_address_pairs',
  'binding:host_id',
  'binding:vnic_type',
  'binding:profile',
];

/** The attributes a port body sets, as the model takes them. */
function portChange(ctx: RequestContext, b: Body): Omit<PortSpec, 'networkId'> {
  if (b['binding:host_id'] !== undefined && !isAdmin(ctx)) throw adminOnly('binding:host_id');
  const vnic = b['binding:vnic_type'];
  if (vnic !== undefined && vnic !== 'normal') {
    throw invalid(`binding:vnic_type ${String(vnic)} is not offered here.`, {
      resource: 'parameter',
      id: 'binding:vnic_type',
      reason: 'unsupported',
    });
  }
  const hostId = b['binding:host_id'];
  return {
    name: str(b, 'name'),
    description: str(b, 'description'),
    adminStateUp: bool(b, 'admin_state_up'),
    fixedIps: list(b, 'fixed_ips')?.map((f) => {
      const o = obj(f, 'fixed_ips');
      return { subnetId: str(o, 'subnet_id'), ipAddress: str(o, 'ip_address') };
    }),
    deviceOwner: str(b, 'device_owner'),
    deviceId: str(b, 'device_id'),
    securityGroups: strings(b, 'security_groups'),
    portSecurityEnabled: bool(b, 'port_security_enabled'),
    allowedAddressPairs: list(b, 'allowed_address_pairs')?.map((p) => {
      const o = obj(p, 'allowed_address_pairs');
      return {
        ipAddress: required(str(o, 'ip_address'), 'allowed_address_pairs.ip_address'),
        macAddress: str(o, 'mac_address'),
      };
    }),
    ...(hostId === undefined
      ? {}
      : { bindingHost: hostId === '' ? null : str(b, 'binding:host_id') }),
  };
}

export function portRoutes(r: NetworkingRoutes): void {
  const { projectNetworks: model, securityGroups: groups } = r.services;
  const show = (ctx: RequestContext, p: ProjectPort) => portView(p, { admin: isAdmin(ctx) });

  resourceRoutes(r, {
    path: 'ports',
    member: 'port',
    collection: 'ports',
    attributes: PORT_ATTRIBUTES,
    list: async (ctx) => (await model.listPorts(ctx)).map((p) => show(ctx, p)),
    show: async (ctx, id) => show(ctx, await model.getPort(ctx, id)),
    create: {
      keys: [...PORT_KEYS, 'network_id', 'mac_address', 'project_id', 'tenant_id'],
      async run(ctx, b) {
        const change = portChange(ctx, b);
        // No groups named: the network's `default` group (a VPC's own, else the project's),
        // which the model picks; the project's is made now if the project has none yet.
        if (
          change.securityGroups === undefined &&
          change.portSecurityEnabled !== false &&
          (project(b) ?? ctx.projectId) === ctx.projectId
        ) {
          await groups.list(ctx, { names: ['default'] });
        }
        const port = await model.createPort(ctx, {
          ...change,
          networkId: required(str(b, 'network_id'), 'network_id'),
          macAddress: str(b, 'mac_address'),
          projectId: project(b),
        });
        return show(ctx, port);
      },
    },
    update: {
      keys: PORT_KEYS,
      run: async (ctx, id, b) => show(ctx, await model.updatePort(ctx, id, portChange(ctx, b))),
    },
    remove: (ctx, id) => model.deletePort(ctx, id),
  });
}
