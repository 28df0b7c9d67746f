// Flavors: list and detail (filters, sorting, paging), show by id or name, and their (empty)
// extra specs.
import type { FastifyRequest } from 'fastify';
import type { InstanceOperations } from '../../compute/index.js';
import { isAdmin } from '../../context.js';
import type { FlavorRow } from '../../db/index.js';
import { invalid, notFound } from '../../errors.js';
import { queryOf, type RouteDeps } from './routes.js';
import { flavorSummary, flavorView } from './views.js';

/** The flavor with this id, or else this name. */
export async function findFlavor(
  ops: InstanceOperations,
  ref: string,
): Promise<FlavorRow | undefined> {
  const all = await ops.flavors();
  return all.find((f) => f.id === ref) ?? all.find((f) => f.name === ref);
}

/** Largest page a flavor listing returns, whatever `limit` asks (the Compute API's own cap). */
const MAX_LIMIT = 1000;

/** The sort keys of a flavor listing, and what each sorts by; keys a flavor here has fixed sort as equal. */
const SORT_KEYS: Readonly<Record<string, (f: FlavorRow) => string | number>> = {
  flavorid: (f) => f.id,
  id: (f) => f.id,
  name: (f) => f.name,
  memory_mb: (f) => f.memoryMb,
  root_gb: (f) => f.diskGb,
  vcpus: (f) => f.vcpus,
  created_at: (f) => f.createdAt,
  is_public: (f) => f.isPublic,
  description: () => '',
  disabled: () => 0,
  ephemeral_gb: () => 0,
  rxtx_factor: () => 1,
  swap: () => 0,
  updated_at: () => 0,
  vcpu_weight: () => 0,
};

const TRUE_WORDS = ['1', 't', 'true', 'on', 'y', 'yes'];
const FALSE_WORDS = ['0', 'f', 'false', 'off', 'n', 'no'];

/** A whole number from a query parameter, or a 400 in the Compute API's words. */
function wholeNumber(value: string, message: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isSafeInteger(n)) throw invalid(message, { resource: 'parameter' });
  return n;
}

/**
 * A flavor listing's query, as the Compute API reads it: `minRam` and `minDisk` (at least this
 * much), `is_public` (admins: true, false or none for all; others see the public ones),
 * `sort_key`/`sort_dir` (by flavor id, ascending, by default), `limit` and `marker` (a flavor
 * id of the listing; the page starts after it).
 */
export function selectFlavors(
  all: readonly FlavorRow[],
  q: Record<string, string>,
  admin: boolean,
): { page: FlavorRow[]; more: boolean } {
  const minRam =
    q.minRam === undefined ? 0 : wholeNumber(q.minRam, `Invalid minRam filter [${q.minRam}]`);
  const minDisk =
    q.minDisk === undefined ? 0 : wholeNumber(q.minDisk, `Invalid minDisk filter [${q.minDisk}]`);
  let isPublic: boolean | undefined = true;
  if (q.is_public !== undefined) {
    const word = q.is_public.trim().toLowerCase();
    if (word === 'none') isPublic = undefined;
    else if (TRUE_WORDS.includes(word)) isPublic = true;
    else if (FALSE_WORDS.includes(word)) isPublic = false;
    else throw invalid(`Invalid is_public filter [${q.is_public}]`, { resource: 'parameter' });
  }
  // Everyone sees the public flavors; only admins may ask for the private ones or all.
  if (!admin) isPublic = true;
  const sortKey = q.sort_key ?? 'flavorid';
  const key = SORT_KEYS[sortKey];
  if (!key) throw invalid(`Invalid sort_key provided: ${sortKey}.`, { resource: 'parameter' });
  const sortDir = (q.sort_dir ?? 'asc').toLowerCase();
  if (sortDir !== 'asc' && sortDir !== 'desc') {
    throw invalid(`Invalid sort_dir provided: ${q.sort_dir}. It must be 'asc' or 'desc'.`, {
      resource: 'parameter',
    });
  }
  const limit =
    q.limit === undefined
      ? MAX_LIMIT
      : wholeNumber(
          q.limit,
          `Invalid input for query parameters limit. Value: ${q.limit}. It must be a non-negative integer.`,
        );
  const sign = sortDir === 'asc' ? 1 : -1;
  const sorted = all
    .filter(
      (f) =>
        f.memoryMb >= minRam &&
        f.diskGb >= minDisk &&
        (isPublic === undefined || (f.isPublic === 1) === isPublic),
    )
    .sort((a, b) => {
      const x = key(a);
      const y = key(b);
      const c = x < y ? -1 : x > y ? 1 : 0;
      return sign * c || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    });
  let start = 0;
  if (q.marker !== undefined) {
    const at = sorted.findIndex((f) => f.id === q.marker);
    if (at < 0) throw invalid(`marker [${q.marker}] not found`, { resource: 'marker' });
    start = at + 1;
  }
  const size = Math.min(limit, MAX_LIMIT);
  return { page: sorted.slice(start, start + size), more: start + size < sorted.length };
}

export function flavorRoutes({ app, services, caller, base }: RouteDeps): void {
  const ops = services.instances;
  const flavorByRef = (ref: string) => findFlavor(ops, ref);
  const listFlavors = async (request: FastifyRequest, detail: boolean) => {
    const ctx = await caller(request);
    const q = queryOf(request);
    const { page, more } = selectFlavors(await ops.flavors(), q, isAdmin(ctx));
    const b = base(request);
    const out: Record<string, unknown> = {
      flavors: page.map((f) => (detail ? flavorView(b, f) : flavorSummary(b, f))),
    };
    const last = page[page.length - 1];
    if (last && more) {
      const next = new URLSearchParams({ ...q, marker: last.id });
      out.flavors_links = [
        { rel: 'next', href: `${b}/v2.1/flavors${detail ? '/detail' : ''}?${next}` },
      ];
    }
    return out;
  };
  app.get('/v2.1/flavors', (request) => listFlavors(request, false));
  app.get('/v2.1/flavors/detail', (request) => listFlavors(request, true));
  app.get<{ Params: { ref: string } }>('/v2.1/flavors/:ref', async (request) => {
    await caller(request);
    const f = await flavorByRef(request.params.ref);
    if (!f)
      throw notFound(
        'flavor',
        request.params.ref,
        `Flavor ${request.params.ref} could not be found.`,
      );
    return { flavor: flavorView(base(request), f) };
  });

  // Flavors carry no extra specs here; clients read them with every listing.
  app.get<{ Params: { ref: string } }>('/v2.1/flavors/:ref/os-extra_specs', async (request) => {
    await caller(request);
    const ref = request.params.ref;
    if (!(await flavorByRef(ref)))
      throw notFound('flavor', ref, `Flavor ${ref} could not be found.`);
    return { extra_specs: {} };
  });
}
