// The volume host's half of snapshots: each snapshot is a self-contained qcow2 file in
// `<state-dir>/snapshots`, a full copy made with `qemu-img convert` from the volume's file (or,
// for a copy, from the source snapshot's file).
//
// Why full copies and not a backing chain: a chain would tie the volume's file to the
// snapshot's (or the other way round), so deleting either would need a rebase or commit while
// the other may be attached and open in a storage daemon; every volume made from a snapshot
// would share its backing file too. A copy costs the volume's allocated data once, and then
// volumes, snapshots and their copies live and die on their own. qcow2 keeps unwritten
// clusters unallocated, so an empty volume's snapshot is small.
//
// Consistency: a volume no instance holds is copied by qemu-img, which opens the volume's file
// without sharing write access, so QEMU's image locking refuses the copy (and the snapshot ends
// `error`) should a storage daemon have opened it for writing by then, and refuses the daemon
// while the copy runs. A volume an instance holds is copied by the storage daemon that has it
// open (`snapshotThroughStorageDaemon`): a point-in-time copy while the guest keeps writing.
import fs from 'node:fs';
import path from 'node:path';
import {
  SnapshotRepo,
  TagRepo,
  VolumeRepo,
  type Db,
  type SnapshotRow,
  type VolumeRow,
} from '../db/index.js';
import type { QemuImg } from '../image/index.js';
import type { Logger } from '../log.js';
import type { SnapshotRef } from './client.js';
import type { NbdExports } from './nbd-exports.js';

export interface SnapshotWorkerOptions {
  db: Db;
  host: string;
  /** Where the snapshot files are kept (`<state-dir>/snapshots`). */
  directory: string;
  qemuImg: QemuImg;
  /** The file of a volume this host keeps. */
  volumeFile: (volumeId: string) => string;
  /** The host's storage daemon, which copies the volumes instances hold. */
  nbd: Pick<NbdExports, 'virtualSize' | 'backup'>;
  /** Runs `fn` while no other work runs on the volume with this id (the manager's lock). */
  locked: <T>(volumeId: string, fn: () => Promise<T>) => Promise<T>;
  logger?: Logger | undefined;
}

/** Statuses of a volume an instance holds or is taking or giving up. */
const HELD = new Set(['attaching', 'in-use', 'detaching']);

export class SnapshotWorker {
  readonly #opts: SnapshotWorkerOptions;
  readonly #snapshots: SnapshotRepo;
  readonly #volumes: VolumeRepo;
  /** Snapshots whose work runs now, so the periodic pass leaves them be. */
  readonly #running = new Set<string>();

  constructor(options: SnapshotWorkerOptions) {
    this.#opts = options;
    this.#snapshots = new SnapshotRepo(options.db);
    this.#volumes = new VolumeRepo(options.db);
  }

