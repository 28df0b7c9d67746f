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
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
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
  /**
   * A refusal's body in the API's own format, for the refusals made before any route or
   * error handler runs: node's (headers too large, a malformed request line) and, unless
   * `frameworkErrors` is given, Fastify's (a malformed URL, a path parameter over the length
   * limit). Fastify's JSON otherwise, which clients of the API cannot read as an error.
   */
  refusalBody?: (status: number, message: string) => { type: string; body: string };
}

/**
 * Answers what node's HTTP parser refuses before any request exists, as Fastify's default
 * does (431 for headers over the limit, 408 for a request that timed out, 400 otherwise, and
 * the connection closed), but with a body in the API's own format: a client reads a 431
 * like any other refusal (issue 13: headers over the limit got Fastify's JSON from the EC2
 * API, which no EC2 client parses).
 */
function clientErrorHandler(
  body: NonNullable<HttpServerOptions['refusalBody']>,
): (err: Error & { code?: string }, socket: Socket) => void {
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, message] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'The request was not received in time.']
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'The request headers (with the URL) are larger than this API accepts.']
          : [400, 'The request is not valid HTTP.'];
    if (socket.writable) {
      const b = body(status, message);
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(b.body)}\r\n` +
          `Content-Type: ${b.type}\r\nConnection: close\r\n\r\n${b.body}`,
      );
    }
    socket.destroy(err);
  };
}

export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const { refusalBody } = options;
  const frameworkErrors =
    options.frameworkErrors ??
    (refusalBody &&
      ((error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
        const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 400;
        const b = refusalBody(
          status,
          error.code === 'FST_ERR_MAX_PARAM_LENGTH'
            ? 'A part of the request path is longer than this API accepts.'
            : 'The request URL is malformed.',
        );
        void reply.code(status).type(b.type).send(b.body);
      }));
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
    ...(frameworkErrors ? { frameworkErrors } : {}),
    ...(refusalBody ? { clientErrorHandler: clientErrorHandler(refusalBody) } : {}),
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
