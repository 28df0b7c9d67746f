// Raw HTTP to the Compute API for the admin-resource tests: a call with a token and a
// microversion, and the check of a Compute fault.
import assert from 'node:assert/strict';

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** Calls the Compute API at `url` (without /v2.1) as `token`, at microversion `version`. */
export function computeCaller(url: string) {
  return async (
    token: string,
    method: string,
    path: string,
    options: { body?: unknown; version?: string } = {},
  ): Promise<Answer> => {
    const headers: Record<string, string> = { 'x-auth-token': token };
    if (options.version) headers['openstack-api-version'] = `compute ${options.version}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetch(`${url}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await r.text();
    return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : {} };
  };
}

/** Asserts a Compute fault: `{"<name>": {"code": status, "message": ...}}`. */
export function assertFault(a: Answer, status: number, name: string, message?: RegExp): void {
  assert.equal(a.status, status, JSON.stringify(a.body));
  const f = a.body[name] as { code: number; message: string } | undefined;
  assert.ok(f, `expected a '${name}' fault, got ${JSON.stringify(a.body)}`);
  assert.equal(f.code, status);
  if (message) assert.match(f.message, message);
}

/** Asserts a 2xx answer, showing the body when it is not. */
export function ok(a: Answer, status = 200): Record<string, unknown> {
  assert.equal(a.status, status, JSON.stringify(a.body));
  return a.body;
}
