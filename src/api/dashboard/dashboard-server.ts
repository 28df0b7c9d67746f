// The web dashboard's server: the built page (dist/dashboard), sign-in against the Identity API
// into a server-side session (in the database, so every api process accepts it), a same-origin
// proxy to the public APIs carrying the session's token, and a stream of the project's
// instances. Everything the page shows or changes goes through the APIs as the signed-in user.
import cookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/index.js';
import { createHttpServer, type HttpsCertificate } from '../http.js';
import type { ConsoleTokens } from '../console-tokens.js';
import { serialProxy } from './serial-proxy.js';
import { csrfMatches, type WebSession, type WebSessions } from '../../identity/index.js';

/** The public endpoints the dashboard calls, as the catalog gives them. */
export interface DashboardEndpoints {
  /** `<url>/v3` */
  identity: string;
  /** `<url>/v2.1` */
  compute: string;
  /** The Image API's root (the page adds /v2). */
  image: string;
  /** `<url>/v3` */
  volume: string;
  /** The Networking API's root (the page adds /v2.0). */
  network: string;
}

export interface DashboardServerOptions {
  logger: Logger;
  metrics: Metrics;
  tls?: HttpsCertificate | undefined;
  /** Where the APIs listen; asked on each request, as they start after this server is built. */
  endpoints: () => DashboardEndpoints;
  /** The built page's folder (index.html and assets/). */
  assetsDir: string;
  /** How often the instance stream asks the Compute API, in milliseconds. */
  pollMs?: number;
  /** The serial console URLs the Compute API issued; the WebSocket proxy takes them. */
  consoles?: ConsoleTokens;
  /** The sign-in sessions, shared by every api process. */
  sessions: WebSessions;
  /** The key session cookies are signed with (the same in every api process). */
  cookieSecret: string;
}

const COOKIE = 'stratus_dashboard';
const SERVICES = ['identity', 'compute', 'image', 'volume', 'network'] as const;
type ServiceName = (typeof SERVICES)[number];
/** Request headers the page may send on to an API. */
const FORWARD_REQUEST = [
  'accept',
  'content-type',
  'content-length',
  'x-openstack-nova-api-version',
  'openstack-api-version',
];
/** Response headers an API's answer keeps on its way to the page. */
const FORWARD_RESPONSE = [
  'content-type',
  'content-length',
  'x-openstack-request-id',
  'x-openstack-nova-api-version',
  'openstack-api-version',
  'content-disposition',
];
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

// The page loads only its own script; nothing inline runs, so a name or console line that
// slipped into the markup as HTML still could not execute (issue 18). Inline style is allowed:
// the terminal (xterm.js) sizes itself with style elements.
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

interface LoginBody {
  method?: unknown;
  username?: unknown;
  password?: unknown;
  project?: unknown;
  domain?: unknown;
  id?: unknown;
  secret?: unknown;
}

interface IdentityToken {
  expires_at: string;
  user: { id: string; name: string };
  project?: { id: string; name: string };
  roles?: { name: string }[];
}

function text(v: unknown): string {
  return typeof v === 'string' ? v.trim() : '';
}

/** The Identity request for what the sign-in form sent; a message when something is missing. */
function authRequest(body: LoginBody): object | string {
  if (body.method === 'application_credential') {
    const id = text(body.id);
    const secret = typeof body.secret === 'string' ? body.secret : '';
    if (!id || !secret) return 'Enter the application credential ID and its secret.';
    return {
      auth: {
        identity: { methods: ['application_credential'], application_credential: { id, secret } },
      },
    };
  }
  const name = text(body.username);
  const password = typeof body.password === 'string' ? body.password : '';
  const project = text(body.project);
  const domain = text(body.domain) || 'Default';
  if (!name || !password || !project) return 'Enter a user name, a password and a project.';
  return {
    auth: {
      identity: {
        methods: ['password'],
        password: { user: { name, domain: { name: domain }, password } },
      },
      scope: { project: { name: project, domain: { name: domain } } },
    },
  };
}

function sessionView(s: WebSession) {
  return {
    user: s.user,
    project: s.project,
    roles: s.roles,
    admin: s.roles.includes('admin'),
    csrf: s.csrf,
    expiresAt: s.expiresAt.toISOString(),
  };
}

