// Flavors: list, detail, show by id or name, and their (empty) extra specs.
import type { FastifyRequest } from 'fastify';
import type { InstanceOperations } from '../../compute/index.js';
import { isAdmin, type RequestContext } from '../../context.js';
import type { FlavorRow } from '../../db/index.js';
import { notFound } from '../../errors.js';
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

export function flavorRoutes({ app, services, caller, base }: RouteDeps): void {
  const ops = services.instances;
  const flavorByRef = (ref: string) => findFlavor(ops, ref);
  const flavorsShown = async (request: FastifyRequest, ctx: RequestContext) => {
    const q = queryOf(request);
    const all = await ops.flavors();
    // Everyone sees the public flavors; admins may ask for the private ones (is_public=false)
    // or all of them (is_public=none).
    const wanted = isAdmin(ctx) ? (q.is_public ?? 'true').toLowerCase() : 'true';
    return all.filter((f) =>
      wanted === 'none'
        ? true
        : ['false', '0', 'no'].includes(wanted)
          ? f.isPublic !== 1
          : f.isPublic === 1,
    );
  };
  app.get('/v2.1/flavors', async (request) => {
    const ctx = await caller(request);
    return {
      flavors: (await flavorsShown(request, ctx)).map((f) => flavorSummary(base(request), f)),
    };
  });
  app.get('/v2.1/flavors/detail', async (request) => {
    const ctx = await caller(request);
    return { flavors: (await flavorsShown(request, ctx)).map((f) => flavorView(base(request), f)) };
  });
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
