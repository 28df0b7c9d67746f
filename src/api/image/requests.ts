// The Image API's requests, checked: the body of POST /v2/images and the query of
// GET /v2/images. Anything malformed or unsupported is refused with a message naming it.
import type { ImageStatus } from '../../db/index.js';
import { invalid, notFound } from '../../errors.js';
import type { ImageAttributes } from '../../image/index.js';
import { storeFormat } from './formats.js';
import {
  checkBoolean,
  checkCount,
  checkProperty,
  checkPropertyCount,
  checkTag,
  checkTagList,
  checkVisibility,
  refuseServerAttribute,
} from './properties.js';

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
  /** The owner the body names, if any (only the caller's own project is accepted). */
  owner?: string;
  attributes: Partial<ImageAttributes>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An image id from the path: anything but a UUID names no image (404), as the Image API answers. */
export function imageIdParam(raw: string): string {
  if (!UUID.test(raw)) throw notFound('image', raw.slice(0, 64).replace(/[^\x20-\x7e]/g, '?'));
  return raw.toLowerCase();
}

const bad = (message: string, id?: string) =>
  invalid(message, { resource: 'parameter', ...(id ? { id } : {}) });

/** Core attributes a create body may give; any other name is a custom property. */
const CREATE_KEYS = new Set([
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
  'owner',
  'id',
]);

export function parseCreateImage(body: unknown): CreateImageRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !isPlain(body)) {
    throw bad('The request body must be a JSON object describing the image.');
  }
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) refuseServerAttribute(key);
  if (b.id !== undefined) {
    throw bad("This cloud chooses image ids itself; leave 'id' out.", 'id');
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
  const visibility = b.visibility === undefined ? 'shared' : checkVisibility(b.visibility);
  const attributes: Partial<ImageAttributes> = { community: visibility === 'community' };
  if (b.protected !== undefined) attributes.protected = checkBoolean('protected', b.protected);
  if (b.os_hidden !== undefined) attributes.hidden = checkBoolean('os_hidden', b.os_hidden);
  if (b.tags !== undefined) attributes.tags = checkTagList(b.tags);
  if (b.min_disk !== undefined) attributes.minDisk = checkCount('min_disk', b.min_disk);
  if (b.min_ram !== undefined) attributes.minRam = checkCount('min_ram', b.min_ram);
  const properties: Record<string, string> = {};
  for (const [key, value] of Object.entries(b)) {
    if (!CREATE_KEYS.has(key)) properties[key] = checkProperty(key, value);
  }
  checkPropertyCount(properties);
  attributes.properties = properties;
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
    owner: str('owner', false),
    attributes,
  };
}

/** A time condition of a listing: `created_at=gt:2024-01-01T00:00:00Z`. */
export interface TimeCondition {
  op: 'gt' | 'gte' | 'lt' | 'lte' | 'eq' | 'neq';
  at: number;
}

export type SortKey = (typeof SORT_KEYS)[number];

