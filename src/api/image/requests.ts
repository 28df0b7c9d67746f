// The Image API's requests, checked: the body of POST /v2/images and the query of
// GET /v2/images. Anything malformed or unsupported is refused with a message naming it.
import type { ImageStatus } from '../../db/index.js';
import { invalid, notFound, StratusError } from '../../errors.js';
import { storeFormat } from './formats.js';

/** A checked create request, in the store's terms. */
export interface CreateImageRequest {
  name: string;
  kind: 'machine' | 'kernel' | 'ramdisk';
  diskFormat: string;
  isPublic: boolean;
  architecture?: string;
  description?: string;
  kernelId?: string;
  ramdiskId?: string;
}

/** Attributes the server sets; the Image API refuses them in a create with 403. */
const READ_ONLY = [
  'status',
  'size',
  'virtual_size',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'created_at',
  'updated_at',
  'self',
  'file',
  'schema',
  'locations',
  'direct_url',
];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An image id from the path: anything but a UUID names no image (404), as the Image API answers. */
export function imageIdParam(raw: string): string {
  if (!UUID.test(raw)) throw notFound('image', raw.slice(0, 64).replace(/[^\x20-\x7e]/g, '?'));
  return raw.toLowerCase();
}

const bad = (message: string, id?: string) =>
  invalid(message, { resource: 'parameter', ...(id ? { id } : {}) });

export function parseCreateImage(body: unknown): CreateImageRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !isPlain(body)) {
    throw bad('The request body must be a JSON object describing the image.');
  }
  const b = body as Record<string, unknown>;
  const ro = Object.keys(b).filter((k) => READ_ONLY.includes(k));
  if (ro.length > 0) {
    throw new StratusError('forbidden', `Attribute '${ro[0]}' is read-only.`, {
      resource: 'parameter',
      id: ro[0],
    });
  }
  const str = (key: string, required: boolean): string | undefined => {
    const v = b[key];
    if (v === undefined || v === null) {
      if (required) throw bad(`The image needs '${key}'.`, key);
      return undefined;
    }
    if (typeof v !== 'string') throw bad(`'${key}' must be a string.`, key);
    return v;
  };
  const name = str('name', true) as string;
  const diskFormat = str('disk_format', true) as string;
  const containerFormat = str('container_format', true) as string;
  const { kind, diskFormat: storeDisk } = storeFormat(diskFormat, containerFormat);
  // `shared` is a private image that takes members; they are added with /members.
  const visibility = str('visibility', false) ?? 'private';
  if (visibility !== 'public' && visibility !== 'private' && visibility !== 'shared') {
    const known = visibility === 'community';
    throw bad(
      known
        ? `The visibility '${visibility}' is not supported here; use public, private or shared.`
        : `The visibility '${visibility}' is not one of public, private, shared.`,
      'visibility',
    );
  }
  if (b.protected !== undefined && b.protected !== false) {
    throw bad("Protected images are not supported; 'protected' must be false.", 'protected');
  }
  if (b.os_hidden !== undefined && b.os_hidden !== false) {
    throw bad("Hidden images are not supported; 'os_hidden' must be false.", 'os_hidden');
  }
  if (b.tags !== undefined && !(Array.isArray(b.tags) && b.tags.length === 0)) {
    throw bad("Image tags are not supported; 'tags' must be empty.", 'tags');
  }
  for (const key of ['min_disk', 'min_ram']) {
    if (b[key] !== undefined && b[key] !== 0) {
      throw bad(`'${key}' is not supported; leave it out or give 0.`, key);
    }
  }
  // openstacksdk adds its own bookkeeping properties (owner_specified.openstack.*) to every
  // image it creates; they are accepted and not kept.
  const known = new Set([
    'name',
    'disk_format',
    'container_format',
    'visibility',
    'protected',
    'os_hidden',
    'tags',
    'min_disk',
    'min_ram',
    'architecture',
    'description',
    'kernel_id',
    'ramdisk_id',
  ]);
  const unknown = Object.keys(b).filter((k) => !known.has(k) && !k.startsWith('owner_specified.'));
  if (unknown.length > 0) {
    throw bad(
      `This cloud does not keep other image properties: ${unknown.map((k) => `'${k}'`).join(', ')}.`,
      unknown[0],
    );
  }
  const link = (key: 'kernel_id' | 'ramdisk_id') => {
    const v = str(key, false);
    if (v !== undefined && !UUID.test(v)) throw bad(`'${key}' must be an image id.`, key);
    return v?.toLowerCase();
  };
  return {
    name,
    kind,
    diskFormat: storeDisk,
    isPublic: visibility === 'public',
    architecture: str('architecture', false),
    description: str('description', false),
    kernelId: link('kernel_id'),
    ramdiskId: link('ramdisk_id'),
  };
}

/** A checked GET /v2/images query. */
export interface ListImagesQuery {
  name?: string;
  /** Undefined: every status the caller may see; null: a status this cloud never has. */
  status?: ImageStatus | null;
  owner?: string;
  /** Undefined: every visibility; null: a visibility this cloud never has (community). */
  isPublic?: boolean | null;
  /** For non-public images: only those with members (true, `shared`) or without (false). */
  shared?: boolean;
  /** Only hidden images, of which this cloud has none. */
  hidden?: true;
  limit: number;
  marker?: string;
  sortKey: 'created_at' | 'updated_at' | 'name' | 'status' | 'size' | 'id';
  sortDir: 'asc' | 'desc';
}

