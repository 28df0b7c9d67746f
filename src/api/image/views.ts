// What the Image API shows: the version documents and images, in the shapes the OpenStack Image API's clients
// read. Paths in `self`, `file`, `schema` and `next` are relative to the endpoint, as the reference API's are.
import type { ImageMemberRow, ImageRow, ImageStatus } from '../../db/index.js';
import { apiFormat } from './formats.js';

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
  active: 'active',
  killed: 'killed',
  deleted: 'deleted',
};

/**
 * An image; `shared` when it is not public and has members (a private image takes members
 * and is then shown shared, as the Image API's default visibility allows since 2.5).
 */
export function imageView(row: ImageRow, shared = false) {
  const hasData = row.status === 'active' && row.checksum !== null;
  return {
    id: row.id,
    name: row.name,
    status: STATUSES[row.status],
    visibility: row.isPublic === 1 ? 'public' : shared ? 'shared' : 'private',
    protected: false,
    os_hidden: false,
    tags: [] as string[],
    ...apiFormat(row),
    size: hasData ? row.sizeBytes : null,
    virtual_size: null,
    // The Image API's `checksum` is an MD5, which this cloud does not compute; the SHA-256 it keeps
    // is the multihash (os_hash_algo / os_hash_value, Image API 2.7).
    checksum: null,
    os_hash_algo: hasData ? 'sha256' : null,
    os_hash_value: hasData ? row.checksum : null,
    min_disk: 0,
    min_ram: 0,
    owner: row.ownerProjectId,
    architecture: row.architecture,
    ...(row.description ? { description: row.description } : {}),
    ...(row.kernelId ? { kernel_id: row.kernelId } : {}),
    ...(row.ramdiskId ? { ramdisk_id: row.ramdiskId } : {}),
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
