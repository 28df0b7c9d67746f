// The Compute API's image proxy: `GET /images`, `/images/detail`, `/images/{id}` and the
// image's metadata (`/images/{id}/metadata`, `/images/{id}/metadata/{key}`), read-only views
// of the image store in the Compute API's shape (status ACTIVE/SAVING/..., progress,
// minDisk, minRam, metadata, links). Gone from 2.36 (the metadata from 2.39).
import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../../context.js';
import type { ImageRow, ImageStatus } from '../../db/index.js';
import { invalid, notFound, StratusError } from '../../errors.js';
import { IMAGE_METADATA_REMOVED_AT, PROXIES_REMOVED_AT, requireBefore } from './proxy-version.js';
import { queryOf, type RouteDeps } from './routes.js';
import { apiTime, resourceLinks } from './views.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Largest page a listing returns, whatever `limit` asks. */
const MAX_LIMIT = 1000;

/**
 * The Compute API's status of an image (the Image API's statuses, as that API maps them: the
 * stages of an upload or import are SAVING, and a status it has no word for, such as
 * deactivated, is UNKNOWN).
 */
const STATUS: Readonly<Record<ImageStatus, string>> = {
  queued: 'SAVING',
  saving: 'SAVING',
  uploading: 'SAVING',
  importing: 'SAVING',
  active: 'ACTIVE',
  killed: 'ERROR',
  deleted: 'DELETED',
  deactivated: 'UNKNOWN',
};
const PROGRESS: Readonly<Partial<Record<ImageStatus, number>>> = {
  queued: 25,
  saving: 50,
  active: 100,
};

/**
 * An image's properties beyond the Image API's core ones: what the Compute API shows as its
 * metadata. The image store keeps architecture, description, kernel and ramdisk.
 */
export function imageMetadata(row: ImageRow): Record<string, string> {
  return {
    architecture: row.architecture,
    ...(row.description ? { description: row.description } : {}),
    ...(row.kernelId ? { kernel_id: row.kernelId } : {}),
    ...(row.ramdiskId ? { ramdisk_id: row.ramdiskId } : {}),
  };
}

/** The image's self and bookmark links, and its place in the Image API. */
function links(base: string, imageBase: string, id: string) {
  return [
    ...resourceLinks(base, `images/${id}`),
    {
      rel: 'alternate',
      type: 'application/vnd.openstack.image',
      href: `${imageBase}/images/${id}`,
    },
  ];
}

export function imageSummary(base: string, imageBase: string, row: ImageRow) {
  return { id: row.id, name: row.name, links: links(base, imageBase, row.id) };
}

export function imageDetail(base: string, imageBase: string, row: ImageRow) {
  return {
    ...imageSummary(base, imageBase, row),
    // The image store keeps no minimum disk or memory: every image boots on any flavor.
    minDisk: 0,
    minRam: 0,
    metadata: imageMetadata(row),
    created: apiTime(row.createdAt),
    updated: apiTime(row.updatedAt),
    status: STATUS[row.status],
    progress: PROGRESS[row.status] ?? 0,
    'OS-EXT-IMG-SIZE:size': row.sizeBytes ?? 0,
  };
}

