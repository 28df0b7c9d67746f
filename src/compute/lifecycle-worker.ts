// The compute host's half of the actions in server-lifecycle.ts: pause, suspend, rescue,
// rebuild and resize on the VM through the virt driver. The API side has put the instance in
// the action's task state; each handler runs only from that state (a message delivered twice
// finds it done), records the work as an instance action, and ends in the action's vm state.
// If the driver fails, the task is cleared (a resize also gives back its old flavor) and the
// action record keeps the error; the power-state sync then shows what the VM really does.
import type { RequestContext } from '../context.js';
import {
  InstanceRepo,
  now,
  type Db,
  type InstanceRow,
  type InstancesTable,
  type TaskState,
  type VmState,
} from '../db/index.js';
import type { ImageStore } from '../image/index.js';
import type { GuestDisk, GuestFile, RescueBoot, VirtDriver } from '../virt/index.js';
import type { InstanceRef, RescueImage } from './client.js';
import { resizeSourceOf } from './server-lifecycle.js';

export interface LifecycleWorkerDeps {
  db: Db;
  driver: VirtDriver;
  images: Pick<ImageStore, 'fileOf'>;
  /** The metadata for drivers that serve it themselves (user-mode networking). */
  metadataFor?: ((instance: InstanceRow) => Promise<Record<string, string>>) | undefined;
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
  /** The boot files of the instance's image, kernel and ramdisk (real guests only). */
  bootFiles(
    inst: InstanceRow,
  ): Promise<{ image?: GuestDisk; kernel?: GuestFile; ramdisk?: GuestFile }>;
}

type Outcome = Partial<InstancesTable>;

export class LifecycleWorker {
  readonly #d: LifecycleWorkerDeps;
  readonly #instances: InstanceRepo;

  constructor(deps: LifecycleWorkerDeps) {
    this.#d = deps;
    this.#instances = new InstanceRepo(deps.db);
  }

