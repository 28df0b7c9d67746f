// Prometheus metrics: one registry per process, with the counters the edges and services share.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'api' | 'method' | 'status'>;
  readonly httpDuration: Histogram<'api'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'stratus_' });
    this.httpRequests = new Counter({
      name: 'stratus_http_requests_total',
      help: 'HTTP requests answered, by API, method and status code.',
      labelNames: ['api', 'method', 'status'],
      registers: [this.registry],
    });
    this.httpDuration = new Histogram({
      name: 'stratus_http_request_duration_seconds',
      help: 'Time from request to response, by API.',
      labelNames: ['api'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
  }
}
