// PATCH /v2/images/{id}: a JSON patch in the Image API's media types, turned into a change
// of the image. `application/openstack-images-v2.1-json-patch` has RFC 6902 operations
// (`{"op": "replace", "path": "/name", "value": ...}`); the older
// `application/openstack-images-v2.0-json-patch` names the operation as the key
// (`{"replace": "/name", "value": ...}`) and refuses to add what is already there. Only add,
// remove and replace, on one property each (`/name`, `/tags`, `/hw_disk_bus`, with `~1` for
// a `/` in a name), as the Image API takes them; operations apply in order, and either all of
// them apply or none.
import type { ImageRow } from '../../db/index.js';
import { invalid, StratusError } from '../../errors.js';
import { imageProperties, imageTags, type ImageChange } from '../../image/index.js';
import { apiFormat } from './formats.js';
import {
  checkBoolean,
  checkCount,
  checkProperty,
  checkPropertyCount,
  checkTagList,
  checkVisibility,
  refuseServerAttribute,
  type Visibility,
} from './properties.js';
import { visibilityOf } from './views.js';

export const PATCH_TYPES = [
  'application/openstack-images-v2.1-json-patch',
  'application/openstack-images-v2.0-json-patch',
] as const;

type Op = 'add' | 'remove' | 'replace';

interface Operation {
  op: Op;
  /** The property the path names, unescaped. */
  key: string;
  value?: unknown;
}

/** A change of an image and whether it ends the image's shares (it became private). */
export type PatchResult = ImageChange & { endShares?: boolean };

const bad = (message: string, id?: string) =>
  invalid(message, { resource: 'parameter', ...(id ? { id } : {}) });

/** The operations of a patch body, checked for their form (not yet against the image). */
export function parsePatch(body: unknown, mediaType: (typeof PATCH_TYPES)[number]): Operation[] {
  const v20 = mediaType === PATCH_TYPES[1];
  if (!Array.isArray(body)) {
    throw bad(
      'A JSON patch is a list of operations, such as [{"op": "replace", "path": "/name", "value": "new"}].',
    );
  }
  return body.map((item: unknown) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw bad('Each operation of a JSON patch must be an object.');
    }
    const o = item as Record<string, unknown>;
    let op: unknown;
    let path: unknown;
    if (v20) {
      const named = (['add', 'remove', 'replace'] as const).filter((k) => k in o);
      if (named.length !== 1) {
        throw bad('Each operation must name exactly one of add, remove or replace with its path.');
      }
      op = named[0];
      path = o[named[0] as string];
      const extra = Object.keys(o).filter((k) => k !== op && k !== 'value');
      if (extra.length > 0) throw bad(`Unknown field '${extra[0]}' in a JSON patch operation.`);
    } else {
      op = o.op;
      path = o.path;
      const extra = Object.keys(o).filter((k) => !['op', 'path', 'value'].includes(k));
      if (extra.length > 0) throw bad(`Unknown field '${extra[0]}' in a JSON patch operation.`);
      if (op !== 'add' && op !== 'remove' && op !== 'replace') {
        throw bad(
          `The operation '${String(op)}' is not supported; use add, remove or replace.`,
          'op',
        );
      }
    }
    if (typeof path !== 'string' || !path.startsWith('/') || path.length < 2) {
      throw bad(`The path '${String(path)}' is not a property path such as '/name'.`, 'path');
    }
    const segments = path.slice(1).split('/');
    if (segments.length !== 1 || /~[^01]|~$/.test(path)) {
      throw bad(`The path '${path}' names no property; use one such as '/name'.`, 'path');
    }
    const key = (segments[0] as string).replace(/~1/g, '/').replace(/~0/g, '~');
    if (op !== 'remove' && !('value' in o)) {
      throw bad(`The ${String(op)} operation on '${path}' needs a value.`, 'value');
    }
    if (op === 'remove' && 'value' in o) {
      throw bad(`The remove operation on '${path}' takes no value.`, 'value');
    }
    return { op: op as Op, key, ...(op === 'remove' ? {} : { value: o.value }) };
  });
}

/** What a patch may change, with the image's current values. */
interface Doc {
  name: string;
  description: string;
  architecture: string;
  visibility: Visibility;
  protected: boolean;
  os_hidden: boolean;
  min_disk: number;
  min_ram: number;
  tags: string[];
}

/** Core properties that can be replaced but not removed. */
const CORE: readonly (keyof Doc)[] = [
  'name',
  'visibility',
  'protected',
  'os_hidden',
  'min_disk',
  'min_ram',
  'tags',
  'architecture',
];

