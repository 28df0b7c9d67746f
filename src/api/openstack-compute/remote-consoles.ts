// The serial console of a server: POST /servers/{id}/remote-consoles (2.6+, protocol and type
// 'serial') and the older os-getSerialConsole action. Both answer a one-time WebSocket URL on
// the dashboard's listener, bound to the server and the caller; other console kinds (VNC,
// SPICE, RDP, MKS) are not offered by this cloud.
import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../../context.js';
import { notFound } from '../../errors.js';
import type { ConsoleTokens } from '../console-tokens.js';
import { atLeast } from './microversion.js';
import { bad, object, onlyKeys } from './requests.js';
import type { RouteDeps } from './routes.js';
import { findServer } from './servers.js';

async function serialUrl(
  deps: RouteDeps,
  consoles: ConsoleTokens,
  ctx: RequestContext,
  id: string,
): Promise<string> {
  const ops = deps.services.instances;
  const row = await findServer(ops, ctx, id);
  // An instance that is not running is refused here; the connection itself asks the host for
  // a one-time secret when it is made.
  ops.serialConsoleHost(row);
  const issued = await consoles.issue({
    instanceId: row.id,
    userId: ctx.userId,
    projectId: ctx.projectId,
  });
  return issued.url;
}

export function remoteConsoleRoutes(deps: RouteDeps, consoles: ConsoleTokens): void {
  const { app, caller } = deps;
  app.post<{ Params: { id: string } }>('/v2.1/servers/:id/remote-consoles', async (request) => {
    const ctx = await caller(request);
    if (!atLeast(request.microversion, 6)) {
      throw notFound('request', request.params.id, 'Remote consoles need microversion 2.6.');
    }
    const body = object(request.body ?? null, 'body');
    onlyKeys(body, ['remote_console'], 'body');
    const rc = object(body.remote_console, 'remote_console');
    onlyKeys(rc, ['protocol', 'type'], 'remote_console');
    if (rc.protocol !== 'serial' || rc.type !== 'serial') {
      throw bad(
        `This cloud offers only the serial console: protocol 'serial' with type 'serial' (asked for ${String(rc.protocol)} ${String(rc.type)}).`,
      );
    }
    const url = await serialUrl(deps, consoles, ctx, request.params.id);
    return { remote_console: { protocol: 'serial', type: 'serial', url } };
  });
}

/** The os-getSerialConsole action, when the body is one; undefined otherwise. */
export async function serialConsoleAction(
  deps: RouteDeps,
  consoles: ConsoleTokens | undefined,
  ctx: RequestContext,
  request: FastifyRequest<{ Params: { id: string } }>,
): Promise<object | undefined> {
  const body = request.body as Record<string, unknown> | null | undefined;
  if (!body || typeof body !== 'object' || !('os-getSerialConsole' in body)) return undefined;
  onlyKeys(body, ['os-getSerialConsole'], 'body');
  const args = object(body['os-getSerialConsole'], 'os-getSerialConsole');
  onlyKeys(args, ['type'], 'os-getSerialConsole');
  if (args.type !== 'serial')
    throw bad("Invalid input for field/attribute type: it must be 'serial'.");
  if (!consoles) throw bad('This API process serves no serial consoles.');
  const url = await serialUrl(deps, consoles, ctx, request.params.id);
  return { console: { type: 'serial', url } };
}
