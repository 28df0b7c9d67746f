// The volume service on one host: keeps each volume as a qcow2 file in its state dir, made and
// grown with qemu-img (or copied from a snapshot), and its snapshots (snapshot-worker.ts), and
// reports the room it has. Work arrives as casts from the API side
// (operations.ts), which has recorded the volume first; every handler may run again.
import fs from 'node:fs';
import path from 'node:path';
import { dispatch, hostTopic } from '../bus/index.js';
import { now, TagRepo, VolumeRepo, type Db, type VolumeRow } from '../db/index.js';
import type { ImageStore, QemuImg } from '../image/index.js';
import type { Logger } from '../log.js';
import type { Service } from '../service/index.js';
import { notFound, StratusError } from '../errors.js';
import { VERSION } from '../version.js';
import { SnapshotWorker } from './snapshot-worker.js';
import {
  VOLUME_SERVICE,
  type VolumeHostDescription,
  type VolumeProtocol,
  type VolumeRef,
} from './client.js';
import type { NbdExport, NbdExports } from './nbd-exports.js';
import { VolumeImageWorker, type VolumeImageArgs } from './volume-images.js';

const GIB = 1024 ** 3;

export interface VolumeManagerOptions {
  db: Db;
  host: string;
  /** Where the volume files are kept (`<state-dir>/volumes`). */
  directory: string;
  /** Where the snapshot files are kept; `snapshots` beside `directory` when absent. */
  snapshotDirectory?: string;
  qemuImg: QemuImg;
  /** The host's storage daemon, which exports attached volumes over NBD. */
  nbd: NbdExports;
  /**
   * Where a volume uploaded as an image goes (os-volume_upload_image), and where a volume made
   * from an image reads the image's file; absent: both refused.
   */
  images?: Pick<ImageStore, 'upload' | 'update' | 'delete' | 'directory' | 'fileOf'>;
  logger?: Logger;
}

/** Statuses in which a volume is held by an instance, so its export must stay. */
const ATTACHED = new Set(['attaching', 'in-use', 'detaching', 'extending']);

export class VolumeManager {
  readonly #opts: VolumeManagerOptions;
  readonly #volumes: VolumeRepo;
  readonly #startedAt = now();
  /** One change at a time per volume. */
  readonly #locks = new Map<string, Promise<unknown>>();

  readonly #snapshots: SnapshotWorker;

