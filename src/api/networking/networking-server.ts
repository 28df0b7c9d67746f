// The OpenStack Networking API v2.0 on its own listener (issue 16): networks, subnets, ports
// and routers over the project network model; security groups and rules over the same groups
// EC2 and the Compute API show; floating IPs over the same floating addresses; extensions,
// quotas and network IP availabilities. Policy: a member sees its project's things and the
// shared and external networks, an admin sees all (and the provider attributes), a reader
// only reads. Every failure is `{"NeutronError": {"type", "message", "detail"}}` with a 4xx.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { notFound } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/index.js';
import { createHttpServer, type HttpsCertificate } from '../http.js';
import { openstackProtocol } from '../openstack/protocol.js';
import { contextFromToken } from '../openstack/token-auth.js';
import type { ApiServices } from '../services.js';
import { networkFault, toNetworkFault, type NetworkFault } from './errors.js';
import { floatingIpRoutes } from './floating-ips.js';
import { ipAvailabilityRoutes } from './ip-availabilities.js';
import { networkRoutes } from './networks.js';
import { portRoutes } from './ports.js';
import { quotaRoutes } from './quotas.js';
import type { NetworkingRoutes } from './resource-router.js';
import { routerRoutes } from './routers.js';
import { securityGroupRoutes } from './security-groups.js';
import { subnetRoutes } from './subnets.js';
import { EXTENSIONS, extensionView, versionView } from './views.js';

export interface NetworkingServerOptions {
  logger: Logger;
  metrics: Metrics;
  tls?: HttpsCertificate | undefined;
  services: ApiServices;
}

const JSON_TYPE = 'application/json';

export function createNetworkingServer(options: NetworkingServerOptions): FastifyInstance {
  const { services } = options;
  const model = services.projectNetworks;
  const app = createHttpServer({
    api: 'network',
    logger: options.logger,
    metrics: options.metrics,
    tls: options.tls,
    refusalBody: (status, message) => ({
      type: JSON_TYPE,
      body: JSON.stringify(networkFault(status, message).body),
    }),
  });
  const base = (request: FastifyRequest) =>
    `${request.protocol}://${request.headers.host ?? request.hostname}`;
  const caller = (request: FastifyRequest) => contextFromToken(services.tokens, request);
  const send = (reply: FastifyReply, f: NetworkFault) =>
    reply.code(f.status).type(JSON_TYPE).send(f.body);
  const routes: NetworkingRoutes = { app, services, caller, base, zone: model.zone };

  openstackProtocol(app);

  app.get('/', async (request) => ({ versions: [versionView(base(request))] }));
  for (const url of ['/v2.0', '/v2.0/']) {
    app.get(url, async (request) => ({
      resources: [
        'network',
        'subnet',
        'port',
        'router',
        'floatingip',
        'security_group',
        'security_group_rule',
        'quota',
        'network_ip_availability',
        'extension',
      ].map((name) => {
        const collection =
          name === 'network_ip_availability'
            ? 'network-ip-availabilities'
            : name === 'security_group'
              ? 'security-groups'
              : name === 'security_group_rule'
                ? 'security-group-rules'
                : `${name}s`;
        return {
          name,
          collection,
          links: [{ rel: 'self', href: `${base(request)}/v2.0/${collection}` }],
        };
      }),
    }));
  }

  app.get('/v2.0/extensions', async (request) => {
    await caller(request);
    return { extensions: EXTENSIONS.map(extensionView) };
  });
  app.get<{ Params: { alias: string } }>('/v2.0/extensions/:alias', async (request) => {
    await caller(request);
    const e = EXTENSIONS.find((x) => x.alias === request.params.alias);
    if (!e) {
      throw notFound(
        'resource',
        request.params.alias,
        `Extension with alias ${request.params.alias} does not exist.`,
      );
    }
    return { extension: extensionView(e) };
  });

  networkRoutes(routes);
  subnetRoutes(routes);
  portRoutes(routes);
  routerRoutes(routes);
  securityGroupRoutes(routes);
  floatingIpRoutes(routes);
  quotaRoutes(routes);
  ipAvailabilityRoutes(routes);

  app.setNotFoundHandler((request, reply) =>
    send(
      reply,
      networkFault(
        404,
        `The resource could not be found: ${request.method} ${request.url.split('?')[0]} is not part of the Networking API.`,
      ),
    ),
  );
  app.setErrorHandler((err: unknown, request, reply) => {
    const f = toNetworkFault(err);
    if (f.status >= 500) request.log.error({ err }, 'Networking request failed');
    else request.log.info({ status: f.status, body: f.body }, 'Networking request refused');
    return send(reply, f);
  });
  return app;
}
