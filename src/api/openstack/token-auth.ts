// How the OpenStack APIs other than Identity know their caller: the X-Auth-Token header, a
// project-scoped token from the Identity API, becomes the request's context. A missing, dead
// or unscoped token is an `unauthenticated` error, which each API renders in its own format.
import type { FastifyRequest } from 'fastify';
import { userContext, type RequestContext } from '../../context.js';
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
  return userContext({
    userId: info.user.id,
    projectId: info.project.id,
    roles: info.roles,
    requestId: String(request.id),
  });
}
