// The image store: image files under `<directory>/<uuid>` (option `image.directory`, by
// default `<state-dir>/images`) and their records in the `images` table. It imports files
// (checked with qemu-img, copied with a SHA-256), registers further records over a stored
// file, finds an image's file and deletes images. It applies no tenancy: trusted callers (the
// operator's CLI, virt drivers, start-up) use it directly, and API edges go through
// ImageService, which does.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  ImageMemberRepo,
  ImageRepo,
  ProjectRepo,
  TagRepo,
  type Db,
  type ImageKind,
  type ImageListFilter,
  type ImageMemberRow,
  type ImageMemberStatus,
  type ImageRow,
  type ImageStatus,
} from '../db/index.js';
import { alreadyExists, invalid, notFound, StratusError } from '../errors.js';
import { checkTags, checkText, IMAGE_DESCRIPTION, IMAGE_NAME, textProblem } from '../text-rules.js';
import { copyFile, writeStream, type CopyProgress, type CopyResult } from './copy-file.js';
import { QemuImg, type ImageFileInfo } from './qemu-img.js';

export const IMAGE_KINDS: readonly ImageKind[] = ['machine', 'kernel', 'ramdisk'];
export const ARCHITECTURES = ['x86_64', 'i386', 'arm64'] as const;
/** Disk formats a machine image may have; kernels and ramdisks are always raw files. */
export const MACHINE_FORMATS = ['raw', 'qcow2', 'vmdk', 'vdi', 'vpc', 'vhdx'] as const;

export interface ImageStoreOptions {
  db: Db;
  /** The cloud's state directory; image files live in `<stateDir>/images` unless `directory` is given. */
  stateDir: string;
  /**
   * The directory image files live in (the `image.directory` option). Every host of a cloud
   * points at the same shared directory, wherever it is mounted: a file is looked up here by
   * its name, not at the path the importing host recorded.
   */
  directory?: string;
  /** How to run qemu-img; the one on PATH by default. */
  qemuImg?: QemuImg;
}

/** What a new image is, for `import` and `register`. */
export interface NewImage {
  /** 1 to 255 characters, unique among the owner's live images. */
  name: string;
  description?: string;
  /** 'x86_64' when absent. */
  architecture?: string;
  /** Owning project id; null or absent: the cloud's own image. */
  ownerProjectId?: string | null;
  /** Whether every project may see and launch it; default: public for the cloud's images. */
  isPublic?: boolean;
  /** For machine images: the kernel and ramdisk image ids it boots with. */
  kernelId?: string | null;
  ramdiskId?: string | null;
}

export interface ImportRequest extends NewImage {
  /** The file to import; it is copied, never moved. */
  file: string;
  /** 'machine' when absent. */
  kind?: ImageKind;
  /** Called once qemu-img has accepted the file, before the copy starts. */
  onChecked?: (info: ImageFileInfo & { sizeBytes: number }) => void;
  /** Called as the copy progresses; throwing stops the import (the image becomes killed). */
  onProgress?: (progress: CopyProgress) => void;
}

export interface CreateRequest extends NewImage {
  /** 'machine' when absent. */
  kind?: ImageKind;
  /** The qemu-img format the data must have: one of MACHINE_FORMATS; kernels and ramdisks 'raw'. */
  diskFormat: string;
  /** What the Image API keeps beyond EC2's attributes; none set when absent. */
  attributes?: Partial<ImageAttributes>;
}

/** What an image says about itself for the Image API (and its launch checks). */
export interface ImageAttributes {
  /** Any project may launch it and find it by id (the Image API's `community`). */
  community: boolean;
  /** It cannot be deleted while this is set. */
  protected: boolean;
  /** Left out of listings unless they ask for hidden images. */
  hidden: boolean;
  /** The smallest root disk (GiB) and memory (MiB) a flavor must have to launch it. */
  minDisk: number;
  minRam: number;
  /** Custom properties. */
  properties: Readonly<Record<string, string>>;
  tags: readonly string[];
}

/** A change of a live image (see ImageStore.update); absent fields stay as they are. */
export interface ImageChange extends Partial<ImageAttributes> {
  name?: string;
  description?: string;
  architecture?: string;
  isPublic?: boolean;
  deprecateAt?: number | null;
}

export interface UploadOptions {
  /** Largest accepted upload, in bytes; unlimited when absent. */
  maxBytes?: number;
}

export interface CopyRequest {
  /** The active image whose data is copied (kind, architecture, kernel and ramdisk too). */
  sourceId: string;
  /** The copy's owner; it is private to that project. */
  ownerProjectId: string;
  name: string;
  description?: string;
  /** A retried copy with the same token (same owner) answers the image it made first. */
  clientToken?: string;
  /** Tags to put on the copy, kept for `ownerProjectId`. */
  tags?: readonly { key: string; value: string }[];
}

