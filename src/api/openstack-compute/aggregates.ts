// Host aggregates (os-aggregates, admins only): list, create, show, update, delete, and the
// actions add_host, remove_host and set_metadata. The `availability_zone` of an aggregate is
// its metadata key of that name: the zone its hosts are in, for the zone listings and for the
// scheduler. 2.41 adds the aggregate's UUID.
import type { Aggregate } from '../../db/index.js';
import { notFound } from '../../errors.js';
import { badRequest, member, name as checkedName, objectOf, onlyKeys } from './admin-input.js';
import { atLeast, type Microversion } from './microversion.js';
import type { RouteDeps } from './routes.js';
import { usageTime } from './views.js';

const ZONE = 'availability_zone';

function aggregateView(a: Aggregate, v: Microversion, full = true) {
  return {
    availability_zone: a.metadata[ZONE] ?? null,
    created_at: usageTime(a.createdAt),
    deleted: false,
    deleted_at: null,
    ...(full ? { hosts: a.hosts, metadata: a.metadata } : {}),
    id: a.id,
    name: a.name,
    updated_at: usageTime(a.updatedAt),
    ...(atLeast(v, 41) ? { uuid: a.uuid } : {}),
  };
}

/** An aggregate id from the path: a whole number. */
function aggregateId(text: string): number {
  if (!/^\d{1,15}$/.test(text)) throw badRequest(`Invalid aggregate id ${text}.`);
  const id = Number(text);
  // Past the database's integers no aggregate can have it.
  if (id > 2147483647) throw notFound('aggregate', text, `Aggregate ${text} could not be found.`);
  return id;
}

/** A zone name: as a name, and without ':' (the Compute API forbids it in zones). */
function zoneName(v: unknown): string | null {
  if (v === null) return null;
  const z = checkedName(v, ZONE);
  if (z.includes(':'))
    throw badRequest(`Invalid input for field/attribute ${ZONE}: ':' is not allowed.`);
  return z;
}

export function aggregateRoutes({ app, services, caller }: RouteDeps): void {
  const admin = services.hostAdmin;

  app.get('/v2.1/os-aggregates', async (request) => {
    const ctx = await caller(request);
    return {
      aggregates: (await admin.aggregates(ctx)).map((a) => aggregateView(a, request.microversion)),
    };
  });

  app.post('/v2.1/os-aggregates', async (request) => {
    const ctx = await caller(request);
    const body = member(request.body, 'aggregate');
    onlyKeys(body, ['name', ZONE], 'aggregate');
    if (!('name' in body)) throw badRequest("Invalid input: 'name' is a required property.");
    const a = await admin.createAggregate(
      ctx,
      checkedName(body.name, 'name'),
      body[ZONE] === undefined ? null : zoneName(body[ZONE]),
    );
    return { aggregate: aggregateView(a, request.microversion, false) };
  });

  app.get<{ Params: { id: string } }>('/v2.1/os-aggregates/:id', async (request) => {
    const ctx = await caller(request);
    const a = await admin.aggregate(ctx, aggregateId(request.params.id));
    return { aggregate: aggregateView(a, request.microversion) };
  });

  app.put<{ Params: { id: string } }>('/v2.1/os-aggregates/:id', async (request) => {
    const ctx = await caller(request);
    const id = aggregateId(request.params.id);
    const body = member(request.body, 'aggregate');
    onlyKeys(body, ['name', ZONE], 'aggregate');
    if (Object.keys(body).length === 0) {
      throw badRequest('Invalid input for aggregate: name or availability_zone is required.');
    }
    const a = await admin.updateAggregate(ctx, id, {
      ...(body.name !== undefined ? { name: checkedName(body.name, 'name') } : {}),
      ...(body[ZONE] !== undefined ? { zone: zoneName(body[ZONE]) } : {}),
    });
    return { aggregate: aggregateView(a, request.microversion) };
  });

  app.delete<{ Params: { id: string } }>('/v2.1/os-aggregates/:id', async (request, reply) => {
    const ctx = await caller(request);
    await admin.deleteAggregate(ctx, aggregateId(request.params.id));
    return reply.code(200).send();
  });

  app.post<{ Params: { id: string } }>('/v2.1/os-aggregates/:id/action', async (request) => {
    const ctx = await caller(request);
    const id = aggregateId(request.params.id);
    const body = objectOf(request.body ?? {}, 'body');
    const [action, ...others] = Object.keys(body);
    if (others.length > 0 || !['add_host', 'remove_host', 'set_metadata'].includes(action ?? '')) {
      throw badRequest(
        'The aggregate action must be one of add_host, remove_host or set_metadata.',
      );
    }
    const args = objectOf(body[action as string], action as string);
    let a: Aggregate;
    if (action === 'set_metadata') {
      onlyKeys(args, ['metadata'], action);
      const meta = objectOf(args.metadata, 'metadata');
      const changes: Record<string, string | null> = {};
      for (const [key, value] of Object.entries(meta)) {
        checkedName(key, 'metadata key');
        if (value === null) changes[key] = null;
        else if (key === ZONE) changes[key] = zoneName(value);
        else if (typeof value === 'string' && value.length <= 255) changes[key] = value;
        else
          throw badRequest(
            `Invalid input for field/attribute metadata. The value of ${key} must be a string of at most 255 characters or null.`,
          );
      }
      a = await admin.setAggregateMetadata(ctx, id, changes);
    } else {
      onlyKeys(args, ['host'], action as string);
      const host = checkedName(args.host, 'host');
      a =
        action === 'add_host'
          ? await admin.addHost(ctx, id, host)
          : await admin.removeHost(ctx, id, host);
    }
    return { aggregate: aggregateView(a, request.microversion) };
  });
}
