// The OpenStack Image API v2, as a recent release serves it: version discovery, images
// listed (filters, sorting, marker paging) and shown, created queued and given their data by
// a streamed upload or the interoperable import (glance-direct: stage, then import; both
// checked like an operator's import), changed with a JSON patch, tagged, deactivated and
// reactivated, downloaded (with Content-MD5) and deleted (unless protected); members (the
// projects an image is shared with); schemas; import methods and stores. The caller is the
// X-Auth-Token's project; a member sees public images, its project's own and those shared
// with it (community images when it asks for them), an admin all.
// Every failure is `{"error": {"code", "title", "message"}}` with a 4xx; 5xx only for our faults.
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RequestContext } from '../../context.js';
import type { ImageRow } from '../../db/index.js';
import { invalid, notFound, StratusError } from '../../errors.js';
import { imageTags } from '../../image/index.js';
import type { TokenService } from '../../identity/index.js';
import type { ImageService } from '../../image/index.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/index.js';
import { createHttpServer, type HttpsCertificate } from '../http.js';
import { openstackProtocol } from '../openstack/protocol.js';
import { contextFromToken } from '../openstack/token-auth.js';
import { imageApiError, toImageApiError, type ImageApiError } from './errors.js';
import { listImages } from './listing.js';
import { applyPatch, parsePatch, PATCH_TYPES } from './patch.js';
import { checkTag, MAX_TAGS, tooMany } from './properties.js';
import {
  imageIdParam,
  parseAddMember,
  parseCreateImage,
  parseImportMethod,
  parseListImages,
  parseMemberStatus,
} from './requests.js';
import { imageSchema, imagesSchema, memberSchema, membersSchema } from './schemas.js';
import {
  imageListView,
  imageView,
  memberListView,
  memberView,
  STORE_ID,
  versionsView,
} from './views.js';

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
type TagParams = { Params: { id: string; tag: string } };

