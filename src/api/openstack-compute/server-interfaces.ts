// A server's port interfaces (`os-interface`): list and show the ports bound to the server,
// its flat network port and its project network ports, as the Networking API shows them;
// attach a port (or a new one on a network) and detach one. A running server's host plugs
// the port live (hot-plug); a stopped server's is recorded for it.
import type { RequestContext } from '../../context.js';
import { invalid, notFound } from '../../errors.js';
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type AttachSpec =
  { portId: string } | { networkId: string; fixedIps?: { ipAddress: string }[] | undefined };

function bad(message: string): never {
  throw invalid(message, { resource: 'request' });
}

/**
 * The body of an attach: `{"interfaceAttachment": {"port_id": ...}}` or `{"net_id": ...,
 * "fixed_ips": [{"ip_address": ...}]}` (one address at most, as Nova takes it). `tag` (2.49)
 * is refused: this cloud keeps no device tags.
 */
function parseAttach(body: unknown, mv: Microversion): AttachSpec {
  const o = (body as { interfaceAttachment?: unknown } | null)?.interfaceAttachment;
  if (o === null || typeof o !== 'object' || Array.isArray(o)) {
    bad('Invalid input for field/attribute interfaceAttachment: it is required.');
  }
  const a = o as Record<string, unknown>;
  const allowed = new Set(['port_id', 'net_id', 'fixed_ips']);
  if (atLeast(mv, 49)) allowed.add('tag');
  for (const k of Object.keys(a)) {
    if (!allowed.has(k)) bad(`Additional properties are not allowed ('${k}' was unexpected)`);
  }
  if (a.tag !== undefined) {
    throw invalid('Device tags (tag) are not kept by this cloud.', {
      resource: 'request',
      reason: 'unsupported',
    });
  }
  const uuid = (k: string): string | undefined => {
    const v = a[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || !UUID.test(v)) {
      bad(`Invalid input for field/attribute ${k}. Value: ${JSON.stringify(v)}. It is not a uuid.`);
    }
    return v.toLowerCase();
  };
  const portId = uuid('port_id');
  const netId = uuid('net_id');
  if (portId && netId) bad('Must not input both network_id and port_id');
  let fixedIps: { ipAddress: string }[] | undefined;
  if (a.fixed_ips !== undefined) {
    const list = a.fixed_ips;
    if (!Array.isArray(list) || list.length > 1) {
      bad('Invalid input for field/attribute fixed_ips: a list of one address at most.');
    }
    fixedIps = list.map((f: unknown) => {
      const ip = (f as { ip_address?: unknown } | null)?.ip_address;
      const keys = f !== null && typeof f === 'object' ? Object.keys(f) : [];
      if (typeof ip !== 'string' || keys.some((k) => k !== 'ip_address')) {
        bad('Invalid input for field/attribute fixed_ips: each is {"ip_address": ...}.');
      }
      return { ipAddress: ip };
    });
    if (!netId) bad('fixed_ips requires net_id.');
  }
  if (portId) return { portId };
  if (netId) return { networkId: netId, ...(fixedIps ? { fixedIps } : {}) };
  bad('Either port_id or net_id must be given.');
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

  app.post<ServerParams>('/v2.1/servers/:id/os-interface', async (request) => {
    const ctx = await caller(request);
    const spec = parseAttach(request.body, request.microversion);
    const row = await findServer(ops, ctx, request.params.id);
    const port = await services.interfaceAttachments.attachPort(ctx, row, spec);
    return { interfaceAttachment: interfaceView(port, request.microversion) };
  });

  app.delete<PortParams>('/v2.1/servers/:id/os-interface/:port', async (request, reply) => {
    const ctx = await caller(request);
    const row = await findServer(ops, ctx, request.params.id);
    await services.interfaceAttachments.detachPort(ctx, row, request.params.port.toLowerCase());
    reply.code(202).send();
  });
}
