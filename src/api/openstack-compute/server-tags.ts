// A server's tags (2.26 and later): list, replace all, delete all; and one tag: check, add,
// delete. The Compute API's tags are plain strings (1-60 characters, no '/' or ','), at most
// 50 a server. They are not EC2's tags: those are key/value pairs (the server's name is one of
// them, `Name`), which EC2 filters and shows, so a string tag has no faithful place among them;
// each API keeps its own, and neither shows the other's. Below 2.26 the routes are not there (404).
import type { FastifyRequest } from 'fastify';
import { invalid, notFound } from '../../errors.js';
import { atLeast } from './microversion.js';
import { checkTag, checkTags } from './requests.js';
import type { RouteDeps } from './routes.js';
import { findServer } from './servers.js';

type ServerParams = { Params: { id: string } };
type TagParams = { Params: { id: string; tag: string } };

/** The tags routes exist from 2.26: below, the Compute API answers 404. */
function requireTags(request: FastifyRequest): void {
  if (!atLeast(request.microversion, 26)) {
    throw notFound(
      'instance',
      request.url.split('?')[0] ?? '',
      'Server tags are part of the Compute API from microversion 2.26.',
    );
  }
}

export function serverTagRoutes({ app, services, caller, base }: RouteDeps): void {
  const ops = services.instances;
  const tagsOf = async (id: string) => (await ops.serverDetailsOf([id])).get(id)?.tags ?? [];

  app.get<ServerParams>('/v2.1/servers/:id/tags', async (request) => {
    requireTags(request);
    const ctx = await caller(request);
    const row = await findServer(ops, ctx, request.params.id);
    return { tags: await tagsOf(row.id) };
  });
  app.put<ServerParams>('/v2.1/servers/:id/tags', async (request) => {
    requireTags(request);
    const ctx = await caller(request);
    const body = request.body as Record<string, unknown> | undefined;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw invalid('Invalid input: the request body must be an object.', { resource: 'request' });
    }
    const extra = Object.keys(body).filter((k) => k !== 'tags');
    if (extra.length > 0) {
      throw invalid(
        `Invalid input for the request body: additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')}).`,
        { resource: 'request' },
      );
    }
    if (body.tags === undefined) {
      throw invalid("Invalid input: 'tags' is a required property.", { resource: 'request' });
    }
    const tags = checkTags(body.tags);
    const row = await findServer(ops, ctx, request.params.id);
    return { tags: await ops.changeServerTags(ctx, row, { kind: 'replace', tags }) };
  });
  app.delete<ServerParams>('/v2.1/servers/:id/tags', async (request, reply) => {
    requireTags(request);
    const ctx = await caller(request);
    const row = await findServer(ops, ctx, request.params.id);
    await ops.changeServerTags(ctx, row, { kind: 'clear' });
    return reply.code(204).send();
  });

  app.get<TagParams>('/v2.1/servers/:id/tags/:tag', async (request, reply) => {
    requireTags(request);
    const ctx = await caller(request);
    const row = await findServer(ops, ctx, request.params.id);
    const { tag } = request.params;
    if (!(await tagsOf(row.id)).includes(tag)) {
      throw notFound('tags', tag, `Tag ${tag} could not be found.`);
    }
    return reply.code(204).send();
  });
  // Adding answers 201 with the tag's URL, or 204 when the server already had it.
  app.put<TagParams>('/v2.1/servers/:id/tags/:tag', async (request, reply) => {
    requireTags(request);
    const ctx = await caller(request);
    const tag = checkTag(request.params.tag);
    const row = await findServer(ops, ctx, request.params.id);
    const had = (await tagsOf(row.id)).includes(tag);
    await ops.changeServerTags(ctx, row, { kind: 'add', tag });
    if (had) return reply.code(204).send();
    return reply
      .code(201)
      .header('location', `${base(request)}/v2.1/servers/${row.id}/tags/${encodeURIComponent(tag)}`)
      .send();
  });
  app.delete<TagParams>('/v2.1/servers/:id/tags/:tag', async (request, reply) => {
    requireTags(request);
    const ctx = await caller(request);
    const row = await findServer(ops, ctx, request.params.id);
    await ops.changeServerTags(ctx, row, { kind: 'remove', tag: request.params.tag });
    return reply.code(204).send();
  });
}