export const DEFAULT_LIMIT = 25;
export const MAX_LIMIT = 1000;
const GLANCE_STATUSES = [
  'queued',
  'saving',
  'active',
  'killed',
  'deleted',
  'pending_delete',
  'deactivated',
  'uploading',
  'importing',
];
const OURS: readonly string[] = ['queued', 'saving', 'active', 'killed'];
const SORT_KEYS = ['created_at', 'updated_at', 'name', 'status', 'size', 'id'] as const;

export function parseListImages(query: Record<string, unknown>): ListImagesQuery {
  const known = [
    'name',
    'status',
    'owner',
    'visibility',
    'limit',
    'marker',
    'sort_key',
    'sort_dir',
    'os_hidden',
  ];
  const unknown = Object.keys(query).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw bad(
      `Unknown query parameter${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; images can be filtered by ${known.slice(0, 4).join(', ')} and paged with limit, marker, sort_key and sort_dir.`,
      unknown[0],
    );
  }
  const one = (key: string): string | undefined => {
    const v = query[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw bad(`The query parameter '${key}' may be given once.`, key);
    if ([...v].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
      throw bad(`The query parameter '${key}' must not hold control characters.`, key);
    }
    return v;
  };
  const out: ListImagesQuery = { limit: DEFAULT_LIMIT, sortKey: 'created_at', sortDir: 'desc' };
  const name = one('name');
  if (name !== undefined) out.name = name;
  const owner = one('owner');
  if (owner !== undefined) out.owner = owner;
  const status = one('status');
  if (status !== undefined) {
    if (!GLANCE_STATUSES.includes(status)) {
      throw bad(`The status '${status}' is not one of ${GLANCE_STATUSES.join(', ')}.`, 'status');
    }
    out.status = OURS.includes(status) ? (status as ImageStatus) : null;
  }
  const visibility = one('visibility');
  if (visibility !== undefined) {
    const values = ['public', 'private', 'shared', 'community', 'all'];
    if (!values.includes(visibility)) {
      throw bad(`The visibility '${visibility}' is not one of ${values.join(', ')}.`, 'visibility');
    }
    if (visibility === 'public') out.isPublic = true;
    else if (visibility === 'private' || visibility === 'shared') {
      out.isPublic = false;
      out.shared = visibility === 'shared';
    } else if (visibility === 'community') out.isPublic = null;
  }
  // This cloud hides no images: asking for hidden ones (openstacksdk does, to find an image
  // by name) finds none.
  const hidden = one('os_hidden');
  if (hidden !== undefined) {
    if (!['true', 'false'].includes(hidden.toLowerCase())) {
      throw bad(`The os_hidden '${hidden}' is not true or false.`, 'os_hidden');
    }
    if (hidden.toLowerCase() === 'true') out.hidden = true;
  }
  const limit = one('limit');
  if (limit !== undefined) {
    if (!/^\d+$/.test(limit) || Number(limit) < 1) {
      throw bad(`The limit '${limit}' must be a positive integer.`, 'limit');
    }
    out.limit = Math.min(Number(limit), MAX_LIMIT);
  }
  const marker = one('marker');
  if (marker !== undefined) out.marker = marker;
  const sortKey = one('sort_key');
  if (sortKey !== undefined) {
    if (!(SORT_KEYS as readonly string[]).includes(sortKey)) {
      throw bad(`The sort_key '${sortKey}' is not one of ${SORT_KEYS.join(', ')}.`, 'sort_key');
    }
    out.sortKey = sortKey as ListImagesQuery['sortKey'];
  }
  const sortDir = one('sort_dir');
  if (sortDir !== undefined) {
    if (sortDir !== 'asc' && sortDir !== 'desc') {
      throw bad(`The sort_dir '${sortDir}' is not asc or desc.`, 'sort_dir');
    }
    out.sortDir = sortDir;
  }
  return out;
}

function isPlain(o: object): boolean {
  const proto = Object.getPrototypeOf(o) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The body of POST /v2/images/{id}/members: `{"member": "<project id>"}`. */
export function parseAddMember(body: unknown): string {
  const b = body as Record<string, unknown> | null;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) {
    throw bad('The request body must be a JSON object such as {"member": "<project id>"}.');
  }
  const unknown = Object.keys(b).filter((k) => k !== 'member');
  if (unknown.length > 0) throw bad(`Unknown member field '${unknown[0]}'.`, unknown[0]);
  const member = b.member;
  if (typeof member !== 'string' || member.length === 0 || member.length > 64) {
    throw bad("'member' must be the id of a project.", 'member');
  }
  return member;
}

/**
 * The body of PUT /v2/images/{id}/members/{member}: `{"status": "accepted"}`. openstacksdk
 * sends the member's ids along; the path names them, so they are accepted and not read.
 */
export function parseMemberStatus(body: unknown): 'pending' | 'accepted' | 'rejected' {
  const b = body as Record<string, unknown> | null;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) {
    throw bad('The request body must be a JSON object such as {"status": "accepted"}.');
  }
  const unknown = Object.keys(b).filter(
    (k) => !['status', 'member', 'member_id', 'image_id'].includes(k),
  );
  if (unknown.length > 0) throw bad(`Unknown member field '${unknown[0]}'.`, unknown[0]);
  const status = b.status;
  if (status !== 'pending' && status !== 'accepted' && status !== 'rejected') {
    throw bad("'status' must be pending, accepted or rejected.", 'status');
  }
  return status;
}