/**
 * Applies checked operations to an image as it is now and returns what changes. Refusals,
 * as the Image API answers: a read-only or reserved attribute 403, removing a core property
 * 403, replacing or removing a custom property that does not exist 409 (and adding one that
 * does, in the 2.0 patch), a value of the wrong type 400, past the limits 413.
 */
export function applyPatch(
  row: ImageRow,
  shared: boolean,
  ops: readonly Operation[],
  mediaType: (typeof PATCH_TYPES)[number],
): PatchResult {
  const v20 = mediaType === PATCH_TYPES[1];
  const before: Doc = {
    name: row.name,
    description: row.description,
    architecture: row.architecture,
    visibility: visibilityOf(row, shared) as Visibility,
    protected: row.protected === 1,
    os_hidden: row.hidden === 1,
    min_disk: row.minDisk,
    min_ram: row.minRam,
    tags: imageTags(row),
  };
  const doc: Doc = { ...before, tags: [...before.tags] };
  const properties = imageProperties(row);
  const propertiesBefore = JSON.stringify(properties);
  const formats = apiFormat(row);
  for (const { op, key, value } of ops) {
    refuseServerAttribute(key);
    if (key === 'id' || key === 'owner' || key === 'disk_format' || key === 'container_format') {
      const now = key === 'id' ? row.id : key === 'owner' ? row.ownerProjectId : formats[key];
      if (op === 'replace' && value === now) continue;
      throw new StratusError('forbidden', `Attribute '${key}' cannot be changed here.`, {
        resource: 'parameter',
        id: key,
      });
    }
    if (key === 'kernel_id' || key === 'ramdisk_id') {
      throw bad(`The ${key} of an image is set when it is created and cannot be changed.`, key);
    }
    if ((CORE as readonly string[]).includes(key)) {
      if (op === 'remove') {
        throw new StratusError('forbidden', `Property '${key}' may not be removed.`, {
          resource: 'parameter',
          id: key,
        });
      }
      setCore(doc, key as keyof Doc, value);
      continue;
    }
    if (key === 'description') {
      if (op === 'remove') {
        if (doc.description === '') throw absent(key);
        doc.description = '';
      } else {
        if (op === 'replace' && doc.description === '') throw absent(key);
        if (op === 'add' && v20 && doc.description !== '') throw present(key);
        doc.description = checkProperty(key, value);
      }
      continue;
    }
    // A custom property.
    const exists = Object.prototype.hasOwnProperty.call(properties, key);
    if (op === 'remove') {
      if (!exists) throw absent(key);
      delete properties[key];
    } else {
      if (op === 'replace' && !exists) throw absent(key);
      if (op === 'add' && v20 && exists) throw present(key);
      properties[key] = checkProperty(key, value);
    }
  }
  checkPropertyCount(properties);
  const change: PatchResult = {};
  if (doc.name !== before.name) change.name = doc.name;
  if (doc.description !== before.description) change.description = doc.description;
  if (doc.architecture !== before.architecture) change.architecture = doc.architecture;
  if (doc.protected !== before.protected) change.protected = doc.protected;
  if (doc.os_hidden !== before.os_hidden) change.hidden = doc.os_hidden;
  if (doc.min_disk !== before.min_disk) change.minDisk = doc.min_disk;
  if (doc.min_ram !== before.min_ram) change.minRam = doc.min_ram;
  if (JSON.stringify(doc.tags) !== JSON.stringify(before.tags)) change.tags = doc.tags;
  if (JSON.stringify(properties) !== propertiesBefore) change.properties = properties;
  if (doc.visibility !== before.visibility) {
    change.isPublic = doc.visibility === 'public';
    change.community = doc.visibility === 'community';
    // Shares end when an image becomes private; `shared` is a private image with members.
    if (doc.visibility === 'private') change.endShares = true;
  }
  return change;
}

function setCore(doc: Doc, key: keyof Doc, value: unknown): void {
  switch (key) {
    case 'name':
    case 'architecture':
      if (typeof value !== 'string') throw bad(`'${key}' must be a string.`, key);
      doc[key] = value;
      return;
    case 'visibility':
      doc.visibility = checkVisibility(value);
      return;
    case 'protected':
    case 'os_hidden':
      doc[key] = checkBoolean(key, value);
      return;
    case 'min_disk':
    case 'min_ram':
      doc[key] = checkCount(key, value);
      return;
    case 'tags':
      doc.tags = checkTagList(value);
      return;
    case 'description':
      return;
  }
}

function absent(key: string): StratusError {
  return new StratusError('conflict', `Property ${key} does not exist.`, {
    resource: 'parameter',
    id: key,
  });
}

function present(key: string): StratusError {
  return new StratusError('conflict', `Property ${key} already present.`, {
    resource: 'parameter',
    id: key,
  });
}
