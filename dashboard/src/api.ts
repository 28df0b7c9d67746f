// Calls from the page: the dashboard server's session routes and its proxy to the public APIs
// (/api/<service>/...). Every mutating call carries the session's CSRF token.

export interface Session {
  user: { id: string; name: string };
  project: { id: string; name: string };
  roles: string[];
  admin: boolean;
  csrf: string;
  expiresAt: string;
}

let csrf = '';

export function setCsrf(token: string): void {
  csrf = token;
}

/** An API's refusal, with the message it gave in words. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The message of an OpenStack fault ({"badRequest": {"message": ...}}) or the dashboard's. */
export function faultMessage(status: number, body: string): string {
  try {
    const json = JSON.parse(body) as Record<string, unknown>;
    for (const v of Object.values(json)) {
      if (v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string') {
        return (v as { message: string }).message;
      }
    }
    if (typeof json.message === 'string') return json.message;
  } catch {
    // not JSON
  }
  return body.trim().slice(0, 300) || `The request failed with status ${status}.`;
}

export interface CallOptions {
  method?: string;
  body?: unknown;
  /** Compute API microversion. */
  microversion?: string;
  headers?: Record<string, string>;
}

/** Calls `/api/<path>`; resolves with the parsed JSON (undefined for an empty answer). */
export async function call<T = unknown>(path: string, options: CallOptions = {}): Promise<T> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  if (options.microversion) headers['x-openstack-nova-api-version'] = options.microversion;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.body);
  }
  const res = await fetch(`/api/${path}`, { method, headers, body, credentials: 'same-origin' });
  const text = await res.text();
  if (!res.ok) throw new ApiError(res.status, faultMessage(res.status, text));
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Compute API call at a microversion that still has the proxies (floating IPs, groups). */
export const compute = <T = unknown>(path: string, options: CallOptions = {}) =>
  call<T>(`compute/${path}`, { microversion: '2.1', ...options });

/** Compute API call at a recent microversion (server list fields like host and zone). */
export const computeNew = <T = unknown>(path: string, options: CallOptions = {}) =>
  call<T>(`compute/${path}`, { microversion: '2.47', ...options });

export async function currentSession(): Promise<Session | undefined> {
  const res = await fetch('/api/session', { credentials: 'same-origin' });
  if (!res.ok) return undefined;
  return (await res.json()) as Session;
}

export async function signIn(form: Record<string, string>): Promise<Session> {
  const res = await fetch('/api/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(form),
    credentials: 'same-origin',
  });
  const text = await res.text();
  if (!res.ok) throw new ApiError(res.status, faultMessage(res.status, text));
  return JSON.parse(text) as Session;
}

export async function signOut(): Promise<void> {
  await fetch('/api/session', {
    method: 'DELETE',
    headers: { 'x-csrf-token': csrf },
    credentials: 'same-origin',
  });
}

/**
 * Uploads a file as an image's data, reporting the share sent (0..1). XMLHttpRequest, since
 * fetch has no upload progress.
 */
export function uploadImageData(
  imageId: string,
  file: Blob,
  onProgress: (fraction: number) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', `/api/image/v2/images/${encodeURIComponent(imageId)}/file`);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.setRequestHeader('x-csrf-token', csrf);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
      } else reject(new ApiError(xhr.status, faultMessage(xhr.status, xhr.responseText)));
    };
    xhr.onerror = () => reject(new ApiError(0, 'The upload was interrupted.'));
    xhr.send(file);
  });
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
