// Authentication of EC2 Query requests: Signature Version 4 (Authorization header or presigned
// query string) and Signature Version 2 (HmacSHA256 / HmacSHA1 in the parameters). The
// signature is recomputed from the request exactly as it was received and compared in constant
// time. Every refusal is a StratusError of kind 'unauthenticated' (reason 'signature', or
// 'expired' for time problems); errors.ts answers them with EC2's AuthFailure and
// RequestExpired.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { StratusError } from '../../errors.js';

export interface SignedRequest {
  method: string;
  /** URL path as received, still percent-encoded, e.g. '/' or '/services/Cloud/'. */
  path: string;
  /** Raw query string without the '?', as received ('' if none). */
  query: string;
  /** Header names in lower case, as node's http module gives them. */
  headers: Record<string, string | string[] | undefined>;
  /** Raw request body as received (form-encoded for POST; '' for GET). */
  body: string;
  /** All parameters, decoded, from the query string and the form body merged. */
  params: Record<string, string>;
}

export interface AuthOptions {
  now: Date;
  /** The region this endpoint serves: a SigV4 credential scope must name it. */
  region: string;
  /** Allowed clock skew, both directions; default 15 minutes. */
  skewMs?: number;
  /**
   * The service a SigV4 credential scope must name: 'ec2' unless told ('sts', 'iam' for the
   * caller-identity endpoints), so a signature made for one service is refused by another.
   */
  service?: string;
  /** Regions a scope may name besides `region` (IAM is global: clients sign it for us-east-1). */
  otherRegions?: readonly string[];
}

export interface Authenticated {
  accessKey: string;
  signatureVersion: 2 | 4;
  region?: string;
}

type SecretLookup = (accessKey: string) => Promise<string | undefined>;

const DEFAULT_SKEW_MS = 15 * 60 * 1000;
/** The longest validity a presigned request (SigV4 X-Amz-Expires, SigV2 Expires) may claim: one week. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
const V4_ALGORITHM = 'AWS4-HMAC-SHA256';
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const SIGNED_HEADERS = /^[a-z0-9!#$%&'*+.^_`|~-]+(;[a-z0-9!#$%&'*+.^_`|~-]+)*$/;
const HEX_SIGNATURE = /^[0-9a-f]{64}$/;
/** Query parameters that make a request a presigned SigV4 one. */
const PRESIGN_MARKERS = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature'];

/** What a check needs besides the request itself. */
interface Context {
  req: SignedRequest;
  lookupSecret: SecretLookup;
  now: number;
  skewMs: number;
  region: string;
  service: string;
  otherRegions: readonly string[];
}

export async function authenticateEc2Request(
  req: SignedRequest,
  lookupSecret: SecretLookup,
  options: AuthOptions,
): Promise<Authenticated> {
  const ctx: Context = {
    req,
    lookupSecret,
    now: options.now.getTime(),
    skewMs: options.skewMs ?? DEFAULT_SKEW_MS,
    region: options.region,
    service: options.service ?? 'ec2',
    otherRegions: options.otherRegions ?? [],
  };
  const query = parseQuery(req.query);
  const authorization = header(req, 'authorization');
  if (authorization !== undefined) return sigV4Header(ctx, authorization, query);
  if (query.some(([name]) => PRESIGN_MARKERS.includes(name))) return sigV4Presigned(ctx, query);
  const p = req.params;
  if (has(p, 'Signature') || has(p, 'AWSAccessKeyId') || has(p, 'SignatureVersion')) {
    return sigV2(ctx);
  }
  return fail(
    'The request is not signed: it has neither an Authorization header, nor X-Amz-Signature, nor Signature.',
  );
}

// ---- Signature Version 4 ------------------------------------------------------------------

interface Scope {
  accessKey: string;
  date: string;
  region: string;
  service: string;
}

/** One SigV4 request, whichever form it came in, ready to be verified. */
interface V4Request {
  scope: Scope;
  /** The request time in the basic ISO 8601 form of the string to sign (20260101T000000Z). */
  amzDate: string;
  signedHeaders: string;
  signature: string;
  canonicalQuery: string;
  /** Payload hashes the signer may have used; more than one only for presigned requests. */
  payloadHashes: string[];
}

