// Compute API faults: `{"itemNotFound": {"code": 404, "message": "..."}}`, the fault name and
// status from the domain error's kind, in one table. 401 has the Identity-style body clients
// expect from the token check.
import type { ErrorKind, StratusError } from '../../errors.js';

export interface ComputeFault {
  status: number;
  body: Record<string, unknown>;
}

const FAULTS: Readonly<Record<ErrorKind, { name: string; code: number }>> = {
  not_found: { name: 'itemNotFound', code: 404 },
  already_exists: { name: 'conflictingRequest', code: 409 },
  invalid: { name: 'badRequest', code: 400 },
  missing: { name: 'badRequest', code: 400 },
  conflict: { name: 'conflictingRequest', code: 409 },
  // Quota exceeded is 403 in the Compute API (not 413).
  over_quota: { name: 'overLimit', code: 403 },
  forbidden: { name: 'forbidden', code: 403 },
  unauthenticated: { name: 'unauthorized', code: 401 },
  unavailable: { name: 'serviceUnavailable', code: 503 },
  internal: { name: 'computeFault', code: 500 },
};

/** The fault names of statuses that do not come from a domain error (Fastify's refusals). */
const NAMES_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  408: 'badRequest',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  431: 'badRequest',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
};

/** Our own faults say so without internals; the log has the details. */
const INTERNAL_MESSAGE =
  'Unexpected API Error. Please report this at the project and attach the request id.';

export function computeFault(status: number, message: string): ComputeFault {
  if (status === 401) {
    return { status, body: { error: { code: 401, title: 'Unauthorized', message } } };
  }
  const name = NAMES_BY_STATUS[status] ?? 'computeFault';
  return { status, body: { [name]: { code: status, message } } };
}

export function fromStratusError(e: StratusError): ComputeFault {
  const f = FAULTS[e.kind];
  if (f.code === 401) return computeFault(401, e.message);
  return {
    status: f.code,
    body: {
      [f.name]: { code: f.code, message: e.kind === 'internal' ? INTERNAL_MESSAGE : e.message },
    },
  };
}

/** Every kind's fault, for the test that checks the table is complete. */
export const FAULT_TABLE = FAULTS;
