// Server listings (`GET /servers` and `/servers/detail`) with the Compute API's filters,
// paging (`limit`, `marker`, `servers_links`) and sorting (`sort_key`, `sort_dir`), and from
// 2.75 its strict query parameters (an unknown one is a 400). Filters the database can do
// (visibility, state, image, flavor, reservation, zone, key) are in the query; the others
// (name expression, addresses, times, tags) are checked on the rows it returns.
import type { FastifyRequest } from 'fastify';
import { isAdmin } from '../../context.js';
import type { InstancePageQuery, InstanceRow, InstanceTextColumn } from '../../db/index.js';
import { StratusError, invalid } from '../../errors.js';
import { statesWhere } from '../../compute/index.js';
import { atLeast } from './microversion.js';
import { checkTag } from './requests.js';
import { queryOf, type RouteDeps } from './routes.js';
import { NAME_TAG, type ExtrasReader } from './server-extras.js';
import {
  serverHostname,
  serverStatus,
  serverSummary,
  serverView,
  type ServerExtras,
} from './views.js';

/** Largest page a listing returns, whatever `limit` asks. */
const MAX_LIMIT = 1000;

/**
 * The query parameters of a server listing the Compute API reference names (at 2.75 and
 * later, any other is refused). `changes-before` came at 2.66 and `locked` at 2.73.
 */
const LIST_PARAMS = new Set([
  'user_id',
  'project_id',
  'tenant_id',
  'launch_index',
  'image_ref',
  'image',
  'kernel_id',
  'ramdisk_id',
  'hostname',
  'key_name',
  'power_state',
  'vm_state',
  'task_state',
  'host',
  'node',
  'flavor',
  'reservation_id',
  'launched_at',
  'terminated_at',
  'availability_zone',
  'name',
  'display_name',
  'description',
  'created_at',
  'updated_at',
  'config_drive',
  'access_ip_v4',
  'access_ip_v6',
  'auto_disk_config',
  'progress',
  'sort_key',
  'sort_dir',
  'all_tenants',
  'soft_deleted',
  'deleted',
  'status',
  'changes-since',
  'ip',
  'ip6',
  'tag',
  'tags',
  'tags-any',
  'not-tags',
  'not-tags-any',
  'limit',
  'marker',
]);

/** The sort keys honoured, and what each sorts by. */
const SORT_KEYS: Readonly<Record<string, (r: InstanceRow, x: ServerExtras) => string | number>> = {
  created_at: (r) => r.createdAt,
  updated_at: (r) => r.updatedAt,
  launched_at: (r) => r.launchedAt ?? 0,
  terminated_at: (r) => r.terminatedAt ?? 0,
  display_name: (_r, x) => x.name,
  hostname: (_r, x) => serverHostname(x.name, x.details?.hostname),
  uuid: (r) => r.id,
  vm_state: (r) => r.vmState,
  task_state: (r) => r.taskState ?? '',
  power_state: (r) => r.powerState,
  key_name: (r) => r.keyName ?? '',
  availability_zone: (r) => r.availabilityZone,
  user_id: (r) => r.userId,
  project_id: (r) => r.projectId,
  host: (r) => r.host ?? '',
  node: (r) => r.host ?? '',
  image_ref: (r) => r.imageId,
  instance_type_id: (r) => r.flavorId,
  launch_index: (r) => r.launchIndex,
  access_ip_v4: (r) => r.accessIpv4 ?? '',
  access_ip_v6: (r) => r.accessIpv6 ?? '',
  kernel_id: (r) => r.kernelId ?? '',
  ramdisk_id: (r) => r.ramdiskId ?? '',
  locked: (r) => (r.lockedBy === null ? 0 : 1),
  progress: () => 0,
};

/** Every value given for a query parameter (clients repeat `sort_key`, `sort_dir`, `tag`). */
function allOf(request: FastifyRequest, key: string): string[] {
  const v = ((request.query ?? {}) as Record<string, string | string[] | undefined>)[key];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** A time filter (`changes-since`, `changes-before`): ISO 8601, in ms. */
function timeParam(q: Record<string, string>, key: string): number | undefined {
  const v = q[key];
  if (v === undefined) return undefined;
  const ms = /^\d{4}-\d\d-\d\d/.test(v)
    ? Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? v : `${v}Z`)
    : NaN;
  if (Number.isNaN(ms)) {
    throw invalid(`Invalid input for query parameter ${key}. Value: ${v}. It is not a date-time.`, {
      resource: 'parameter',
      id: key,
    });
  }
  return ms;
}

