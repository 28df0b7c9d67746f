// Image API errors: `{"error": {"code": 404, "title": "Not Found", "message": "..."}}`, the
// status from the domain error's kind (one table), plus Fastify's own refusals.
import type { ErrorKind } from '../../errors.js';
import { errorJson, toErrorJson, type ErrorJson } from '../openstack/error-json.js';

export type ImageApiError = ErrorJson;

/** Domain error kind -> HTTP status. The Image API answers an exceeded quota with 413. */
export const IMAGE_API_STATUS: Readonly<Record<ErrorKind, number>> = {
  invalid: 400,
  missing: 400,
  unauthenticated: 401,
  forbidden: 403,
  over_quota: 413,
  not_found: 404,
  already_exists: 409,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

export const imageApiError = errorJson;

/**
 * Whatever a handler threw, as the Image API shows it: a StratusError by its kind; Fastify's
 * own refusals (malformed JSON, unsupported content type, body too large) with their 4xx
 * status; anything else is our fault, a 500 without internals (the log has the details).
 */
export function toImageApiError(err: unknown): ImageApiError {
  return toErrorJson(
    err,
    IMAGE_API_STATUS,
    'Unsupported Content-Type: send JSON (application/json) to the image routes and image data as application/octet-stream.',
  );
}