/** The import methods this cloud offers, and the header that names them. */
const IMPORT_METHODS = ['glance-direct'] as const;
const IMPORT_METHODS_HEADER = 'openstack-image-import-methods';

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
  // A JSON patch is JSON; its media type says which patch dialect it is.
  app.addContentTypeParser([...PATCH_TYPES], { parseAs: 'string' }, (_request, text, done) => {
    try {
      done(null, JSON.parse(String(text)));
    } catch {
      done(invalid('The JSON patch is not valid JSON.', { resource: 'request' }));
    }
  });

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
    const page = await listImages(images, ctx, q);
    return imageListView(
      page.rows,
      page.shared,
      page.nextMarker ? nextLink(request, page.nextMarker, q.limit) : null,
    );
  });

  const view = async (row: ImageRow) =>
    imageView(row, (await images.sharedOf([row.id])).has(row.id));

  app.get<IdParams>('/v2/images/:id', async (request) => {
    const ctx = await caller(request);
    return view(await images.get(ctx, imageIdParam(request.params.id)));
  });

  app.post('/v2/images', async (request, reply) => {
    const ctx = await caller(request);
    const { owner, ...req } = parseCreateImage(request.body);
    if (owner !== undefined && owner !== ctx.projectId) {
      throw new StratusError('forbidden', 'An image is owned by the project that creates it.', {
        resource: 'parameter',
        id: 'owner',
      });
    }
    const row = await images.create(ctx, req);
    reply
      .code(201)
      .header('location', `${base(request)}/v2/images/${row.id}`)
      .header(IMPORT_METHODS_HEADER, IMPORT_METHODS.join(','));
    return imageView(row);
  });

  // A change as a JSON patch (Image API 2.1's media type, or 2.0's), answered with the image.
  app.patch<IdParams>('/v2/images/:id', async (request, reply) => {
    const ctx = await caller(request);
    const id = imageIdParam(request.params.id);
    const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    const mediaType = PATCH_TYPES.find((t) => t === type);
    if (!mediaType) {
      reply.header('accept-patch', PATCH_TYPES.join(', '));
      return send(
        reply,
        imageApiError(
          415,
          `Unsupported Content-Type '${type ?? ''}': send the JSON patch as ${PATCH_TYPES[0]}.`,
        ),
      );
    }
    const ops = parsePatch(request.body, mediaType);
    const row = await images.get(ctx, id);
    const shared = (await images.sharedOf([row.id])).has(row.id);
    const change = applyPatch(row, shared, ops, mediaType);
    if (Object.keys(change).length === 0) {
      if (!images.mayModify(ctx, row)) await images.modify(ctx, row.id, {});
      return imageView(row, shared);
    }
    return view(await images.modify(ctx, row.id, change));
  });

  // Tags, one at a time: adding one the image has is fine, removing one it lacks is 404.
  app.put<TagParams>('/v2/images/:id/tags/:tag', async (request, reply) => {
    const ctx = await caller(request);
    const tag = checkTag(request.params.tag);
    const row = await images.get(ctx, imageIdParam(request.params.id));
    const tags = imageTags(row);
    if (!tags.includes(tag)) {
      if (tags.length >= MAX_TAGS) throw tooMany('tags', MAX_TAGS);
      await images.modify(ctx, row.id, { tags: [...tags, tag] });
    } else {
      await images.modify(ctx, row.id, {});
    }
    reply.code(204).send();
  });

  app.delete<TagParams>('/v2/images/:id/tags/:tag', async (request, reply) => {
    const ctx = await caller(request);
    const row = await images.get(ctx, imageIdParam(request.params.id));
    const tags = imageTags(row);
    if (!tags.includes(request.params.tag)) {
      await images.modify(ctx, row.id, {});
      throw new StratusError(
        'not_found',
        `The image '${row.id}' has no tag '${request.params.tag}'.`,
        { resource: 'image', id: row.id },
      );
    }
    await images.modify(ctx, row.id, { tags: tags.filter((t) => t !== request.params.tag) });
    reply.code(204).send();
  });

  for (const [action, active] of [
    ['deactivate', false],
    ['reactivate', true],
  ] as const) {
    app.post<IdParams>(`/v2/images/:id/actions/${action}`, async (request, reply) => {
      const ctx = await caller(request);
      await images.setActive(ctx, imageIdParam(request.params.id), active);
      reply.code(204).send();
    });
  }

  // The interoperable import: glance-direct only (stage the data, then import it).
  app.get('/v2/info/import', async (request) => {
    await caller(request);
    return {
      'import-methods': {
        description: 'Import methods available.',
        type: 'array',
        value: [...IMPORT_METHODS],
      },
    };
  });

  app.get('/v2/info/stores', async (request) => {
    await caller(request);
    return {
      stores: [{ id: STORE_ID, description: 'The image directory of this cloud.', default: true }],
    };
  });

  app.put<IdParams>('/v2/images/:id/stage', async (request, reply) => {
    const ctx = await caller(request);
    const data = octetStream(request, reply);
    if (!data) return reply;
    await images.stage(ctx, imageIdParam(request.params.id), data, { maxBytes });
    reply.code(204).send();
  });

  app.post<IdParams>('/v2/images/:id/import', async (request, reply) => {
    const ctx = await caller(request);
    const id = imageIdParam(request.params.id);
    parseImportMethod(request.body, IMPORT_METHODS);
    await images.importStaged(ctx, id);
    reply.code(202).send();
  });

  for (const [name, schema] of [
    ['image', imageSchema],
    ['images', imagesSchema],
    ['member', memberSchema],
    ['members', membersSchema],
  ] as const) {
    app.get(`/v2/schemas/${name}`, async (request) => {
      await caller(request);
      return schema();
    });
  }

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

  /**
   * The request's body as image data: refused (and the answer sent; undefined returned)
   * unless it is application/octet-stream within the size limit.
   */
  const octetStream = (request: FastifyRequest, reply: FastifyReply): Readable | undefined => {
    const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/octet-stream') {
      void send(
        reply,
        imageApiError(415, 'Image data must be sent as Content-Type application/octet-stream.'),
      );
      return undefined;
    }
    const length = request.headers['content-length'];
    if (length === '0') {
      throw invalid('The upload is empty; send the image data in the request body.', {
        resource: 'image_file',
      });
    }
    if (length !== undefined && Number(length) > maxBytes) {
      void send(
        reply,
        imageApiError(413, `The upload is larger than the limit of ${maxBytes} bytes.`),
      );
      return undefined;
    }
    return (isStream(request.body) ? request.body : request.raw) as Readable;
  };

  app.put<IdParams>('/v2/images/:id/file', async (request, reply) => {
    const ctx = await caller(request);
    const data = octetStream(request, reply);
    if (!data) return reply;
    await images.upload(ctx, imageIdParam(request.params.id), data, { maxBytes });
    reply.code(204).send();
  });

  // No automatic HEAD here: Fastify's would read the whole file to discard it.
  app.get<IdParams>('/v2/images/:id/file', { exposeHeadRoute: false }, async (request, reply) => {
    const ctx = await caller(request);
    const row = await images.get(ctx, imageIdParam(request.params.id));
    // The Image API answers an image without data with 204.
    if (row.status !== 'active' && row.status !== 'deactivated') return reply.code(204).send();
    const file = await images.fileOf(ctx, row.id);
    // Opened before answering, so a delete that removes the file meanwhile cannot cut the
    // download short.
    const fd = await fs.promises.open(file.path, 'r').catch((err: NodeJS.ErrnoException) => {
      // Deleted between the lookup and the open.
      if (err.code === 'ENOENT') throw notFound('image', row.id);
      throw err;
    });
    return (
      reply
        .code(200)
        .type('application/octet-stream')
        .header('content-length', String(file.sizeBytes))
        // Clients (openstacksdk) check the data they get against it.
        .header('content-md5', row.md5 ?? undefined)
        .send(fd.createReadStream())
    );
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
