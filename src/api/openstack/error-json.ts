// The error body the Identity and Image APIs share: `{"error": {"code": 404, "title": "Not
// Found", "message": "..."}}`. Each API keeps its own table from domain error kind to status.

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
  409: 'Conflict',
  411: 'Length Required',
  413: 'Request Entity Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** What a caller is told of our own faults; the log has the details. */
export const INTERNAL_MESSAGE =
  'An unexpected error prevented the server from fulfilling your request.';

export function errorJson(code: number, message: string): ErrorJson {
  return { code, title: TITLES[code] ?? 'Error', message };
}