export interface RegisterRequest extends NewImage {
  /** The image whose stored file the new image shares (its kind is the new image's kind). */
  sourceId: string;
  /** Tags to put on the new image, kept for `ownerProjectId`. */
  tags?: readonly { key: string; value: string }[];
}

/** Where an active image's bits are. */
export interface ImageFile {
  path: string;
  format: string;
  sizeBytes: number;
  /** Lower-case hex SHA-256 of the file. */
  sha256: string;
}

/** What a write of an image's data produced, with the disk size the guest will see. */
type StoredBits = CopyResult & { virtualSize: number | null };

/** The custom properties and tags of a record. */
export function imageProperties(row: ImageRow): Record<string, string> {
  return parseJson<Record<string, string>>(row.properties, {});
}

export function imageTags(row: ImageRow): string[] {
  return parseJson<string[]>(row.tags, []);
}

function parseJson<T>(text: string, fallback: T): T {
  try {
    return (JSON.parse(text) as T | null) ?? fallback;
  } catch {
    return fallback;
  }
}

/** The columns of ImageAttributes, for a new record or a change. */
function attributeColumns(a: Partial<ImageAttributes>): Partial<ImageRow> {
  const set: Partial<ImageRow> = {};
  if (a.community !== undefined) set.community = a.community ? 1 : 0;
  if (a.protected !== undefined) set.protected = a.protected ? 1 : 0;
  if (a.hidden !== undefined) set.hidden = a.hidden ? 1 : 0;
  if (a.minDisk !== undefined) set.minDisk = a.minDisk;
  if (a.minRam !== undefined) set.minRam = a.minRam;
  if (a.properties !== undefined) set.properties = JSON.stringify(a.properties);
  if (a.tags !== undefined) set.tags = JSON.stringify(a.tags);
  return set;
}

/** The new columns' values of a record that sets none of them. */
const NO_ATTRIBUTES = {
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
} satisfies Partial<ImageRow>;

/** The fields of a new record that `#checkNew` decides. */
type NewImageFields = Pick<
  ImageRow,
  'name' | 'description' | 'architecture' | 'ownerProjectId' | 'isPublic' | 'kernelId' | 'ramdiskId'
>;

export class ImageStore {
  /** The directory the image files live in. */
  readonly directory: string;
  readonly #db: Db;
  readonly #images: ImageRepo;
  readonly #qemuImg: QemuImg;

  constructor(options: ImageStoreOptions) {
    this.#db = options.db;
    this.#images = new ImageRepo(options.db);
    this.directory = options.directory ?? path.join(options.stateDir, 'images');
    this.#qemuImg = options.qemuImg ?? new QemuImg();
  }

