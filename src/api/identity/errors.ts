// Identity API errors: `{"error": {"code": 401, "title": "Unauthorized", "message": "..."}}`,
// the status from the domain error's kind.
import type { ErrorKind, StratusError } from '../../errors.js';
import { errorJson, INTERNAL_MESSAGE, type ErrorJson } from '../openstack/error-json.js';

export type IdentityError = ErrorJson;

const STATUS: Readonly<Record<ErrorKind, number>> = {
  invalid: 400,
  missing: 400,
  unauthenticated: 401,
  forbidden: 403,
  over_quota: 403,
  not_found: 404,
  already_exists: 409,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

export const identityError = errorJson;

export function fromStratusError(e: StratusError): IdentityError {
  const code = STATUS[e.kind];
  // Our own faults say so without internals; the log has the details.
  const message = e.kind === 'internal' ? INTERNAL_MESSAGE : e.message;
  return identityError(code, message);
}
