// A server's metadata (`/servers/{id}/metadata`: list, merge with POST, replace with PUT; and
// `/servers/{id}/metadata/{key}`: show, set, delete), in the Compute API's shapes and error
// codes: keys and values of at most 255 characters (400), at most 128 items (403 overLimit), a
// missing key 404, a change while the server is building or busy 409. (The server's security
// groups are in security-groups.ts.)
import { notFound } from '../../errors.js';
import { parseMetadataBody, parseMetadataItem } from './requests.js';
import type { RouteDeps } from './routes.js';
import { findServer } from './servers.js';

type ServerParams = { Params: { id: string } };
type ItemParams = { Params: { id: string; key: string } };

const missingItem = (id: string) => notFound('instance', id, 'Metadata item was not found.');

export function serverMetadataRoutes({ app, services, caller }: RouteDeps): void {
  const ops = services.instances;
  const itemsOf = async (id: string) => (await ops.metadataOf([id])).get(id) ?? {};

  app.get<ServerParams>('/v2.1/servers/:id/metadata', async (request) => {
    const ctx = await caller(request);
    const row = await findServer(ops, ctx, request.params.id);
    return { metadata: await itemsOf(row.id) };
  });
  // POST merges the items given into the server's; PUT replaces them all.
  for (const [method, kind] of [
    ['POST', 'merge'],
    ['PUT', 'replace'],
  ] as const) {
    app.route<ServerParams>({
      method,
      url: '/v2.1/servers/:id/metadata',
      handler: async (request) => {
        const ctx = await caller(request);
        const items = parseMetadataBody(request.body);
        const row = await findServer(ops, ctx, request.params.id);
        return { metadata: await ops.changeMetadata(ctx, row, { kind, items }) };
      },
    });
  }

  app.get<ItemParams>('/v2.1/servers/:id/metadata/:key', async (request) => {
    const ctx = await caller(request);
    const row = await findServer(ops, ctx, request.params.id);
    const { key } = request.params;
    const value = (await itemsOf(row.id))[key];
    if (value === undefined) throw missingItem(row.id);
    return { meta: { [key]: value } };
  });
  app.put<ItemParams>('/v2.1/servers/:id/metadata/:key', async (request) => {
    const ctx = await caller(request);
    const { key } = request.params;
    const value = parseMetadataItem(request.body, key);
    const row = await findServer(ops, ctx, request.params.id);
    await ops.changeMetadata(ctx, row, { kind: 'merge', items: { [key]: value } });
    return { meta: { [key]: value } };
  });
  app.delete<ItemParams>('/v2.1/servers/:id/metadata/:key', async (request, reply) => {
    const ctx = await caller(request);
    const row = await findServer(ops, ctx, request.params.id);
    await ops.changeMetadata(ctx, row, { kind: 'delete', key: request.params.key });
    return reply.code(204).send();
  });
}