async function errorMessage(res: Response): Promise<string> {
  const body = await res.text();
  try {
    const json = JSON.parse(body) as Record<string, { message?: string } | undefined>;
    for (const v of Object.values(json)) if (v && typeof v.message === 'string') return v.message;
  } catch {
    // not JSON: the text itself below
  }
  return body.slice(0, 300) || `The Identity API answered ${res.status}.`;
}

export function createDashboardServer(options: DashboardServerOptions): FastifyInstance {
  const app = createHttpServer({
    api: 'dashboard',
    logger: options.logger,
    metrics: options.metrics,
    tls: options.tls,
    bodyLimit: 64 * 1024,
  });
  const sessions = options.sessions;
  const pollMs = options.pollMs ?? 1000;
  const https = Boolean(options.tls);
  void app.register(cookie, { secret: options.cookieSecret });

  app.addHook('onSend', async (_request, reply) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
  });

  const sessionOf = async (request: FastifyRequest): Promise<WebSession | undefined> => {
    const raw = request.cookies[COOKIE];
    if (!raw) return undefined;
    const unsigned = request.unsignCookie(raw);
    return unsigned.valid && unsigned.value ? sessions.get(unsigned.value) : undefined;
  };

  /**
   * A request that changes something must come from this page: its Origin is this server's
   * (a browser always sends one on a cross-site POST) and, once signed in, it carries the
   * session's CSRF token, which another site cannot read.
   */
  const refuseForgery = (
    request: FastifyRequest,
    reply: FastifyReply,
    session: WebSession | undefined,
  ): boolean => {
    const origin = request.headers.origin;
    const own = `${https ? 'https' : 'http'}://${request.headers.host ?? ''}`;
    const site = request.headers['sec-fetch-site'];
    if (origin !== own || (site !== undefined && site !== 'same-origin')) {
      void reply.code(403).send({ error: { message: 'Cross-site request refused.' } });
      return true;
    }
    if (session && !csrfMatches(session, header(request, 'x-csrf-token'))) {
      void reply
        .code(403)
        .send({ error: { message: 'The request has no valid CSRF token; reload the page.' } });
      return true;
    }
    return false;
  };

  app.get('/api/session', async (request, reply) => {
    const session = await sessionOf(request);
    if (!session) return reply.code(401).send({ error: { message: 'Not signed in.' } });
    return sessionView(session);
  });

  app.post<{ Body: LoginBody }>('/api/session', async (request, reply) => {
    if (refuseForgery(request, reply, undefined)) return reply;
    const body = (request.body ?? {}) as LoginBody;
    const auth = authRequest(body);
    if (typeof auth === 'string') return reply.code(400).send({ error: { message: auth } });
    let res: Response;
    try {
      res = await fetch(`${options.endpoints().identity}/auth/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(auth),
      });
    } catch (err) {
      request.log.error({ err }, 'the Identity API did not answer the dashboard');
      return reply.code(503).send({ error: { message: 'The Identity API is not reachable.' } });
    }
    if (!res.ok) {
      const message = await errorMessage(res);
      return reply.code(res.status >= 500 ? 502 : 401).send({ error: { message } });
    }
    const token = res.headers.get('x-subject-token') ?? '';
    const info = ((await res.json()) as { token: IdentityToken }).token;
    if (!info.project) {
      return reply
        .code(400)
        .send({ error: { message: 'The credentials are not scoped to a project.' } });
    }
    const previous = await sessionOf(request);
    if (previous) await sessions.delete(previous.id);
    const session = await sessions.create({
      token,
      expiresAt: new Date(info.expires_at),
      user: { id: info.user.id, name: info.user.name },
      project: { id: info.project.id, name: info.project.name },
      roles: (info.roles ?? []).map((r) => r.name),
    });
    void reply.setCookie(COOKIE, session.id, {
      signed: true,
      httpOnly: true,
      sameSite: 'strict',
      secure: https,
      path: '/',
      expires: session.expiresAt,
    });
    return reply.code(201).send(sessionView(session));
  });

  app.delete('/api/session', async (request, reply) => {
    const session = await sessionOf(request);
    if (refuseForgery(request, reply, session)) return reply;
    if (session) {
      await sessions.delete(session.id);
      // The token itself goes too, so a copy of it is worthless.
      await fetch(`${options.endpoints().identity}/auth/tokens`, {
        method: 'DELETE',
        headers: { 'x-auth-token': session.token, 'x-subject-token': session.token },
      }).catch(() => undefined);
    }
    void reply.clearCookie(COOKIE, { path: '/' });
    return reply.code(204).send();
  });

  // The project's instances as server-sent events: the page's lists follow state changes
  // within a poll interval without reloading.
  app.get('/api/events', async (request, reply) => {
    const session = await sessionOf(request);
    if (!session) return reply.code(401).send({ error: { message: 'Not signed in.' } });
    reply.hijack();
    const out = reply.raw;
    out.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      ...SECURITY_HEADERS,
    });
    let last = '';
    let closed = false;
    request.raw.on('close', () => {
      closed = true;
    });
    const tick = async () => {
      while (!closed) {
        if (!(await sessions.get(session.id).catch(() => session))) {
          out.write('event: signed-out\ndata: {}\n\n');
          break;
        }
        try {
          const res = await fetch(`${options.endpoints().compute}/servers/detail`, {
            headers: { 'x-auth-token': session.token, 'x-openstack-nova-api-version': '2.47' },
          });
          if (res.status === 401) {
            out.write('event: signed-out\ndata: {}\n\n');
            break;
          }
          const body = await res.text();
          if (res.ok && body !== last) {
            last = body;
            out.write(`event: servers\ndata: ${body.replace(/\n/g, '')}\n\n`);
          } else {
            out.write(': still here\n\n');
          }
        } catch (err) {
          request.log.warn({ err }, 'the instance stream could not ask the Compute API');
        }
        await new Promise((r) => setTimeout(r, pollMs));
      }
      out.end();
    };
    void tick();
  });

  // The proxy: /api/<service>/<path> goes to that API's public endpoint with the session's
  // token. Bodies stream through untouched (an image upload's progress is its own).
  void app.register(async (proxy) => {
    proxy.removeAllContentTypeParsers();
    proxy.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    proxy.all<{ Params: { service: string; '*': string } }>(
      '/api/:service/*',
      async (request, reply) => {
        const service = request.params.service as ServiceName;
        if (!SERVICES.includes(service)) {
          return reply.code(404).send({ error: { message: 'No such API.' } });
        }
        const session = await sessionOf(request);
        if (MUTATING.has(request.method) && refuseForgery(request, reply, session)) return reply;
        if (!session) return reply.code(401).send({ error: { message: 'Not signed in.' } });
        const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
        const target = `${options.endpoints()[service]}/${request.params['*']}${query}`;
        const headers: Record<string, string> = { 'x-auth-token': session.token };
        for (const h of FORWARD_REQUEST) {
          const v = header(request, h);
          if (v !== undefined) headers[h] = v;
        }
        const hasBody = request.method !== 'GET' && request.method !== 'HEAD' && request.body;
        let res: Response;
        try {
          res = await fetch(target, {
            method: request.method,
            headers,
            ...(hasBody ? { body: request.body as Readable, duplex: 'half' } : {}),
          } as RequestInit);
        } catch (err) {
          request.log.warn({ err, target }, 'an API did not answer the dashboard');
          return reply.code(502).send({ error: { message: `The ${service} API did not answer.` } });
        }
        reply.code(res.status);
        for (const h of FORWARD_RESPONSE) {
          const v = res.headers.get(h);
          if (v !== null) reply.header(h, v);
        }
        if (!res.body || res.status === 204) return reply.send();
        return reply.send(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream));
      },
    );
  });

  if (options.consoles) {
    serialProxy(app, options.consoles, {
      ownOrigin: (host) => `${https ? 'https' : 'http'}://${host}`,
      sessionUser: async (cookieHeader) => {
        const raw = app.parseCookie(cookieHeader ?? '')[COOKIE];
        if (!raw) return undefined;
        const unsigned = app.unsignCookie(raw);
        return unsigned.valid && unsigned.value
          ? (await sessions.get(unsigned.value))?.user.id
          : undefined;
      },
    });
  }

  if (fs.existsSync(options.assetsDir)) {
    void app.register(fastifyStatic, { root: options.assetsDir, index: 'index.html' });
  } else {
    app.get('/', async (_request, reply) =>
      reply
        .type('text/plain')
        .send('The dashboard has not been built: run npm run build in the checkout.'),
    );
  }
  return app;
}

/** Where the build puts the page: dist/dashboard, beside dist/src. */
export function builtAssetsDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../dashboard');
}

function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
