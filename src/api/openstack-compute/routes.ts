// What every group of Compute API routes is built from: the server, the domain services, and
// how to know the caller and the URL it used.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RequestContext } from '../../context.js';
import type { ConsoleTokens } from '../console-tokens.js';
import type { ApiServices } from '../services.js';

export interface RouteDeps {
  app: FastifyInstance;
  services: ApiServices;
  /** The caller's context from its X-Auth-Token; `unauthenticated` without a valid one. */
  caller: (request: FastifyRequest) => Promise<RequestContext>;
  /** The URL this request reached the API at, for links: `http://host:port`. */
  base: (request: FastifyRequest) => string;
  /** Where serial console URLs are issued; no serial consoles without it. */
  consoles?: ConsoleTokens | undefined;
}

/** The query parameters, the last value of each. */
export function queryOf(request: FastifyRequest): Record<string, string> {
  const q = (request.query ?? {}) as Record<string, string | string[]>;
  return Object.fromEntries(
    Object.entries(q).map(([k, v]) => [k, Array.isArray(v) ? (v[v.length - 1] as string) : v]),
  );
}
