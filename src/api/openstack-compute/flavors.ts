// Flavors: list and detail (filters, sorting, paging), show by id or name; admins create,
// describe (2.55) and delete them, set their extra specs (shown in the flavor from 2.61) and
// give projects access to private ones (os-flavor-access). A caller sees the public flavors
// and the private ones its project has access to.
import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { InstanceOperations } from '../../compute/index.js';
import { isAdmin, type RequestContext } from '../../context.js';
import type { FlavorRow } from '../../db/index.js';
import { invalid, notFound } from '../../errors.js';
import {
  badRequest,
  flag,
  member,
  name as checkedName,
  objectOf,
  onlyKeys,
  wholeNumber as checkedNumber,
} from './admin-input.js';
import { atLeast, type Microversion } from './microversion.js';
import { queryOf, type RouteDeps } from './routes.js';
import { resourceLinks } from './views.js';

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
  description: (f) => f.description ?? '',
  disabled: () => 0,
  ephemeral_gb: (f) => Number(f.ephemeralGb),
  rxtx_factor: (f) => Number(f.rxtxFactor),
  swap: (f) => Number(f.swapMb),
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
  // Others see the public flavors and the private ones their project may use (the listing
  // handed in holds just those); only admins filter by is_public.
  if (!admin) isPublic = undefined;
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

/** The largest number a flavor's sizes may be (the Compute API's database limit). */
const SIZE_MAX = 2147483647;
const FLAVOR_ID = /^(?! )[a-zA-Z0-9. _-]+(?<! )$/;
const SPEC_KEY = /^[a-zA-Z0-9-_:. ]{1,255}$/;

export function flavorSummary(base: string, f: FlavorRow, v: Microversion) {
  return {
    id: f.id,
    name: f.name,
    ...(atLeast(v, 55) ? { description: f.description } : {}),
    links: resourceLinks(base, `flavors/${f.id}`),
  };
}

/** A flavor in the fields of the microversion: 2.55 adds description, 2.61 extra specs. */
export function flavorView(
  base: string,
  f: FlavorRow,
  v: Microversion,
  extraSpecs: Record<string, string> | undefined,
) {
  const swap = Number(f.swapMb);
  return {
    ...flavorSummary(base, f, v),
    ram: Number(f.memoryMb),
    vcpus: f.vcpus,
    disk: Number(f.diskGb),
    'OS-FLV-EXT-DATA:ephemeral': Number(f.ephemeralGb),
    'OS-FLV-DISABLED:disabled': false,
    // No swap is "" through 2.74 and 0 from 2.75.
    swap: swap === 0 && !atLeast(v, 75) ? '' : swap,
    rxtx_factor: Number(f.rxtxFactor),
    'os-flavor-access:is_public': f.isPublic === 1,
    ...(atLeast(v, 61) ? { extra_specs: extraSpecs ?? {} } : {}),
  };
}