  constructor(options: VolumeManagerOptions) {
    this.#opts = options;
    this.#volumes = new VolumeRepo(options.db);
    this.#snapshots = new SnapshotWorker({
      db: options.db,
      host: options.host,
      directory:
        options.snapshotDirectory ?? path.join(path.dirname(options.directory), 'snapshots'),
      qemuImg: options.qemuImg,
      volumeFile: (id) => this.file(id),
      nbd: options.nbd,
      locked: (id, fn) => this.#locked(id, fn),
      logger: options.logger,
    });
  }

  service(): Service {
    const topic = hostTopic(VOLUME_SERVICE, this.#opts.host);
    return {
      binary: 'volume',
      topics: [
        {
          topic,
          handler: dispatch<VolumeProtocol>(topic, {
            status: () => this.status(),
            describeHost: () => this.describeHost(),
            createVolume: (a) => this.createVolume(a),
            deleteVolume: (a) => this.deleteVolume(a),
            extendVolume: (a) => this.extendVolume(a),
            exportVolume: (a) => this.exportVolume(a),
            unexportVolume: (a) => this.unexportVolume(a),
            growVolume: (a) => this.growVolume(a),
            createSnapshot: (a) => this.#snapshots.createSnapshot(a),
            deleteSnapshot: (a) => this.#snapshots.deleteSnapshot(a),
            uploadToImage: (a) => this.uploadToImage(a),
          }),
        },
      ],
      // A cast lost on the way (a broker restarted) leaves a volume creating, deleting or
      // extending: the work is picked up again here, as at start.
      periodicTasks: [
        { name: 'resume-volume-work', intervalMs: 30_000, run: () => this.#resume() },
        // A storage daemon that died is started again and exports what is attached.
        { name: 'check-exports', intervalMs: 10_000, run: () => this.#checkExports() },
      ],
      start: () => this.#start(),
    };
  }

  async status(): Promise<VolumeProtocol['status']['result']> {
    return {
      binary: 'volume',
      host: this.#opts.host,
      startedAt: this.#startedAt,
      version: VERSION,
      details: { directory: this.#opts.directory, ...(await this.describeHost()) },
    };
  }

  async describeHost(): Promise<VolumeHostDescription> {
    fs.mkdirSync(this.#opts.directory, { recursive: true, mode: 0o700 });
    const st = await fs.promises.statfs(this.#opts.directory);
    const mine = await this.#volumes.list({ host: this.#opts.host });
    return {
      host: this.#opts.host,
      capacityGb: Math.floor((st.blocks * st.bsize) / GIB),
      freeGb: Math.floor((st.bavail * st.bsize) / GIB),
      allocatedGb: mine.reduce((sum, v) => sum + v.sizeGb, 0),
      volumes: mine.length,
    };
  }

  /** The file of a volume: `<directory>/<uuid>.qcow2`. */
  file(volumeId: string): string {
    return path.join(this.#opts.directory, `${volumeId}.qcow2`);
  }

  async createVolume({ volumeId }: VolumeRef): Promise<null> {
    return this.#locked(volumeId, async () => {
      const v = await this.#mine(volumeId);
      if (!v || v.status !== 'creating') return null;
      try {
        const file = this.file(v.id);
        // A file already there is this volume's, made by an earlier run cut short before the
        // record said so: qemu-img create would wipe it.
        if (!fs.existsSync(file)) {
          fs.mkdirSync(this.#opts.directory, { recursive: true, mode: 0o700 });
          if (v.snapshotId !== null) {
            // A volume from a snapshot: a copy of the snapshot's file, grown to the volume's
            // size when that is larger.
            await this.#opts.qemuImg.convert(
              this.#snapshots.file(v.snapshotId),
              'qcow2',
              `${file}.part`,
              'qcow2',
            );
            await this.#opts.qemuImg.growQcow2(`${file}.part`, v.sizeGb * GIB);
          } else if (v.imageId !== null) {
            // A volume from an image (a root volume to boot from): a copy of the image's
            // data, grown to the volume's size.
            if (!this.#opts.images) throw new Error('This volume host has no image store.');
            const image = await this.#opts.images.fileOf(v.imageId);
            await this.#opts.qemuImg.convert(image.path, image.format, `${file}.part`, 'qcow2');
            await this.#opts.qemuImg.growQcow2(`${file}.part`, v.sizeGb * GIB);
          } else {
            await this.#opts.qemuImg.createQcow2(`${file}.part`, v.sizeGb * GIB);
          }
          fs.renameSync(`${file}.part`, file);
        }
        await this.#volumes.update(v.id, { status: 'available' }, ['creating']);
        this.#opts.logger?.info({ volumeId: v.id, sizeGb: v.sizeGb }, 'volume created');
      } catch (err) {
        this.#opts.logger?.error({ err, volumeId: v.id }, 'volume creation failed');
        fs.rmSync(`${this.file(v.id)}.part`, { force: true });
        await this.#volumes.update(
          v.id,
          { status: 'error', statusReason: (err as Error).message.slice(0, 1000) },
          ['creating'],
        );
      }
      return null;
    });
  }

  async deleteVolume({ volumeId }: VolumeRef): Promise<null> {
    return this.#locked(volumeId, async () => {
      const v = await this.#mine(volumeId);
      if (!v || v.status !== 'deleting') return null;
      try {
        await this.#opts.nbd.unexport(v.id);
        fs.rmSync(this.file(v.id), { force: true });
        fs.rmSync(`${this.file(v.id)}.part`, { force: true });
        await this.#opts.db.transaction().execute(async (trx) => {
          await new TagRepo(trx).deleteResource(v.id);
          await new VolumeRepo(trx).delete(v.id);
        });
        this.#opts.logger?.info({ volumeId: v.id }, 'volume deleted');
      } catch (err) {
        this.#opts.logger?.error({ err, volumeId: v.id }, 'volume deletion failed');
        await this.#volumes.update(
          v.id,
          { status: 'error_deleting', statusReason: (err as Error).message.slice(0, 1000) },
          ['deleting'],
        );
      }
      return null;
    });
  }

  async extendVolume({ volumeId }: VolumeRef): Promise<null> {
    return this.#locked(volumeId, async () => {
      const v = await this.#mine(volumeId);
      // An attached volume is grown through its compute host (growVolume), not here.
      if (!v || v.status !== 'extending' || v.instanceId !== null) return null;
      try {
        await this.#opts.qemuImg.growQcow2(this.file(v.id), v.sizeGb * GIB);
        await this.#volumes.update(v.id, { status: v.instanceId ? 'in-use' : 'available' }, [
          'extending',
        ]);
        this.#opts.logger?.info({ volumeId: v.id, sizeGb: v.sizeGb }, 'volume extended');
      } catch (err) {
        this.#opts.logger?.error({ err, volumeId: v.id }, 'volume extension failed');
        await this.#volumes.update(
          v.id,
          { status: 'error_extending', statusReason: (err as Error).message.slice(0, 1000) },
          ['extending'],
        );
      }
      return null;
    });
  }

  /** Copies an `uploading` volume into a queued image (volume-images.ts). */
  async uploadToImage(args: VolumeImageArgs): Promise<null> {
    return this.#locked(args.volumeId, async () => {
      const v = await this.#mine(args.volumeId);
      if (!v || v.status !== 'uploading') return null;
      const images = this.#opts.images;
      if (!images) {
        await this.#volumes.update(
          v.id,
          { status: 'available', statusReason: 'This volume host has no image store.' },
          ['uploading'],
        );
        return null;
      }
      await new VolumeImageWorker({
        db: this.#opts.db,
        qemuImg: this.#opts.qemuImg,
        images,
        logger: this.#opts.logger,
      }).upload(v, this.file(v.id), args);
      return null;
    });
  }

  /** At start, work this host's volumes were left in the middle of is done again. */
  async #start(): Promise<void> {
    fs.mkdirSync(this.#opts.directory, { recursive: true, mode: 0o700 });
    await this.#resume();
    await this.#syncExports();
  }

  /**
   * Exports the volume's file over NBD: only a volume an instance holds (or is being given);
   * `conflict` otherwise, `not_found` when its file is gone.
   */
  async exportVolume({ volumeId }: VolumeRef): Promise<NbdExport> {
    return this.#locked(volumeId, async () => {
      const v = await this.#mine(volumeId);
      if (!v) throw notFound('volume', volumeId);
      if (!ATTACHED.has(v.status) || v.instanceId === null) {
        throw new StratusError('conflict', `The volume '${volumeId}' is ${v.status}.`, {
          resource: 'volume',
          id: volumeId,
        });
      }
      if (await this.#opts.nbd.ensure()) await this.#syncExports(volumeId);
      return this.#opts.nbd.export(volumeId, this.file(volumeId));
    });
  }

  async unexportVolume({ volumeId }: VolumeRef): Promise<null> {
    return this.#locked(volumeId, async () => {
      await this.#opts.nbd.unexport(volumeId);
      return null;
    });
  }

  /** Grows an attached volume (recorded `extending`) to its recorded size, and exports it again. */
  async growVolume({ volumeId }: VolumeRef): Promise<NbdExport> {
    return this.#locked(volumeId, async () => {
      const v = await this.#mine(volumeId);
      if (!v) throw notFound('volume', volumeId);
      if (!fs.existsSync(this.file(volumeId))) {
        throw notFound('volume', volumeId, `The file of volume '${volumeId}' is gone.`);
      }
      const e = await this.#opts.nbd.grow(volumeId, this.file(volumeId), v.sizeGb * GIB);
      this.#opts.logger?.info({ volumeId, sizeGb: v.sizeGb }, 'attached volume grown');
      return e;
    });
  }

  /** Starts the daemon again if it died, and then exports again what is attached. */
  async #checkExports(): Promise<void> {
    const attached = (await this.#volumes.list({ host: this.#opts.host })).some(
      (v) => ATTACHED.has(v.status) && v.instanceId !== null,
    );
    if (!attached && this.#opts.nbd.pid() === undefined) return;
    if (await this.#opts.nbd.ensure()) await this.#syncExports();
  }

  /**
   * Makes the daemon's exports what the records say: every volume of this host an instance
   * holds is exported, and no other (`skip`: a volume the caller exports itself).
   */
  async #syncExports(skip?: string): Promise<void> {
    const rows = await this.#volumes.list({ host: this.#opts.host });
    const want = rows.filter((v) => ATTACHED.has(v.status) && v.instanceId !== null);
    if (want.length === 0 && this.#opts.nbd.pid() === undefined) return;
    await this.#opts.nbd.ensure();
    for (const v of want) {
      if (v.id === skip || !fs.existsSync(this.file(v.id))) continue;
      try {
        await this.#opts.nbd.export(v.id, this.file(v.id));
      } catch (err) {
        this.#opts.logger?.error({ err, volumeId: v.id }, 'exporting an attached volume failed');
      }
    }
    const wanted = new Set(want.map((v) => v.id));
    for (const id of await this.#opts.nbd.exported()) {
      if (!wanted.has(id) && id !== skip) await this.#opts.nbd.unexport(id).catch(() => undefined);
    }
    this.#opts.logger?.info({ exported: wanted.size }, 'volume exports in place');
  }

  /** Does again the work on this host's volumes that is under way and not running now. */
  async #resume(): Promise<void> {
    for (const v of await this.#volumes.list({ host: this.#opts.host })) {
      if (this.#locks.has(v.id)) continue;
      if (v.status === 'creating') await this.createVolume({ volumeId: v.id });
      else if (v.status === 'deleting') await this.deleteVolume({ volumeId: v.id });
      else if (v.status === 'extending') await this.extendVolume({ volumeId: v.id });
      // An upload a process before this one was doing: which image it was for is not kept, so
      // the volume is freed and the image stays queued without data (its owner deletes it).
      else if (v.status === 'uploading' && v.updatedAt < this.#startedAt) {
        await this.#volumes.update(
          v.id,
          { status: 'available', statusReason: 'An upload to an image was cut short.' },
          ['uploading'],
        );
      }
    }
    await this.#snapshots.resume();
  }

  /** The volume if this host keeps it. */
  async #mine(volumeId: string): Promise<VolumeRow | undefined> {
    const v = await this.#volumes.get(volumeId);
    return v && v.host === this.#opts.host ? v : undefined;
  }

  async #locked<T>(volumeId: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(volumeId) ?? Promise.resolve();
    const run = before.catch(() => undefined).then(fn);
    this.#locks.set(volumeId, run);
    try {
      return await run;
    } finally {
      if (this.#locks.get(volumeId) === run) this.#locks.delete(volumeId);
    }
  }
}
