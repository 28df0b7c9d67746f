// Image API errors: `{"error": {"code": 404, "title": "Not Found", "message": "..."}}`, the
// status from the domain error's kind (one table), plus Fastify's own refusals.
import { asStratusError, StratusError, type ErrorKind } from '../../errors.js';

export interface ImageApiError {
  code: number;
  title: string;
  message: string;
}

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  411: 'Length Required',
  413: 'Request Entity Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

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

export function imageApiError(code: number, message: string): ImageApiError {
  return { code, title: TITLES[code] ?? 'Error', message };
}

/**
 * Whatever a handler threw, as the Image API shows it: a StratusError by its kind; Fastify's
 * own refusals (malformed JSON, unsupported content type, body too large) with their 4xx
 * status; anything else is our fault, a 500 without internals (the log has the details).
 */
export function toImageApiError(err: unknown): ImageApiError {
  const status = (err as { statusCode?: number }).statusCode;
  if (!(err instanceof StratusError) && status !== undefined && status >= 400 && status < 500) {
    if (status === 415) {
      return imageApiError(
        415,
        'Unsupported Content-Type: send JSON (application/json) to the image routes and image data as application/octet-stream.',
      );
    }
    return imageApiError(status, (err as Error).message);
  }
  const e = asStratusError(err);
  const message =
    e.kind === 'internal'
      ? 'An unexpected error prevented the server from fulfilling your request.'
      : e.message;
  return imageApiError(IMAGE_API_STATUS[e.kind], message);
}
