// The compute host's side of volumes: attaching, detaching and growing them on the host's VMs.
// The API side (volume-attach-operations.ts) has recorded the volume `attaching`, `detaching`
// or `extending` with its instance; here the volume host exports it, the driver plugs it, and
// the record ends `in-use` or `available`, never left in the middle: a failure on the way
// undoes what was done, and a pass over the host's volumes (at start and periodically) takes
// up what a dead process left.
import type { RequestContext } from '../context.js';
import { systemContext } from '../context.js';
import { now, VolumeRepo, type Db, type InstanceRow, type VolumeRow } from '../db/index.js';
import { asStratusError } from '../errors.js';
import type { Logger } from '../log.js';
import type { VirtDriver, VolumeAttachment } from '../virt/index.js';
import type { VolumeClient } from '../volume/index.js';
import { isRootDevice } from './volume-attach-operations.js';

const GIB = 1024 ** 3;

export interface AttachmentWorkerOptions {
  db: Db;
  host: string;
  driver: VirtDriver;
  volumes: VolumeClient;
  logger: Logger;
  /** The instance if it is placed on this host. */
  mine(instanceId: string): Promise<InstanceRow | undefined>;
  /** Runs `fn` under the instance's lock (one change of an instance at a time). */
  locked<T>(instanceId: string, fn: () => Promise<T>): Promise<T>;
  /** Whether work on the instance is under way in this process now. */
  busy(instanceId: string): boolean;
}

export interface VolumeWork {
  instanceId: string;
  volumeId: string;
}

/** What an attachment that is given up leaves: the volume free again. */
const RELEASED = {
  instanceId: null,
  device: null,
  attachedAt: null,
  // A volume detached from the instance it was made for no longer goes with it.
  deleteOnTermination: 0,
} as const;

export class AttachmentWorker {
  readonly #opts: AttachmentWorkerOptions;
  readonly #volumes: VolumeRepo;

  constructor(options: AttachmentWorkerOptions) {
    this.#opts = options;
    this.#volumes = new VolumeRepo(options.db);
  }

