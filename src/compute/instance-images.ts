// Images from instances (EC2 CreateImage, the Compute API's createImage) for instances whose
// root disk is the driver's own (instance store). The API side checks the instance, records a
// private `queued` machine image of the caller's project at once (so a duplicate name is
// refused before anything happens) and puts the instance in task state image_snapshot; the
// host's worker then copies the VM's disk (driver.snapshotRootDisk: one flattened qcow2) and
// uploads it to the image store, and the image becomes active. The task state moves as the
// Compute API shows it: image_snapshot -> image_pending_upload -> image_uploading -> none.
//
// Consistency: with `noReboot` the running guest is copied as it runs (crash consistent, as
// after a power cut). Without it (EC2's default) the guest is powered off cleanly first (ACPI;
// its file systems are unmounted and flushed), copied, and booted again, as EC2 does. A
// stopped, paused or suspended guest is copied as it is. If anything fails, the image is
// deleted, a guest powered off for the copy is booted again and the task is cleared; the
// instance's action record says why.
import fs from 'node:fs';
import path from 'node:path';
import type { RequestContext } from '../context.js';
import {
  ImageRepo,
  InstanceRepo,
  type Db,
  type ImageRow,
  type InstanceRow,
  type SnapshotRow,
  type TaskState,
  type VmState,
} from '../db/index.js';
import { StratusError } from '../errors.js';
import type { ImageStore } from '../image/index.js';
import type { VirtDriver } from '../virt/index.js';
import type { ComputeClient, InstanceRef } from './client.js';
import { checkUnlocked, invalidState } from './server-lifecycle.js';
import {
  rootVolumeOf,
  snapshotVolumesIntoImage,
  type SnapshotInstanceVolume,
} from './volume-backed-images.js';

/** The vm states an image can be made from (with no task under way). */
export const IMAGE_FROM_STATES: readonly VmState[] = ['active', 'stopped', 'paused', 'suspended'];

/** The task states of an image being made, in order. */
const IMAGE_TASKS: readonly TaskState[] = [
  'image_snapshot',
  'image_pending_upload',
  'image_uploading',
];

export interface InstanceImageRequest {
  name: string;
  description?: string | undefined;
  /** Copy the running guest as it runs; otherwise it is powered off around the copy. */
  noReboot: boolean;
  /** More image properties (the Compute API's `metadata`). */
  properties?: Readonly<Record<string, string>> | undefined;
}

/** What the host is told to do: copy the instance's disk into the queued image. */
export interface InstanceImageArgs extends InstanceRef {
  imageId: string;
  noReboot: boolean;
}

export interface InstanceImagesOptions {
  db: Db;
  compute: ComputeClient;
  images: Pick<ImageStore, 'create' | 'get' | 'delete'>;
}

/** The API side: checks, the queued image, the task state and the cast to the host. */
export class InstanceImages {
  readonly #opts: InstanceImagesOptions;
  readonly #instances: InstanceRepo;

  constructor(options: InstanceImagesOptions) {
    this.#opts = options;
    this.#instances = new InstanceRepo(options.db);
  }

  /**
   * Starts making a machine image of `inst`'s root disk and resolves with the image, still
   * `queued`. A locked instance (for non-admins), one in another state or with a task under
   * way is a `conflict` (reason instance_state); a name the project has already is
   * `already_exists`; a bad name or description `invalid`. The image has the instance's
   * kernel, ramdisk and architecture, and the properties image_type=snapshot, instance_uuid,
   * base_image_ref and user_id.
   */
  async create(
    ctx: RequestContext,
    inst: InstanceRow,
    req: InstanceImageRequest,
  ): Promise<ImageRow> {
    checkUnlocked(ctx, inst);
    if (!IMAGE_FROM_STATES.includes(inst.vmState) || inst.taskState !== null || !inst.host) {
      throw invalidState(inst, 'createImage');
    }
    const source = await this.#opts.images.get(inst.imageId).catch(() => undefined);
    // An instance whose root is a volume makes an image of volume snapshots, whose sizes are
    // in its mappings: it needs no root disk of a flavor.
    const onVolume = (await rootVolumeOf(this.#opts.db, inst.id)) !== undefined;
    const image = await this.#opts.images.create({
      name: req.name,
      description: req.description,
      ownerProjectId: ctx.projectId ?? inst.projectId,
      isPublic: false,
      kind: 'machine',
      diskFormat: 'qcow2',
      architecture: source?.architecture ?? 'x86_64',
      kernelId: inst.kernelId,
      ramdiskId: inst.ramdiskId,
      attributes: {
        minDisk: onVolume ? 0 : inst.diskGb,
        minRam: source?.minRam ?? 0,
        properties: {
          ...req.properties,
          image_type: 'snapshot',
          instance_uuid: inst.id,
          base_image_ref: inst.imageId,
          ...(ctx.userId ? { user_id: ctx.userId } : {}),
        },
      },
    });
    const started = await this.#instances.transition(
      inst.id,
      { vmStates: IMAGE_FROM_STATES, taskStates: [null] },
      { taskState: 'image_snapshot' },
    );
    if (!started) {
      await this.#opts.images.delete(image.id).catch(() => undefined);
      throw invalidState(await this.#instances.get(inst.id), 'createImage');
    }
    try {
      await this.#opts.compute.snapshotInstance(ctx, inst.host, {
        instanceId: inst.id,
        imageId: image.id,
        noReboot: req.noReboot,
      });
    } catch (err) {
      await this.#instances.transition(
        inst.id,
        { taskStates: ['image_snapshot'] },
        { taskState: null },
      );
      await this.#opts.images.delete(image.id).catch(() => undefined);
      throw err;
    }
    return image;
  }
}

