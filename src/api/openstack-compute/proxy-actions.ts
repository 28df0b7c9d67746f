// The server actions of the networking-era proxies: addSecurityGroup and removeSecurityGroup
// (at every microversion), addFloatingIp and removeFloatingIp (through 2.43). The server
// action route asks here first; any other action is the route's own.
import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../../context.js';
import { changeServerFloatingIp, parseFloatingIpAction } from './floating-ips.js';
import { FLOATING_IP_ACTIONS_REMOVED_AT, requireBefore } from './proxy-version.js';
import type { RouteDeps } from './routes.js';
import { changeServerGroups, parseGroupAction } from './security-groups.js';
import { findServer } from './servers.js';

const ACTIONS = [
  'addSecurityGroup',
  'removeSecurityGroup',
  'addFloatingIp',
  'removeFloatingIp',
] as const;
type ProxyAction = (typeof ACTIONS)[number];

/**
 * Runs the request's action if it is one of these; true when it was (the route answers 202),
 * false when the body names another action.
 */
export async function proxyServerAction(
  deps: RouteDeps,
  ctx: RequestContext,
  request: FastifyRequest<{ Params: { id: string } }>,
): Promise<boolean> {
  const body = request.body;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return false;
  const o = body as Record<string, unknown>;
  const keys = Object.keys(o);
  const action = keys.length === 1 ? ACTIONS.find((a) => a === keys[0]) : undefined;
  if (action === undefined) return false;
  const kind: ProxyAction = action;
  if (kind === 'addSecurityGroup' || kind === 'removeSecurityGroup') {
    const ref = parseGroupAction(o, kind);
    const server = await findServer(deps.services.instances, ctx, request.params.id);
    await changeServerGroups(deps, ctx, server, kind, ref);
    return true;
  }
  requireBefore(request.microversion, FLOATING_IP_ACTIONS_REMOVED_AT, kind);
  const args = parseFloatingIpAction(o, kind);
  const server = await findServer(deps.services.instances, ctx, request.params.id);
  await changeServerFloatingIp(deps, ctx, server, kind, args);
  return true;
}
