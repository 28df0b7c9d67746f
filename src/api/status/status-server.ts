// The status endpoints of a Stratus process: /healthz (JSON, 200 when healthy, 503 when not)
// and /metrics (Prometheus text format).
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { now, ServiceRepo, type Db } from '../../db/index.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/index.js';
import { serviceState } from '../../service/index.js';
import { VERSION } from '../../version.js';
import { createHttpServer } from '../http.js';

export interface StatusServerOptions {
  db: Db;
  logger: Logger;
  metrics: Metrics;
  downAfterMs: number;
  /** The services this process runs; health is bad if any of them is down. */
  localServices: readonly { host: string; binary: string }[];
}

export function createStatusServer(options: StatusServerOptions): FastifyInstance {
  const app = createHttpServer({ api: 'status', logger: options.logger, metrics: options.metrics });
  const services = new ServiceRepo(options.db);

  app.get('/healthz', async (_request, reply) => {
    let database = 'ok';
    let rows: Awaited<ReturnType<ServiceRepo['list']>> = [];
    try {
      await sql`select 1`.execute(options.db);
      rows = await services.list();
    } catch (err) {
      database = `error: ${(err as Error).message}`;
    }
    const at = now();
    const listed = rows.map((r) => ({
      host: r.host,
      binary: r.binary,
      state: serviceState(r, at, options.downAfterMs),
      disabled: r.disabled === 1,
      lastHeartbeatAgoMs: at - r.heartbeatAt,
    }));
    const localDown = options.localServices.filter(
      (l) => !listed.some((s) => s.host === l.host && s.binary === l.binary && s.state === 'up'),
    );
    const healthy = database === 'ok' && localDown.length === 0;
    return reply.code(healthy ? 200 : 503).send({
      status: healthy ? 'ok' : 'unhealthy',
      version: VERSION,
      database,
      services: listed,
    });
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', options.metrics.registry.contentType);
    return options.metrics.registry.metrics();
  });

  return app;
}