export function imageProxyRoutes({ app, services, caller, base }: RouteDeps): void {
  const { images } = services;
  /** Where the Image API listens, for the `alternate` link (this API's address if unknown). */
  const imageBase = async (request: FastifyRequest) => {
    const entry = (await services.catalog.entries()).find((e) => e.type === 'image');
    const url = entry?.endpoints.find((e) => e.interface === 'public')?.url;
    return (url ?? base(request)).replace(/\/v2\/?$/, '').replace(/\/+$/, '');
  };
  const proxy = async (request: FastifyRequest, removedAt = PROXIES_REMOVED_AT) => {
    const ctx = await caller(request);
    requireBefore(request.microversion, removedAt, 'images');
    return ctx;
  };
  const find = async (ctx: RequestContext, id: string): Promise<ImageRow> => {
    const missing = () => notFound('image', id, 'Image not found.');
    if (!UUID.test(id)) throw missing();
    let row: ImageRow;
    try {
      row = await images.get(ctx, id.toLowerCase());
    } catch (err) {
      // One the caller may not see is as missing as one that does not exist.
      if (err instanceof StratusError && err.kind === 'not_found') throw missing();
      throw err;
    }
    if (row.status === 'deleted') throw missing();
    return row;
  };

  const list = async (request: FastifyRequest, detail: boolean) => {
    const ctx = await proxy(request);
    const q = queryOf(request);
    const limit = q.limit === undefined ? MAX_LIMIT : Number(q.limit);
    if (!/^\d+$/.test(q.limit ?? '0') || limit < 1) {
      throw invalid(
        `Invalid input for query parameters limit. Value: ${q.limit}. It must be a positive integer.`,
        { resource: 'limit' },
      );
    }
    let rows = await images.list(ctx, q.name === undefined ? {} : { name: q.name });
    // Newest first, as the Image API lists them.
    rows = rows.reverse().filter((r) => r.status !== 'deleted');
    if (q.status !== undefined) rows = rows.filter((r) => r.status === q.status?.toLowerCase());
    if (q['changes-since'] !== undefined) {
      const since = Date.parse(q['changes-since']);
      if (Number.isNaN(since)) {
        throw invalid(`Invalid changes-since value: ${q['changes-since']}.`, {
          resource: 'request',
        });
      }
      rows = rows.filter((r) => r.updatedAt >= since);
    }
    for (const key of ['minDisk', 'minRam']) {
      const raw = q[key];
      if (raw === undefined) continue;
      if (!/^\d+$/.test(raw)) {
        throw invalid(`Invalid input for query parameters ${key}. It must be an integer.`, {
          resource: 'request',
        });
      }
      // Every image here needs no minimum (0): only a filter of 0 keeps it.
      if (Number(raw) > 0) rows = [];
    }
    // Images made from a server (`server`, property instance_uuid) or of a `type` (snapshot,
    // backup) are not kept here: such filters match nothing.
    if (q.server !== undefined || q.type !== undefined) rows = [];
    let start = 0;
    if (q.marker !== undefined) {
      const at = rows.findIndex((r) => r.id === q.marker);
      if (at < 0) throw invalid(`marker [${q.marker}] not found`, { resource: 'marker' });
      start = at + 1;
    }
    const page = rows.slice(start, start + Math.min(limit, MAX_LIMIT));
    const b = base(request);
    const ib = await imageBase(request);
    const out: Record<string, unknown> = {
      images: page.map((r) => (detail ? imageDetail(b, ib, r) : imageSummary(b, ib, r))),
    };
    if (page.length > 0 && start + page.length < rows.length && q.limit !== undefined) {
      const next = new URLSearchParams({ ...q, marker: (page[page.length - 1] as ImageRow).id });
      out.images_links = [
        { rel: 'next', href: `${b}/v2.1/images${detail ? '/detail' : ''}?${next}` },
      ];
    }
    return out;
  };
  app.get('/v2.1/images', (request) => list(request, false));
  app.get('/v2.1/images/detail', (request) => list(request, true));

  app.get<{ Params: { id: string } }>('/v2.1/images/:id', async (request) => {
    const ctx = await proxy(request);
    const row = await find(ctx, request.params.id);
    return { image: imageDetail(base(request), await imageBase(request), row) };
  });

  app.get<{ Params: { id: string } }>('/v2.1/images/:id/metadata', async (request) => {
    const ctx = await proxy(request, IMAGE_METADATA_REMOVED_AT);
    return { metadata: imageMetadata(await find(ctx, request.params.id)) };
  });

  app.get<{ Params: { id: string; key: string } }>(
    '/v2.1/images/:id/metadata/:key',
    async (request) => {
      const ctx = await proxy(request, IMAGE_METADATA_REMOVED_AT);
      const { key } = request.params;
      const value = imageMetadata(await find(ctx, request.params.id))[key];
      if (value === undefined) throw notFound('image', key, 'Metadata item was not found');
      return { meta: { [key]: value } };
    },
  );
}
