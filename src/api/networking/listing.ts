// How the Networking API lists a collection: filters by attribute (`?name=a&name=b` is either;
// a filter on an attribute the resource does not have is refused, as Neutron's filter
// validation does), `sort_key`/`sort_dir` pairs, `limit`/`marker` paging (with `page_reverse`)
// and `<collection>_links` with `next` and `previous`, and `fields=` choosing the attributes.
import { invalid, notFound } from '../../errors.js';

type Item = Record<string, unknown>;
type Query = Record<string, string | string[] | undefined>;

const CONTROL = new Set(['fields', 'sort_key', 'sort_dir', 'limit', 'marker', 'page_reverse']);
/** Most items one page lists. */
const MAX_LIMIT = 1000;

/** The values a query key was given, in order. */
export function values(query: Query, key: string): string[] {
  const v = query[key];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/** The chosen attributes of one item (`fields=`), or all of it. */
export function pickFields(item: Item, query: Query): Item {
  const fields = values(query, 'fields').flatMap((f) => f.split(','));
  if (fields.length === 0) return item;
  const out: Item = {};
  for (const f of fields) if (f in item) out[f] = item[f];
  return out;
}

/**
 * The page of `items` the query asks for, under `collection` (e.g. `networks`), with links
 * when it is paged. `attributes` are the names a filter may use (items may be none).
 */
export function listing(
  items: Item[],
  query: Query,
  options: { collection: string; url: string; attributes: readonly string[] },
): Item {
  let rows = items;
  for (const [key, raw] of Object.entries(query)) {
    if (CONTROL.has(key) || raw === undefined) continue;
    if (!options.attributes.includes(key)) {
      throw invalid(`${key} is an invalid filter for ${options.collection}.`, {
        resource: 'parameter',
        reason: 'query',
        id: key,
      });
    }
    const wanted = Array.isArray(raw) ? raw : [raw];
    rows = rows.filter((r) => wanted.some((w) => matches(r[key], w)));
  }
  const keys = values(query, 'sort_key');
  const dirs = values(query, 'sort_dir');
  if (dirs.length > keys.length) {
    throw invalid('The number of sort_keys and sort_dirs must be the same.', {
      resource: 'parameter',
      reason: 'query',
      id: 'sort_dir',
    });
  }
  for (const [i, d] of dirs.entries()) {
    if (d !== 'asc' && d !== 'desc') {
      throw invalid(`sort_dir must be asc or desc, not '${d}'.`, {
        resource: 'parameter',
        reason: 'query',
        id: `sort_dir[${i}]`,
      });
    }
  }
  for (const k of keys) {
    if (!options.attributes.includes(k)) {
      throw invalid(`${k} is an invalid attribute for sort_key.`, {
        resource: 'parameter',
        reason: 'query',
        id: 'sort_key',
      });
    }
  }
  const limitText = values(query, 'limit')[0];
  let limit: number | undefined;
  if (limitText !== undefined) {
    if (!/^\d{1,9}$/.test(limitText)) {
      // Neutron's BadRequest (resource `limit`), as its api_common answers.
      throw invalid(
        `Bad limit request: Limit must be an integer 0 or greater and not '${limitText}'.`,
        { resource: 'limit', id: limitText, reason: 'malformed' },
      );
    }
    limit = Number(limitText) === 0 ? undefined : Math.min(Number(limitText), MAX_LIMIT);
  }
  if (keys.length > 0 || limit !== undefined) {
    const order = [
      ...keys.map((k, i) => ({ k, desc: dirs[i] === 'desc' })),
      { k: 'id', desc: false },
    ];
    rows = [...rows].sort((a, b) => {
      for (const { k, desc } of order) {
        const c = compare(a[k], b[k]);
        if (c !== 0) return desc ? -c : c;
      }
      return 0;
    });
  }
  const marker = values(query, 'marker')[0];
  const reverse = /^true$/i.test(values(query, 'page_reverse')[0] ?? '');
  let start = 0;
  let end = rows.length;
  if (marker !== undefined) {
    const at = rows.findIndex((r) => r['id'] === marker);
    if (at < 0) throw notFound('marker', marker, `Marker ${marker} could not be found.`);
    if (reverse) end = at;
    else start = at + 1;
  }
  if (limit !== undefined) {
    if (reverse) start = Math.max(0, end - limit);
    else end = Math.min(rows.length, start + limit);
  }
  const page = rows.slice(start, end);
  const out: Item = { [options.collection]: page.map((r) => pickFields(r, query)) };
  if (limit !== undefined) {
    const links: { rel: string; href: string }[] = [];
    const link = (rel: string, id: unknown, back: boolean) => {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) {
        if (k === 'marker' || k === 'page_reverse' || v === undefined) continue;
        for (const one of Array.isArray(v) ? v : [v]) q.append(k, one);
      }
      q.set('marker', String(id));
      if (back) q.set('page_reverse', 'True');
      links.push({ rel, href: `${options.url}?${q.toString()}` });
    };
    const first = page[0];
    const last = page[page.length - 1];
    if (last && end < rows.length) link('next', last['id'], false);
    if (first && start > 0) link('previous', first['id'], true);
    if (links.length > 0) out[`${options.collection}_links`] = links;
  }
  return out;
}

function matches(value: unknown, wanted: string): boolean {
  if (Array.isArray(value)) return value.some((v) => matches(v, wanted));
  if (typeof value === 'boolean') return String(value) === wanted.toLowerCase();
  if (value === null || value === undefined) return wanted === '' || wanted === 'None';
  if (typeof value === 'object') {
    // `fixed_ips=ip_address=10.0.0.5` (or `subnet_id=...`): one attribute of an item.
    const eq = wanted.indexOf('=');
    if (eq < 0) return false;
    const v = (value as Record<string, unknown>)[wanted.slice(0, eq)];
    return v !== undefined && String(v) === wanted.slice(eq + 1);
  }
  return String(value) === wanted;
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : 1;
}
