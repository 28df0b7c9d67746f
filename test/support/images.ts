// Image records for tests and benchmarks that need an image in the database without a file:
// an active public raw machine image unless the fields say otherwise.
import { randomUUID } from 'node:crypto';
import { ImageRepo, type Db, type ImageRow } from '../../src/db/index.js';

export function imageRow(fields: Partial<ImageRow> = {}): ImageRow {
  const at = Date.now();
  return {
    id: randomUUID(),
    name: `image-${randomUUID().slice(0, 8)}`,
    description: '',
    kind: 'machine',
    ownerProjectId: null,
    isPublic: 1,
    status: 'active',
    diskFormat: 'raw',
    sizeBytes: 1024,
    checksum: null,
    location: null,
    architecture: 'x86_64',
    kernelId: null,
    ramdiskId: null,
    createdAt: at,
    updatedAt: at,
    deletedAt: null,
    deprecateAt: null,
    clientToken: null,
    community: 0,
    protected: 0,
    hidden: 0,
    minDisk: 0,
    minRam: 0,
    virtualSize: null,
    md5: null,
    sha512: null,
    properties: '{}',
    tags: '[]',
    ...fields,
  };
}

/** Inserts an image record (see `imageRow`) and returns it as stored. */
export function insertImage(db: Db, fields: Partial<ImageRow> = {}): Promise<ImageRow> {
  return new ImageRepo(db).insert(imageRow(fields));
}