  /** Attaches a volume recorded `attaching` to the instance; it ends `in-use`, or free again. */
  attach({ instanceId, volumeId }: VolumeWork, ctx: RequestContext): Promise<null> {
    return this.#opts.locked(instanceId, async () => {
      const v = await this.#volumes.get(volumeId);
      if (!v || v.status !== 'attaching' || v.instanceId !== instanceId) return null;
      const log = this.#opts.logger.child({ instanceId, volumeId });
      try {
        const inst = await this.#opts.mine(instanceId);
        if (!inst || (inst.vmState !== 'active' && inst.vmState !== 'stopped')) {
          throw new Error(`The instance '${instanceId}' is not running or stopped on this host.`);
        }
        if (v.host === null) throw new Error(`The volume '${volumeId}' has no volume host.`);
        const e = await this.#opts.volumes.exportVolume(ctx, v.host, volumeId);
        await this.#opts.driver.attachVolume(instanceId, {
          volumeId,
          device: v.device ?? '',
          connection: { kind: 'nbd', host: e.host, port: e.port, exportName: e.exportName },
        });
        const done = await this.#volumes.update(
          volumeId,
          { status: 'in-use', attachedAt: now(), statusReason: null },
          ['attaching'],
        );
        // Reset by an administrator meanwhile: what was plugged is taken out again.
        if (!done) await this.#unplug(v, instanceId, ctx, true);
        else log.info({ device: v.device }, 'volume attached');
      } catch (err) {
        const e = asStratusError(err);
        log.error({ err }, 'attaching the volume failed; undoing it');
        await this.#unplug(v, instanceId, ctx, true);
        // A volume whose file is gone cannot be used again.
        await this.#volumes.update(
          volumeId,
          {
            ...RELEASED,
            status: e.kind === 'not_found' && e.resource === 'volume' ? 'error' : 'available',
            statusReason: e.message.slice(0, 1000),
          },
          ['attaching'],
        );
      }
      return null;
    });
  }

  /**
   * Detaches a volume recorded `detaching` from the instance; it ends `available`, or `in-use`
   * again when the guest holds on to it and `force` is not given.
   */
  detach(
    { instanceId, volumeId, force }: VolumeWork & { force: boolean },
    ctx: RequestContext,
  ): Promise<null> {
    return this.#opts.locked(instanceId, async () => {
      const v = await this.#volumes.get(volumeId);
      if (!v || v.status !== 'detaching' || v.instanceId !== instanceId) return null;
      const log = this.#opts.logger.child({ instanceId, volumeId });
      try {
        await this.#opts.driver.detachVolume(instanceId, volumeId, { force });
      } catch (err) {
        log.warn({ err }, 'the guest did not release the volume');
        await this.#volumes.update(
          volumeId,
          { status: 'in-use', statusReason: asStratusError(err).message.slice(0, 1000) },
          ['detaching'],
        );
        return null;
      }
      await this.#unexport(v, ctx);
      await this.#volumes.update(volumeId, { ...RELEASED, status: 'available' }, ['detaching']);
      log.info({ force }, 'volume detached');
      return null;
    });
  }

  /**
   * Grows an attached volume recorded `extending`: its volume host grows the file and exports
   * it again, and the guest is told the new size. It ends `in-use` either way (a failure is
   * its status reason).
   */
  extend({ instanceId, volumeId }: VolumeWork, ctx: RequestContext): Promise<null> {
    return this.#opts.locked(instanceId, async () => {
      const v = await this.#volumes.get(volumeId);
      if (!v || v.status !== 'extending' || v.instanceId !== instanceId || v.host === null) {
        return null;
      }
      const log = this.#opts.logger.child({ instanceId, volumeId });
      let reason: string | null = null;
      try {
        await this.#opts.volumes.growVolume(ctx, v.host, volumeId);
        await this.#opts.driver.extendVolume(instanceId, volumeId, v.sizeGb * GIB);
        log.info({ sizeGb: v.sizeGb }, 'attached volume extended');
      } catch (err) {
        log.error({ err }, 'extending the attached volume failed');
        reason = asStratusError(err).message.slice(0, 1000);
      }
      await this.#volumes.update(volumeId, { status: 'in-use', statusReason: reason }, [
        'extending',
      ]);
      return null;
    });
  }

  /**
   * Attaches the volumes a launch made for the instance (its block device mappings), before
   * the instance is recorded running: each is waited for until its volume host made it
   * (`waitMs` at most), then exported and plugged, and ends `in-use`. Throws when one cannot
   * be made or plugged; the caller fails the build (and `releaseAll(.., 'launch')` removes
   * them). The caller holds the instance's lock.
   */
  async attachLaunchVolumes(
    instanceId: string,
    ctx: RequestContext,
    waitMs: number,
  ): Promise<void> {
    await this.#waitMade(instanceId, waitMs);
    for (const v of await this.#volumes.list({ instanceId })) {
      if (v.status !== 'available' && v.status !== 'attaching') continue;
      if (v.host === null) throw new Error(`The volume '${v.id}' has no volume host.`);
      // The root volume was given to the VM when it was made (prepareRootVolume).
      if (v.device === null || !isRootDevice(v.device)) {
        await this.#volumes.update(v.id, { status: 'attaching' }, ['available']);
        const e = await this.#opts.volumes.exportVolume(ctx, v.host, v.id);
        await this.#opts.driver.attachVolume(instanceId, {
          volumeId: v.id,
          device: v.device ?? '',
          connection: { kind: 'nbd', host: e.host, port: e.port, exportName: e.exportName },
        });
      }
      await this.#volumes.update(v.id, { status: 'in-use', attachedAt: now() }, [
        'attaching',
        'available',
      ]);
      this.#opts.logger.info(
        { instanceId, volumeId: v.id, device: v.device },
        'launch volume attached',
      );
    }
  }

  /**
   * The root volume a launch made (or gave) for the instance, once made (`waitMs` at most, as
   * its other volumes), recorded `attaching` and exported by its volume host: what the driver
   * boots the VM from. Undefined when the instance boots from a disk of its own. The caller
   * holds the instance's lock; `attachLaunchVolumes` then records it `in-use`.
   */
  async prepareRootVolume(
    instanceId: string,
    ctx: RequestContext,
    waitMs: number,
  ): Promise<VolumeAttachment | undefined> {
    const isRoot = (v: VolumeRow) => v.device !== null && isRootDevice(v.device);
    if (!(await this.#volumes.list({ instanceId })).some(isRoot)) return undefined;
    await this.#waitMade(instanceId, waitMs);
    const v = (await this.#volumes.list({ instanceId })).find(isRoot);
    if (!v) throw new Error(`The root volume of instance '${instanceId}' is gone.`);
    if (v.host === null) throw new Error(`The volume '${v.id}' has no volume host.`);
    await this.#volumes.update(v.id, { status: 'attaching' }, ['available']);
    const e = await this.#opts.volumes.exportVolume(ctx, v.host, v.id);
    return {
      volumeId: v.id,
      device: v.device ?? '',
      connection: { kind: 'nbd', host: e.host, port: e.port, exportName: e.exportName },
    };
  }

  /** Waits until the volume hosts made every volume of the instance's launch. */
  async #waitMade(instanceId: string, waitMs: number): Promise<void> {
    const deadline = now() + waitMs;
    for (;;) {
      const vs = await this.#volumes.list({ instanceId });
      const failed = vs.find((v) => v.status === 'error');
      if (failed) {
        throw new Error(
          `The volume '${failed.id}' for ${failed.device ?? 'a device'} could not be made: ${failed.statusReason ?? 'error'}.`,
        );
      }
      if (!vs.some((v) => v.status === 'creating')) break;
      if (now() > deadline) {
        throw new Error(`The instance's volumes were not made within ${waitMs / 1000} s.`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /**
   * The instance's VM is gone (terminated): its volumes are free again, and those marked
   * DeleteOnTermination are deleted. When its launch failed (`launch`), every volume made for
   * it goes, as EC2 removes them with the failed instance. The caller holds the instance's lock.
   */
  async releaseAll(instanceId: string, ctx: RequestContext, launch = false): Promise<void> {
    const inst = launch ? await this.#opts.mine(instanceId) : undefined;
    for (const v of await this.#volumes.list({ instanceId })) {
      await this.#unexport(v, ctx);
      const log = this.#opts.logger.child({ instanceId, volumeId: v.id });
      // A failed launch takes the volumes made for it, not an existing one it was given.
      const madeForLaunch = launch && (inst === undefined || v.createdAt >= inst.createdAt);
      if ((v.deleteOnTermination === 1 || madeForLaunch) && v.host !== null) {
        const gone = await this.#volumes.update(v.id, { ...RELEASED, status: 'deleting' }, [
          'creating',
          'available',
          'attaching',
          'in-use',
          'detaching',
          'extending',
          'error',
        ]);
        if (gone) {
          await this.#opts.volumes.deleteVolume(ctx, v.host, v.id).catch((err: unknown) => {
            log.warn({ err }, 'the volume host was not told to delete the volume');
          });
          log.info('volume deleted with its instance');
          continue;
        }
      }
      await this.#volumes.update(v.id, { ...RELEASED, status: 'available' }, [
        'available',
        'attaching',
        'in-use',
        'detaching',
        'extending',
      ]);
      log.info('volume released with its instance');
    }
  }

  /**
   * Takes up volume work on this host's instances that nobody does: a volume `attaching`,
   * `detaching` or `extending` unchanged for `deadlineMs` (any, with `all`, at start) whose
   * instance no one here works on is handled again (each step is idempotent).
   */
  async reconcile(deadlineMs: number, all = false): Promise<void> {
    const ctx = systemContext();
    const stale = (await this.#volumes.list({ statuses: ['attaching', 'detaching', 'extending'] }))
      .filter((v) => v.instanceId !== null && (all || now() - v.updatedAt >= deadlineMs))
      .filter((v) => !this.#opts.busy(v.instanceId as string));
    for (const v of stale) {
      const instanceId = v.instanceId as string;
      const inst = await this.#opts.mine(instanceId);
      // A build attaches its launch volumes itself (attachLaunchVolumes).
      if (!inst || inst.vmState === 'building') continue;
      const work = { instanceId, volumeId: v.id };
      this.#opts.logger.warn({ ...work, status: v.status }, 'taking up unfinished volume work');
      if (inst.vmState === 'deleted' || inst.vmState === 'error') {
        await this.#opts.locked(instanceId, () => this.releaseAll(instanceId, ctx));
      } else if (v.status === 'attaching') await this.attach(work, ctx);
      else if (v.status === 'detaching') await this.detach({ ...work, force: false }, ctx);
      else await this.extend(work, ctx);
    }
  }

  async #unplug(v: VolumeRow, instanceId: string, ctx: RequestContext, force: boolean) {
    await this.#opts.driver.detachVolume(instanceId, v.id, { force }).catch(() => undefined);
    await this.#unexport(v, ctx);
  }

  /** Ends the export; a volume host that does not answer ends it itself when it syncs. */
  async #unexport(v: VolumeRow, ctx: RequestContext): Promise<void> {
    if (v.host === null) return;
    try {
      await this.#opts.volumes.unexportVolume(ctx, v.host, v.id);
    } catch (err) {
      this.#opts.logger.warn({ err, volumeId: v.id }, 'the volume host did not end the export');
    }
  }
}
