// The OpenStack Image API v2, as far as clouds' clients need it: version discovery, images
// listed (filters, sorting, marker paging) and shown, created queued and given their data by
// a streamed upload (checked like an operator's import), downloaded and deleted; members (the
// projects an image is shared with). The caller is the X-Auth-Token's project; a member sees
// public images, its project's own and those shared with it, an admin all.
// Every failure is `{"error": {"code", "title", "message"}}` with a 4xx; 5xx only for our faults.
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RequestContext } from '../../context.js';
import type { ImageRow } from '../../db/index.js';
import { invalid, notFound, StratusError } from '../../errors.js';
import type { TokenService } from '../../identity/index.js';
import type { ImageService } from '../../image/index.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/index.js';
import { createHttpServer, type HttpsCertificate } from '../http.js';
import { openstackProtocol } from '../openstack/protocol.js';
import { contextFromToken } from '../openstack/token-auth.js';
import { imageApiError, toImageApiError, type ImageApiError } from './errors.js';
import {
  imageIdParam,
  parseAddMember,
  parseCreateImage,
  parseListImages,
  parseMemberStatus,
  type ListImagesQuery,
} from './requests.js';
import { imageListView, imageView, memberListView, memberView, versionsView } from './views.js';

export interface ImageServerOptions {
  logger: Logger;
  metrics: Metrics;
  /** Serve HTTPS with this certificate; plain HTTP without. */
  tls?: HttpsCertificate | undefined;
  tokens: TokenService;
  images: ImageService;
  /** Largest accepted upload in bytes (1 TiB, the Image API's usual cap). */
  maxUploadBytes?: number;
}

const JSON_TYPE = 'application/json';
const TIB = 1024 ** 4;

type IdParams = { Params: { id: string } };
type MemberParams = { Params: { id: string; member: string } };