async function sigV4Header(
  ctx: Context,
  authorization: string,
  query: Pair[],
): Promise<Authenticated> {
  const fields = parseAuthorization(authorization);
  const scope = parseScope(ctx, fields.credential);
  const amzHeader = header(ctx.req, 'x-amz-date');
  const dateHeader = header(ctx.req, 'date');
  let when: number | undefined;
  if (amzHeader !== undefined) when = parseAmzDate(amzHeader);
  else if (dateHeader !== undefined) when = parseHttpDate(dateHeader);
  else fail('The request has neither an X-Amz-Date nor a Date header.');
  if (when === undefined) fail('The request date header is not a valid date.');
  const amzDate = toAmzDate(when);
  checkScopeDate(scope, amzDate);
  if (Math.abs(ctx.now - when) > ctx.skewMs) {
    expired(
      `The request was signed at ${iso(when)}, too far from the server time ${iso(ctx.now)}.`,
    );
  }

  const bodyHash = sha256Hex(ctx.req.body);
  const claimed = header(ctx.req, 'x-amz-content-sha256');
  if (claimed === UNSIGNED_PAYLOAD) {
    fail('An unsigned payload is only accepted on presigned requests.');
  }
  if (claimed !== undefined && claimed.toLowerCase() !== bodyHash) {
    fail('The request body does not match its x-amz-content-sha256 header.');
  }
  return verifyV4(ctx, {
    scope,
    amzDate,
    signedHeaders: fields.signedHeaders,
    signature: fields.signature,
    canonicalQuery: canonicalQuery(query),
    payloadHashes: [claimed ?? bodyHash],
  });
}

async function sigV4Presigned(ctx: Context, query: Pair[]): Promise<Authenticated> {
  const algorithm = single(query, 'X-Amz-Algorithm');
  const credential = single(query, 'X-Amz-Credential');
  const date = single(query, 'X-Amz-Date');
  const expires = single(query, 'X-Amz-Expires');
  const signedHeaders = single(query, 'X-Amz-SignedHeaders');
  const signature = single(query, 'X-Amz-Signature');
  if (algorithm === undefined || signature === undefined) {
    fail('A presigned request must carry X-Amz-Algorithm and X-Amz-Signature.');
  }
  if (algorithm !== V4_ALGORITHM) {
    fail(`The signing algorithm '${shown(algorithm)}' is not supported; use ${V4_ALGORITHM}.`);
  }
  if (credential === undefined || date === undefined || signedHeaders === undefined) {
    fail('A presigned request must carry X-Amz-Credential, X-Amz-Date and X-Amz-SignedHeaders.');
  }
  if (expires === undefined) fail('A presigned request must carry X-Amz-Expires.');
  if (!HEX_SIGNATURE.test(signature)) fail('X-Amz-Signature is not a SHA-256 signature.');
  if (!SIGNED_HEADERS.test(signedHeaders)) fail('X-Amz-SignedHeaders is malformed.');
  const scope = parseScope(ctx, credential);
  const when = parseAmzDate(date);
  if (when === undefined) fail('X-Amz-Date is not a date in the form YYYYMMDDThhmmssZ.');
  checkScopeDate(scope, date);
  const seconds = /^\d{1,7}$/.test(expires) ? Number(expires) : NaN;
  if (!(seconds >= 1 && seconds <= MAX_PRESIGN_SECONDS)) {
    fail(`X-Amz-Expires must be a whole number of seconds from 1 to ${MAX_PRESIGN_SECONDS}.`);
  }
  if (ctx.now > when + seconds * 1000) {
    expired(`The presigned request expired at ${iso(when + seconds * 1000)}.`);
  }
  if (when - ctx.now > ctx.skewMs) {
    expired(`The presigned request is dated ${iso(when)}, later than the server time allows.`);
  }

  // A presigner may have left the body out of the signature (UNSIGNED-PAYLOAD). Parameters in
  // an unsigned body would then be unauthenticated, so that is accepted only without a body.
  const bodyHash = sha256Hex(ctx.req.body);
  const claimed = header(ctx.req, 'x-amz-content-sha256') ?? contentHashParam(query);
  let payloadHashes: string[];
  if (claimed === UNSIGNED_PAYLOAD || (claimed === undefined && ctx.req.body === '')) {
    if (ctx.req.body !== '') fail('An unsigned payload is only accepted without a body.');
    payloadHashes = claimed === undefined ? [bodyHash, UNSIGNED_PAYLOAD] : [claimed];
  } else {
    if (claimed !== undefined && claimed.toLowerCase() !== bodyHash) {
      fail('The request body does not match its declared SHA-256 hash.');
    }
    payloadHashes = [claimed ?? bodyHash];
  }
  return verifyV4(ctx, {
    scope,
    amzDate: date,
    signedHeaders,
    signature,
    canonicalQuery: canonicalQuery(query.filter(([name]) => name !== 'X-Amz-Signature')),
    payloadHashes,
  });
}