/** A checked GET /v2/images query. */
export interface ListImagesQuery {
  /** Names, any of which matches (`name=in:"a","b"`). */
  names?: string[];
  ids?: string[];
  /** Statuses, any of which matches; empty: none this cloud has. */
  statuses?: ImageStatus[];
  owner?: string;
  /** Undefined: what a listing shows by default; `all`: that and every community image. */
  visibility?: 'public' | 'private' | 'shared' | 'community' | 'all';
  /** Which shares with the caller's project list an image: accepted only by default. */
  memberStatus: 'accepted' | 'pending' | 'rejected' | 'all';
  /** Hidden images only (true) or none of them (false, the default). */
  hidden: boolean;
  protected?: boolean;
  /** Every one of these tags. */
  tags: string[];
  diskFormats?: string[];
  containerFormats?: string[];
  sizeMin?: number;
  sizeMax?: number;
  createdAt: TimeCondition[];
  updatedAt: TimeCondition[];
  /** Custom properties the images must have, with these values. */
  properties: Record<string, string>;
  limit: number;
  marker?: string;
  /** Sort keys with directions, most significant first. */
  sort: { key: SortKey; dir: 'asc' | 'desc' }[];
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
/** The statuses this cloud lists (a deleted image is gone from listings). */
const OURS: readonly string[] = [
  'queued',
  'saving',
  'uploading',
  'importing',
  'active',
  'deactivated',
  'killed',
];
const SORT_KEYS = [
  'created_at',
  'updated_at',
  'name',
  'status',
  'size',
  'virtual_size',
  'id',
  'disk_format',
  'container_format',
  'min_disk',
  'min_ram',
  'owner',
  'visibility',
] as const;
const TIME_OPS = ['gt', 'gte', 'lt', 'lte', 'eq', 'neq'] as const;
/** Parameters that are not filters on custom properties. */
const LISTING_PARAMS = [
  'name',
  'id',
  'status',
  'owner',
  'visibility',
  'member_status',
  'os_hidden',
  'protected',
  'tag',
  'disk_format',
  'container_format',
  'size_min',
  'size_max',
  'created_at',
  'updated_at',
  'limit',
  'marker',
  'sort_key',
  'sort_dir',
  'sort',
];

/**
 * The query of GET /v2/images, as the Image API documents it: filters (`name`, `id`,
 * `status`, `disk_format` and `container_format`, each also as `in:"a","b"`; `owner`,
 * `visibility`, `member_status`, `os_hidden`, `protected`, `tag` (repeated: every one),
 * `size_min`/`size_max`, `created_at`/`updated_at` with `gt:`, `gte:`, `lt:`, `lte:`, `eq:`
 * or `neq:` and an ISO 8601 time), and any other name as a custom property's value; paging
 * (`limit`, `marker`) and sorting (`sort_key`/`sort_dir`, repeatable, or `sort=k:dir,...`).
 */
export function parseListImages(query: Record<string, unknown>): ListImagesQuery {
  const all = (key: string): string[] => {
    const v = query[key];
    if (v === undefined) return [];
    const values = Array.isArray(v) ? v : [v];
    return values.map((x) => {
      if (typeof x !== 'string') throw bad(`The query parameter '${key}' is malformed.`, key);
      if ([...x].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
        throw bad(`The query parameter '${key}' must not hold control characters.`, key);
      }
      return x;
    });
  };
  const one = (key: string): string | undefined => {
    const values = all(key);
    if (values.length > 1) throw bad(`The query parameter '${key}' may be given once.`, key);
    return values[0];
  };
  const bool = (key: string): boolean | undefined => {
    const v = one(key);
    if (v === undefined) return undefined;
    if (!['true', 'false'].includes(v.toLowerCase())) {
      throw bad(`The ${key} '${v}' is not true or false.`, key);
    }
    return v.toLowerCase() === 'true';
  };
  const out: ListImagesQuery = {
    memberStatus: 'accepted',
    hidden: false,
    tags: all('tag').map(checkTag),
    createdAt: all('created_at').map((v) => timeCondition('created_at', v)),
    updatedAt: all('updated_at').map((v) => timeCondition('updated_at', v)),
    properties: {},
    limit: DEFAULT_LIMIT,
    sort: [],
  };
  const name = one('name');
  if (name !== undefined) out.names = inList(name);
  const id = one('id');
  if (id !== undefined) out.ids = inList(id).map((x) => x.toLowerCase());
  const owner = one('owner');
  if (owner !== undefined) out.owner = owner;
  const status = one('status');
  if (status !== undefined) {
    const wanted = inList(status);
    for (const w of wanted) {
      if (!GLANCE_STATUSES.includes(w)) {
        throw bad(`The status '${w}' is not one of ${GLANCE_STATUSES.join(', ')}.`, 'status');
      }
    }
    out.statuses = wanted.filter((w) => OURS.includes(w)) as ImageStatus[];
  }
  for (const [key, field] of [
    ['disk_format', 'diskFormats'],
    ['container_format', 'containerFormats'],
  ] as const) {
    const v = one(key);
    if (v !== undefined) out[field] = inList(v);
  }
  const visibility = one('visibility');
  if (visibility !== undefined) {
    const values = ['public', 'private', 'shared', 'community', 'all'] as const;
    if (!(values as readonly string[]).includes(visibility)) {
      throw bad(`The visibility '${visibility}' is not one of ${values.join(', ')}.`, 'visibility');
    }
    out.visibility = visibility as ListImagesQuery['visibility'];
  }
  const memberStatus = one('member_status');
  if (memberStatus !== undefined) {
    const values = ['accepted', 'pending', 'rejected', 'all'] as const;
    if (!(values as readonly string[]).includes(memberStatus)) {
      throw bad(
        `The member_status '${memberStatus}' is not one of ${values.join(', ')}.`,
        'member_status',
      );
    }
    out.memberStatus = memberStatus as ListImagesQuery['memberStatus'];
  }
  out.hidden = bool('os_hidden') ?? false;
  const isProtected = bool('protected');
  if (isProtected !== undefined) out.protected = isProtected;
  for (const [key, field] of [
    ['size_min', 'sizeMin'],
    ['size_max', 'sizeMax'],
  ] as const) {
    const v = one(key);
    if (v === undefined) continue;
    if (!/^\d+$/.test(v)) throw bad(`The ${key} '${v}' must be a number of bytes.`, key);
    out[field] = Number(v);
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
  out.sort = parseSort(all('sort_key'), all('sort_dir'), one('sort'));
  for (const key of Object.keys(query)) {
    if (LISTING_PARAMS.includes(key)) continue;
    const v = one(key) as string;
    out.properties[key] = v;
  }
  return out;
}

const sortKey = (k: string): SortKey => {
  if (!(SORT_KEYS as readonly string[]).includes(k)) {
    throw bad(`The sort_key '${k}' is not one of ${SORT_KEYS.join(', ')}.`, 'sort_key');
  }
  return k as SortKey;
};
const sortDir = (d: string): 'asc' | 'desc' => {
  if (d !== 'asc' && d !== 'desc') throw bad(`The sort_dir '${d}' is not asc or desc.`, 'sort_dir');
  return d;
};

/**
 * The order of a listing: `sort=name:asc,created_at` (the newer syntax; a key without a
 * direction is descending) or `sort_key`/`sort_dir` pairs (one direction may serve every
 * key), never both; newest first by default. Ties are broken by id at the edge.
 */
function parseSort(
  keys: string[],
  dirs: string[],
  sort: string | undefined,
): ListImagesQuery['sort'] {
  if (sort !== undefined) {
    if (keys.length > 0 || dirs.length > 0) {
      throw bad("'sort' cannot be combined with 'sort_key' or 'sort_dir'.", 'sort');
    }
    return sort.split(',').map((part) => {
      const [k = '', d] = part.trim().split(':');
      return { key: sortKey(k.trim()), dir: d === undefined ? 'desc' : sortDir(d.trim()) };
    });
  }
  if (dirs.length > 1 && dirs.length !== keys.length) {
    throw bad('Give one sort_dir, or one for each sort_key.', 'sort_dir');
  }
  const parsedDirs = dirs.map(sortDir);
  if (keys.length === 0) return [{ key: 'created_at', dir: parsedDirs[0] ?? 'desc' }];
  return keys.map((k, i) => ({
    key: sortKey(k),
    dir: parsedDirs.length > 1 ? (parsedDirs[i] as 'asc' | 'desc') : (parsedDirs[0] ?? 'desc'),
  }));
}

/** `in:"a","b",c` as its values; anything else is the one value it is. */
function inList(v: string): string[] {
  if (!v.startsWith('in:')) return [v];
  const out: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|([^,]*))\s*(?:,|$)/y;
  const text = v.slice(3);
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m || re.lastIndex === at) break;
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? '').trim());
    at = re.lastIndex;
  }
  return out;
}