const truthy = (v: string | undefined) =>
  v !== undefined && !['0', 'false', 'f', 'no', 'n', 'off'].includes(v.toLowerCase());

/** A comma-separated tag list of a filter, each checked as a tag. */
function tagList(v: string | undefined, key: string): string[] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').map((t) => checkTag(t, key));
}

export function serverListRoutes(
  { app, services, caller, base }: RouteDeps,
  extrasOf: ExtrasReader,
): void {
  const ops = services.instances;

  const listServers = async (request: FastifyRequest, detail: boolean) => {
    const ctx = await caller(request);
    const v = request.microversion;
    const admin = isAdmin(ctx);
    const q = queryOf(request);
    if (atLeast(v, 75)) {
      const known = (k: string) =>
        LIST_PARAMS.has(k) ||
        (k === 'changes-before' && atLeast(v, 66)) ||
        (k === 'locked' && atLeast(v, 73));
      const unknown = Object.keys(q).filter((k) => !known(k));
      if (unknown.length > 0) {
        throw invalid(
          `Invalid input for query parameters ${unknown.join(', ')}. Additional properties are not allowed.`,
          { resource: 'parameter' },
        );
      }
    }
    const allTenants =
      q.all_tenants !== undefined && (q.all_tenants === '' || truthy(q.all_tenants));
    if (allTenants && !admin) {
      throw new StratusError(
        'forbidden',
        'Policy does not allow listing the servers of every project (all_tenants).',
        { resource: 'instance' },
      );
    }
    const limit = q.limit === undefined ? MAX_LIMIT : Number(q.limit);
    if (!/^\d+$/.test(q.limit ?? '0') || !Number.isInteger(limit) || limit < 0) {
      throw invalid(
        `Invalid input for query parameter limit. Value: ${q.limit}. It must be a non-negative integer.`,
        { resource: 'limit' },
      );
    }
    const since = timeParam(q, 'changes-since');
    const before = atLeast(v, 66) ? timeParam(q, 'changes-before') : undefined;
    if (since !== undefined && before !== undefined && before < since) {
      throw invalid(
        'The value of changes-since must be less than or equal to the value of changes-before.',
        { resource: 'parameter', id: 'changes-before' },
      );
    }
    const sortKeys = allOf(request, 'sort_key');
    const sortDirs = allOf(request, 'sort_dir');
    for (const k of sortKeys) {
      if (!(k in SORT_KEYS)) {
        throw invalid(`Invalid input for query parameter sort_key. Value: ${k}.`, {
          resource: 'parameter',
          id: 'sort_key',
        });
      }
    }
    for (const d of sortDirs) {
      if (d !== 'asc' && d !== 'desc') {
        throw invalid(
          `Invalid input for query parameter sort_dir. Value: ${d}. It must be 'asc' or 'desc'.`,
          { resource: 'parameter', id: 'sort_dir' },
        );
      }
    }
    const wanted = q.status?.toUpperCase();
    const name =
      (q.name ?? q.display_name) === undefined
        ? undefined
        : nameFilter(q.name ?? (q.display_name as string));
    const ip = q.ip === undefined ? undefined : nameFilter(q.ip);
    const ip6 = q.ip6 === undefined ? undefined : nameFilter(q.ip6);
    const tags = atLeast(v, 26)
      ? {
          all: tagList(q.tags ?? q.tag, 'tags'),
          any: tagList(q['tags-any'], 'tags-any'),
          notAll: tagList(q['not-tags'], 'not-tags'),
          notAny: tagList(q['not-tags-any'], 'not-tags-any'),
        }
      : {};
    const lastSegment = (ref: string) => ref.replace(/\/+$/, '').split('/').pop() ?? ref;
    const columns: {
      column: InstanceTextColumn;
      match: { equals?: string[]; prefixes?: string[] };
    }[] = [];
    const image = q.image ?? q.image_ref;
    if (image !== undefined)
      columns.push({ column: 'imageId', match: { equals: [lastSegment(image)] } });
    if (q.flavor !== undefined) {
      columns.push({ column: 'flavorId', match: { equals: [lastSegment(q.flavor)] } });
    }
    if (q.reservation_id !== undefined) {
      // A reservation is shown as `r-` and the first 8 hex digits of the launch's UUID.
      const hex = /^r-([0-9a-f]{8})$/i.exec(q.reservation_id)?.[1]?.toLowerCase();
      columns.push({ column: 'reservationId', match: hex ? { prefixes: [hex] } : {} });
    }
    if (q.availability_zone !== undefined) {
      columns.push({ column: 'availabilityZone', match: { equals: [q.availability_zone] } });
    }
    if (q.key_name !== undefined)
      columns.push({ column: 'keyName', match: { equals: [q.key_name] } });
    // Without all_tenants the project is the caller's, whatever project_id says (as Nova).
    const project = allTenants ? (q.project_id ?? q.tenant_id) : undefined;
    if (project !== undefined) columns.push({ column: 'projectId', match: { equals: [project] } });

    // A listing of changes shows deleted servers too (they changed), as the Compute API does.
    const changes = since !== undefined || before !== undefined;
    const query: Omit<InstancePageQuery, 'projectId' | 'terminatedSince'> & {
      allProjects: boolean;
    } = {
      allProjects: allTenants,
      excludeVmStates: changes && wanted === undefined ? [] : ['deleted'],
      order: 'newest',
      columns,
      ...(wanted === undefined
        ? {}
        : { states: statesWhere((vm, task) => serverStatus(vm, task) === wanted) }),
      ...(name?.like === undefined
        ? {}
        : { tags: [{ key: { equals: [NAME_TAG] }, value: { like: [name.like] } }] }),
    };
    const codeFilters =
      wanted !== undefined ||
      name !== undefined ||
      ip !== undefined ||
      ip6 !== undefined ||
      changes ||
      Object.values(tags).some((t) => t !== undefined) ||
      ['user_id', 'host', 'node', 'hostname', 'vm_state', 'locked'].some((k) => q[k] !== undefined);
    const keep = async (rows: InstanceRow[]): Promise<InstanceRow[]> => {
      let kept = rows.filter(
        (r) =>
          (wanted === undefined || serverStatus(r.vmState, r.taskState) === wanted) &&
          (since === undefined || r.updatedAt >= since) &&
          (before === undefined || r.updatedAt <= before) &&
          (q.user_id === undefined || r.userId === q.user_id) &&
          (q.vm_state === undefined || r.vmState === q.vm_state) &&
          // Host filters are an admin's (ignored for others, as the Compute API ignores them).
          (!admin || q.host === undefined || r.host === q.host) &&
          (!admin || q.node === undefined || r.host === q.node) &&
          (q.locked === undefined || truthy(q.locked) === (r.lockedBy !== null)),
      );
      if (kept.length === 0) return kept;
      const x = await extrasOf(kept);
      kept = kept.filter((r) => {
        const e = x.get(r.id) as ServerExtras;
        const have = new Set(e.details?.tags ?? []);
        const addrs = [e.fixed?.address, e.floating].filter((a): a is string => !!a);
        return (
          (name === undefined || name.test(e.name)) &&
          (ip === undefined || addrs.some((a) => ip.test(a))) &&
          (ip6 === undefined || (r.accessIpv6 !== null && ip6.test(r.accessIpv6))) &&
          (q.hostname === undefined ||
            serverHostname(e.name, e.details?.hostname) === q.hostname) &&
          (tags.all === undefined || tags.all.every((t) => have.has(t))) &&
          (tags.any === undefined || tags.any.some((t) => have.has(t))) &&
          (tags.notAll === undefined || !tags.notAll.every((t) => have.has(t))) &&
          (tags.notAny === undefined || !tags.notAny.some((t) => have.has(t)))
        );
      });
      return kept;
    };

    let page: InstanceRow[];
    let more: boolean;
    const defaultOrder =
      sortKeys.length === 0 ||
      (sortKeys.length === 1 && sortKeys[0] === 'created_at' && (sortDirs[0] ?? 'desc') === 'desc');
    if (defaultOrder) {
      // Newest first, paged by the database.
      let after: InstancePageQuery['after'];
      if (q.marker !== undefined) {
        const [marker] = (await ops.page(ctx, { ...query, ids: [q.marker], limit: 1 }, keep)).rows;
        if (!marker) throw invalid(`marker [${q.marker}] not found`, { resource: 'marker' });
        after = { createdAt: marker.createdAt, launchIndex: marker.launchIndex, id: marker.id };
      }
      ({ rows: page, more } = await ops.page(
        ctx,
        { ...query, after, limit: Math.min(limit, MAX_LIMIT) },
        codeFilters ? keep : undefined,
      ));
    } else {
      // Another order: every matching server, sorted here by the keys asked (then by id, so
      // the order is total and a marker is a place in it).
      const all = (await ops.page(ctx, query, codeFilters ? keep : undefined)).rows;
      const x = await extrasOf(all);
      const keys = sortKeys.map((k, i) => ({
        get: SORT_KEYS[k] as (r: InstanceRow, e: ServerExtras) => string | number,
        sign: (sortDirs[i] ?? sortDirs[0] ?? 'desc') === 'asc' ? 1 : -1,
      }));
      all.sort((a, b) => {
        for (const k of keys) {
          const va = k.get(a, x.get(a.id) as ServerExtras);
          const vb = k.get(b, x.get(b.id) as ServerExtras);
          if (va !== vb) return (va < vb ? -1 : 1) * k.sign;
        }
        return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
      });
      let start = 0;
      if (q.marker !== undefined) {
        const at = all.findIndex((r) => r.id === q.marker);
        if (at < 0) throw invalid(`marker [${q.marker}] not found`, { resource: 'marker' });
        start = at + 1;
      }
      const n = Math.min(limit, MAX_LIMIT);
      page = all.slice(start, start + n);
      more = all.length > start + n;
    }
    // Only the page's servers need their names, groups and addresses.
    const extras = await extrasOf(page, { hostStatus: detail && admin && atLeast(v, 16) });
    const b = base(request);
    const out: Record<string, unknown> = {
      servers: page.map((r) => {
        const x = extras.get(r.id) as ServerExtras;
        return detail ? serverView(b, r, x, { admin, v }) : serverSummary(b, r, x.name);
      }),
    };
    if (page.length > 0 && more) {
      const next = new URLSearchParams();
      for (const [k, value] of Object.entries(
        (request.query ?? {}) as Record<string, string | string[]>,
      )) {
        if (k === 'marker') continue;
        for (const one of Array.isArray(value) ? value : [value]) next.append(k, one);
      }
      next.append('marker', (page[page.length - 1] as InstanceRow).id);
      out.servers_links = [
        { rel: 'next', href: `${b}/v2.1/servers${detail ? '/detail' : ''}?${next}` },
      ];
    }
    return out;
  };
  app.get('/v2.1/servers', (request) => listServers(request, false));
  app.get('/v2.1/servers/detail', (request) => listServers(request, true));
}

