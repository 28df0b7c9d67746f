// The status endpoints of a Stratus process: /healthz (JSON, 200 when healthy, 503 when not)
// and /metrics (Prometheus text format).
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/index.js';
import type { ServiceHealth } from '../../service/index.js';
import { VERSION } from '../../version.js';
import { createHttpServer, type HttpsCertificate } from '../http.js';

export interface StatusServerOptions {
  health: ServiceHealth;
  logger: Logger;
  metrics: Metrics;
  /** Serve HTTPS with this certificate; plain HTTP without. */
  tls?: HttpsCertificate | undefined;
  /** The services this process runs; health is bad if any of them is down. */
  localServices: readonly { host: string; binary: string }[];
}

export function createStatusServer(options: StatusServerOptions): FastifyInstance {
  const app = createHttpServer({
    api: 'status',
    logger: options.logger,
    metrics: options.metrics,
    tls: options.tls,
  });

  app.get('/healthz', async (request, reply) => {
    const { database, bus, services: listed } = await options.health.report();
    const localDown = options.localServices.filter(
      (l) => !listed.some((s) => s.host === l.host && s.binary === l.binary && s.state === 'up'),
    );
    const healthy = database === 'ok' && bus === 'ok' && localDown.length === 0;
    if (!healthy) request.log.warn({ database, bus, localDown }, 'unhealthy');
    return reply.code(healthy ? 200 : 503).send({
      status: healthy ? 'ok' : 'unhealthy',
      version: VERSION,
      database,
      bus,
      services: listed,
    });
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', options.metrics.registry.contentType);
    return options.metrics.registry.metrics();
  });

  return app;
}