/** A flavor-create body, checked (the fields of the microversion). */
function parseCreateFlavor(body: unknown, v: Microversion) {
  const f = member(body, 'flavor');
  onlyKeys(
    f,
    [
      'name',
      'id',
      'ram',
      'vcpus',
      'disk',
      'OS-FLV-EXT-DATA:ephemeral',
      'swap',
      'rxtx_factor',
      'os-flavor-access:is_public',
      ...(atLeast(v, 55) ? ['description'] : []),
    ],
    'flavor',
  );
  for (const required of ['name', 'ram', 'vcpus', 'disk']) {
    if (!(required in f)) throw badRequest(`Invalid input: '${required}' is a required property.`);
  }
  let id: string = randomUUID();
  if (f.id !== undefined && f.id !== null) {
    // Flavor ids and names are kept in at most 64 characters here (the reference allows 255).
    if (typeof f.id !== 'string' || f.id.length > 64 || !FLAVOR_ID.test(f.id)) {
      throw badRequest(
        `Invalid input for field/attribute id. Value: ${JSON.stringify(f.id)}. It must be letters, digits, '.', '_', '-' and inner spaces, at most 64.`,
      );
    }
    id = f.id;
  }
  let rxtxFactor = 1;
  if (f.rxtx_factor !== undefined) {
    const n = typeof f.rxtx_factor === 'string' ? Number(f.rxtx_factor) : f.rxtx_factor;
    if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || n > 3.40282e38) {
      throw badRequest(
        'Invalid input for field/attribute rxtx_factor. It must be a positive number.',
      );
    }
    rxtxFactor = n;
  }
  let description: string | null = null;
  if (f.description !== undefined && f.description !== null) {
    description = checkedDescription(f.description);
  }
  return {
    id,
    name: checkedName(f.name, 'name', 64),
    memoryMb: checkedNumber(f.ram, 'ram', 1, SIZE_MAX),
    vcpus: checkedNumber(f.vcpus, 'vcpus', 1, SIZE_MAX),
    diskGb: checkedNumber(f.disk, 'disk', 0, SIZE_MAX),
    ephemeralGb:
      f['OS-FLV-EXT-DATA:ephemeral'] === undefined
        ? 0
        : checkedNumber(f['OS-FLV-EXT-DATA:ephemeral'], 'OS-FLV-EXT-DATA:ephemeral', 0, SIZE_MAX),
    swapMb: f.swap === undefined || f.swap === '' ? 0 : checkedNumber(f.swap, 'swap', 0, SIZE_MAX),
    rxtxFactor,
    isPublic:
      f['os-flavor-access:is_public'] === undefined
        ? true
        : flag(f['os-flavor-access:is_public'], 'os-flavor-access:is_public'),
    description,
  };
}

function checkedDescription(d: unknown): string {
  if (
    typeof d !== 'string' ||
    d.length > 65535 ||
    [...d].some((c) => {
      const code = c.charCodeAt(0);
      // Control characters other than tab, newline and carriage return.
      return (code < 32 && !'\t\n\r'.includes(c)) || code === 127;
    })
  ) {
    throw badRequest(
      'Invalid input for field/attribute description. It must be printable text of at most 65535 characters.',
    );
  }
  return d;
}

/** Extra specs as a body gives them: keys by the documented pattern, values up to 255. */
function parseExtraSpecs(o: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(o)) {
    if (!SPEC_KEY.test(key)) {
      throw badRequest(`Invalid input for field/attribute extra_specs. Key '${key}' is not valid.`);
    }
    const text =
      typeof value === 'string'
        ? value
        : typeof value === 'number' || typeof value === 'boolean'
          ? String(value)
          : undefined;
    if (text === undefined || text.length > 255) {
      throw badRequest(
        `Invalid input for field/attribute extra_specs. The value of '${key}' must be a string of at most 255 characters.`,
      );
    }
    out[key] = text;
  }
  return out;
}

