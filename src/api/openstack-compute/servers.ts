// Servers: create, list and detail (filters, paging), show and delete. A server is an
// instance: its id the instance's UUID, its name the instance's `Name` tag.
import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { isAdmin, type RequestContext } from '../../context.js';
import type { InstancePageQuery, InstanceRow, StateMatch } from '../../db/index.js';
import { invalid, notFound, StratusError } from '../../errors.js';
import { checkUnlocked, statesWhere, type InstanceOperations } from '../../compute/index.js';
import { MAX_TAGS_PER_RESOURCE } from '../../tags/index.js';
import { findFlavor } from './flavors.js';
import { serverLockFields } from './lifecycle-actions.js';
import { parseCreateServer, parseUpdateServer } from './requests.js';
import { queryOf, type RouteDeps } from './routes.js';
import {
  resourceLinks,
  serverStatus,
  serverSummary,
  serverView,
  type ServerExtras,
} from './views.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The tag that holds a server's name (EC2 shows the same tag as the instance's Name). */
const NAME_TAG = 'Name';
/** Largest page a listing returns, whatever `limit` asks. */
const MAX_LIMIT = 1000;

/** The caller's server with this id; a deleted one is gone (404), as the Compute API shows. */
export async function findServer(
  ops: InstanceOperations,
  ctx: RequestContext,
  id: string,
): Promise<InstanceRow> {
  const row = UUID.test(id)
    ? (await ops.list(ctx, { idPrefixes: [id.toLowerCase()] })).find(
        (r) => r.id === id.toLowerCase() && r.vmState !== 'deleted',
      )
    : undefined;
  if (!row) throw notFound('instance', id, `Instance ${id} could not be found.`);
  return row;
}

export function serverRoutes({ app, services, caller, base }: RouteDeps): void {
  const { instances: ops, tags, addresses, securityGroups: groups } = services;
  const flavorByRef = (ref: string) => findFlavor(ops, ref);
  const extrasOf = async (rows: readonly InstanceRow[]): Promise<Map<string, ServerExtras>> => {
    const ids = rows.map((r) => r.id);
    const [tagRows, groupLinks, fixed, floating, metadata] = await Promise.all([
      tags.of(ids),
      ops.securityGroupsOf(ids),
      addresses.fixedByInstance(ids),
      addresses.floatingByInstance(ids),
      ops.metadataOf(ids),
    ]);
    const groupNames = new Map(
      (await groups.byIds([...new Set([...groupLinks.values()].flat())])).map((g) => [
        g.id,
        g.name,
      ]),
    );
    return new Map(
      rows.map((r) => [
        r.id,
        {
          name: (tagRows.get(r.id) ?? []).find((t) => t.key === NAME_TAG)?.value ?? '',
          securityGroups: (groupLinks.get(r.id) ?? []).flatMap((g) => groupNames.get(g) ?? []),
          // A stopped or deleted server's address may have gone back to the pool.
          fixed:
            fixed.get(r.id) ??
            (r.privateIp
              ? { network: 'private', address: r.privateIp, mac: r.macAddress }
              : undefined),
          floating: floating.get(r.id),
          metadata: metadata.get(r.id) ?? {},
        },
      ]),
    );
  };

  const listServers = async (request: FastifyRequest, detail: boolean) => {
    const ctx = await caller(request);
    const q = queryOf(request);
    const allTenants =
      isAdmin(ctx) &&
      q.all_tenants !== undefined &&
      !['0', 'false', 'False'].includes(q.all_tenants);
    const limit = q.limit === undefined ? MAX_LIMIT : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 0) {
      throw invalid(
        `Invalid input for query parameter limit. Value: ${q.limit}. It must be a non-negative integer.`,
        { resource: 'limit' },
      );
    }
    const wanted = q.status?.toUpperCase();
    const name = q.name === undefined ? undefined : nameFilter(q.name);
    // The query keeps what it can (visibility, status, tenancy, a LIKE that every matching name
    // passes) and pages newest first, as the Compute API lists them; the name's expression
    // itself is checked here, on the rows the query returns.
    const query: Omit<InstancePageQuery, 'projectId' | 'terminatedSince'> & {
      allProjects: boolean;
    } = {
      allProjects: allTenants,
      excludeVmStates: ['deleted'],
      order: 'newest',
      ...(wanted === undefined ? {} : { states: statesShownAs(wanted) }),
      ...(name?.like === undefined
        ? {}
        : { tags: [{ key: { equals: [NAME_TAG] }, value: { like: [name.like] } }] }),
    };
    const keep = async (rows: InstanceRow[]): Promise<InstanceRow[]> => {
      let kept = rows;
      if (wanted !== undefined) {
        kept = kept.filter((r) => serverStatus(r.vmState, r.taskState) === wanted);
      }
      if (name !== undefined) {
        const names = await tags.of(kept.map((r) => r.id));
        kept = kept.filter((r) =>
          name.test((names.get(r.id) ?? []).find((t) => t.key === NAME_TAG)?.value ?? ''),
        );
      }
      return kept;
    };
    let after: InstancePageQuery['after'];
    if (q.marker !== undefined) {
      // The marker must be a server this listing shows.
      const [marker] = (await ops.page(ctx, { ...query, ids: [q.marker], limit: 1 }, keep)).rows;
      if (!marker) throw invalid(`marker [${q.marker}] not found`, { resource: 'marker' });
      after = { createdAt: marker.createdAt, launchIndex: marker.launchIndex, id: marker.id };
    }
    const { rows: page, more } = await ops.page(
      ctx,
      { ...query, after, limit: Math.min(limit, MAX_LIMIT) },
      wanted === undefined && name === undefined ? undefined : keep,
    );
    // Only the page's servers need their names, groups and addresses.
    const extras = await extrasOf(page);
    const b = base(request);
    const out: Record<string, unknown> = {
      servers: page.map((r) => {
        const x = extras.get(r.id) as ServerExtras;
        return detail
          ? { ...serverView(b, r, x, isAdmin(ctx)), ...serverLockFields(r, request.microversion) }
          : serverSummary(b, r, x.name);
      }),
    };
    if (page.length > 0 && more) {
      const next = new URLSearchParams({ ...q, marker: (page[page.length - 1] as InstanceRow).id });
      out.servers_links = [
        { rel: 'next', href: `${b}/v2.1/servers${detail ? '/detail' : ''}?${next}` },
      ];
    }
    return out;
  };
  app.get('/v2.1/servers', (request) => listServers(request, false));
  app.get('/v2.1/servers/detail', (request) => listServers(request, true));

  app.get<{ Params: { id: string } }>('/v2.1/servers/:id', async (request) => {
    const ctx = await caller(request);
    const row = await findServer(ops, ctx, request.params.id);
    const x = (await extrasOf([row])).get(row.id) as ServerExtras;
    return {
      server: {
        ...serverView(base(request), row, x, isAdmin(ctx)),
        ...serverLockFields(row, request.microversion),
      },
    };
  });

  app.post('/v2.1/servers', async (request, reply) => {
    const ctx = await caller(request);
    const req = parseCreateServer(request.body);
    const flavorRef = lastSegment(req.flavorRef);
    const flavor = await flavorByRef(flavorRef);
    if (!flavor)
      throw invalid(`Flavor ${flavorRef} could not be found.`, {
        resource: 'flavor',
        id: flavorRef,
      });
    const imageRef = lastSegment(req.imageRef);
    if (!UUID.test(imageRef))
      throw invalid(`Invalid imageRef provided: ${imageRef}.`, { resource: 'image', id: imageRef });
    // The password is answered once, here; it is not kept (see the README).
    const adminPass = req.adminPass ?? newPassword();
    let reservation;
    try {
      reservation = await ops.run(ctx, {
        imageRef: imageRef.toLowerCase(),
        flavorName: flavor.name,
        minCount: req.minCount,
        maxCount: req.maxCount,
        keyName: req.keyName,
        securityGroupNames: req.securityGroups,
        userData: req.userData,
        availabilityZone: req.availabilityZone,
        metadata: req.metadata,
        accessIpv4: req.accessIpv4,
        accessIpv6: req.accessIpv6,
        groupId: req.group,
        // As the Compute API does, servers no host can take are created in ERROR with the
        // reason as their fault ("No valid host was found"), not refused.
        keepOnNoHost: true,
        // Servers created together are `name-1` ... `name-N`, as the Compute API names them.
        tags: (i, count) => [
          { key: NAME_TAG, value: count > 1 ? `${req.name}-${i + 1}` : req.name },
        ],
      });
    } catch (err) {
      // What the body names and does not exist (image, key pair, security group, zone) makes
      // the request a bad one: 400, as the Compute API answers, not 404.
      if (err instanceof StratusError && err.kind === 'not_found') {
        throw invalid(err.message, { resource: err.resource, id: err.id, cause: err });
      }
      throw err;
    }
    const first = reservation.instances[0] as InstanceRow;
    const b = base(request);
    reply.code(202).header('location', `${b}/v2.1/servers/${first.id}`);
    if (req.returnReservationId) {
      return { reservation_id: `r-${reservation.reservationId.slice(0, 8)}` };
    }
    return {
      server: {
        id: first.id,
        links: resourceLinks(b, `servers/${first.id}`),
        'OS-DCF:diskConfig': 'MANUAL',
        security_groups: (req.securityGroups.length > 0 ? req.securityGroups : ['default']).map(
          (name) => ({ name }),
        ),
        adminPass,
      },
    };
  });

  app.put<{ Params: { id: string } }>('/v2.1/servers/:id', async (request) => {
    const ctx = await caller(request);
    const { name, accessIpv4, accessIpv6 } = parseUpdateServer(request.body);
    let row = await findServer(ops, ctx, request.params.id);
    if (accessIpv4 !== undefined || accessIpv6 !== undefined) {
      await ops.setAccessAddresses(ctx, row, { accessIpv4, accessIpv6 });
      row = await findServer(ops, ctx, row.id);
    }
    if (name !== undefined) {
      // The name is the instance's Name tag; an instance without one may already hold the
      // most tags a resource may have, which makes the request a bad one here (400).
      try {
        await tags.put(
          [{ type: 'instance', id: row.id, projectId: row.projectId, shown: row.id }],
          [{ key: NAME_TAG, value: name }],
        );
      } catch (err) {
        if (err instanceof StratusError && err.kind === 'over_quota') {
          throw invalid(
            `The server already has ${MAX_TAGS_PER_RESOURCE} tags; remove one to give it a name.`,
            { resource: 'instance', id: row.id, cause: err },
          );
        }
        throw err;
      }
    }
    const x = (await extrasOf([row])).get(row.id) as ServerExtras;
    return {
      server: {
        ...serverView(base(request), row, x, isAdmin(ctx)),
        ...serverLockFields(row, request.microversion),
      },
    };
  });

  app.delete<{ Params: { id: string } }>('/v2.1/servers/:id', async (request, reply) => {
    const ctx = await caller(request);
    const row = await findServer(ops, ctx, request.params.id);
    checkUnlocked(ctx, row);
    await ops.terminate(ctx, [row]);
    reply.code(204).send();
  });
}

/** Letters and digits a made-up password is drawn from (no look-alikes such as 0/O, 1/l). */
const PASSWORD_CHARS = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A new server's password when the request gives none: 12 random characters, as Nova's. */
function newPassword(length = 12): string {
  const bytes = randomBytes(length * 2);
  let out = '';
  for (const b of bytes) {
    // Bytes past the last whole multiple of the alphabet would favour its first characters.
    if (b >= 256 - (256 % PASSWORD_CHARS.length)) continue;
    out += PASSWORD_CHARS[b % PASSWORD_CHARS.length];
    if (out.length === length) return out;
  }
  return out + newPassword(length - out.length);
}

/** A reference may be a bare id or a link to the resource: take the last path segment. */
function lastSegment(ref: string): string {
  return ref.includes('/') ? (ref.replace(/\/+$/, '').split('/').pop() ?? ref) : ref;
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

/** The instance states the Compute API shows as `status` (none for an unknown status). */
function statesShownAs(status: string): StateMatch[] {
  return statesWhere((vm, task) => serverStatus(vm, task) === status);
}
