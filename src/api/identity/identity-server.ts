// The OpenStack Identity API v3, as far as clouds' clients need it to log in: version
// discovery, password (and token) authentication for project-scoped or unscoped tokens with
// the service catalog, token validation and revocation, and the projects a token may use.
// One domain exists, 'default' ("Default"). Every failure is Identity's error JSON
// (`{"error": {"code", "title", "message"}}`) with a 4xx status; 5xx only for our own faults
// and for outages (an unreachable database is 503, never a 401 or 404).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StratusError } from '../../errors.js';
import type { ProjectRow, UserRow } from '../../db/index.js';
import type { TokenInfo, TokenService } from '../../identity/index.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/index.js';
import { createHttpServer, type HttpsCertificate } from '../http.js';
import { openstackProtocol } from '../openstack/protocol.js';
import { parseTokenRequest } from './auth-request.js';
import { identityError, toIdentityError, type IdentityError } from './errors.js';
import {
  catalogView,
  DOMAIN,
  projectView,
  userView,
  tokenView,
  versionView,
  type CatalogEntry,
} from './views.js';

export interface IdentityServerOptions {
  logger: Logger;
  metrics: Metrics;
  /** Serve HTTPS with this certificate; plain HTTP without. */
  tls?: HttpsCertificate | undefined;
  tokens: TokenService;
  /** The service catalog, as tokens carry it. */
  catalog: () => Promise<CatalogEntry[]>;
  /** Users, for admins. */
  users: { list: () => Promise<UserRow[]> };
  /** Projects: all of them, and those a user holds a role in. */
  projects: {
    list: () => Promise<ProjectRow[]>;
    ofUser: (userId: string) => Promise<ProjectRow[]>;
  };
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

  const send = (reply: FastifyReply, e: IdentityError) =>
    reply.code(e.code).type(JSON_TYPE).send({ error: e });

  /** The URL this request reached the API at, for links: `http://host:port`. */
  const base = (request: FastifyRequest) =>
    `${request.protocol}://${request.headers.host ?? request.hostname}`;

  /** The caller's token, required: a missing or dead one is 401. */
  const caller = async (request: FastifyRequest): Promise<TokenInfo> => {
    const token = header(request, 'x-auth-token');
    if (!token)
      throw new StratusError(
        'unauthenticated',
        'The request you have made requires authentication.',
      );
    return tokens.validate(token);
  };
  const isAdmin = (t: TokenInfo) => t.roles.includes('admin');
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
    const { credentials, scope } = parseTokenRequest(request.body, tokens.domains());
    const { token, info } = await tokens.issue(credentials, scope, Date.now(), request.ip);
    const withCatalog = info.project !== null && !('nocatalog' in queryOf(request));
    reply.code(201).header('x-subject-token', token);
    return { token: tokenView(info, withCatalog ? await options.catalog() : undefined) };
  });

  /** The token named by X-Subject-Token, if the caller may look at it. */
  const subject = async (request: FastifyRequest): Promise<{ token: string; info: TokenInfo }> => {
    const me = await caller(request);
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
    const withCatalog = info.project !== null && !('nocatalog' in queryOf(request));
    reply.header('x-subject-token', token);
    return { token: tokenView(info, withCatalog ? await options.catalog() : undefined) };
  });
  app.delete('/v3/auth/tokens', async (request, reply) => {
    const { token } = await subject(request);
    await tokens.revoke(token);
    reply.code(204).send();
  });

  app.get('/v3/auth/catalog', async (request) => {
    const me = await caller(request);
    if (!me.project) throw forbidden('read the catalog with an unscoped token');
    return {
      catalog: catalogView(await options.catalog()),
      links: links(base(request), '/v3/auth/catalog'),
    };
  });

  const projectList = (request: FastifyRequest, rows: ProjectRow[], path: string) => {
    const name = queryOf(request).name;
    const shown = name === undefined ? rows : rows.filter((p) => p.name === name);
    return {
      projects: shown.map((p) => projectView(p, base(request))),
      links: links(base(request), path),
    };
  };
  app.get('/v3/auth/projects', async (request) => {
    const me = await caller(request);
    return projectList(request, await options.projects.ofUser(me.user.id), '/v3/auth/projects');
  });
  app.get<{ Params: { userId: string } }>('/v3/users/:userId/projects', async (request) => {
    const me = await caller(request);
    if (request.params.userId !== me.user.id && !isAdmin(me))
      throw forbidden("list another user's projects");
    const path = `/v3/users/${request.params.userId}/projects`;
    return projectList(request, await options.projects.ofUser(request.params.userId), path);
  });
  app.get('/v3/projects', async (request) => {
    const me = await caller(request);
    if (!isAdmin(me)) throw forbidden('list projects');
    return projectList(request, await options.projects.list(), '/v3/projects');
  });
  app.get<{ Params: { projectId: string } }>('/v3/projects/:projectId', async (request) => {
    const me = await caller(request);
    const id = request.params.projectId;
    const found = isAdmin(me)
      ? (await options.projects.list()).find((p) => p.id === id)
      : me.project?.id === id
        ? me.project
        : undefined;
    if (!found) {
      throw new StratusError('not_found', `Could not find project: ${id}.`, {
        resource: 'project',
        id,
      });
    }
    return { project: projectView(found, base(request)) };
  });
  app.get('/v3/users', async (request) => {
    const me = await caller(request);
    if (!isAdmin(me)) throw forbidden('list users');
    const name = queryOf(request).name;
    const rows = (await options.users.list()).filter((u) => name === undefined || u.name === name);
    return {
      users: rows.map((u) => userView(u, base(request))),
      links: links(base(request), '/v3/users'),
    };
  });
  app.get<{ Params: { userId: string } }>('/v3/users/:userId', async (request) => {
    const me = await caller(request);
    const id = request.params.userId;
    const found =
      id === me.user.id
        ? me.user
        : isAdmin(me)
          ? (await options.users.list()).find((u) => u.id === id)
          : undefined;
    if (!found)
      throw new StratusError('not_found', `Could not find user: ${id}.`, { resource: 'user', id });
    return { user: userView(found, base(request)) };
  });
  app.get('/v3/domains/default', async (request) => {
    await caller(request);
    return {
      domain: {
        ...DOMAIN,
        description: 'The only domain',
        enabled: true,
        links: { self: `${base(request)}/v3/domains/default` },
      },
    };
  });

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

function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s && s.trim() !== '' ? s.trim() : undefined;
}

function queryOf(request: FastifyRequest): Record<string, string> {
  return (request.query ?? {}) as Record<string, string>;
}

function links(base: string, path: string) {
  return { self: `${base}${path}`, previous: null, next: null };
}