export function flavorRoutes({ app, services, caller, base }: RouteDeps): void {
  const flavors = services.flavors;
  /** One flavor in the fields of the microversion, with its extra specs when they show. */
  const oneView = async (request: FastifyRequest, f: FlavorRow) => {
    const v = request.microversion;
    const specs = atLeast(v, 61) ? (await flavors.extraSpecs([f.id])).get(f.id) : undefined;
    return { flavor: flavorView(base(request), f, v, specs) };
  };
  const visible = (ctx: RequestContext, ref: string) => flavors.get(ctx, ref);

  const listFlavors = async (request: FastifyRequest, detail: boolean) => {
    const ctx = await caller(request);
    const q = queryOf(request);
    const v = request.microversion;
    const { page, more } = selectFlavors(await flavors.list(ctx), q, isAdmin(ctx));
    const b = base(request);
    const specs =
      detail && atLeast(v, 61) ? await flavors.extraSpecs(page.map((f) => f.id)) : undefined;
    const out: Record<string, unknown> = {
      flavors: page.map((f) =>
        detail ? flavorView(b, f, v, specs?.get(f.id)) : flavorSummary(b, f, v),
      ),
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
    const ctx = await caller(request);
    return oneView(request, await visible(ctx, request.params.ref));
  });

  app.post('/v2.1/flavors', async (request) => {
    const ctx = await caller(request);
    const f = await flavors.create(ctx, parseCreateFlavor(request.body, request.microversion));
    return oneView(request, f);
  });

  // Only the description changes, from 2.55.
  app.put<{ Params: { ref: string } }>('/v2.1/flavors/:ref', async (request) => {
    const ctx = await caller(request);
    if (!atLeast(request.microversion, 55)) {
      throw notFound('flavor', request.params.ref, 'Updating a flavor needs microversion 2.55.');
    }
    const f = member(request.body, 'flavor');
    onlyKeys(f, ['description'], 'flavor');
    if (!('description' in f))
      throw badRequest("Invalid input: 'description' is a required property.");
    const description = f.description === null ? null : checkedDescription(f.description);
    return oneView(request, await flavors.describe(ctx, request.params.ref, description));
  });

  app.delete<{ Params: { ref: string } }>('/v2.1/flavors/:ref', async (request, reply) => {
    const ctx = await caller(request);
    await flavors.delete(ctx, request.params.ref);
    return reply.code(202).send();
  });

  // Extra specs: every caller reads those of the flavors it sees; admins change them.
  app.get<{ Params: { ref: string } }>('/v2.1/flavors/:ref/os-extra_specs', async (request) => {
    const ctx = await caller(request);
    const f = await visible(ctx, request.params.ref);
    return { extra_specs: (await flavors.extraSpecs([f.id])).get(f.id) ?? {} };
  });
  app.post<{ Params: { ref: string } }>('/v2.1/flavors/:ref/os-extra_specs', async (request) => {
    const ctx = await caller(request);
    const specs = parseExtraSpecs(member(request.body, 'extra_specs'));
    await flavors.setExtraSpecs(ctx, request.params.ref, specs);
    return { extra_specs: specs };
  });
  app.get<{ Params: { ref: string; key: string } }>(
    '/v2.1/flavors/:ref/os-extra_specs/:key',
    async (request) => {
      const ctx = await caller(request);
      const { ref, key } = request.params;
      const f = await visible(ctx, ref);
      const value = (await flavors.extraSpecs([f.id])).get(f.id)?.[key];
      if (value === undefined) {
        throw notFound('flavor', ref, `Flavor ${ref} has no extra specs with key ${key}.`);
      }
      return { [key]: value };
    },
  );
  app.put<{ Params: { ref: string; key: string } }>(
    '/v2.1/flavors/:ref/os-extra_specs/:key',
    async (request) => {
      const ctx = await caller(request);
      const { ref, key } = request.params;
      const body = objectOf(request.body ?? {}, 'body');
      if (Object.keys(body).length !== 1 || !(key in body)) {
        throw badRequest(
          'Request body and URI mismatch: the body must hold just the key of the URI.',
        );
      }
      const specs = parseExtraSpecs(body);
      await flavors.setExtraSpecs(ctx, ref, specs);
      return specs;
    },
  );
  app.delete<{ Params: { ref: string; key: string } }>(
    '/v2.1/flavors/:ref/os-extra_specs/:key',
    async (request, reply) => {
      const ctx = await caller(request);
      await flavors.deleteExtraSpec(ctx, request.params.ref, request.params.key);
      return reply.code(200).send();
    },
  );

  // Flavor access: which projects may use a private flavor (admins only).
  const accessView = (id: string, projects: string[]) => ({
    flavor_access: projects.map((p) => ({ flavor_id: id, tenant_id: p })),
  });
  app.get<{ Params: { ref: string } }>('/v2.1/flavors/:ref/os-flavor-access', async (request) => {
    const ctx = await caller(request);
    const id = request.params.ref;
    return accessView(id, await flavors.accessList(ctx, id));
  });
  app.post<{ Params: { ref: string } }>('/v2.1/flavors/:ref/action', async (request) => {
    const ctx = await caller(request);
    const id = request.params.ref;
    const body = objectOf(request.body ?? {}, 'body');
    const [action, ...others] = Object.keys(body);
    if (others.length > 0 || (action !== 'addTenantAccess' && action !== 'removeTenantAccess')) {
      throw badRequest('The flavor action must be one of addTenantAccess or removeTenantAccess.');
    }
    const args = objectOf(body[action], action);
    onlyKeys(args, ['tenant'], action);
    const tenant = checkedName(args.tenant, 'tenant', 64);
    const projects =
      action === 'addTenantAccess'
        ? await flavors.addAccess(ctx, id, tenant)
        : await flavors.removeAccess(ctx, id, tenant);
    return accessView(id, projects);
  });
}
