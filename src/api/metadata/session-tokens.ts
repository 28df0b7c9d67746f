// IMDSv2 session tokens: opaque to the guest, bound to one instance, good until they expire.
// A token is the instance id and the expiry time, signed with HMAC-SHA256 under a key every
// metadata server reads from the database, so any process serving metadata checks a token
// another issued (a compute host's restart, several processes) and nothing is kept per token.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The longest and shortest lifetime a guest may ask for (EC2: one second to six hours). */
export const MIN_TOKEN_TTL_SECONDS = 1;
export const MAX_TOKEN_TTL_SECONDS = 21_600;

/** What a check of a presented token found. */
export type TokenCheck = 'valid' | 'expired' | 'invalid';

const VERSION = 'v1';

function sign(key: Buffer, payload: string): Buffer {
  return createHmac('sha256', key).update(`stratus-imds-token:${payload}`).digest();
}

/** A token for `instanceId` that expires `ttlSeconds` after `now` (milliseconds). */
export function issueSessionToken(
  key: Buffer,
  instanceId: string,
  ttlSeconds: number,
  now = Date.now(),
): string {
  const payload = `${VERSION}:${instanceId}:${now + ttlSeconds * 1000}`;
  return `${Buffer.from(payload).toString('base64url')}.${sign(key, payload).toString('base64url')}`;
}

/**
 * Whether `token` is one this cloud issued for `instanceId` and still good at `now`. A token of
 * another instance, a forged or damaged one, or one signed with another key is 'invalid'.
 */
export function checkSessionToken(
  key: Buffer,
  token: string,
  instanceId: string,
  now = Date.now(),
): TokenCheck {
  const [body, mac, extra] = token.split('.');
  if (!body || !mac || extra !== undefined || token.length > 512) return 'invalid';
  const payload = Buffer.from(body, 'base64url').toString();
  const expected = sign(key, payload);
  const given = Buffer.from(mac, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
  const [version, id, expires] = payload.split(':');
  if (version !== VERSION || id !== instanceId || !/^\d+$/.test(expires ?? '')) return 'invalid';
  return Number(expires) > now ? 'valid' : 'expired';
}

/**
 * The lifetime a token request asks for in `X-aws-ec2-metadata-token-ttl-seconds`, or
 * undefined when the header is missing or not a whole number of seconds in range.
 */
export function requestedTtl(header: string | undefined): number | undefined {
  if (header === undefined || !/^\d{1,6}$/.test(header.trim())) return undefined;
  const n = Number(header.trim());
  return n >= MIN_TOKEN_TTL_SECONDS && n <= MAX_TOKEN_TTL_SECONDS ? n : undefined;
}
