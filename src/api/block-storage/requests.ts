// Block Storage API request bodies and queries: the checks every resource's handlers share,
// each failing with a 400 that names the field.
import { invalid } from '../../errors.js';

export function objectOf(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`${what} must be a JSON object.`, { resource: 'request' });
  }
  return value as Record<string, unknown>;
}

export function optionalText(value: unknown, key: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > 255) {
    throw invalid(`${key} must be a string of at most 255 characters.`, {
      resource: 'parameter',
      id: key,
    });
  }
  return value;
}

/** A whole number sent as a number or as its digits, as clients do. */
export function wholeNumber(value: unknown, key: string): number {
  const n = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw invalid(`${key} must be a whole number.`, { resource: 'parameter', id: key });
  }
  return n;
}

export function positiveInt(value: string | undefined, key: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) {
    throw invalid(`${key} must be a positive whole number.`, { resource: 'parameter', id: key });
  }
  return Number(value);
}
