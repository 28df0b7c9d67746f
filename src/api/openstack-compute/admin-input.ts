// Checks of the request bodies of the admin resources (flavors, hosts, aggregates, quotas),
// each refusal a 400 in the Compute API's words.
import { invalid } from '../../errors.js';

export const badRequest = (message: string) => invalid(message, { resource: 'request' });

/** `v` as a JSON object, or a 400 naming `what`. */
export function objectOf(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw badRequest(`Invalid input for field/attribute ${what}. It must be an object.`);
  }
  return v as Record<string, unknown>;
}

/** The body's one top-level member `key`, as an object. */
export function member(body: unknown, key: string): Record<string, unknown> {
  const o = objectOf(body ?? {}, 'body');
  if (!(key in o)) throw badRequest(`Invalid input: '${key}' is a required property.`);
  return objectOf(o[key], key);
}

export function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], what: string) {
  const extra = Object.keys(o).filter((k) => !allowed.includes(k));
  if (extra.length > 0) {
    throw badRequest(
      `Invalid input for ${what}: additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length === 1 ? 'was' : 'were'} unexpected).`,
    );
  }
}

/** A string of 1 to `max` characters without leading or trailing blanks. */
export function name(v: unknown, what: string, max = 255): string {
  if (typeof v !== 'string' || v.length < 1 || v.length > max || v.trim() !== v) {
    throw badRequest(
      `Invalid input for field/attribute ${what}. It must be a string of 1 to ${max} characters without leading or trailing whitespace.`,
    );
  }
  return v;
}

/** A whole number in [min, max], given as a number or a string of digits. */
export function wholeNumber(v: unknown, what: string, min: number, max: number): number {
  const n =
    typeof v === 'number'
      ? v
      : typeof v === 'string' && /^-?\d+$/.test(v.trim())
        ? Number(v.trim())
        : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw badRequest(
      `Invalid input for field/attribute ${what}. Value: ${JSON.stringify(v)}. It must be an integer from ${min} to ${max}.`,
    );
  }
  return n;
}

const TRUE_WORDS = ['1', 't', 'true', 'on', 'y', 'yes'];
const FALSE_WORDS = ['0', 'f', 'false', 'off', 'n', 'no'];

/** A boolean, or one of the words the Compute API reads as one. */
export function flag(v: unknown, what: string): boolean {
  if (typeof v === 'boolean') return v;
  const word = typeof v === 'string' ? v.trim().toLowerCase() : '';
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  throw badRequest(`Invalid input for field/attribute ${what}. It must be a boolean.`);
}