/**
 * The `name` filter is a regular expression searched in the name, as the Compute API does.
 * Only its common part is honoured (`^`, `$`, `.` and up to four `*`; every other character
 * is literal), so no pattern can make the search take long. `like` is a SQL pattern every
 * name that matches passes (absent when the expression needs no particular characters).
 */
export function nameFilter(pattern: string): { test: (name: string) => boolean; like?: string } {
  const source = [...pattern]
    .map((c) => ('^$.*'.includes(c) ? c : c.replace(/[\\[\](){}+?|/-]/g, '\\$&')))
    .join('')
    .replace(/\*+/g, '*')
    .replace(/^([\^$]*)\*/, '$1');
  if (pattern.length > 255 || (source.match(/\*/g) ?? []).length > 4) {
    throw invalid('The name filter may be at most 255 characters with at most four *.', {
      resource: 'name',
    });
  }
  let re: RegExp;
  try {
    re = new RegExp(source, 's');
  } catch {
    throw invalid(`The name filter '${pattern}' is not a regular expression this API takes.`, {
      resource: 'name',
    });
  }
  return { test: (name) => re.test(name), like: requiredLike(pattern) };
}

/**
 * A LIKE pattern every name matching `pattern` (as `nameFilter` reads it) passes: the longest
 * run of characters the name must hold in a row (literal ones not made optional by a `*`),
 * anchored at the start when the expression starts with `^` and the run follows it.
 */
function requiredLike(pattern: string): string | undefined {
  const chars = [...pattern];
  let best = { start: -1, text: '' };
  let run = { start: -1, text: '' };
  for (let i = 0; i <= chars.length; i++) {
    const c = chars[i];
    const required = c !== undefined && !'^$.*'.includes(c) && chars[i + 1] !== '*';
    if (required) {
      if (run.start < 0) run = { start: i, text: '' };
      run.text += c;
      continue;
    }
    if (run.text.length > best.text.length) best = run;
    run = { start: -1, text: '' };
  }
  if (best.text === '') return undefined;
  const escaped = best.text.replace(/[\\%_]/g, '\\$&');
  const anchored = best.start === 1 && chars[0] === '^';
  return `${anchored ? '' : '%'}${escaped}%`;
}
