// Block Storage API request bodies and queries: the checks every resource's handlers share,
// each failing with a 400 that names the field.
import { invalid, notFound } from '../../errors.js';

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

/** Most items one page of a listing holds. */
const MAX_LIMIT = 1000;

/**
 * One page of `rows` (already in listing order): the rows after `marker`, at most `limit`
 * (itself at most 1000), and `<collection>_links` with the next page's link when more follow.
 * An unknown marker is `not_found`.
 */
export function pageOf<T extends { id: string }>(
  rows: readonly T[],
  query: Record<string, string | undefined>,
  collection: string,
  url: string,
): { page: T[]; links: Record<string, { rel: string; href: string }[]> } {
  let start = 0;
  const marker = query['marker'];
  if (marker !== undefined) {
    start = rows.findIndex((r) => r.id === marker) + 1;
    if (start === 0) throw notFound('marker', marker, `Marker ${marker} not found.`);
  }
  const limit = positiveInt(query['limit'], 'limit') ?? MAX_LIMIT;
  const page = rows.slice(start, start + Math.min(limit, MAX_LIMIT));
  const last = page[page.length - 1];
  const more = start + page.length < rows.length && last;
  return {
    page,
    links: more
      ? {
          [`${collection}_links`]: [
            { rel: 'next', href: `${url}?limit=${limit}&marker=${last.id}` },
          ],
        }
      : {},
  };
}
