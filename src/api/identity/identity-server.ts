// The OpenStack Identity API v3: version discovery, password, token and application
// credential authentication for project-scoped or unscoped tokens with the service catalog,
// token validation and revocation, and the admin API (domains, projects, users, groups,
// roles, assignments, credentials: the *-routes.ts files) with Keystone's default policies.
// Every failure is Identity's error JSON
// (`{"error": {"code", "title", "message"}}`) with a 4xx status; 5xx only for our own faults
// and for outages (an unreachable database is 503, never a 401 or 404).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StratusError } from '../../errors.js';
import type { IdentityService, TokenInfo, TokenService } from '../../identity/index.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/index.js';
import { createHttpServer, type HttpsCertificate } from '../http.js';
import { openstackProtocol } from '../openstack/protocol.js';
import { parseTokenRequest } from './auth-request.js';
import { addCredentialRoutes } from './credential-routes.js';
import { identityError, toIdentityError, type IdentityError } from './errors.js';
import { addProjectRoutes } from './project-routes.js';
import { addRoleRoutes } from './role-routes.js';
import { base, caller, header, isAdmin, isScoped, links, queryOf } from './route-context.js';
import { addUserRoutes } from './user-routes.js';
import { catalogView, tokenView, versionView, type CatalogEntry } from './views.js';

export interface IdentityServerOptions {
  logger: Logger;
  metrics: Metrics;
  /** Serve HTTPS with this certificate; plain HTTP without. */
  tls?: HttpsCertificate | undefined;
  tokens: TokenService;
  /** The service catalog, as tokens carry it. */
  catalog: () => Promise<CatalogEntry[]>;
  /** Users, projects, domains, groups, roles, assignments and credentials. */
  identity: IdentityService;
}

const JSON_TYPE = 'application/json';

export function createIdentityServer(options: IdentityServerOptions): FastifyInstance {
  const app = createHttpServer({
    api: 'identity',
    logger: options.logger,
    metrics: options.metrics,
    tls: options.tls,
    refusalBody: (status, message) => ({
      type: JSON_TYPE,
      body: JSON.stringify({ error: identityError(status, message) }),
    }),
  });
  openstackProtocol(app);
  const { tokens } = options;
  const ctx = { tokens, identity: options.identity, catalog: options.catalog };

  const send = (reply: FastifyReply, e: IdentityError) =>
    reply.code(e.code).type(JSON_TYPE).send({ error: e });

  const forbidden = (what: string) =>
    new StratusError('forbidden', `You are not authorized to ${what}.`, { resource: 'identity' });

  app.get('/', async (request, reply) => {
    reply.code(300);
    return { versions: { values: [versionView(base(request))] } };
  });
  for (const url of ['/v3', '/v3/']) {
    app.get(url, async (request) => ({ version: versionView(base(request)) }));
  }

  app.post('/v3/auth/tokens', async (request, reply) => {
    const { credentials, scope } = parseTokenRequest(request.body);
    const { token, info } = await tokens.issue(credentials, scope, Date.now(), request.ip);
    const withCatalog = isScoped(info) && !('nocatalog' in queryOf(request));
    reply.code(201).header('x-subject-token', token);
    return { token: tokenView(info, withCatalog ? await options.catalog() : undefined) };
  });

  /** The token named by X-Subject-Token, if the caller may look at it. */
  const subject = async (request: FastifyRequest): Promise<{ token: string; info: TokenInfo }> => {
    const me = await caller(ctx, request);
    const token = header(request, 'x-subject-token');
    if (!token)
      throw new StratusError('invalid', 'The request must carry the X-Subject-Token header.');
    let info: TokenInfo;
    try {
      info = await tokens.validate(token);
    } catch (err) {
      // Only a dead token is "not found"; an outage stays what it is (a 503).
      if (!(err instanceof StratusError) || err.kind !== 'unauthenticated') throw err;
      throw new StratusError('not_found', 'The token in X-Subject-Token is not valid.', {
        resource: 'token',
        cause: err,
      });
    }
    if (info.user.id !== me.user.id && !isAdmin(me)) throw forbidden("check another user's token");
    return { token, info };
  };
  // (Fastify answers HEAD with this route too, without the body: a token check.)
  app.get('/v3/auth/tokens', async (request, reply) => {
    const { token, info } = await subject(request);
    const withCatalog = isScoped(info) && !('nocatalog' in queryOf(request));
    reply.header('x-subject-token', token);
    return { token: tokenView(info, withCatalog ? await options.catalog() : undefined) };
  });
  app.delete('/v3/auth/tokens', async (request, reply) => {
    const { token } = await subject(request);
    await tokens.revoke(token);
    reply.code(204).send();
  });

  app.get('/v3/auth/catalog', async (request) => {
    const me = await caller(ctx, request);
    if (!isScoped(me)) throw forbidden('read the catalog with an unscoped token');
    return {
      catalog: catalogView(await options.catalog()),
      links: links(base(request), '/v3/auth/catalog'),
    };
  });

  addProjectRoutes(app, ctx);
  addUserRoutes(app, ctx);
  addRoleRoutes(app, ctx);
  addCredentialRoutes(app, ctx);

  app.setNotFoundHandler((request, reply) =>
    send(
      reply,
      identityError(
        404,
        `${request.method} ${request.url.split('?')[0]} is not part of the Identity API.`,
      ),
    ),
  );
  app.setErrorHandler((err: unknown, request, reply) => {
    const e = toIdentityError(err);
    if (e.code >= 500) request.log.error({ err }, 'Identity request failed');
    else request.log.info({ code: e.code, message: e.message }, 'Identity request refused');
    if (e.code === 401) reply.header('www-authenticate', `Keystone uri="${base(request)}/v3"`);
    return send(reply, e);
  });
  return app;
}
