// The Image API's image properties, as a create body and a JSON patch name them: which are
// the server's (read-only), which are reserved, which this cloud keeps in columns of its own,
// and the custom ones (any other name, with a string value). One set of rules for POST
// /v2/images and PATCH /v2/images/{id}, with Glance's answers: 403 for read-only and
// reserved attributes, 400 for a value of the wrong type, 413 past the limits.
import { invalid, StratusError } from '../../errors.js';

/** Attributes only the server sets: refused with 403 ("read-only"), as the Image API does. */
export const READ_ONLY = [
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
  'direct_url',
  'stores',
  'locations',
];

/** Names no image may have: refused with 403 ("reserved"). */
export const RESERVED = ['deleted', 'deleted_at'];
/** Property names in this namespace are the Image API's own (import bookkeeping). */
const RESERVED_PREFIX = 'os_glance_';

/** How many custom properties and tags an image may have (the Image API's default quotas). */
export const MAX_PROPERTIES = 128;
export const MAX_TAGS = 128;
/** The longest property name, property value, and tag. */
const MAX_KEY = 255;
const MAX_VALUE = 65535;
const MAX_TAG = 255;

export const VISIBILITIES = ['public', 'private', 'shared', 'community'] as const;
export type Visibility = (typeof VISIBILITIES)[number];

const bad = (message: string, id?: string) =>
  invalid(message, { resource: 'parameter', ...(id ? { id } : {}) });

/** Refuses a read-only or reserved attribute with 403, as the Image API does. */
export function refuseServerAttribute(key: string): void {
  if (READ_ONLY.includes(key)) {
    throw new StratusError('forbidden', `Attribute '${key}' is read-only.`, {
      resource: 'parameter',
      id: key,
    });
  }
  if (RESERVED.includes(key) || key.startsWith(RESERVED_PREFIX)) {
    throw new StratusError('forbidden', `Attribute '${key}' is reserved.`, {
      resource: 'parameter',
      id: key,
    });
  }
}

export function checkBoolean(key: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw bad(`'${key}' must be true or false.`, key);
  return v;
}

/** A non-negative integer in the Image API's range (min_disk, min_ram). */
export function checkCount(key: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1) {
    throw bad(`'${key}' must be an integer from 0 to ${2 ** 31 - 1}.`, key);
  }
  return v;
}

export function checkVisibility(v: unknown): Visibility {
  if (typeof v !== 'string' || !(VISIBILITIES as readonly string[]).includes(v)) {
    throw bad(
      `The visibility '${String(v)}' is not one of ${VISIBILITIES.join(', ')}.`,
      'visibility',
    );
  }
  return v as Visibility;
}

/** A list of tags: strings of 1 to 255 characters, duplicates dropped, at most MAX_TAGS. */
export function checkTagList(v: unknown): string[] {
  if (!Array.isArray(v)) throw bad("'tags' must be a list of strings.", 'tags');
  const out: string[] = [];
  for (const t of v) {
    checkTag(t);
    if (!out.includes(t as string)) out.push(t as string);
  }
  if (out.length > MAX_TAGS) throw tooMany('tags', MAX_TAGS);
  return out;
}

export function checkTag(t: unknown): string {
  if (typeof t !== 'string' || t.length === 0 || t.length > MAX_TAG || hasControl(t)) {
    throw bad(
      `A tag must be a string of 1 to ${MAX_TAG} characters without control characters.`,
      'tags',
    );
  }
  return t;
}

/** A custom property: a name of at most 255 characters and a string value. */
export function checkProperty(key: string, v: unknown): string {
  if (key.length === 0 || key.length > MAX_KEY || hasControl(key)) {
    throw bad(
      `A property name must have 1 to ${MAX_KEY} characters without control characters.`,
      key.slice(0, 64),
    );
  }
  if (typeof v !== 'string') {
    throw bad(`The property '${key}' must have a string value.`, key.slice(0, 64));
  }
  if (v.length > MAX_VALUE) {
    throw bad(
      `The value of the property '${key}' is longer than ${MAX_VALUE} characters.`,
      key.slice(0, 64),
    );
  }
  return v;
}

/** Refuses more custom properties than the limit (413, as the Image API's quota does). */
export function checkPropertyCount(properties: Readonly<Record<string, string>>): void {
  if (Object.keys(properties).length > MAX_PROPERTIES) throw tooMany('properties', MAX_PROPERTIES);
}

export function tooMany(what: 'tags' | 'properties', max: number): StratusError {
  return new StratusError('over_quota', `An image may have at most ${max} ${what}.`, {
    resource: 'image',
  });
}

function hasControl(s: string): boolean {
  return [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
}