  /** The file of a snapshot: `<directory>/<uuid>.qcow2`. */
  file(snapshotId: string): string {
    return path.join(this.#opts.directory, `${snapshotId}.qcow2`);
  }

  async createSnapshot({ snapshotId }: SnapshotRef): Promise<null> {
    const first = await this.#mine(snapshotId);
    if (!first) return null;
    return this.#run(first, async () => {
      const s = await this.#mine(snapshotId);
      if (!s || s.status !== 'creating') return;
      try {
        const file = this.file(s.id);
        // A file already there is this snapshot's, made by an earlier run cut short before the
        // record said so.
        if (!fs.existsSync(file)) {
          fs.mkdirSync(this.#opts.directory, { recursive: true, mode: 0o700 });
          fs.rmSync(`${file}.part`, { force: true });
          if (s.sourceSnapshotId !== null) {
            await this.#opts.qemuImg.convert(
              this.file(s.sourceSnapshotId),
              'qcow2',
              `${file}.part`,
              'qcow2',
            );
          } else {
            const volume = await this.#volumes.get(s.volumeId);
            if (!volume) throw new Error(`The volume ${s.volumeId} is gone.`);
            if (volume.instanceId !== null || HELD.has(volume.status)) {
              await this.snapshotThroughStorageDaemon(volume, `${file}.part`);
            } else {
              await this.#opts.qemuImg.convert(
                this.#opts.volumeFile(volume.id),
                'qcow2',
                `${file}.part`,
                'qcow2',
              );
            }
          }
          fs.renameSync(`${file}.part`, file);
        }
        await this.#snapshots.update(s.id, { status: 'available', progress: 100 }, ['creating']);
        this.#opts.logger?.info({ snapshotId: s.id, volumeId: s.volumeId }, 'snapshot created');
      } catch (err) {
        this.#opts.logger?.error({ err, snapshotId: s.id }, 'snapshot creation failed');
        fs.rmSync(`${this.file(s.id)}.part`, { force: true });
        await this.#snapshots.update(
          s.id,
          { status: 'error', statusReason: (err as Error).message.slice(0, 1000) },
          ['creating'],
        );
      }
    });
  }

  /**
   * A snapshot of a volume an instance holds: its file is open in this host's storage daemon
   * (the guest writes to it over NBD), so the daemon makes the copy into `target`, a
   * `blockdev-backup` with `sync: full` that is one instant of the volume while the guest keeps
   * writing (nbd-exports.ts). Crash consistent: what the guest had synced before is in it.
   * `target` is made here as an empty qcow2 of the volume's size; on a failure the caller
   * removes it. Other volume work (detach, extend, delete) waits for the volume's lock.
   */
  async snapshotThroughStorageDaemon(volume: VolumeRow, target: string): Promise<void> {
    const file = this.#opts.volumeFile(volume.id);
    const size = await this.#opts.nbd.virtualSize(volume.id, file);
    await this.#opts.qemuImg.createQcow2(target, size);
    await this.#opts.nbd.backup(
      volume.id,
      file,
      target,
      path.basename(target).split('.')[0] || volume.id,
    );
  }

  async deleteSnapshot({ snapshotId }: SnapshotRef): Promise<null> {
    const first = await this.#mine(snapshotId);
    if (!first) return null;
    return this.#run(first, async () => {
      const s = await this.#mine(snapshotId);
      if (!s || s.status !== 'deleting') return;
      // A volume or copy still being made from it reads its file: the periodic pass comes
      // back once they are done.
      if (await this.#readByOthers(s)) return;
      try {
        fs.rmSync(this.file(s.id), { force: true });
        fs.rmSync(`${this.file(s.id)}.part`, { force: true });
        await this.#opts.db.transaction().execute(async (trx) => {
          await new TagRepo(trx).deleteResource(s.id);
          await new SnapshotRepo(trx).delete(s.id);
        });
        this.#opts.logger?.info({ snapshotId: s.id }, 'snapshot deleted');
      } catch (err) {
        this.#opts.logger?.error({ err, snapshotId: s.id }, 'snapshot deletion failed');
        await this.#snapshots.update(
          s.id,
          { status: 'error_deleting', statusReason: (err as Error).message.slice(0, 1000) },
          ['deleting'],
        );
      }
    });
  }

  /** Does again the work on this host's snapshots that is under way and not running now. */
  async resume(): Promise<void> {
    for (const s of await this.#snapshots.list({ host: this.#opts.host })) {
      if (this.#running.has(s.id)) continue;
      if (s.status === 'creating') await this.createSnapshot({ snapshotId: s.id });
      else if (s.status === 'deleting') await this.deleteSnapshot({ snapshotId: s.id });
    }
  }

  async #readByOthers(s: SnapshotRow): Promise<boolean> {
    const db = this.#opts.db;
    const volume = await db
      .selectFrom('volumes')
      .select('id')
      .where('snapshotId', '=', s.id)
      .where('status', '=', 'creating')
      .executeTakeFirst();
    const copy = await db
      .selectFrom('snapshots')
      .select('id')
      .where('sourceSnapshotId', '=', s.id)
      .where('status', '=', 'creating')
      .executeTakeFirst();
    return volume !== undefined || copy !== undefined;
  }

  /** Runs a snapshot's work under its volume's lock (one change at a time per volume). */
  async #run(s: SnapshotRow, fn: () => Promise<void>): Promise<null> {
    this.#running.add(s.id);
    try {
      await this.#opts.locked(s.volumeId, fn);
    } finally {
      this.#running.delete(s.id);
    }
    return null;
  }

  /** The snapshot if this host keeps it. */
  async #mine(snapshotId: string): Promise<SnapshotRow | undefined> {
    const s = await this.#snapshots.get(snapshotId);
    return s && s.host === this.#opts.host ? s : undefined;
  }
}