export interface InstanceImageWorkerDeps {
  db: Db;
  driver: VirtDriver;
  images: Pick<
    ImageStore,
    'upload' | 'get' | 'delete' | 'directory' | 'update' | 'activateVolumeBacked'
  >;
  /** Takes a snapshot of a volume the instance holds (an instance whose root is a volume). */
  snapshotVolume?: SnapshotInstanceVolume | undefined;
  /** The instance if it is placed on this host. */
  mine(instanceId: string): Promise<InstanceRow | undefined>;
  /** Runs `fn` under the instance's lock (the manager's). */
  locked<T>(instanceId: string, fn: () => Promise<T>): Promise<T>;
  /** Runs `fn` as a recorded instance action (errors are recorded, not thrown). */
  action(
    inst: InstanceRow,
    action: string,
    ctx: RequestContext,
    fn: () => Promise<void>,
  ): Promise<void>;
}

/** The host side: copies the VM's disk and uploads it into the queued image. */
export class InstanceImageWorker {
  readonly #d: InstanceImageWorkerDeps;
  readonly #instances: InstanceRepo;
  readonly #imageRows: ImageRepo;

  constructor(deps: InstanceImageWorkerDeps) {
    this.#d = deps;
    this.#instances = new InstanceRepo(deps.db);
    this.#imageRows = new ImageRepo(deps.db);
  }

  /**
   * Runs only for an instance of this host in task state image_snapshot (a message delivered
   * twice finds the work done or under way) and an image still queued.
   */
  snapshot(args: InstanceImageArgs, ctx: RequestContext): Promise<null> {
    const { instanceId, imageId, noReboot } = args;
    return this.#d.locked(instanceId, async () => {
      const inst = await this.#d.mine(instanceId);
      if (!inst || inst.taskState !== 'image_snapshot') return null;
      if (await rootVolumeOf(this.#d.db, instanceId)) {
        await this.#d.action(inst, 'createImage', ctx, () =>
          this.#ofVolumes(inst, imageId, noReboot, ctx),
        );
        return null;
      }
      await this.#d.action(inst, 'createImage', ctx, async () => {
        const driver = this.#d.driver;
        const dir = this.#d.images.directory;
        const copy = path.join(dir, `${imageId}.from-instance`);
        let poweredOff = false;
        try {
          const image = await this.#imageRows.get(imageId);
          if (image.status !== 'queued') {
            throw new StratusError(
              'conflict',
              `The image ${imageId} is ${image.status}; only a queued image takes the copy.`,
              { resource: 'image', id: imageId, reason: 'image_state' },
            );
          }
          await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
          await fs.promises.rm(copy, { force: true });
          if (!noReboot && (await driver.getState(instanceId)) === 'running') {
            // A clean file system: the guest shuts down (ACPI) before the copy.
            await driver.powerOff(instanceId, false);
            poweredOff = true;
          }
          await this.#task(instanceId, 'image_snapshot', 'image_pending_upload');
          await driver.snapshotRootDisk(instanceId, copy);
          if (poweredOff) {
            await driver.powerOn(instanceId);
            poweredOff = false;
          }
          await this.#task(instanceId, 'image_pending_upload', 'image_uploading');
          await this.#d.images.upload(imageId, fs.createReadStream(copy));
          await this.#task(instanceId, 'image_uploading', null);
        } catch (err) {
          if (poweredOff) await driver.powerOn(instanceId).catch(() => undefined);
          await this.#instances.transition(
            instanceId,
            { taskStates: IMAGE_TASKS },
            { taskState: null },
          );
          await this.#d.images.delete(imageId).catch(() => undefined);
          throw err;
        } finally {
          await fs.promises.rm(copy, { force: true });
        }
      });
      return null;
    });
  }

  /** An instance whose root is a volume: an image of snapshots of its volumes. */
  async #ofVolumes(
    inst: InstanceRow,
    imageId: string,
    noReboot: boolean,
    ctx: RequestContext,
  ): Promise<void> {
    const taken: SnapshotRow[] = [];
    try {
      const image = await this.#imageRows.get(imageId);
      if (image.status !== 'queued') {
        throw new StratusError(
          'conflict',
          `The image ${imageId} is ${image.status}; only a queued image takes the snapshots.`,
          { resource: 'image', id: imageId, reason: 'image_state' },
        );
      }
      const snapshotVolume = this.#d.snapshotVolume;
      if (!snapshotVolume) {
        throw new StratusError('unavailable', 'This compute host cannot take volume snapshots.', {
          resource: 'snapshot',
        });
      }
      await this.#task(inst.id, 'image_snapshot', 'image_pending_upload');
      await snapshotVolumesIntoImage(
        { db: this.#d.db, driver: this.#d.driver, images: this.#d.images, snapshotVolume },
        ctx,
        inst,
        imageId,
        noReboot,
        taken,
      );
      await this.#task(inst.id, 'image_pending_upload', null);
    } catch (err) {
      await this.#instances.transition(inst.id, { taskStates: IMAGE_TASKS }, { taskState: null });
      await this.#d.images.delete(imageId).catch(() => undefined);
      throw err;
    }
  }

  /** Moves the instance's task from `from` to `to`; it must still be in `from`. */
  async #task(instanceId: string, from: TaskState, to: TaskState | null): Promise<void> {
    const ok = await this.#instances.transition(
      instanceId,
      { taskStates: [from] },
      { taskState: to },
    );
    if (!ok) {
      throw new StratusError(
        'conflict',
        `Instance ${instanceId} left task state ${from} while its image was being made.`,
        { resource: 'instance', id: instanceId, reason: 'instance_state' },
      );
    }
  }
}
