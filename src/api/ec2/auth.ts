// Authentication of EC2 Query requests: Signature Version 4 (Authorization header or presigned
// query) and Signature Version 2 (HmacSHA256 / HmacSHA1). The signature is recomputed from the
// request exactly as received and compared in constant time. Every failure is a StratusError
// of kind 'unauthenticated'; the edge answers it with EC2's AuthFailure.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { StratusError } from '../../errors.js';

export interface SignedRequest {
  method: string;
  /** URL path as received, still percent-encoded. */
  path: string;
  /** Raw query string without the '?'. */
  query: string;
  /** Header names in lower case. */
  headers: Record<string, string | string[] | undefined>;
  /** Raw request body ('' for GET). */
  body: string;
  /** All parameters, decoded, from the query string and the form body. */
  params: Record<string, string>;
}

export interface AuthOptions {
  now: Date;
  /** Allowed clock skew, both directions; default 15 minutes. */
  skewMs?: number;
}

export interface Authenticated {
  accessKey: string;
  signatureVersion: 2 | 4;
  region?: string;
}

const DEFAULT_SKEW_MS = 15 * 60 * 1000;
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

function fail(message: string, reason = 'AuthFailure'): never {
  throw new StratusError('unauthenticated', message, { reason });
}

function header(req: SignedRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** RFC 3986 encoding as both signature versions use it. */
function uriEncode(text: string, keepSlash = false): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Decodes a query component; '+' is a space in form encoding. Malformed escapes fail auth. */
function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return fail('The request has a malformed percent-encoding.');
  }
}

function queryPairs(query: string): [string, string][] {
  if (!query) return [];
  return query
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const i = p.indexOf('=');
      return i < 0 ? [decode(p), ''] : [decode(p.slice(0, i)), decode(p.slice(i + 1))];
    });
}

function canonicalQuery(pairs: readonly [string, string][]): string {
  return pairs
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function sha256Hex(data: string): string {
  return createHash('sha256').update(data, 'utf8').digest('hex');
}

/** 20260101T000000Z -> Date */
function parseAmzDate(text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** The SigV4 canonical URI for services other than S3: each segment normalised and encoded twice. */
function canonicalUri(path: string): string {
  const segments: string[] = [];
  for (const raw of path.split('/')) {
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return fail('The request path has a malformed percent-encoding.');
    }
    if (seg === '.' || seg === '') continue;
    if (seg === '..') segments.pop();
    else segments.push(seg);
  }
  const normalised = `/${segments.join('/')}${path.endsWith('/') && segments.length > 0 ? '/' : ''}`;
  return uriEncode(uriEncode(normalised, true), true);
}

export async function authenticateEc2Request(
  req: SignedRequest,
  lookupSecret: (accessKey: string) => Promise<string | undefined>,
  options: AuthOptions,
): Promise<Authenticated> {
  const skew = options.skewMs ?? DEFAULT_SKEW_MS;
  const authorization = header(req, 'authorization');
  if (authorization !== undefined)
    return sigV4Header(req, authorization, lookupSecret, options.now, skew);
  if (req.params['X-Amz-Algorithm'] !== undefined)
    return sigV4Query(req, lookupSecret, options.now);
  if (req.params['Signature'] !== undefined || req.params['AWSAccessKeyId'] !== undefined) {
    return sigV2(req, lookupSecret, options.now, skew);
  }
  return fail(
    'The request is not signed: it has neither an Authorization header nor a Signature parameter.',
  );
}

interface V4Parts {
  accessKey: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

function parseCredential(credential: string): Omit<V4Parts, 'signedHeaders' | 'signature'> {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1] ?? '')) {
    return fail(`The credential scope '${credential}' is malformed.`);
  }
  const [accessKey, date, region, service] = parts as [string, string, string, string];
  if (service !== 'ec2') fail(`The credential scope names service '${service}', not 'ec2'.`);
  return { accessKey, date, region, service };
}