  pause({ instanceId }: InstanceRef, ctx: RequestContext): Promise<null> {
    return this.#run(instanceId, ctx, 'pause', ['active'], 'pausing', async () => {
      await this.#d.driver.pause(instanceId);
      return { vmState: 'paused', powerState: 'paused' };
    });
  }

  unpause({ instanceId }: InstanceRef, ctx: RequestContext): Promise<null> {
    return this.#run(instanceId, ctx, 'unpause', ['paused'], 'unpausing', async () => {
      await this.#d.driver.unpause(instanceId);
      return { vmState: 'active', powerState: 'running' };
    });
  }

  suspend({ instanceId }: InstanceRef, ctx: RequestContext): Promise<null> {
    return this.#run(instanceId, ctx, 'suspend', ['active'], 'suspending', async () => {
      await this.#d.driver.suspend(instanceId);
      return { vmState: 'suspended', powerState: 'suspended' };
    });
  }

  resume({ instanceId }: InstanceRef, ctx: RequestContext): Promise<null> {
    return this.#run(instanceId, ctx, 'resume', ['suspended'], 'resuming', async () => {
      await this.#d.driver.resume(instanceId);
      return { vmState: 'active', powerState: 'running' };
    });
  }

  /** A new disk from the image the record now names; a stopped instance stays stopped. */
  rebuild({ instanceId }: InstanceRef, ctx: RequestContext): Promise<null> {
    return this.#run(
      instanceId,
      ctx,
      'rebuild',
      ['active', 'stopped', 'error'],
      'rebuilding',
      async (inst) => {
        const files = await this.#d.bootFiles(inst);
        const guest = await this.#d.driver.rebuild({
          instanceId: inst.id,
          name: inst.id,
          vcpus: inst.vcpus,
          memoryMb: inst.memoryMb,
          diskGb: inst.diskGb,
          imageId: inst.imageId,
          kernelId: inst.kernelId,
          ramdiskId: inst.ramdiskId,
          userData: inst.userData,
          ...files,
          metadata: (await this.#d.metadataFor?.(inst)) ?? {},
        });
        if (inst.vmState === 'stopped') {
          await this.#d.driver.powerOff(inst.id, true);
          return { powerState: 'shutdown' };
        }
        return {
          vmState: 'active',
          powerState: guest.powerState,
          launchedAt: now(),
          stateReason: null,
          stateMessage: null,
        };
      },
    );
  }

  /** The new flavor on the same host; waits in VERIFY_RESIZE (vm state resized). */
  resize({ instanceId }: InstanceRef, ctx: RequestContext): Promise<null> {
    return this.#run(
      instanceId,
      ctx,
      'resize',
      ['active', 'stopped'],
      'resize_prep',
      async (inst) => {
        const source = resizeSourceOf(inst);
        const powerOn = source?.vmState !== 'stopped';
        await this.#d.driver.resize(
          instanceId,
          { vcpus: inst.vcpus, memoryMb: inst.memoryMb, diskGb: inst.diskGb },
          { powerOn },
        );
        return { vmState: 'resized', powerState: powerOn ? 'running' : 'shutdown' };
      },
      (inst) => this.#oldFlavor(inst),
    );
  }

  confirmResize({ instanceId }: InstanceRef, ctx: RequestContext): Promise<null> {
    return this.#run(
      instanceId,
      ctx,
      'confirm-resize',
      ['resized'],
      'resize_confirming',
      async (inst) => {
        await this.#d.driver.confirmResize(instanceId);
        return { vmState: resizeSourceOf(inst)?.vmState ?? 'active', resizeSource: null };
      },
    );
  }

  /** Back to the old flavor and disk, in the state the instance was in before the resize. */
  revertResize({ instanceId }: InstanceRef, ctx: RequestContext): Promise<null> {
    return this.#run(
      instanceId,
      ctx,
      'revert-resize',
      ['resized'],
      'resize_reverting',
      async (inst) => {
        const source = resizeSourceOf(inst);
        const powerOn = source?.vmState !== 'stopped';
        if (source) {
          await this.#d.driver.revertResize(
            instanceId,
            { vcpus: source.vcpus, memoryMb: source.memoryMb },
            { powerOn },
          );
        }
        return {
          ...this.#oldFlavor(inst),
          vmState: source?.vmState ?? 'active',
          powerState: powerOn ? 'running' : 'shutdown',
        };
      },
    );
  }

  rescue(
    { instanceId, rescue }: InstanceRef & { rescue: RescueImage },
    ctx: RequestContext,
  ): Promise<null> {
    return this.#run(
      instanceId,
      ctx,
      'rescue',
      ['active', 'stopped', 'error'],
      'rescuing',
      async (inst) => {
        const files = await this.#d.bootFiles({ ...inst, ...rescue });
        const boot: RescueBoot = { imageId: rescue.imageId, ...files };
        await this.#d.driver.rescue(instanceId, boot);
        return { vmState: 'rescued', powerState: 'running' };
      },
    );
  }

  unrescue({ instanceId }: InstanceRef, ctx: RequestContext): Promise<null> {
    return this.#run(instanceId, ctx, 'unrescue', ['rescued'], 'unrescuing', async () => {
      await this.#d.driver.unrescue(instanceId);
      return { vmState: 'active', powerState: 'running' };
    });
  }

  /** The record's flavor fields as they were before the resize (none without a resize). */
  #oldFlavor(inst: InstanceRow): Outcome {
    const source = resizeSourceOf(inst);
    if (!source) return { resizeSource: null };
    return {
      flavorId: source.flavorId,
      vcpus: source.vcpus,
      memoryMb: source.memoryMb,
      diskGb: source.diskGb,
      resizeSource: null,
    };
  }

  /**
   * Runs one action under the instance's lock, if the instance is still in `from` with `task`
   * under way: `work` returns what the record becomes (the task is cleared with it). On a
   * failure the task is cleared and `onFailure`'s changes are made.
   */
  #run(
    instanceId: string,
    ctx: RequestContext,
    action: string,
    from: readonly VmState[],
    task: TaskState,
    work: (inst: InstanceRow) => Promise<Outcome>,
    onFailure?: (inst: InstanceRow) => Outcome,
  ): Promise<null> {
    return this.#d.locked(instanceId, async () => {
      const inst = await this.#d.mine(instanceId);
      if (!inst || !from.includes(inst.vmState) || inst.taskState !== task) return null;
      await this.#d.action(inst, action, ctx, async () => {
        let outcome: Outcome;
        try {
          outcome = await work(inst);
        } catch (err) {
          await this.#instances.transition(
            instanceId,
            { taskStates: [task] },
            { ...(onFailure?.(inst) ?? {}), taskState: null },
          );
          throw err;
        }
        await this.#instances.transition(
          instanceId,
          { taskStates: [task] },
          { ...outcome, taskState: null },
        );
      });
      return null;
    });
  }
}