function timeCondition(key: string, v: string): TimeCondition {
  const colon = v.indexOf(':');
  const op = colon > 0 ? v.slice(0, colon) : '';
  if (!(TIME_OPS as readonly string[]).includes(op)) {
    throw bad(
      `The ${key} filter '${v}' must be an operator (${TIME_OPS.join(', ')}), a colon and an ISO 8601 time.`,
      key,
    );
  }
  const text = v.slice(colon + 1);
  const at = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(at))
    throw bad(`The ${key} filter has a time that is not ISO 8601: '${text}'.`, key);
  return { op: op as TimeCondition['op'], at };
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

/**
 * The body of POST /v2/images/{id}/import: `{"method": {"name": "glance-direct"}}`. A method
 * this cloud does not offer (web-download, copy-image, glance-download) is refused as not
 * enabled, 400 as the Image API answers; stores named must be this cloud's one store.
 */
export function parseImportMethod(body: unknown, enabled: readonly string[]): string {
  const b = body as Record<string, unknown> | null | undefined;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) {
    throw bad(
      'The request body must be a JSON object such as {"method": {"name": "glance-direct"}}.',
    );
  }
  const unknown = Object.keys(b).filter(
    (k) => !['method', 'stores', 'all_stores', 'all_stores_must_succeed'].includes(k),
  );
  if (unknown.length > 0) throw bad(`Unknown import field '${unknown[0]}'.`, unknown[0]);
  const method = b.method as Record<string, unknown> | undefined;
  const name = typeof method === 'object' && method !== null ? method.name : undefined;
  if (typeof name !== 'string') throw bad("The import needs 'method' with a 'name'.", 'method');
  if (!enabled.includes(name)) {
    throw bad(
      `Import method ${name} is not enabled on this cloud; use ${enabled.join(', ')}.`,
      'method',
    );
  }
  if (b.stores !== undefined) {
    if (!Array.isArray(b.stores) || b.stores.some((s) => s !== 'file')) {
      throw bad("This cloud has one store, 'file'.", 'stores');
    }
  }
  return name;
}