  /**
   * Imports `file` as a new image. The file is checked before anything is created: a missing,
   * unreadable, empty, truncated or corrupt file (per `qemu-img info` and `qemu-img check`),
   * a format the kind does not allow, or an image with a backing file is refused with an
   * `invalid` error and leaves no record and no file. Then the record goes queued -> saving ->
   * active while the file is copied to `<dir>/<id>` with its SHA-256; if the copy fails, the
   * partial file is removed and the record is left `killed` (delete removes it).
   */
  async import(req: ImportRequest): Promise<ImageRow> {
    const kind = req.kind ?? 'machine';
    if (!IMAGE_KINDS.includes(kind)) {
      throw invalid(`The image kind '${String(kind)}' is not one of ${IMAGE_KINDS.join(', ')}.`, {
        resource: 'parameter',
        id: 'kind',
      });
    }
    const base = await this.#checkNew(req, kind);
    const sizeBytes = await checkSourceFile(req.file);
    const info = await this.#qemuImg.probe(req.file);
    if (info.backingFile !== null) {
      throw invalid(
        `The file ${req.file} is a ${info.format} image over the backing file ${info.backingFile}; import a self-contained image (qemu-img convert makes one).`,
        { resource: 'image_file', id: req.file },
      );
    }
    const formats: readonly string[] = kind === 'machine' ? MACHINE_FORMATS : ['raw'];
    if (!formats.includes(info.format)) {
      throw invalid(
        `The file ${req.file} is a ${info.format} image; a ${kind} image must be ${formats.join(', ')}.`,
        { resource: 'image_file', id: req.file },
      );
    }
    req.onChecked?.({ ...info, sizeBytes });

    const row = await this.#insertQueued(base, kind, info.format, sizeBytes);
    if (!(await this.#images.transition(row.id, 'queued', 'saving'))) {
      throw notFound('image', row.id);
    }
    return this.#storeBits(row, `Importing ${req.file} as image '${req.name}'`, async (part) => {
      const copied = await copyFile(req.file, part, sizeBytes, req.onProgress);
      if (copied.bytes !== sizeBytes) {
        throw new Error(
          `the file changed while it was copied (${copied.bytes} bytes read, ${sizeBytes} expected)`,
        );
      }
      return { ...copied, virtualSize: info.virtualSizeBytes };
    });
  }

  /**
   * Creates a `queued` image without data (the first step of the Image API's create, then
   * upload): what it is and the disk format its data must have are checked now, the data by
   * `upload`. Same refusals as `import` for the name, owner, visibility and links.
   */
  async create(req: CreateRequest): Promise<ImageRow> {
    const kind = req.kind ?? 'machine';
    if (!IMAGE_KINDS.includes(kind)) {
      throw invalid(`The image kind '${String(kind)}' is not one of ${IMAGE_KINDS.join(', ')}.`, {
        resource: 'parameter',
        id: 'kind',
      });
    }
    const formats: readonly string[] = kind === 'machine' ? MACHINE_FORMATS : ['raw'];
    if (!formats.includes(req.diskFormat)) {
      throw invalid(
        `The disk format '${req.diskFormat}' is not allowed for a ${kind} image; use ${formats.join(', ')}.`,
        { resource: 'parameter', id: 'disk_format' },
      );
    }
    const base = await this.#checkNew(req, kind);
    return this.#insertQueued(base, kind, req.diskFormat, null, undefined, req.attributes);
  }

  /**
   * Takes the data of a `queued` image from `data` (an upload), streamed to a temporary file
   * with its SHA-256, then checked as `import` checks a file: not empty, accepted by
   * `qemu-img info` and `qemu-img check`, in the image's disk format, without a backing file.
   * Only then does the image become `active`. An image that is not queued (being uploaded,
   * active, killed) is refused with `conflict` before anything is read. Data that fails the
   * checks, is cut short (the stream fails) or exceeds `maxBytes` leaves no file and the
   * image `killed`: an `invalid` error for bad data, `unavailable` for a failed transfer.
   */
  async upload(id: string, data: Readable, options: UploadOptions = {}): Promise<ImageRow> {
    const row = await this.#images.get(id);
    if (!(await this.#images.transition(row.id, 'queued', 'saving'))) {
      const now = await this.#images.get(id);
      throw new StratusError(
        'conflict',
        `The image '${row.id}' is ${now.status}; data can only be uploaded to a queued image.`,
        { resource: 'image', id: row.id, reason: 'image_state' },
      );
    }
    const what = `Uploading data to image '${row.name}' (${row.id})`;
    return this.#storeBits(row, what, async (part) => {
      const copied = await writeStream(data, part, { maxBytes: options.maxBytes });
      return { ...copied, virtualSize: await this.#checkData(row, part, copied.bytes) };
    });
  }

  /**
   * Checks data written for `row` as an import's file is checked: not empty, accepted by
   * qemu-img, in the image's disk format, without a backing file. Returns its virtual size.
   */
  async #checkData(row: ImageRow, file: string, bytes: number): Promise<number> {
    if (bytes === 0) {
      throw invalid('The uploaded data is empty.', { resource: 'image_file' });
    }
    const info = await this.#qemuImg.probe(file, { label: 'The uploaded data' });
    if (info.backingFile !== null) {
      throw invalid(
        'The uploaded data is an image over a backing file; upload a self-contained image (qemu-img convert makes one).',
        { resource: 'image_file' },
      );
    }
    if (info.format !== row.diskFormat) {
      throw invalid(
        `The uploaded data is a ${info.format} image, but the image's disk format is ${row.diskFormat ?? 'not set'}.`,
        { resource: 'image_file', reason: 'disk_format' },
      );
    }
    return info.virtualSizeBytes;
  }

  /**
   * The first step of the Image API's interoperable import (glance-direct): takes the data
   * of a `queued` image into a staging file `<dir>/<id>.staged`, and the image becomes
   * `uploading`. Nothing is checked yet; `importStaged` does that. An image that is not
   * queued is a `conflict`; data that cannot be written (cut short, over `maxBytes`, empty)
   * leaves no staged file and the image queued again.
   */
  async stage(id: string, data: Readable, options: UploadOptions = {}): Promise<ImageRow> {
    const row = await this.#images.get(id);
    if (!(await this.#images.transition(row.id, 'queued', 'uploading'))) {
      const now = await this.#images.get(id);
      throw new StratusError(
        'conflict',
        `The image '${row.id}' is ${now.status}; data can only be staged for a queued image.`,
        { resource: 'image', id: row.id, reason: 'image_state' },
      );
    }
    const staged = this.#staged(row.id);
    try {
      await fs.promises.mkdir(this.directory, { recursive: true, mode: 0o700 });
      await fs.promises.rm(staged, { force: true });
      const written = await writeStream(data, staged, { maxBytes: options.maxBytes });
      if (written.bytes === 0) {
        throw invalid('The staged data is empty.', { resource: 'image_file' });
      }
    } catch (err) {
      await fs.promises.rm(staged, { force: true });
      await this.#images.transition(row.id, 'uploading', 'queued').catch(() => false);
      if (err instanceof StratusError) throw err;
      throw new StratusError(
        'unavailable',
        `Staging data for image '${row.name}' (${row.id}) failed: ${err instanceof Error ? err.message : String(err)}. The image is queued again.`,
        { resource: 'image', id: row.id, cause: err },
      );
    }
    return this.#images.get(row.id);
  }

  /**
   * The second step of the glance-direct import: an `uploading` image (one with staged data)
   * becomes `importing` at once (a `conflict` for any other status, so one of two racing
   * imports wins), and resolves with that record; in the background the staged data is
   * copied into place with its checksums and checked as an upload is. The image then becomes
   * `active`, or, when the data fails, `queued` again without data (the staged file is
   * removed either way), as the Image API reverts a failed import.
   */
  async importStaged(id: string): Promise<ImageRow> {
    const row = await this.#images.get(id);
    if (!(await this.#images.transition(row.id, 'uploading', 'importing'))) {
      throw new StratusError(
        'conflict',
        `The image '${row.id}' is ${row.status}; stage its data before importing it with glance-direct.`,
        { resource: 'image', id: row.id, reason: 'image_state' },
      );
    }
    const staged = this.#staged(row.id);
    const what = `Importing the staged data of image '${row.name}' (${row.id})`;
    void this.#storeBits(
      row,
      what,
      async (part) => {
        // The staged file goes before the image changes status, whatever the outcome.
        let copied: CopyResult;
        try {
          copied = await copyFile(staged, part, (await fs.promises.stat(staged)).size);
        } finally {
          await fs.promises.rm(staged, { force: true });
        }
        return { ...copied, virtualSize: await this.#checkData(row, part, copied.bytes) };
      },
      { from: 'importing', failed: 'queued' },
    ).catch(() => undefined);
    return this.#images.get(row.id);
  }

  #staged(id: string): string {
    return path.join(this.directory, `${id}.staged`);
  }

  /**
   * Makes a `queued` image that has no data of its own active: a volume-backed image, whose
   * properties name the snapshots its volumes are made from (volume-mappings.ts). False when
   * it is not queued any more (deleted meanwhile).
   */
  async activateVolumeBacked(id: string): Promise<boolean> {
    return this.#images.transition(id, 'queued', 'active', { sizeBytes: 0, virtualSize: 0 });
  }

  /**
   * Deactivates an active image (it is kept, but is launched by no one and downloaded only
   * by admins) or reactivates a deactivated one. Asking for the status it already has is
   * fine; any other status is `forbidden`, as the Image API answers.
   */
  async setActive(id: string, active: boolean): Promise<ImageRow> {
    const row = await this.#images.get(id);
    const [from, to] = active
      ? (['deactivated', 'active'] as const)
      : (['active', 'deactivated'] as const);
    if (row.status === to) return row;
    if (!(await this.#images.transition(row.id, from, to))) {
      const now = await this.#images.get(id);
      throw new StratusError(
        'forbidden',
        `Not allowed to ${active ? 'reactivate' : 'deactivate'} the image '${row.id}' in status '${now.status}'.`,
        { resource: 'image', id: row.id, reason: 'image_state' },
      );
    }
    return this.#images.get(row.id);
  }

  /** Inserts a new queued record, checking the owner's names under a lock. */
  async #insertQueued(
    base: NewImageFields,
    kind: ImageKind,
    diskFormat: string,
    sizeBytes: number | null,
    clientToken?: string,
    attributes: Partial<ImageAttributes> = {},
  ): Promise<ImageRow> {
    const at = Date.now();
    const row: ImageRow = {
      ...base,
      id: randomUUID(),
      kind,
      status: 'queued',
      diskFormat,
      sizeBytes,
      checksum: null,
      location: null,
      createdAt: at,
      updatedAt: at,
      deletedAt: null,
      deprecateAt: null,
      clientToken: clientToken ?? null,
      ...NO_ATTRIBUTES,
      ...attributeColumns(attributes),
    };
    await this.#db.transaction().execute(async (trx) => {
      await lockOwner(trx, row.ownerProjectId);
      if (await new ImageRepo(trx).findByName(row.ownerProjectId, row.name))
        throw duplicateName(row.name);
      await new ImageRepo(trx).insert(row);
    });
    return row;
  }

  /**
   * Writes a `saving` image's data with `write` to `<dir>/<id>.part`, then renames it into
   * place and marks the image active with its size, checksums and virtual size. Any failure
   * removes the partial file and leaves the image `killed`; an `invalid` error (bad data) is
   * rethrown as such, anything else becomes `unavailable`, both saying the image is killed.
   * An import moves from `importing` instead, and back to `queued` on failure.
   */
  async #storeBits(
    row: ImageRow,
    what: string,
    write: (part: string) => Promise<StoredBits>,
    states: { from: ImageStatus; failed: ImageStatus } = { from: 'saving', failed: 'killed' },
  ): Promise<ImageRow> {
    const final = path.join(this.directory, row.id);
    const part = `${final}.part`;
    try {
      await fs.promises.mkdir(this.directory, { recursive: true, mode: 0o700 });
      const copied = await write(part);
      await fs.promises.rename(part, final);
      const done = await this.#images.transition(row.id, states.from, 'active', {
        sizeBytes: copied.bytes,
        checksum: copied.sha256,
        md5: copied.md5,
        sha512: copied.sha512,
        virtualSize: copied.virtualSize,
        location: final,
      });
      // Deleted while its data arrived: the file must not outlive the record.
      if (!done) throw notFound('image', row.id, `The image ${row.id} was deleted meanwhile.`);
    } catch (err) {
      await fs.promises.rm(part, { force: true });
      await fs.promises.rm(final, { force: true });
      await this.#images
        .transition(row.id, states.from, states.failed, { location: null })
        .catch(() => false);
      const marked = states.failed === 'killed' ? 'marked killed' : `${states.failed} again`;
      const why = err instanceof Error ? err.message : String(err);
      if (err instanceof StratusError && err.kind === 'not_found') throw err;
      if (err instanceof StratusError && err.kind === 'invalid') {
        throw new StratusError('invalid', `${err.message} The image ${row.id} is ${marked}.`, {
          resource: err.resource,
          id: err.id,
          reason: err.reason,
          cause: err,
        });
      }
      throw new StratusError(
        'unavailable',
        `${what} failed: ${why}. The image ${row.id} is ${marked}.`,
        { resource: 'image', id: row.id, cause: err },
      );
    }
    return this.#images.get(row.id);
  }

  /**
   * Registers a new image over the stored file of the active image `sourceId`: same bits and
   * kind, its own name, owner, visibility and kernel/ramdisk links (the source's when not
   * given). The file is kept until the last image using it is deleted.
   */
  async register(req: RegisterRequest): Promise<ImageRow> {
    // What the request says is checked before what it names, as the other requests are.
    checkNewText(req);
    checkTags(req.tags ?? []);
    const source = await this.#images.get(req.sourceId);
    if (source.status !== 'active' || !source.location) {
      throw invalid(`The image '${source.id}' is not available (it is ${source.status}).`, {
        resource: 'image',
        id: source.id,
        reason: 'image_state',
      });
    }
    const base = await this.#checkNew(
      {
        ...req,
        architecture: req.architecture ?? source.architecture,
        kernelId: req.kernelId === undefined ? source.kernelId : req.kernelId,
        ramdiskId: req.ramdiskId === undefined ? source.ramdiskId : req.ramdiskId,
      },
      source.kind,
    );
    const location = source.location;
    const at = Date.now();
    const row: ImageRow = {
      ...base,
      id: randomUUID(),
      kind: source.kind,
      status: 'active',
      diskFormat: source.diskFormat,
      sizeBytes: source.sizeBytes,
      checksum: source.checksum,
      location,
      createdAt: at,
      updatedAt: at,
      deletedAt: null,
      deprecateAt: null,
      clientToken: null,
      ...NO_ATTRIBUTES,
      virtualSize: source.virtualSize,
      md5: source.md5,
      sha512: source.sha512,
      minDisk: source.minDisk,
      minRam: source.minRam,
    };
    await this.#db.transaction().execute(async (trx) => {
      const images = new ImageRepo(trx);
      await lockOwner(trx, row.ownerProjectId);
      await images.lockLocation(location);
      // The source may have been deleted while we checked; under the lock this is final.
      const still = await images.find(source.id);
      if (!still || still.deletedAt !== null) throw notFound('image', source.id);
      if (await images.findByName(row.ownerProjectId, row.name)) throw duplicateName(row.name);
      await images.insert(row);
      const tags = req.tags ?? [];
      if (tags.length > 0 && row.ownerProjectId !== null) {
        const projectId = row.ownerProjectId;
        await new TagRepo(trx).put(
          tags.map((t) => ({
            resourceId: row.id,
            resourceType: 'image',
            projectId,
            key: t.key,
            value: t.value,
          })),
        );
      }
    });
    return row;
  }

  /**
   * Copies the active image `sourceId` into a new private image of `ownerProjectId`: a new
   * record (`queued`, then `saving`) over a file of its own at `<dir>/<id>`, a hard link to
   * the source's file where the file system allows (instant: image files are never changed
   * in place, and each name is removed on its own), a full copy otherwise. Resolves with the
   * record as soon as it exists; the data follows in the background and the image becomes
   * `active`, or `killed` if it could not be stored. A `clientToken` the owner already used
   * answers that copy again.
   */
  async copy(req: CopyRequest): Promise<ImageRow> {
    checkNewText(req);
    checkTags(req.tags ?? []);
    if (req.clientToken) {
      const earlier = await this.#images.findByClientToken(req.ownerProjectId, req.clientToken);
      if (earlier) return earlier;
    }
    const source = await this.#images.get(req.sourceId);
    if (source.status !== 'active' || !source.location || !source.checksum) {
      throw invalid(`The image '${source.id}' is not available (it is ${source.status}).`, {
        resource: 'image',
        id: source.id,
        reason: 'image_state',
      });
    }
    const base = await this.#checkNew(
      {
        name: req.name,
        description: req.description,
        architecture: source.architecture,
        ownerProjectId: req.ownerProjectId,
        isPublic: false,
        kernelId: source.kernelId,
        ramdiskId: source.ramdiskId,
      },
      source.kind,
    );
    const row = await this.#insertQueued(
      base,
      source.kind,
      source.diskFormat ?? 'raw',
      source.sizeBytes,
      req.clientToken,
    );
    const tags = req.tags ?? [];
    if (tags.length > 0) {
      await new TagRepo(this.#db).put(
        tags.map((t) => ({
          resourceId: row.id,
          resourceType: 'image',
          projectId: req.ownerProjectId,
          key: t.key,
          value: t.value,
        })),
      );
    }
    if (!(await this.#images.transition(row.id, 'queued', 'saving'))) {
      throw notFound('image', row.id);
    }
    const from = this.#local(source.location);
    const size = source.sizeBytes ?? 0;
    const checksum = source.checksum;
    const what = `Copying image '${source.name}' (${source.id}) to '${row.name}'`;
    // A failure leaves the copy `killed`, which is what its owner sees; nothing awaits it.
    void this.#storeBits(row, what, async (part) => {
      try {
        await fs.promises.link(from, part);
        return {
          bytes: size,
          sha256: checksum,
          md5: source.md5,
          sha512: source.sha512,
          virtualSize: source.virtualSize,
        };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw err;
      }
      return { ...(await copyFile(from, part, size)), virtualSize: source.virtualSize };
    }).catch(() => undefined);
    return this.#images.get(row.id);
  }

  /** The projects an image is shared with (any status), oldest first. */
  members(imageId: string): Promise<ImageMemberRow[]> {
    return new ImageMemberRepo(this.#db).list(imageId);
  }

  /** One project's membership of an image, if it has one. */
  member(imageId: string, projectId: string): Promise<ImageMemberRow | undefined> {
    return new ImageMemberRepo(this.#db).find(imageId, projectId);
  }

  /** The members of each of these images (images without any are left out). */
  async membersOf(imageIds: readonly string[]): Promise<Map<string, ImageMemberRow[]>> {
    const out = new Map<string, ImageMemberRow[]>();
    for (const m of await new ImageMemberRepo(this.#db).listFor(imageIds)) {
      out.set(m.imageId, [...(out.get(m.imageId) ?? []), m]);
    }
    return out;
  }

  /** Which of these images are shared with at least one project. */
  sharedOf(imageIds: readonly string[]): Promise<Set<string>> {
    return new ImageMemberRepo(this.#db).shared(imageIds);
  }

  /**
   * Shares a live image with an existing project (`not_found` otherwise) with `status`; a
   * project that is a member already keeps its row (with `overwrite`, takes `status`).
   */
  async addMember(
    imageId: string,
    projectId: string,
    status: ImageMemberStatus,
    options: { overwrite?: boolean } = {},
  ): Promise<ImageMemberRow> {
    await this.#images.get(imageId);
    if (!(await new ProjectRepo(this.#db).find(projectId))) {
      throw notFound('project', projectId, `The project '${projectId}' does not exist.`);
    }
    return new ImageMemberRepo(this.#db).add(imageId, projectId, status, options);
  }

  /** Sets a member's status; `not_found` (resource image_member) when it is not a member. */
  async setMemberStatus(
    imageId: string,
    projectId: string,
    status: ImageMemberStatus,
  ): Promise<ImageMemberRow> {
    const repo = new ImageMemberRepo(this.#db);
    if (!(await repo.setStatus(imageId, projectId, status)))
      throw memberNotFound(imageId, projectId);
    return (await repo.find(imageId, projectId)) as ImageMemberRow;
  }

  /** Ends a share; false when the project was not a member. */
  removeMember(imageId: string, projectId: string): Promise<boolean> {
    return new ImageMemberRepo(this.#db).remove(imageId, projectId);
  }

  /** Ends every share of the image. */
  clearMembers(imageId: string): Promise<void> {
    return new ImageMemberRepo(this.#db).clear(imageId);
  }

  /**
   * Changes what a live image says about itself: its name (the text rules; unique among its
   * owner's images), description (checked by the text rules), architecture, whether it is
   * public, when it counts as deprecated (null: never), and its Image API attributes.
   */
  async update(id: string, change: ImageChange): Promise<ImageRow> {
    const row = await this.#images.get(id);
    const set: Partial<ImageRow> = attributeColumns(change);
    if (change.description !== undefined)
      set.description = checkText(change.description, IMAGE_DESCRIPTION, 'description');
    if (change.isPublic !== undefined) set.isPublic = change.isPublic ? 1 : 0;
    if (change.deprecateAt !== undefined) set.deprecateAt = change.deprecateAt;
    if (change.architecture !== undefined) {
      set.architecture = checkArchitecture(change.architecture);
    }
    if (change.name !== undefined && change.name !== row.name) {
      checkNewText({ name: change.name });
      set.name = change.name;
    }
    if (Object.keys(set).length === 0) return row;
    await this.#db.transaction().execute(async (trx) => {
      const images = new ImageRepo(trx);
      if (set.name !== undefined) {
        await lockOwner(trx, row.ownerProjectId);
        if (await images.findByName(row.ownerProjectId, set.name)) throw duplicateName(set.name);
      }
      await images.update(row.id, set);
    });
    return this.#images.get(row.id);
  }

  /**
   * Deletes an image: its record is marked deleted (it disappears from listings; instances
   * that used it still name it) and its file is removed once no other live image shares it.
   * A kernel or ramdisk that a live machine image boots with is refused (`conflict`). Missing
   * or already deleted: `not_found`. A driver that needs the bits for an instance's lifetime
   * keeps its own copy; the store's file is gone after this.
   */
  async delete(id: string): Promise<void> {
    const unused = await this.#db.transaction().execute(async (trx) => {
      const images = new ImageRepo(trx);
      const first = await images.get(id);
      if (first.location) await images.lockLocation(first.location);
      const row = await images.get(id);
      if (row.protected === 1) {
        throw new StratusError(
          'forbidden',
          `The image '${row.id}' is protected and cannot be deleted; clear its protection first.`,
          { resource: 'image', id: row.id },
        );
      }
      if (row.kind !== 'machine') {
        const users = await images.linkedTo(row.id);
        if (users.length > 0) {
          throw new StratusError(
            'conflict',
            `The ${row.kind} image '${row.id}' is used by the machine image '${(users[0] as ImageRow).name}' (${users.length} in all); delete those first.`,
            { resource: 'image', id: row.id, reason: 'in_use' },
          );
        }
      }
      const at = Date.now();
      await images.update(row.id, { status: 'deleted', deletedAt: at });
      if (!row.location) return null;
      return (await images.countLiveAt(row.location)) === 0 ? row.location : null;
    });
    // Only ever remove files of our own directory, whatever a record says.
    if (unused) await fs.promises.rm(this.#local(unused), { force: true });
  }

  /** A live image by id; `not_found` when it is missing or deleted. */
  get(id: string): Promise<ImageRow> {
    return this.#images.get(id);
  }

  /** Live images (see ImageListFilter), oldest first. */
  list(filter: ImageListFilter = {}): Promise<ImageRow[]> {
    return this.#images.list(filter);
  }

  /**
   * Finds one live image by full id, leading id characters (8 or more hex digits) or name.
   * `visibleTo` limits the search to what that project may use. No match: `not_found`; more
   * than one: `invalid`, naming the matches.
   */
  async resolve(
    ref: string,
    options: { kind?: ImageKind; visibleTo?: string } = {},
  ): Promise<ImageRow> {
    const filter = { kind: options.kind, visibleTo: options.visibleTo };
    let rows: ImageRow[] = [];
    if (/^[0-9a-f]{8}[0-9a-f-]*$/.test(ref))
      rows = await this.#images.list({ ...filter, idPrefixes: [ref] });
    if (rows.length === 0) rows = await this.#images.list({ ...filter, name: ref });
    if (rows.length === 0) {
      const what = options.kind ? `${options.kind} image` : 'image';
      throw notFound('image', ref, `The ${what} '${ref}' does not exist.`);
    }
    if (rows.length > 1) {
      throw invalid(
        `More than one image matches '${ref}': ${rows.map((r) => r.id).join(', ')}; give an id.`,
        { resource: 'image', id: ref },
      );
    }
    return rows[0] as ImageRow;
  }

  /**
   * The stored file of an active (or deactivated) image, for drivers that boot it and for
   * downloads. Missing or deleted: `not_found`; without data (still importing, killed):
   * `invalid` with reason 'image_state'. Whether the caller may use a deactivated image is
   * the caller's to decide.
   */
  async fileOf(id: string): Promise<ImageFile> {
    const row = await this.#images.get(id);
    const stored = row.status === 'active' || row.status === 'deactivated';
    if (!stored || !row.location || !row.checksum) {
      throw invalid(`The image '${row.id}' is not available (it is ${row.status}).`, {
        resource: 'image',
        id: row.id,
        reason: 'image_state',
      });
    }
    return {
      path: this.#local(row.location),
      format: row.diskFormat ?? 'raw',
      sizeBytes: row.sizeBytes ?? 0,
      sha256: row.checksum,
    };
  }

  /**
   * Where a recorded file is in this host's image directory: files are stored as
   * `<directory>/<id>`, and a host that mounts the shared directory elsewhere than the
   * importing host finds them by name.
   */
  #local(location: string): string {
    return path.join(this.directory, path.basename(location));
  }

  /** Checks what a new image says about itself and returns the fields of its record. */
  async #checkNew(req: NewImage, kind: ImageKind): Promise<NewImageFields> {
    const description = checkNewText(req);
    const architecture = checkArchitecture(req.architecture ?? 'x86_64');
    const owner = req.ownerProjectId ?? null;
    if (owner !== null && !(await new ProjectRepo(this.#db).find(owner))) {
      throw notFound('project', owner, `The project '${owner}' does not exist.`);
    }
    const isPublic = req.isPublic ?? owner === null;
    if (kind !== 'machine' && (req.kernelId || req.ramdiskId)) {
      throw invalid(`Only a machine image can have a kernel or a ramdisk, not a ${kind} image.`, {
        resource: 'image',
        reason: 'combination',
      });
    }
    const link = async (id: string | null | undefined, want: 'kernel' | 'ramdisk') => {
      if (!id) return null;
      const found = await this.#images.find(id);
      if (!found || found.deletedAt !== null || found.kind !== want) {
        throw notFound('image', id, `The ${want} image '${id}' does not exist.`);
      }
      if (found.status !== 'active') {
        throw invalid(`The ${want} image '${id}' is not available (it is ${found.status}).`, {
          resource: 'image',
          id,
          reason: 'image_state',
        });
      }
      // Whoever may use the new image must be able to use what it boots with.
      const usable = found.isPublic === 1 || (!isPublic && found.ownerProjectId === owner);
      if (!usable) {
        throw notFound(
          'image',
          id,
          `The ${want} image '${id}' is not available to every user of this image.`,
        );
      }
      return found.id;
    };
    const kernelId = await link(req.kernelId, 'kernel');
    const ramdiskId = await link(req.ramdiskId, 'ramdisk');
    if (await this.#images.findByName(owner, req.name)) throw duplicateName(req.name);
    return {
      name: req.name,
      description,
      architecture,
      ownerProjectId: owner,
      isPublic: isPublic ? 1 : 0,
      kernelId,
      ramdiskId,
    };
  }
}

/**
 * Serialises inserts of one owner's images, so two of the same name cannot both pass the
 * name check (PostgreSQL: a row lock on the project; SQLite's transactions are serial anyway).
 * The cloud's own images have no row to lock; on PostgreSQL two operators importing the same
 * name at the same moment may both succeed.
 */
async function lockOwner(db: Db, ownerProjectId: string | null): Promise<void> {
  if (ownerProjectId === null) return;
  await db
    .updateTable('projects')
    .set({ id: ownerProjectId })
    .where('id', '=', ownerProjectId)
    .execute();
}

function checkArchitecture(architecture: string): string {
  if (!(ARCHITECTURES as readonly string[]).includes(architecture)) {
    throw invalid(`The architecture '${architecture}' is not one of ${ARCHITECTURES.join(', ')}.`, {
      resource: 'parameter',
      id: 'architecture',
    });
  }
  return architecture;
}

/** The rules of text-rules.ts for a new image's name and description; returns the description. */
function checkNewText(req: Pick<NewImage, 'name'> & { description?: string }): string {
  const nameProblem = textProblem(req.name, IMAGE_NAME);
  if (nameProblem !== undefined) {
    throw invalid(nameProblem, { resource: 'image', id: req.name, reason: 'name' });
  }
  return checkText(req.description ?? '', IMAGE_DESCRIPTION, 'description');
}

function memberNotFound(imageId: string, projectId: string): StratusError {
  return notFound(
    'image_member',
    projectId,
    `The project '${projectId}' is not a member of the image '${imageId}'.`,
  );
}

function duplicateName(name: string): StratusError {
  return alreadyExists('image', name, `An image named '${name}' already exists for this owner.`);
}

/** The size of a file that can be imported; refuses what is not a non-empty, readable file. */
async function checkSourceFile(file: string): Promise<number> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
    await fs.promises.access(file, fs.constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : String(code);
    throw invalid(`The file ${file} ${why}.`, { resource: 'image_file', id: file, cause: err });
  }
  if (!stat.isFile())
    throw invalid(`${file} is not a regular file.`, { resource: 'image_file', id: file });
  if (stat.size === 0)
    throw invalid(`The file ${file} is empty.`, { resource: 'image_file', id: file });
  return stat.size;
}