async function verifyV4(
  req: SignedRequest,
  parts: V4Parts,
  amzDate: string,
  canonicalQueryString: string,
  payloadHash: string,
  lookupSecret: (accessKey: string) => Promise<string | undefined>,
): Promise<Authenticated> {
  if (!amzDate.startsWith(parts.date))
    fail('The request date does not match the date of its credential scope.');
  const lines: string[] = [];
  for (const name of parts.signedHeaders) {
    const value = header(req, name);
    if (value === undefined) fail(`The signed header '${name}' is missing from the request.`);
    lines.push(`${name}:${value.trim().replace(/\s+/g, ' ')}\n`);
  }
  if (!parts.signedHeaders.includes('host')) fail('The Host header must be signed.');
  const canonicalRequest = [
    req.method,
    canonicalUri(req.path),
    canonicalQueryString,
    lines.join(''),
    parts.signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
  const scope = `${parts.date}/${parts.region}/${parts.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const secret = await lookupSecret(parts.accessKey);
  if (secret === undefined) fail('The access key in the request is not known to this cloud.');
  const kDate = hmac(`AWS4${secret}`, parts.date);
  const kSigning = hmac(hmac(hmac(kDate, parts.region), parts.service), 'aws4_request');
  const expected = hmac(kSigning, stringToSign).toString('hex');
  if (!safeEqual(expected, parts.signature.toLowerCase())) {
    fail(
      'The request signature does not match the one computed with your secret key; check the key and the signing method.',
    );
  }
  return { accessKey: parts.accessKey, signatureVersion: 4, region: parts.region };
}

async function sigV4Header(
  req: SignedRequest,
  authorization: string,
  lookupSecret: (accessKey: string) => Promise<string | undefined>,
  now: Date,
  skew: number,
): Promise<Authenticated> {
  const m = /^AWS4-HMAC-SHA256\s+(.*)$/s.exec(authorization.trim());
  if (!m) fail('The Authorization header is not AWS4-HMAC-SHA256.');
  const fields = new Map<string, string>();
  for (const part of (m[1] as string).split(',')) {
    const i = part.indexOf('=');
    if (i > 0) fields.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  const credential = fields.get('Credential');
  const signed = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || !signed || !signature || !/^[0-9a-fA-F]{64}$/.test(signature)) {
    fail('The Authorization header must carry Credential, SignedHeaders and Signature.');
  }
  const amzDate = header(req, 'x-amz-date') ?? '';
  const when =
    parseAmzDate(amzDate) ??
    (header(req, 'date') ? new Date(header(req, 'date') as string) : undefined);
  if (!when || Number.isNaN(when.getTime())) fail('The request has no valid X-Amz-Date header.');
  if (Math.abs(now.getTime() - when.getTime()) > skew) {
    fail(
      `The request time ${when.toISOString()} is too far from the server time ${now.toISOString()}.`,
      'RequestExpired',
    );
  }
  const parts: V4Parts = {
    ...parseCredential(credential),
    signedHeaders: signed.toLowerCase().split(';'),
    signature,
  };
  const payloadHash = header(req, 'x-amz-content-sha256') ?? sha256Hex(req.body);
  if (payloadHash === 'UNSIGNED-PAYLOAD')
    fail('An unsigned payload is not accepted for this request.');
  const stamp = parseAmzDate(amzDate) ? amzDate : toAmzDate(when);
  return verifyV4(
    req,
    parts,
    stamp,
    canonicalQuery(queryPairs(req.query)),
    payloadHash,
    lookupSecret,
  );
}

async function sigV4Query(
  req: SignedRequest,
  lookupSecret: (accessKey: string) => Promise<string | undefined>,
  now: Date,
): Promise<Authenticated> {
  const p = req.params;
  if (p['X-Amz-Algorithm'] !== 'AWS4-HMAC-SHA256')
    fail('X-Amz-Algorithm must be AWS4-HMAC-SHA256.');
  const credential = p['X-Amz-Credential'];
  const amzDate = p['X-Amz-Date'] ?? '';
  const signed = p['X-Amz-SignedHeaders'];
  const signature = p['X-Amz-Signature'];
  const expires = Number(p['X-Amz-Expires'] ?? '');
  if (!credential || !signed || !signature || !/^[0-9a-fA-F]{64}$/.test(signature)) {
    fail(
      'A presigned request must carry X-Amz-Credential, X-Amz-SignedHeaders and X-Amz-Signature.',
    );
  }
  const when = parseAmzDate(amzDate);
  if (!when) fail('The presigned request has no valid X-Amz-Date.');
  if (!Number.isInteger(expires) || expires < 1 || expires > MAX_PRESIGN_SECONDS) {
    fail('X-Amz-Expires must be a whole number of seconds from 1 to 604800.');
  }
  if (now.getTime() > when.getTime() + expires * 1000)
    fail('The presigned request has expired.', 'RequestExpired');
  if (when.getTime() - now.getTime() > DEFAULT_SKEW_MS)
    fail('The presigned request is dated in the future.', 'RequestExpired');
  const parts: V4Parts = {
    ...parseCredential(credential),
    signedHeaders: signed.toLowerCase().split(';'),
    signature,
  };
  const pairs = queryPairs(req.query).filter(([k]) => k !== 'X-Amz-Signature');
  const payloadHash = header(req, 'x-amz-content-sha256') ?? 'UNSIGNED-PAYLOAD';
  return verifyV4(req, parts, amzDate, canonicalQuery(pairs), payloadHash, lookupSecret);
}

function toAmzDate(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

async function sigV2(
  req: SignedRequest,
  lookupSecret: (accessKey: string) => Promise<string | undefined>,
  now: Date,
  skew: number,
): Promise<Authenticated> {
  const p = req.params;
  const accessKey = p['AWSAccessKeyId'];
  const signature = p['Signature'];
  if (!accessKey || !signature)
    fail('A Signature Version 2 request must carry AWSAccessKeyId and Signature.');
  if (p['SignatureVersion'] !== '2')
    fail(`Signature version '${p['SignatureVersion'] ?? ''}' is not supported; use 2 or 4.`);
  const method = p['SignatureMethod'];
  const algorithm = method === 'HmacSHA256' ? 'sha256' : method === 'HmacSHA1' ? 'sha1' : undefined;
  if (!algorithm)
    fail(`Signature method '${method ?? ''}' is not supported; use HmacSHA256 or HmacSHA1.`);
  if (p['Timestamp'] !== undefined) {
    const when = new Date(p['Timestamp']);
    if (Number.isNaN(when.getTime())) fail('The Timestamp parameter is not a valid time.');
    if (Math.abs(now.getTime() - when.getTime()) > skew) {
      fail(
        `The request time ${when.toISOString()} is too far from the server time ${now.toISOString()}.`,
        'RequestExpired',
      );
    }
  } else if (p['Expires'] !== undefined) {
    const until = new Date(p['Expires']);
    if (Number.isNaN(until.getTime())) fail('The Expires parameter is not a valid time.');
    if (now.getTime() > until.getTime()) fail('The request has expired.', 'RequestExpired');
  } else {
    fail('A Signature Version 2 request must carry Timestamp or Expires.');
  }
  const host = (header(req, 'host') ?? '').toLowerCase();
  const pairs: [string, string][] = Object.entries(p).filter(([k]) => k !== 'Signature');
  const stringToSign = [
    req.method.toUpperCase(),
    host,
    req.path || '/',
    canonicalQuery(pairs),
  ].join('\n');
  const secret = await lookupSecret(accessKey);
  if (secret === undefined) fail('The access key in the request is not known to this cloud.');
  const expected = createHmac(algorithm, secret).update(stringToSign, 'utf8').digest('base64');
  if (!safeEqual(expected, signature)) {
    fail(
      'The request signature does not match the one computed with your secret key; check the key and the signing method.',
    );
  }
  return { accessKey, signatureVersion: 2 };
}
