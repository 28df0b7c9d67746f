// Key pairs: list, create (with the private key) or import, show and delete, each in the
// fields of the microversion asked for: 2.1 lists name, public key and fingerprint, create adds
// the user, show the id and times; 2.2 adds the key type everywhere, 201 on create and 204
// on delete; 2.10 lets a request name the user (`user_id`), 2.35 pages the list (`limit`,
// `marker`, `keypairs_links`), and from 2.92 the public key must be given (no key is
// generated on the server).
//
// Key pairs here belong to the caller's project, as EC2's do, not to a user across projects:
// naming one's own user is accepted, another user's is refused (403 for members, as the
// Compute API's policy does; 400 for admins, as acting for another user is not supported).
import type { FastifyRequest } from 'fastify';
import { isAdmin, type RequestContext } from '../../context.js';
import { invalid, notFound, StratusError } from '../../errors.js';
import { atLeast, type Microversion } from './microversion.js';
import { parseCreateKeypair } from './requests.js';
import { queryOf, type RouteDeps } from './routes.js';
import { keypairDetail, keypairSummary, keypairView } from './views.js';

/** Largest page a key pair listing returns, whatever `limit` asks. */
const MAX_LIMIT = 1000;

/** Refuses a `user_id` other than the caller's own (see the header). */
function checkUser(ctx: RequestContext, userId: string | undefined, v: Microversion): void {
  if (userId === undefined || userId === ctx.userId) return;
  if (!atLeast(v, 10)) return; // before 2.10 the parameter means nothing and is ignored
  if (!isAdmin(ctx)) {
    throw new StratusError(
      'forbidden',
      `Policy doesn't allow os_compute_api:os-keypairs to be performed for user ${userId}.`,
      { resource: 'keypair' },
    );
  }
  throw invalid(
    `Key pairs belong to projects here; acting for another user (${userId}) is not supported.`,
    { resource: 'keypair' },
  );
}

function pageOf(q: Record<string, string>): { limit: number | undefined; marker?: string } {
  let limit: number | undefined;
  if (q.limit !== undefined) {
    if (!/^\d+$/.test(q.limit)) {
      throw invalid(
        `Invalid input for query parameters limit. Value: ${q.limit}. It must be a non-negative integer.`,
        { resource: 'limit' },
      );
    }
    limit = Math.min(Number(q.limit), MAX_LIMIT);
  }
  return { limit, ...(q.marker === undefined ? {} : { marker: q.marker }) };
}

export function keypairRoutes({ app, services, caller, base }: RouteDeps): void {
  const { keypairs } = services;
  app.get('/v2.1/os-keypairs', async (request: FastifyRequest) => {
    const ctx = await caller(request);
    const v = request.microversion;
    const q = queryOf(request);
    checkUser(ctx, q.user_id, v);
    // An admin lists its own project's key pairs here, as users do.
    let rows = (await keypairs.list(ctx))
      .filter((k) => k.projectId === ctx.projectId)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let more = false;
    if (atLeast(v, 35)) {
      const { limit, marker } = pageOf(q);
      if (marker !== undefined) {
        const at = rows.findIndex((k) => k.name === marker);
        if (at < 0) {
          throw invalid(`Marker ${marker} could not be found.`, { resource: 'marker' });
        }
        rows = rows.slice(at + 1);
      }
      if (limit !== undefined && rows.length > limit) {
        rows = rows.slice(0, limit);
        more = true;
      }
    }
    const out: Record<string, unknown> = {
      keypairs: rows.map((k) => ({ keypair: keypairSummary(k, v) })),
    };
    const last = rows[rows.length - 1];
    if (more && last) {
      const next = new URLSearchParams({ ...q, marker: last.name });
      out.keypairs_links = [{ rel: 'next', href: `${base(request)}/v2.1/os-keypairs?${next}` }];
    }
    return out;
  });
  app.post('/v2.1/os-keypairs', async (request, reply) => {
    const ctx = await caller(request);
    const v = request.microversion;
    const req = parseCreateKeypair(request.body, v);
    checkUser(ctx, req.userId, v);
    if (req.publicKey !== undefined) {
      const row = await keypairs.import(ctx, {
        name: req.name,
        material: Buffer.from(req.publicKey, 'utf8'),
      });
      reply.code(atLeast(v, 2) ? 201 : 200);
      return { keypair: keypairView(row, v) };
    }
    const { keypair, privateKey } = await keypairs.create(ctx, { name: req.name, keyType: 'rsa' });
    reply.code(atLeast(v, 2) ? 201 : 200);
    return { keypair: keypairView(keypair, v, privateKey) };
  });
  const findKeypair = async (request: FastifyRequest, name: string) => {
    const ctx = await caller(request);
    checkUser(ctx, queryOf(request).user_id, request.microversion);
    const row = (await keypairs.list(ctx, { names: [name] }))[0];
    if (!row) throw notFound('keypair', name, `Keypair ${name} not found for user ${ctx.userId}.`);
    return { ctx, row };
  };
  app.get<{ Params: { name: string } }>('/v2.1/os-keypairs/:name', async (request) => {
    const { row } = await findKeypair(request, request.params.name);
    return { keypair: keypairDetail(row, request.microversion) };
  });
  app.delete<{ Params: { name: string } }>('/v2.1/os-keypairs/:name', async (request, reply) => {
    const { ctx } = await findKeypair(request, request.params.name);
    await keypairs.delete(ctx, { name: request.params.name });
    reply.code(atLeast(request.microversion, 2) ? 204 : 202).send();
  });
}