async function verifyV4(ctx: Context, v4: V4Request): Promise<Authenticated> {
  const names = v4.signedHeaders.split(';');
  if (!names.includes('host')) fail('The Host header must be among the signed headers.');
  const canonicalHeaders = names.map((name) => {
    const value = header(ctx.req, name);
    if (value === undefined) fail(`The signed header '${shown(name)}' is not in the request.`);
    return `${name}:${value.trim().replace(/\s+/g, ' ')}\n`;
  });
  const secret = await ctx.lookupSecret(v4.scope.accessKey);
  if (secret === undefined) unknownKey();

  const { date, region, service } = v4.scope;
  const scopeText = `${date}/${region}/${service}/aws4_request`;
  const kDate = hmacSha256(`AWS4${secret}`, date);
  const signingKey = hmacSha256(hmacSha256(hmacSha256(kDate, region), service), 'aws4_request');
  const base = [
    ctx.req.method,
    canonicalUri(ctx.req.path),
    v4.canonicalQuery,
    canonicalHeaders.join(''),
    v4.signedHeaders,
  ].join('\n');
  let matched = false;
  for (const payloadHash of v4.payloadHashes) {
    const canonicalRequest = `${base}\n${payloadHash}`;
    const stringToSign = [V4_ALGORITHM, v4.amzDate, scopeText, sha256Hex(canonicalRequest)];
    const expected = hmacSha256(signingKey, stringToSign.join('\n')).toString('hex');
    // Every candidate is computed and compared, so timing does not tell which one matched.
    if (sameText(expected, v4.signature)) matched = true;
  }
  if (!matched) mismatch();
  return { accessKey: v4.scope.accessKey, signatureVersion: 4, region };
}

