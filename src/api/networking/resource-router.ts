// One generic router for the Networking API's resources: each resource module declares how to
// list, show, create, update and delete its things, and this file gives every one of them the
// same routes (`GET /v2.0/<path>` with filters, sorting, paging and `fields=`, `GET`/`PUT`/
// `DELETE /v2.0/<path>/<id>`, `POST /v2.0/<path>`) and the same body handling.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RequestContext } from '../../context.js';
import type { ApiServices } from '../services.js';
import { resource, type Body } from './body.js';
import { listing, pickFields } from './listing.js';

export type Item = Record<string, unknown>;
export type Query = Record<string, string | string[] | undefined>;
export type IdParams = { Params: { id: string } };

/** What every route module of the Networking API is given. */
export interface NetworkingRoutes {
  app: FastifyInstance;
  services: ApiServices;
  /** The caller's context from its token (401 without one). */
  caller(request: FastifyRequest): Promise<RequestContext>;
  /** The endpoint's base URL as the caller reached it, for links. */
  base(request: FastifyRequest): string;
  /** The availability zone networks and routers are shown in. */
  zone: string;
}

/** A body-taking operation: the attributes its resource object may carry, and the work. */
export interface BodyOperation<A extends unknown[]> {
  keys: readonly string[];
  run(ctx: RequestContext, ...args: [...A, Body]): Promise<Item>;
}

export interface ResourceDefinition {
  /** The URL segment after `/v2.0/` (`networks`, `security-groups`). */
  path: string;
  /** The key of one item in bodies (`network`, `security_group`). */
  member: string;
  /** The key of a listing (`networks`, `security_groups`). */
  collection: string;
  /** The attributes a listing may filter and sort on. */
  attributes: readonly string[];
  /** Every item the caller may see, as the API shows them. */
  list(ctx: RequestContext): Promise<Item[]>;
  /** A listing's query as the generic filters should see it (some resources take keys away). */
  listQuery?(query: Query): { query: Query; items?: (items: Item[]) => Item[] };
  /** One item; a missing or invisible one throws not found. */
  show(ctx: RequestContext, id: string): Promise<Item>;
  create?: BodyOperation<[]>;
  update?: BodyOperation<[id: string]>;
  remove?(ctx: RequestContext, id: string): Promise<void>;
}

/** Routes one resource's collection and members. */
export function resourceRoutes(routes: NetworkingRoutes, def: ResourceDefinition): void {
  const { app, caller, base } = routes;
  const url = `/v2.0/${def.path}`;
  const query = (request: FastifyRequest) => (request.query ?? {}) as Query;

  app.get(url, async (request) => {
    const ctx = await caller(request);
    let items = await def.list(ctx);
    let q = query(request);
    if (def.listQuery) {
      const adjusted = def.listQuery(q);
      q = adjusted.query;
      if (adjusted.items) items = adjusted.items(items);
    }
    return listing(items, q, {
      collection: def.collection,
      url: `${base(request)}${url}`,
      attributes: def.attributes,
    });
  });
  app.get<IdParams>(`${url}/:id`, async (request) => {
    const ctx = await caller(request);
    return { [def.member]: pickFields(await def.show(ctx, request.params.id), query(request)) };
  });
  const create = def.create;
  if (create) {
    app.post(url, async (request, reply) => {
      const ctx = await caller(request);
      const b = resource(request.body, def.member, create.keys);
      const item = await create.run(ctx, b);
      reply.code(201);
      return { [def.member]: item };
    });
  }
  const update = def.update;
  if (update) {
    app.put<IdParams>(`${url}/:id`, async (request) => {
      const ctx = await caller(request);
      const b = resource(request.body, def.member, update.keys);
      return { [def.member]: await update.run(ctx, request.params.id, b) };
    });
  }
  const remove = def.remove;
  if (remove) {
    app.delete<IdParams>(`${url}/:id`, async (request, reply) => {
      const ctx = await caller(request);
      await remove(ctx, request.params.id);
      return reply.code(204).send();
    });
  }
}
