// The OpenStack Compute API v2.1 (microversions 2.1 to 2.93; v2.0, the compatibility API
// without microversions, is the same API under /v2/): version discovery, extensions, flavors,
// servers (create, list, show, update, delete, stop/start/reboot, console output, metadata,
// tags, security groups), key pairs, limits, zones and server groups, over the same domain services as the EC2 API. The caller is known by its
// X-Auth-Token. Every failure is a Compute fault (`{"badRequest": {"code", "message"}}`) with
// a 4xx status; 5xx only for our own faults.
import type { ConsoleTokens } from '../console-tokens.js';
import { remoteConsoleRoutes } from './remote-consoles.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { asStratusError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/index.js';
import { createHttpServer, type HttpsCertificate } from '../http.js';
import type { ApiServices } from '../services.js';
import { contextFromToken } from '../openstack/token-auth.js';
import { frameworkRefusal } from '../openstack/error-json.js';
import { openstackProtocol } from '../openstack/protocol.js';
import { computeFault, fromStratusError, type ComputeFault } from './errors.js';
import { aggregateRoutes } from './aggregates.js';
import { availabilityZoneRoutes } from './availability-zones.js';
import { flavorRoutes } from './flavors.js';
import { hostRoutes } from './hosts.js';
import { keypairRoutes } from './keypairs.js';
import { volumeAttachmentRoutes } from './volume-attachments.js';
import { lifecycleRoutes } from './lifecycle-actions.js';
import { limitRoutes } from './limits.js';
import { quotaRoutes } from './quotas.js';
import {
  MIN_VERSION,
  requestedVersion,
  UnsupportedVersion,
  versionText,
  type Microversion,
} from './microversion.js';
import type { RouteDeps } from './routes.js';
import { serverActionRoutes } from './server-actions.js';
import { serverMetadataRoutes } from './server-metadata.js';
import { serverGroupRoutes } from './server-groups.js';
import { serverRoutes } from './servers.js';
import { serverInterfaceRoutes } from './server-interfaces.js';
import { serverTagRoutes } from './server-tags.js';
import { extensionRoutes } from './extensions.js';
import { legacyVersionView, versionView } from './views.js';
// The networking-era proxies and the image proxy (404 from 2.36).
import { floatingIpRoutes } from './floating-ips.js';
import { imageProxyRoutes } from './image-proxy.js';
import { securityGroupRoutes } from './security-groups.js';

export interface ComputeServerOptions {
  logger: Logger;
  metrics: Metrics;
  /** Serve HTTPS with this certificate; plain HTTP without. */
  tls?: HttpsCertificate | undefined;
  services: ApiServices;
  /** Issues the serial console URLs (remote-consoles); none offered without it. */
  consoles?: ConsoleTokens | undefined;
}

const JSON_TYPE = 'application/json';
declare module 'fastify' {
  interface FastifyRequest {
    microversion: Microversion;
  }
}

export function createComputeServer(options: ComputeServerOptions): FastifyInstance {
  const { services } = options;
  const { tokens } = services;
  const app = createHttpServer({
    api: 'compute',
    logger: options.logger,
    metrics: options.metrics,
    tls: options.tls,
    // Metadata keys in paths may be 255 characters (more in percent-encoding).
    maxParamLength: 1024,
    // The compatibility API v2.0 is v2.1 under another prefix (its version document aside).
    rewriteUrl: (url) => url.replace(/^\/v2\/(?=[^?#])/, '/v2.1/'),
    refusalBody: (status, message) => ({
      type: JSON_TYPE,
      body: JSON.stringify(computeFault(status, message).body),
    }),
  });

  /** The URL this request reached the API at, for links: `http://host:port`. */
  const base = (request: FastifyRequest) =>
    `${request.protocol}://${request.headers.host ?? request.hostname}`;
  const caller = (request: FastifyRequest) => contextFromToken(tokens, request);
  const send = (reply: FastifyReply, f: ComputeFault) =>
    reply.code(f.status).type(JSON_TYPE).send(f.body);

  // x-openstack-request-id on every answer (and, as Nova, x-compute-request-id, which older
  // clients read); an empty JSON body is no body.
  openstackProtocol(app);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-compute-request-id', String(request.id));
  });
  app.decorateRequest('microversion', null as unknown as Microversion);
  app.addHook('onRequest', async (request, reply) => {
    request.microversion = MIN_VERSION;
    // The compatibility API v2.0 has no microversions: it is 2.1 whatever a header asks, and
    // its answers carry no version headers (its resources are v2.1's, under /v2/).
    if (/^\/v2(?:\/|$|\?)/.test(request.originalUrl)) return;
    try {
      request.microversion = requestedVersion(request.headers);
    } finally {
      const v = versionText(request.microversion);
      reply.header('openstack-api-version', `compute ${v}`);
      reply.header('x-openstack-nova-api-version', v);
      reply.header('vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
    }
  });

  // The version list starts with the compatibility API v2.0, then v2.1, as clients expect.
  app.get('/', async (request) => ({
    versions: [legacyVersionView(base(request)), versionView(base(request))],
  }));
  for (const url of ['/v2', '/v2/']) {
    app.get(url, async (request) => ({ version: legacyVersionView(base(request), true) }));
  }
  for (const url of ['/v2.1', '/v2.1/']) {
    app.get(url, async (request) => ({ version: versionView(base(request), true) }));
  }

  const deps: RouteDeps = { app, services, caller, base, consoles: options.consoles };
  if (options.consoles) remoteConsoleRoutes(deps, options.consoles);
  securityGroupRoutes(deps);
  floatingIpRoutes(deps);
  imageProxyRoutes(deps);
  flavorRoutes(deps);
  serverRoutes(deps);
  serverActionRoutes(deps);
  lifecycleRoutes(deps);
  serverMetadataRoutes(deps);
  keypairRoutes(deps);
  volumeAttachmentRoutes(deps);
  limitRoutes(deps);
  availabilityZoneRoutes(deps);
  serverGroupRoutes(deps);
  serverTagRoutes(deps);
  serverInterfaceRoutes(deps);
  extensionRoutes(deps);
  hostRoutes(deps);
  aggregateRoutes(deps);
  quotaRoutes(deps);

  app.setNotFoundHandler((request, reply) =>
    send(
      reply,
      computeFault(
        404,
        `${request.method} ${request.url.split('?')[0]} is not part of the Compute API.`,
      ),
    ),
  );
  app.setErrorHandler((err: unknown, request, reply) => {
    // Fastify's own refusals (body too large, bad content type) have a 4xx statusCode; ours
    // are StratusErrors; a microversion out of range is 406; anything else is our fault.
    const refusal = frameworkRefusal(err);
    const f =
      err instanceof UnsupportedVersion
        ? computeFault(406, err.message)
        : refusal?.status === 415
          ? computeFault(415, 'The request body must be JSON (Content-Type: application/json).')
          : refusal
            ? computeFault(refusal.status, refusal.message)
            : fromStratusError(asStratusError(err));
    if (f.status >= 500) request.log.error({ err }, 'Compute request failed');
    else request.log.info({ status: f.status, body: f.body }, 'Compute request refused');
    return send(reply, f);
  });
  return app;
}
