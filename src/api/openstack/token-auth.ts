// How the OpenStack APIs other than Identity know their caller: the X-Auth-Token header, a
// project-scoped token from the Identity API, becomes the request's context. A missing, dead
// or unscoped token is an `unauthenticated` error, which each API renders in its own format.
// A caller that may only read (`reader`) is refused every request that changes something, by
// its method: the one place the Compute and Image APIs apply that policy (issue 14).
import type { FastifyRequest } from 'fastify';
import { mayChange, userContext, type RequestContext } from '../../context.js';
import { StratusError } from '../../errors.js';
import type { TokenService } from '../../identity/index.js';

export async function contextFromToken(
  tokens: TokenService,
  request: FastifyRequest,
): Promise<RequestContext> {
  const raw = request.headers['x-auth-token'];
  const token = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  if (!token) {
    throw new StratusError('unauthenticated', 'The request you have made requires authentication.');
  }
  const info = await tokens.validate(token);
  if (!info.project) {
    throw new StratusError(
      'unauthenticated',
      'The token is not scoped to a project; ask the Identity API for a project-scoped one.',
    );
  }
  const context = userContext({
    userId: info.user.id,
    projectId: info.project.id,
    roles: info.roles,
    requestId: String(request.id),
  });
  // Every POST, PUT, PATCH and DELETE of these APIs changes something (a server action, even
  // console output, is a member's in Nova's policy too); GET and HEAD only read.
  if (!READ_METHODS.has(request.method) && !mayChange(context)) {
    throw new StratusError(
      'forbidden',
      `Policy does not allow ${request.method} ${request.url.split('?')[0]}: it needs the member role in project ${info.project.id}, and the token's roles (${info.roles.join(', ') || 'none'}) only read.`,
    );
  }
  return context;
}

const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);
