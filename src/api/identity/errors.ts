// Identity API errors: `{"error": {"code": 401, "title": "Unauthorized", "message": "..."}}`,
// the status from the domain error's kind.
import type { ErrorKind } from '../../errors.js';
import { errorJson, toErrorJson, type ErrorJson } from '../openstack/error-json.js';

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

/** Whatever a handler threw, as the Identity API shows it. */
export function toIdentityError(err: unknown): IdentityError {
  return toErrorJson(
    err,
    STATUS,
    'The request body must be JSON (Content-Type: application/json).',
  );
}
