// GET /v2/images: which images a listing shows (visibility, member status, hidden images and
// every filter of the query), in which order, and one page of them. The database narrows by
// what the caller may see; the rest is done here, on the rows it returned.
import { isAdmin, type RequestContext } from '../../context.js';
import type { ImageMemberStatus, ImageRow } from '../../db/index.js';
import { invalid } from '../../errors.js';
import { imageProperties, imageTags, type ImageService } from '../../image/index.js';
import { apiFormat } from './formats.js';
import type { ListImagesQuery, SortKey, TimeCondition } from './requests.js';
import { visibilityOf } from './views.js';

export interface ImagePage {
  rows: ImageRow[];
  /** Which of the rows have members (shown `shared`). */
  shared: ReadonlySet<string>;
  /** The id to continue after, when there is more. */
  nextMarker?: string;
}

const MEMBER_STATUSES: Record<ListImagesQuery['memberStatus'], ImageMemberStatus[]> = {
  accepted: ['accepted'],
  pending: ['pending'],
  rejected: ['rejected'],
  all: ['accepted', 'pending', 'rejected'],
};

export async function listImages(
  images: ImageService,
  ctx: RequestContext,
  q: ListImagesQuery,
): Promise<ImagePage> {
  if (q.statuses?.length === 0) return { rows: [], shared: new Set() };
  const v = q.visibility;
  const listed = await images.list(ctx, {
    ownerProjectId: q.owner,
    isPublic: v === 'public' ? true : v === undefined || v === 'all' ? undefined : false,
    includeCommunity: v === 'community' || v === 'all',
    memberStatuses: MEMBER_STATUSES[q.memberStatus],
  });
  const shared = await images.sharedOf(listed.map((r) => r.id));
  const mine = (r: ImageRow) => r.ownerProjectId !== null && r.ownerProjectId === ctx.projectId;
  const rows = listed.filter((r) => {
    const visibility = visibilityOf(r, shared.has(r.id));
    if (v !== undefined && v !== 'all' && visibility !== v) return false;
    // A share that is not accepted lists the image only when member_status asks for it: for
    // the member, an image visible only through its share is one of those.
    if (q.memberStatus !== 'accepted' && !isAdmin(ctx) && (mine(r) || visibility !== 'shared')) {
      return false;
    }
    if ((r.hidden === 1) !== q.hidden) return false;
    if (q.names && !q.names.includes(r.name)) return false;
    if (q.ids && !q.ids.includes(r.id)) return false;
    if (q.statuses && !q.statuses.includes(r.status)) return false;
    if (q.protected !== undefined && (r.protected === 1) !== q.protected) return false;
    const formats = apiFormat(r);
    if (q.diskFormats && !q.diskFormats.includes(formats.disk_format)) return false;
    if (q.containerFormats && !q.containerFormats.includes(formats.container_format)) return false;
    if (q.sizeMin !== undefined && (r.sizeBytes === null || r.sizeBytes < q.sizeMin)) return false;
    if (q.sizeMax !== undefined && (r.sizeBytes === null || r.sizeBytes > q.sizeMax)) return false;
    if (!q.createdAt.every((c) => holds(c, r.createdAt))) return false;
    if (!q.updatedAt.every((c) => holds(c, r.updatedAt))) return false;
    const tags = imageTags(r);
    if (!q.tags.every((t) => tags.includes(t))) return false;
    const properties: Record<string, string> = {
      ...imageProperties(r),
      architecture: r.architecture,
    };
    return Object.entries(q.properties).every(([k, value]) => properties[k] === value);
  });
  const sorted = sortImages(rows, q.sort, shared);
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
  const last = page[page.length - 1];
  const more = start + q.limit < sorted.length;
  return { rows: page, shared, ...(more && last ? { nextMarker: last.id } : {}) };
}

/** Times are compared to the second, as the Image API shows them. */
function holds(c: TimeCondition, ms: number): boolean {
  const t = Math.floor(ms / 1000);
  const at = Math.floor(c.at / 1000);
  switch (c.op) {
    case 'gt':
      return t > at;
    case 'gte':
      return t >= at;
    case 'lt':
      return t < at;
    case 'lte':
      return t <= at;
    case 'eq':
      return t === at;
    case 'neq':
      return t !== at;
  }
}

function sortImages(
  rows: readonly ImageRow[],
  sort: ListImagesQuery['sort'],
  shared: ReadonlySet<string>,
): ImageRow[] {
  const value = (r: ImageRow, key: SortKey): string | number => {
    switch (key) {
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
      case 'virtual_size':
        return r.virtualSize ?? -1;
      case 'id':
        return r.id;
      case 'disk_format':
        return apiFormat(r).disk_format;
      case 'container_format':
        return apiFormat(r).container_format;
      case 'min_disk':
        return r.minDisk;
      case 'min_ram':
        return r.minRam;
      case 'owner':
        return r.ownerProjectId ?? '';
      case 'visibility':
        return visibilityOf(r, shared.has(r.id));
    }
  };
  // Ties are broken by id, in the direction of the last key, so pages never overlap or skip.
  const lastDir = sort[sort.length - 1]?.dir === 'asc' ? 1 : -1;
  return [...rows].sort((a, b) => {
    for (const { key, dir } of sort) {
      const va = value(a, key);
      const vb = value(b, key);
      const d = dir === 'asc' ? 1 : -1;
      if (va < vb) return -d;
      if (va > vb) return d;
    }
    return a.id < b.id ? -lastDir : a.id > b.id ? lastDir : 0;
  });
}
