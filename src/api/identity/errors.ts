// Identity API errors: `{"error": {"code": 401, "title": "Unauthorized", "message": "..."}}`,
// the status from the domain error's kind.
import { StratusError, type ErrorKind } from '../../errors.js';
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

/** Identity records Keystone names in its "Could not find ..." messages. */
const RECORDS = new Set(['user', 'project', 'domain', 'group', 'role', 'credential']);

/**
 * Whatever a handler threw, as the Identity API shows it. A record that does not exist is
 * told in Keystone's words, `Could not find project: <id>.`, which clients show as is.
 */
export function toIdentityError(err: unknown): IdentityError {
  if (
    err instanceof StratusError &&
    err.kind === 'not_found' &&
    err.resource &&
    RECORDS.has(err.resource) &&
    err.id &&
    err.message === `The ${err.resource} '${err.id}' does not exist.`
  ) {
    return errorJson(404, `Could not find ${err.resource}: ${err.id}.`);
  }
  return toErrorJson(
    err,
    STATUS,
    'The request body must be JSON (Content-Type: application/json).',
  );
}