/** Splits `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`. */
function parseAuthorization(authorization: string): {
  credential: string;
  signedHeaders: string;
  signature: string;
} {
  const m = /^AWS4-HMAC-SHA256 +(\S.*)$/s.exec(authorization.trim());
  if (!m) {
    fail(`The Authorization header is malformed: it must start with '${V4_ALGORITHM} '.`);
  }
  const fields = new Map<string, string>();
  for (const part of (m[1] as string).split(',')) {
    const i = part.indexOf('=');
    const name = part.slice(0, i).trim();
    if (i < 1 || fields.has(name)) fail('The Authorization header is malformed.');
    fields.set(name, part.slice(i + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || !signedHeaders || !signature) {
    fail(
      'The Authorization header is malformed: it needs Credential, SignedHeaders and Signature.',
    );
  }
  if (!SIGNED_HEADERS.test(signedHeaders)) {
    fail('The Authorization header is malformed: SignedHeaders is not a list of header names.');
  }
  if (!HEX_SIGNATURE.test(signature)) {
    fail('The Authorization header is malformed: Signature is not a SHA-256 signature.');
  }
  return { credential, signedHeaders, signature };
}

/**
 * `AKID/20260101/region/ec2/aws4_request`. A signature binds the request to one region and one
 * service; one made for another region is refused even though it verifies, as AWS refuses it
 * ("Credential should be scoped to a valid region"), so a request cannot be replayed across
 * clouds that share keys.
 */
function parseScope(ctx: Context, credential: string): Scope {
  const parts = credential.split('/');
  const [accessKey, date, region, service, terminator] = parts;
  if (
    parts.length !== 5 ||
    !accessKey ||
    !date ||
    !/^\d{8}$/.test(date) ||
    !region ||
    !service ||
    terminator !== 'aws4_request'
  ) {
    fail(
      `The credential '${shown(credential)}' is malformed; expected KEY/YYYYMMDD/region/${ctx.service}/aws4_request.`,
    );
  }
  if (service !== ctx.service) {
    fail(
      `The credential is scoped to the service '${shown(service)}'; this endpoint is '${ctx.service}'.`,
    );
  }
  if (region !== ctx.region && !ctx.otherRegions.includes(region)) {
    fail(
      `Credential should be scoped to a valid region, not '${shown(region)}': this endpoint serves '${ctx.region}'.`,
    );
  }
  return { accessKey, date, region, service };
}

function checkScopeDate(scope: Scope, amzDate: string): void {
  if (amzDate.slice(0, 8) !== scope.date) {
    fail(
      `The credential is scoped to ${scope.date}, but the request is dated ${amzDate.slice(0, 8)}.`,
    );
  }
}

/**
 * The canonical URI for every service but S3: dot segments and empty segments removed, then
 * each segment encoded once more. The path arrives encoded once, so this is the double encoding
 * the signer applied.
 */
function canonicalUri(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && path.endsWith('/') ? '/' : '';
  return `/${segments.map(uriEncode).join('/')}${trailing}`;
}

/** Encoded pairs sorted by name, then by value for a name given more than once. */
function canonicalQuery(pairs: readonly Pair[]): string {
  return pairs
    .map(([name, value]): Pair => [uriEncode(name), uriEncode(value)])
    .sort(([a, x], [b, y]) => compareBytes(a, b) || compareBytes(x, y))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

/** 20260101T000000Z -> milliseconds since the epoch. */
function parseAmzDate(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  const time = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!);
  // Date.UTC rolls 20260230 over into March; a date that does not round-trip is invalid.
  return toAmzDate(time) === text ? time : undefined;
}

function parseHttpDate(text: string): number | undefined {
  const time = Date.parse(text);
  return Number.isNaN(time) ? undefined : time;
}

function toAmzDate(time: number): string {
  return new Date(time).toISOString().replace(/[-:]|\.\d{3}/g, '');
}

// ---- Signature Version 2 ------------------------------------------------------------------

async function sigV2(ctx: Context): Promise<Authenticated> {
  const p = ctx.req.params;
  const accessKey = get(p, 'AWSAccessKeyId');
  const signature = get(p, 'Signature');
  if (!accessKey || !signature) {
    fail('A request signed with Signature Version 2 must carry AWSAccessKeyId and Signature.');
  }
  const version = get(p, 'SignatureVersion');
  if (version !== '2') {
    fail(`Signature version '${shown(version ?? '')}' is not supported; use version 2 or 4.`);
  }
  const method = get(p, 'SignatureMethod');
  const algorithm = method === 'HmacSHA256' ? 'sha256' : method === 'HmacSHA1' ? 'sha1' : null;
  if (!algorithm) {
    fail(`Signature method '${shown(method ?? '')}' is not supported; use HmacSHA256 or HmacSHA1.`);
  }
  checkV2Time(ctx, get(p, 'Timestamp'), get(p, 'Expires'));
  const host = header(ctx.req, 'host');
  if (!host) fail('The request has no Host header to verify the signature against.');

  const secret = await ctx.lookupSecret(accessKey);
  if (secret === undefined) unknownKey();
  const pairs = Object.entries(p).filter(([name]) => name !== 'Signature');
  // Sorted by the byte order of the parameter name, then encoded.
  pairs.sort(([a], [b]) => compareBytes(a, b));
  const stringToSign = [
    ctx.req.method,
    host.toLowerCase(),
    ctx.req.path || '/',
    pairs.map(([name, value]) => `${uriEncode(name)}=${uriEncode(value)}`).join('&'),
  ].join('\n');
  const expected = createHmac(algorithm, secret).update(stringToSign, 'utf8').digest('base64');
  if (!sameText(expected, signature)) mismatch();
  return { accessKey, signatureVersion: 2 };
}

/** A V2 request carries either the time it was signed (Timestamp) or a deadline (Expires). */
function checkV2Time(ctx: Context, timestamp?: string, expires?: string): void {
  if (timestamp === undefined && expires === undefined) {
    fail('A request signed with Signature Version 2 must carry Timestamp or Expires.');
  }
  if (timestamp !== undefined) {
    const when = parseIsoDate(timestamp);
    if (when === undefined) fail(`The Timestamp '${shown(timestamp)}' is not an ISO 8601 date.`);
    if (Math.abs(ctx.now - when) > ctx.skewMs) {
      expired(
        `The request was signed at ${iso(when)}, too far from the server time ${iso(ctx.now)}.`,
      );
    }
  }
  if (expires !== undefined) {
    const until = parseIsoDate(expires);
    if (until === undefined) fail(`The Expires '${shown(expires)}' is not an ISO 8601 date.`);
    if (ctx.now > until) expired(`The request expired at ${iso(until)}.`);
    // A deadline decades away would make a leaked signed URL good for decades: bound it as
    // presigned SigV4 bounds X-Amz-Expires. EC2 answers a request dated too far ahead with
    // RequestExpired, so this does too.
    if (until - ctx.now > MAX_PRESIGN_SECONDS * 1000 + ctx.skewMs) {
      expired(
        `The request's Expires ${iso(until)} is more than ${MAX_PRESIGN_SECONDS / 86400} days after the server time ${iso(ctx.now)}.`,
      );
    }
  }
}

/** ISO 8601 date and time; one without a zone is UTC, as every signer means it. */
function parseIsoDate(text: string): number | undefined {
  const m = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/.exec(text);
  if (!m) return undefined;
  const time = Date.parse(m[3] === undefined ? `${text}Z` : text);
  return Number.isNaN(time) ? undefined : time;
}

// ---- Shared -------------------------------------------------------------------------------

type Pair = [name: string, value: string];

function fail(message: string): never {
  throw new StratusError('unauthenticated', message, { reason: 'signature' });
}

function expired(message: string): never {
  throw new StratusError('unauthenticated', message, { reason: 'expired' });
}

function unknownKey(): never {
  fail('The access key in the request is not one this cloud knows; check your credentials.');
}

function mismatch(): never {
  fail(
    'The request signature does not match the signature computed with your secret key; check the key and how the request is signed.',
  );
}

function has(record: Record<string, unknown>, name: string): boolean {
  return Object.hasOwn(record, name);
}

/** An own string property: names from the request must not reach Object.prototype. */
function get(record: Record<string, string>, name: string): string | undefined {
  const value: unknown = has(record, name) ? record[name] : undefined;
  return typeof value === 'string' ? value : undefined;
}

function header(req: SignedRequest, name: string): string | undefined {
  const value: unknown = has(req.headers, name) ? req.headers[name] : undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.join(',');
  return undefined;
}

/** Decoded query pairs in their received order; '+' is a space, as in form encoding. */
function parseQuery(query: string): Pair[] {
  return query
    .split('&')
    .filter((part) => part !== '')
    .map((part) => {
      const i = part.indexOf('=');
      return i < 0 ? [decode(part), ''] : [decode(part.slice(0, i)), decode(part.slice(i + 1))];
    });
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return fail('The query string has a malformed percent-encoding.');
  }
}

/**
 * A presigner hoists an x-amz-content-sha256 header into the query under the name it had,
 * in whatever case, so that one parameter is looked up without regard to case.
 */
function contentHashParam(query: readonly Pair[]): string | undefined {
  const values = query.filter(([name]) => name.toLowerCase() === 'x-amz-content-sha256');
  if (values.length > 1) fail('The parameter X-Amz-Content-Sha256 appears more than once.');
  return values[0]?.[1];
}

/** The value of a presigning parameter, which must appear at most once. */
function single(pairs: readonly Pair[], name: string): string | undefined {
  const values = pairs.filter(([n]) => n === name);
  if (values.length > 1) fail(`The parameter ${name} appears more than once.`);
  return values[0]?.[1];
}

/** RFC 3986 percent-encoding of UTF-8: only A-Z a-z 0-9 - _ . ~ are left as they are. */
function uriEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const unreserved =
      (byte >= 0x41 && byte <= 0x5a) ||
      (byte >= 0x61 && byte <= 0x7a) ||
      (byte >= 0x30 && byte <= 0x39) ||
      byte === 0x2d ||
      byte === 0x5f ||
      byte === 0x2e ||
      byte === 0x7e;
    out += unreserved
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Constant-time comparison; only the (public) length can end it early. */
function sameText(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

function hmacSha256(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function sha256Hex(data: string): string {
  return createHash('sha256').update(data, 'utf8').digest('hex');
}

/** Request text quoted in a message, cut short so a huge value cannot bloat the answer. */
function shown(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}...` : text;
}

function iso(time: number): string {
  return new Date(time).toISOString();
}