export function createImageServer(options: ImageServerOptions): FastifyInstance {
  const app = createHttpServer({
    api: 'image',
    logger: options.logger,
    metrics: options.metrics,
    tls: options.tls,
    refusalBody: (status, message) => ({
      type: JSON_TYPE,
      body: JSON.stringify({ error: imageApiError(status, message) }),
    }),
    frameworkErrors: (error, _request, reply) => {
      const code = error.statusCode && error.statusCode < 500 ? error.statusCode : 400;
      const message =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? 'A part of the request path is too long to be an image id.'
          : 'The request URL is malformed.';
      void send(reply, imageApiError(code, message));
    },
  });
  const { tokens, images } = options;
  const maxBytes = options.maxUploadBytes ?? TIB;

  // Image data is streamed to the store as it arrives; the handler gets the request stream
  // (no body limit applies to it, unlike the JSON bodies).
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) =>
    done(null, payload),
  );
  openstackProtocol(app);

  const base = (request: FastifyRequest) =>
    `${request.protocol}://${request.headers.host ?? request.hostname}`;
  const caller = (request: FastifyRequest): Promise<RequestContext> =>
    contextFromToken(tokens, request);

  app.get('/', async (request, reply) => {
    reply.code(300);
    return versionsView(base(request));
  });
  for (const url of ['/versions', '/v2', '/v2/']) {
    app.get(url, async (request) => versionsView(base(request)));
  }

  app.get('/v2/images', async (request) => {
    const ctx = await caller(request);
    const q = parseListImages((request.query ?? {}) as Record<string, unknown>);
    const none = q.status === null || q.isPublic === null || q.hidden === true;
    const listed = none
      ? []
      : await images.list(ctx, {
          name: q.name,
          status: q.status ?? undefined,
          ownerProjectId: q.owner,
          isPublic: q.isPublic ?? undefined,
        });
    // Shared: non-public images with members (to a member, those shared with it).
    const shared = await images.sharedOf(listed.map((r) => r.id));
    const rows =
      q.shared === undefined ? listed : listed.filter((r) => shared.has(r.id) === q.shared);
    const sorted = sortImages(rows, q);
    let start = 0;
    if (q.marker !== undefined) {
      const at = sorted.findIndex((r) => r.id === q.marker);
      if (at < 0) {
        throw invalid(`The marker '${q.marker}' is not an image of this listing.`, {
          resource: 'parameter',
          id: 'marker',
        });
      }
      start = at + 1;
    }
    const page = sorted.slice(start, start + q.limit);
    const more = start + q.limit < sorted.length;
    const last = page[page.length - 1];
    return imageListView(page, shared, more && last ? nextLink(request, last.id, q.limit) : null);
  });

  const view = async (row: ImageRow) =>
    imageView(row, (await images.sharedOf([row.id])).has(row.id));

  app.get<IdParams>('/v2/images/:id', async (request) => {
    const ctx = await caller(request);
    return view(await images.get(ctx, imageIdParam(request.params.id)));
  });

  app.post('/v2/images', async (request, reply) => {
    const ctx = await caller(request);
    const req = parseCreateImage(request.body);
    const row = await images.create(ctx, req);
    reply.code(201).header('location', `${base(request)}/v2/images/${row.id}`);
    return imageView(row);
  });

  // Members: the projects an image is shared with. The owner adds and removes them (pending
  // until the member accepts); each member accepts or rejects its own share. A public image
  // has none, as the Image API rules.
  app.get<IdParams>('/v2/images/:id/members', async (request) => {
    const ctx = await caller(request);
    return memberListView(await images.members(ctx, imageIdParam(request.params.id)));
  });

  app.post<IdParams>('/v2/images/:id/members', async (request) => {
    const ctx = await caller(request);
    const id = imageIdParam(request.params.id);
    const member = parseAddMember(request.body);
    const row = await images.get(ctx, id);
    if (row.isPublic === 1) {
      throw new StratusError('forbidden', 'Public images do not have members.', {
        resource: 'image',
        id,
        reason: 'visibility',
      });
    }
    return memberView(await images.share(ctx, id, member, 'pending', { duplicateIsError: true }));
  });

  app.get<MemberParams>('/v2/images/:id/members/:member', async (request) => {
    const ctx = await caller(request);
    return memberView(
      await images.member(ctx, imageIdParam(request.params.id), request.params.member),
    );
  });

  app.put<MemberParams>('/v2/images/:id/members/:member', async (request) => {
    const ctx = await caller(request);
    const status = parseMemberStatus(request.body);
    return memberView(
      await images.answerShare(ctx, imageIdParam(request.params.id), request.params.member, status),
    );
  });

  app.delete<MemberParams>('/v2/images/:id/members/:member', async (request, reply) => {
    const ctx = await caller(request);
    await images.unshare(ctx, imageIdParam(request.params.id), request.params.member, {
      missingIsError: true,
    });
    reply.code(204).send();
  });

  app.put<IdParams>('/v2/images/:id/file', async (request, reply) => {
    const ctx = await caller(request);
    const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/octet-stream') {
      return send(
        reply,
        imageApiError(415, 'Image data must be sent as Content-Type application/octet-stream.'),
      );
    }
    const length = request.headers['content-length'];
    if (length === '0') {
      throw invalid('The upload is empty; send the image data in the request body.', {
        resource: 'image_file',
      });
    }
    if (length !== undefined && Number(length) > maxBytes) {
      return send(
        reply,
        imageApiError(413, `The upload is larger than the limit of ${maxBytes} bytes.`),
      );
    }
    const data = (isStream(request.body) ? request.body : request.raw) as Readable;
    await images.upload(ctx, imageIdParam(request.params.id), data, { maxBytes });
    reply.code(204).send();
  });

  // No automatic HEAD here: Fastify's would read the whole file to discard it.
  app.get<IdParams>('/v2/images/:id/file', { exposeHeadRoute: false }, async (request, reply) => {
    const ctx = await caller(request);
    const row = await images.get(ctx, imageIdParam(request.params.id));
    // The Image API answers an image without data with 204.
    if (row.status !== 'active') return reply.code(204).send();
    const file = await images.fileOf(ctx, row.id);
    // Opened before answering, so a delete that removes the file meanwhile cannot cut the
    // download short.
    const fd = await fs.promises.open(file.path, 'r').catch((err: NodeJS.ErrnoException) => {
      // Deleted between the lookup and the open.
      if (err.code === 'ENOENT') throw notFound('image', row.id);
      throw err;
    });
    return reply
      .code(200)
      .type('application/octet-stream')
      .header('content-length', String(file.sizeBytes))
      .send(fd.createReadStream());
  });

  app.delete<IdParams>('/v2/images/:id', async (request, reply) => {
    const ctx = await caller(request);
    await images.delete(ctx, imageIdParam(request.params.id));
    reply.code(204).send();
  });

  app.setNotFoundHandler((request, reply) =>
    send(
      reply,
      imageApiError(
        404,
        `${request.method} ${request.url.split('?')[0]} is not part of the Image API.`,
      ),
    ),
  );
  app.setErrorHandler((err: unknown, request, reply) => {
    const e = toImageApiError(err);
    if (e.code >= 500) request.log.error({ err }, 'Image request failed');
    else request.log.info({ code: e.code, message: e.message }, 'Image request refused');
    return send(reply, e);
  });
  return app;
}

function send(reply: FastifyReply, e: ImageApiError): FastifyReply {
  return reply.code(e.code).type(JSON_TYPE).send({ error: e });
}

function isStream(body: unknown): boolean {
  return typeof body === 'object' && body !== null && typeof (body as Readable).pipe === 'function';
}

function sortImages(rows: readonly ImageRow[], q: ListImagesQuery): ImageRow[] {
  const key = (r: ImageRow): string | number => {
    switch (q.sortKey) {
      case 'created_at':
        return r.createdAt;
      case 'updated_at':
        return r.updatedAt;
      case 'name':
        return r.name;
      case 'status':
        return r.status;
      case 'size':
        return r.sizeBytes ?? -1;
      case 'id':
        return r.id;
    }
  };
  const dir = q.sortDir === 'asc' ? 1 : -1;
  // Ties are broken by id, so pages never overlap or skip.
  return [...rows].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    if (ka < kb) return -dir;
    if (ka > kb) return dir;
    return a.id < b.id ? -dir : a.id > b.id ? dir : 0;
  });
}

/** The `next` link: the same query with the marker moved on, relative to the endpoint. */
function nextLink(request: FastifyRequest, marker: string, limit: number): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries((request.query ?? {}) as Record<string, string>)) {
    if (k !== 'marker' && k !== 'limit') params.set(k, v);
  }
  params.set('limit', String(limit));
  params.set('marker', marker);
  return `/v2/images?${params.toString()}`;
}
