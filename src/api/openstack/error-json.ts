// The error body the Identity and Image APIs share: `{"error": {"code": 404, "title": "Not
// Found", "message": "..."}}`. Each API keeps its own table from domain error kind to status.
// Also what every OpenStack API asks of a thrown error: is it one of Fastify's own refusals?
import { asStratusError, StratusError, type ErrorKind } from '../../errors.js';

export interface ErrorJson {
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
  408: 'Request Timeout',
  409: 'Conflict',
  411: 'Length Required',
  413: 'Request Entity Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** What a caller is told of our own faults; the log has the details. */
export const INTERNAL_MESSAGE =
  'An unexpected error prevented the server from fulfilling your request.';

export function errorJson(code: number, message: string): ErrorJson {
  return { code, title: TITLES[code] ?? 'Error', message };
}

/**
 * Fastify's own refusal (malformed JSON, body too large, unsupported content type, a bad URL):
 * its 4xx status and message. Undefined for our errors and for anything that is our fault.
 */
export function frameworkRefusal(err: unknown): { status: number; message: string } | undefined {
  if (err instanceof StratusError) return undefined;
  const status = (err as { statusCode?: number }).statusCode;
  if (status === undefined || status < 400 || status >= 500) return undefined;
  return { status, message: (err as Error).message };
}

/**
 * Whatever a handler threw, as the shared error body: a domain error by `statusOf` its kind;
 * Fastify's refusals with their status (`unsupportedMedia` says what a 415 should have sent);
 * anything else is our fault, a 500 without internals.
 */
export function toErrorJson(
  err: unknown,
  statusOf: Readonly<Record<ErrorKind, number>>,
  unsupportedMedia: string,
): ErrorJson {
  const refusal = frameworkRefusal(err);
  if (refusal) {
    return errorJson(refusal.status, refusal.status === 415 ? unsupportedMedia : refusal.message);
  }
  const e = asStratusError(err);
  return errorJson(statusOf[e.kind], e.kind === 'internal' ? INTERNAL_MESSAGE : e.message);
}
