// Builds a Fastify server the way every Stratus API wants it: request ids, structured logs
// per request, and request metrics.
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import tls from 'node:tls';
import { newRequestId } from '../context.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/index.js';

/** A certificate (with its chain) and its private key, PEM. */
export interface HttpsCertificate {
  cert: Buffer;
  key: Buffer;
}

export interface HttpServerOptions {
  /** Label of this API in logs and metrics: 'ec2', 'status', ... */
  api: string;
  logger: Logger;
  metrics: Metrics;
  /** Largest accepted request body, in bytes. */
  bodyLimit?: number;
  /**
   * Answers the refusals Fastify makes before any route or error handler runs (a malformed
   * URL, a path parameter over the length limit) in the API's own format; Fastify's JSON
   * otherwise.
   */
  frameworkErrors?: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => void;
  /** Serve HTTPS with this certificate and key; plain HTTP without. */
  tls?: HttpsCertificate | undefined;
  /** Longest path parameter routed (Fastify's default is 100 characters). */
  maxParamLength?: number;
  /** Maps a request's URL to the one routed (an alias of a path prefix), before routing. */
  rewriteUrl?: (url: string) => string;
}

export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const settings = {
    loggerInstance: options.logger.child({ api: options.api }) as FastifyBaseLogger,
    genReqId: () => newRequestId(),
    // Stratus logs each request once, in the onResponse hook below, with its request id.
    logController: new LogController({
      requestIdLogLabel: 'requestId',
      disableRequestLogging: true,
    }),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    ...(options.maxParamLength
      ? { routerOptions: { maxParamLength: options.maxParamLength } }
      : {}),
    ...(options.frameworkErrors ? { frameworkErrors: options.frameworkErrors } : {}),
    ...(options.rewriteUrl
      ? {
          rewriteUrl: (req: { url?: string }) =>
            (options.rewriteUrl as (u: string) => string)(req.url ?? '/'),
        }
      : {}),
  };
  // An HTTPS server is Fastify's https flavour; routes and hooks are the same, so the edges
  // keep one type for both (only `listen` and the TLS reload below look at the server itself).
  const app = options.tls
    ? (Fastify({
        ...settings,
        https: { cert: options.tls.cert, key: options.tls.key },
      }) as unknown as FastifyInstance)
    : Fastify(settings);
  app.addHook('onResponse', async (request, reply) => {
    const seconds = reply.elapsedTime / 1000;
    options.metrics.httpRequests.inc({
      api: options.api,
      method: request.method,
      status: String(reply.statusCode),
    });
    options.metrics.httpDuration.observe({ api: options.api }, seconds);
    request.log.info(
      {
        method: request.method,
        url: request.url.split('?')[0],
        status: reply.statusCode,
        ms: reply.elapsedTime,
      },
      'request',
    );
  });
  return app;
}

/**
 * Starts listening; resolves with the URL it really listens on (port 0 becomes the real port).
 * A connection on which no data moves either way for `idleTimeoutMs` is closed: a stalled
 * upload (headers sent, then silence) or a client that stopped reading its answer would
 * otherwise hold its request, and what the request holds (an image `saving`), for as long as
 * the client keeps the socket open (issue 13). Fastify turns node's own request timeout off,
 * so without this nothing ends such a request. The handler sees its request stream fail
 * ('aborted') and cleans up as for any broken transfer.
 */
export async function listen(
  app: FastifyInstance,
  host: string,
  port: number,
  idleTimeoutMs?: number,
): Promise<string> {
  if (idleTimeoutMs !== undefined) app.server.setTimeout(Math.max(1, Math.round(idleTimeoutMs)));
  await app.listen({ host, port });
  const addr = app.server.address();
  const realPort = addr && typeof addr === 'object' ? addr.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return `${isHttps(app) ? 'https' : 'http'}://${shownHost}:${realPort}`;
}

/** Whether the server serves HTTPS. */
export function isHttps(app: FastifyInstance): boolean {
  return (app.server as unknown) instanceof tls.Server;
}

/**
 * Makes new connections use this certificate and key; those open keep theirs. For a
 * certificate rotated on disk.
 */
export function replaceCertificate(app: FastifyInstance, material: HttpsCertificate): void {
  (app.server as unknown as tls.Server).setSecureContext({
    cert: material.cert,
    key: material.key,
  });
}
