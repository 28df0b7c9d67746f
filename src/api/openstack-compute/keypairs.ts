// Key pairs: list, create (with the private key) or import, show and delete, each in the
// fields of the microversion asked for: 2.1 lists name, public key and fingerprint, create adds
// the user, show the id and times; 2.2 adds the key type everywhere, 201 on create and 204
// on delete.
import type { RequestContext } from '../../context.js';
import { notFound } from '../../errors.js';
import { atLeast } from './microversion.js';
import { parseCreateKeypair } from './requests.js';
import type { RouteDeps } from './routes.js';
import { keypairDetail, keypairSummary, keypairView } from './views.js';

export function keypairRoutes({ app, services, caller }: RouteDeps): void {
  const { keypairs } = services;
  app.get('/v2.1/os-keypairs', async (request) => {
    const ctx = await caller(request);
    // An admin lists its own project's key pairs here, as users do.
    const rows = (await keypairs.list(ctx)).filter((k) => k.projectId === ctx.projectId);
    return {
      keypairs: rows.map((k) => ({ keypair: keypairSummary(k, request.microversion) })),
    };
  });
  app.post('/v2.1/os-keypairs', async (request, reply) => {
    const ctx = await caller(request);
    const v = request.microversion;
    const req = parseCreateKeypair(request.body, atLeast(v, 2));
    reply.code(atLeast(v, 2) ? 201 : 200);
    if (req.publicKey !== undefined) {
      const row = await keypairs.import(ctx, {
        name: req.name,
        material: Buffer.from(req.publicKey, 'utf8'),
      });
      return { keypair: keypairView(row, v) };
    }
    const { keypair, privateKey } = await keypairs.create(ctx, { name: req.name, keyType: 'rsa' });
    return { keypair: keypairView(keypair, v, privateKey) };
  });
  const findKeypair = async (ctx: RequestContext, name: string) => {
    const row = (await keypairs.list(ctx, { names: [name] }))[0];
    if (!row) throw notFound('keypair', name, `Keypair ${name} not found for user ${ctx.userId}.`);
    return row;
  };
  app.get<{ Params: { name: string } }>('/v2.1/os-keypairs/:name', async (request) => {
    const ctx = await caller(request);
    return {
      keypair: keypairDetail(await findKeypair(ctx, request.params.name), request.microversion),
    };
  });
  app.delete<{ Params: { name: string } }>('/v2.1/os-keypairs/:name', async (request, reply) => {
    const ctx = await caller(request);
    await findKeypair(ctx, request.params.name);
    await keypairs.delete(ctx, { name: request.params.name });
    reply.code(atLeast(request.microversion, 2) ? 204 : 202).send();
  });
}
