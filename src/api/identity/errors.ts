// Identity API errors: `{"error": {"code": 401, "title": "Unauthorized", "message": "..."}}`,
// the status from the domain error's kind.
import type { ErrorKind, StratusError } from '../../errors.js';

export interface IdentityError {
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
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

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

export function identityError(code: number, message: string): IdentityError {
  return { code, title: TITLES[code] ?? 'Error', message };
}

export function fromStratusError(e: StratusError): IdentityError {
  const code = STATUS[e.kind];
  // Our own faults say so without internals; the log has the details.
  const message =
    e.kind === 'internal'
      ? 'An unexpected error prevented the server from fulfilling your request.'
      : e.message;
  return identityError(code, message);
}
