// What the Image API shows: the version documents and images, in the shapes the OpenStack Image API's clients
// read. Paths in `self`, `file`, `schema` and `next` are relative to the endpoint, as the reference API's are.
import type { ImageMemberRow, ImageRow, ImageStatus } from '../../db/index.js';
import { imageProperties, imageTags } from '../../image/index.js';
import { apiFormat } from './formats.js';

/** The one store this cloud has (the image directory), as store discovery names it. */
export const STORE_ID = 'file';

/** The API version this edge implements (a subset of it; see the README). */
const CURRENT = 'v2.7';

export function versionsView(base: string) {
  return {
    versions: [
      { id: CURRENT, status: 'CURRENT', links: [{ rel: 'self', href: `${base}/v2/` }] },
      { id: 'v2.0', status: 'SUPPORTED', links: [{ rel: 'self', href: `${base}/v2/` }] },
    ],
  };
}

/** The Image API's time format: ISO 8601 to the second. */
const time = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const STATUSES: Readonly<Record<ImageStatus, string>> = {
  queued: 'queued',
  saving: 'saving',
  uploading: 'uploading',
  importing: 'importing',
  active: 'active',
  deactivated: 'deactivated',
  killed: 'killed',
  deleted: 'deleted',
};

/** The Image API's visibility of an image: `shared` when it has members. */
export function visibilityOf(row: ImageRow, shared: boolean): string {
  if (row.isPublic === 1) return 'public';
  if (row.community === 1) return 'community';
  return shared ? 'shared' : 'private';
}

/**
 * An image; `shared` when it is not public or community and has members (a private image
 * takes members and is then shown shared, as the Image API's default visibility allows
 * since 2.5). Custom properties are fields of their own, after the core ones.
 */
export function imageView(row: ImageRow, shared = false) {
  const hasData =
    (row.status === 'active' || row.status === 'deactivated') && row.checksum !== null;
  // The multihash is SHA-512 (the Image API's default algorithm); data stored before this
  // cloud kept SHA-512 shows the SHA-256 it has, and no MD5 `checksum`.
  const multihash =
    row.sha512 !== null
      ? { os_hash_algo: 'sha512', os_hash_value: row.sha512 }
      : { os_hash_algo: 'sha256', os_hash_value: row.checksum };
  return {
    ...imageProperties(row),
    id: row.id,
    name: row.name,
    status: STATUSES[row.status],
    visibility: visibilityOf(row, shared),
    protected: row.protected === 1,
    os_hidden: row.hidden === 1,
    tags: imageTags(row),
    ...apiFormat(row),
    size: hasData ? row.sizeBytes : null,
    virtual_size: hasData ? row.virtualSize : null,
    checksum: hasData ? row.md5 : null,
    os_hash_algo: hasData ? multihash.os_hash_algo : null,
    os_hash_value: hasData ? multihash.os_hash_value : null,
    min_disk: row.minDisk,
    min_ram: row.minRam,
    owner: row.ownerProjectId,
    architecture: row.architecture,
    ...(row.description ? { description: row.description } : {}),
    ...(row.kernelId ? { kernel_id: row.kernelId } : {}),
    ...(row.ramdiskId ? { ramdisk_id: row.ramdiskId } : {}),
    ...(hasData ? { stores: STORE_ID } : {}),
    created_at: time(row.createdAt),
    updated_at: time(row.updatedAt),
    self: `/v2/images/${row.id}`,
    file: `/v2/images/${row.id}/file`,
    schema: '/v2/schemas/image',
  };
}

export function imageListView(
  rows: readonly ImageRow[],
  shared: ReadonlySet<string>,
  next: string | null,
) {
  return {
    images: rows.map((r) => imageView(r, shared.has(r.id))),
    first: '/v2/images',
    schema: '/v2/schemas/images',
    ...(next ? { next } : {}),
  };
}

/** One member of an image, as the Image API shows it. */
export function memberView(m: ImageMemberRow) {
  return {
    image_id: m.imageId,
    member_id: m.projectId,
    status: m.status,
    created_at: time(m.createdAt),
    updated_at: time(m.updatedAt),
    schema: '/v2/schemas/member',
  };
}

export function memberListView(members: readonly ImageMemberRow[]) {
  return { members: members.map(memberView), schema: '/v2/schemas/members' };
}
