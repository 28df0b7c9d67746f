// Block Storage API faults: `{"itemNotFound": {"code": 404, "message": "..."}}`, the fault
// name and status from the domain error's kind, in one table. A volume in the wrong status for
// a request is 400 here (the API's "Invalid volume"), an exceeded quota 413.
import { asStratusError, type ErrorKind } from '../../errors.js';
import { frameworkRefusal } from '../openstack/error-json.js';

export interface VolumeFault {
  status: number;
  body: Record<string, { code: number; message: string; title?: string }>;
}

const FAULTS: Readonly<Record<ErrorKind, { name: string; code: number }>> = {
  not_found: { name: 'itemNotFound', code: 404 },
  already_exists: { name: 'conflictingRequest', code: 409 },
  invalid: { name: 'badRequest', code: 400 },
  missing: { name: 'badRequest', code: 400 },
  conflict: { name: 'badRequest', code: 400 },
  over_quota: { name: 'overLimit', code: 413 },
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
  406: 'notAcceptable',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  503: 'serviceUnavailable',
};

const INTERNAL_MESSAGE =
  'The server has either erred or is incapable of performing the requested operation.';

export function volumeFault(status: number, message: string): VolumeFault {
  // A refused token gets the Identity-style body, as from the token check in front of the API.
  if (status === 401) {
    return { status, body: { error: { code: 401, title: 'Unauthorized', message } } };
  }
  const name = NAMES_BY_STATUS[status] ?? 'computeFault';
  return { status, body: { [name]: { code: status, message } } };
}

/** Whatever a handler threw, as the Block Storage API shows it. */
export function toVolumeFault(err: unknown): VolumeFault {
  const refusal = frameworkRefusal(err);
  if (refusal) return volumeFault(refusal.status, refusal.message);
  const e = asStratusError(err);
  const f = FAULTS[e.kind];
  return volumeFault(f.code, e.kind === 'internal' ? INTERNAL_MESSAGE : e.message);
}

/** Every kind's fault, for the test that checks the table is complete. */
export const VOLUME_FAULT_TABLE = FAULTS;
