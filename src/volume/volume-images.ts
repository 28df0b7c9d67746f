// A volume's data as a new image (the Block Storage API's os-volume_upload_image). The API
// side records a `queued` image of the caller's project and moves the volume from `available`
// to `uploading`; the volume's host copies its qcow2 file with `qemu-img convert` into the
// image's disk format (raw or qcow2, one self-contained file) and uploads the copy to the
// image store. The volume is `available` again afterwards, whatever the outcome; on a failure
// the image is deleted and the volume's status reason says why.
import fs from 'node:fs';
import path from 'node:path';
import { isAdmin, type RequestContext } from '../context.js';
import { VolumeRepo, type Db, type ImageRow, type VolumeRow } from '../db/index.js';
import { invalid, StratusError } from '../errors.js';
import type { ImageStore, QemuImg } from '../image/index.js';
import type { Logger } from '../log.js';
import type { VolumeClient } from './client.js';

/** The disk formats a volume's image may have. */
export const VOLUME_IMAGE_FORMATS = ['raw', 'qcow2'] as const;
export type VolumeImageFormat = (typeof VOLUME_IMAGE_FORMATS)[number];

export interface VolumeImageRequest {
  imageName: string;
  diskFormat: VolumeImageFormat;
  /** Only an admin may make a public image. */
  isPublic: boolean;
  protected: boolean;
}

/** What the volume's host is told: copy the volume into the queued image. */
export interface VolumeImageArgs {
  volumeId: string;
  imageId: string;
  diskFormat: VolumeImageFormat;
}

export interface VolumeImagesOptions {
  db: Db;
  volumes: VolumeClient;
  images: Pick<ImageStore, 'create' | 'update' | 'delete'>;
}

/** The API side of os-volume_upload_image. */
export class VolumeImages {
  readonly #opts: VolumeImagesOptions;
  readonly #volumes: VolumeRepo;

  constructor(options: VolumeImagesOptions) {
    this.#opts = options;
    this.#volumes = new VolumeRepo(options.db);
  }

  /**
   * Starts copying `volume` into a new image and resolves with the volume (now `uploading`)
   * and the image (`queued`). Only an `available` volume (`conflict` otherwise); a public
   * image only for admins (`forbidden`); a name the project has already is `already_exists`.
   */
  async upload(
    ctx: RequestContext,
    volume: VolumeRow,
    req: VolumeImageRequest,
  ): Promise<{ volume: VolumeRow; image: ImageRow }> {
    if (!(VOLUME_IMAGE_FORMATS as readonly string[]).includes(req.diskFormat)) {
      throw invalid(
        `The disk format '${req.diskFormat}' is not one of ${VOLUME_IMAGE_FORMATS.join(', ')}.`,
        { resource: 'parameter', id: 'disk_format' },
      );
    }
    if (req.isPublic && !isAdmin(ctx)) {
      throw new StratusError('forbidden', 'Only an admin may create a public image.', {
        resource: 'image',
        reason: 'visibility',
      });
    }
    if (volume.status !== 'available' || volume.host === null) throw notAvailable(volume);
    const image = await this.#opts.images.create({
      name: req.imageName,
      ownerProjectId: ctx.projectId ?? volume.projectId,
      isPublic: req.isPublic,
      kind: 'machine',
      diskFormat: req.diskFormat,
      attributes: { minDisk: volume.sizeGb, protected: req.protected },
    });
    const moved = await this.#volumes.update(volume.id, { status: 'uploading' }, ['available']);
    if (!moved) {
      await dropImage(this.#opts.images, image.id);
      throw notAvailable((await this.#volumes.get(volume.id)) ?? volume);
    }
    try {
      await this.#opts.volumes.uploadToImage(ctx, volume.host, {
        volumeId: volume.id,
        imageId: image.id,
        diskFormat: req.diskFormat,
      });
    } catch (err) {
      await this.#volumes.update(volume.id, { status: 'available' }, ['uploading']);
      await dropImage(this.#opts.images, image.id);
      throw err;
    }
    return { volume: { ...volume, status: 'uploading' }, image };
  }
}

export interface VolumeImageWorkerOptions {
  db: Db;
  qemuImg: QemuImg;
  images: Pick<ImageStore, 'upload' | 'update' | 'delete' | 'directory'>;
  logger?: Logger | undefined;
}

/** The volume host's side: the copy and the upload. */
export class VolumeImageWorker {
  readonly #opts: VolumeImageWorkerOptions;
  readonly #volumes: VolumeRepo;

  constructor(options: VolumeImageWorkerOptions) {
    this.#opts = options;
    this.#volumes = new VolumeRepo(options.db);
  }

  /** Copies the `uploading` volume `v`, kept in `file`, into the image; runs under its lock. */
  async upload(v: VolumeRow, file: string, args: VolumeImageArgs): Promise<void> {
    if (v.status !== 'uploading') return;
    const dir = this.#opts.images.directory;
    const copy = path.join(dir, `${args.imageId}.from-volume`);
    const back = v.instanceId ? 'in-use' : 'available';
    try {
      await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
      await fs.promises.rm(copy, { force: true });
      await this.#opts.qemuImg.convert(file, 'qcow2', copy, args.diskFormat);
      await this.#opts.images.upload(args.imageId, fs.createReadStream(copy));
      await this.#volumes.update(v.id, { status: back, statusReason: null }, ['uploading']);
      this.#opts.logger?.info({ volumeId: v.id, imageId: args.imageId }, 'volume uploaded');
    } catch (err) {
      this.#opts.logger?.error({ err, volumeId: v.id }, 'volume upload to an image failed');
      await dropImage(this.#opts.images, args.imageId);
      await this.#volumes.update(
        v.id,
        {
          status: back,
          statusReason:
            `Uploading to image ${args.imageId} failed: ${(err as Error).message}`.slice(0, 1000),
        },
        ['uploading'],
      );
    } finally {
      await fs.promises.rm(copy, { force: true });
    }
  }
}

/** Removes an image made for an upload that did not happen (a protected one too). */
async function dropImage(
  images: Pick<ImageStore, 'update' | 'delete'>,
  imageId: string,
): Promise<void> {
  await images.update(imageId, { protected: false }).catch(() => undefined);
  await images.delete(imageId).catch(() => undefined);
}

function notAvailable(volume: VolumeRow): StratusError {
  return new StratusError(
    'conflict',
    `Invalid volume: Volume ${volume.id} status must be available, but current status is: ${volume.status}.`,
    { resource: 'volume', id: volume.id, reason: 'in_use' },
  );
}
