// A server's port interfaces (`os-interface`): list and show the ports bound to the server,
// its flat network port and its project network ports, as the Networking API shows them.
// Attaching and detaching at run time (hot-plug) is not offered here.
import type { RequestContext } from '../../context.js';
import { notFound } from '../../errors.js';
import type { ProjectPort } from '../../network/index.js';
import { atLeast, type Microversion } from './microversion.js';
import type { RouteDeps } from './routes.js';
import { findServer } from './servers.js';

type ServerParams = { Params: { id: string } };
type PortParams = { Params: { id: string; port: string } };

function interfaceView(p: ProjectPort, v: Microversion) {
  return {
    port_state: p.status,
    fixed_ips: p.fixedIps.map((f) => ({ subnet_id: f.subnetId, ip_address: f.ipAddress })),
    port_id: p.id,
    net_id: p.networkId,
    mac_addr: p.macAddress,
    // 2.70: the device tag, which this cloud does not keep.
    ...(atLeast(v, 70) ? { tag: null } : {}),
  };
}

export function serverInterfaceRoutes({ app, services, caller }: RouteDeps): void {
  const ops = services.instances;
  const portsOf = async (ctx: RequestContext, serverId: string) => {
    const row = await findServer(ops, ctx, serverId);
    return (await services.projectNetworks.listPorts(ctx)).filter((p) => p.deviceId === row.id);
  };

  app.get<ServerParams>('/v2.1/servers/:id/os-interface', async (request) => {
    const ctx = await caller(request);
    const ports = await portsOf(ctx, request.params.id);
    return { interfaceAttachments: ports.map((p) => interfaceView(p, request.microversion)) };
  });
  app.get<PortParams>('/v2.1/servers/:id/os-interface/:port', async (request) => {
    const ctx = await caller(request);
    const found = (await portsOf(ctx, request.params.id)).find((p) => p.id === request.params.port);
    if (!found) {
      throw notFound(
        'port',
        request.params.port,
        `Port ${request.params.port} is not attached to server ${request.params.id}.`,
      );
    }
    return { interfaceAttachment: interfaceView(found, request.microversion) };
  });
}
