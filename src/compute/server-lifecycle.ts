// What the API edges call for the actions on one instance beyond power: pause, suspend,
// rescue, rebuild, resize (with its confirm and revert), lock, and the action records and
// password data they show. Each checks the instance's state and lock, moves it into its task
// state here with a compare-and-set (so two requests cannot both start), and casts the work
// to the instance's host, whose manager finishes the state change.
import { isAdmin, type RequestContext } from '../context.js';
import {
  CapacityClaimRepo,
  ImageRepo,
  InstanceRepo,
  KeypairRepo,
  QuotaRepo,
  ServerMetadataRepo,
  type Db,
  type FlavorRow,
  type ImageRow,
  type InstanceActionRow,
  type InstanceRow,
  type InstancesTable,
  type ResizeSource,
  type TaskState,
  type VmState,
} from '../db/index.js';
import { invalid, StratusError } from '../errors.js';
import { effectiveLimits, type QuotaLimits } from '../quota/index.js';
import type { ComputeClient } from './client.js';
import { MAX_METADATA_ITEMS } from './operations.js';
import { rootVolumeOf } from './volume-backed-images.js';

export interface InstanceLifecycleOptions {
  db: Db;
  compute: ComputeClient;
  quota: QuotaLimits;
  /** The scheduler's allocation ratios, for a change of flavor on a host (1 when absent). */
  allocationRatios?: { cpu: number; ram: number; disk: number };
}

/** The actions of this module, by the name the instance's action records and messages use. */
export type LifecycleAction =
  | 'pause'
  | 'unpause'
  | 'suspend'
  | 'resume'
  | 'rescue'
  | 'unrescue'
  | 'rebuild'
  | 'resize'
  | 'confirmResize'
  | 'revertResize';

/** The vm states each action starts from (always with no task under way), and its task. */
const RULES: Readonly<Record<LifecycleAction, { from: readonly VmState[]; task: TaskState }>> = {
  pause: { from: ['active'], task: 'pausing' },
  unpause: { from: ['paused'], task: 'unpausing' },
  suspend: { from: ['active'], task: 'suspending' },
  resume: { from: ['suspended'], task: 'resuming' },
  rescue: { from: ['active', 'stopped', 'error'], task: 'rescuing' },
  unrescue: { from: ['rescued'], task: 'unrescuing' },
  rebuild: { from: ['active', 'stopped', 'error'], task: 'rebuilding' },
  resize: { from: ['active', 'stopped'], task: 'resize_prep' },
  confirmResize: { from: ['resized'], task: 'resize_confirming' },
  revertResize: { from: ['resized'], task: 'resize_reverting' },
};

/**
 * The refusal of an action in the instance's current state, worded as the Compute API words
 * it (the task state is named when a task is under way, the vm state otherwise).
 */
export function invalidState(inst: InstanceRow, action: string): StratusError {
  const [attr, state] =
    inst.taskState !== null ? ['task_state', inst.taskState] : ['vm_state', inst.vmState];
  return new StratusError(
    'conflict',
    `Cannot '${action}' instance ${inst.id} while it is in ${attr} ${state}`,
    { resource: 'instance', id: inst.id, reason: 'instance_state' },
  );
}

/** A locked instance refuses actions from everyone but admins (409, as the Compute API). */
export function checkUnlocked(ctx: RequestContext, inst: InstanceRow): void {
  if (inst.lockedBy !== null && !isAdmin(ctx)) {
    throw new StratusError('conflict', `Instance ${inst.id} is locked`, {
      resource: 'instance',
      id: inst.id,
      reason: 'instance_state',
    });
  }
}

export class InstanceLifecycle {
  readonly #opts: InstanceLifecycleOptions;
  readonly #instances: InstanceRepo;
  readonly #images: ImageRepo;

  constructor(options: InstanceLifecycleOptions) {
    this.#opts = options;
    this.#instances = new InstanceRepo(options.db);
    this.#images = new ImageRepo(options.db);
  }

  /** Stops the VM's vCPUs (memory kept): PAUSED. */
  pause(ctx: RequestContext, inst: InstanceRow): Promise<void> {
    return this.#start(ctx, inst, 'pause', {}, (host) =>
      this.#opts.compute.pauseInstance(ctx, host, inst.id),
    );
  }

  unpause(ctx: RequestContext, inst: InstanceRow): Promise<void> {
    return this.#start(ctx, inst, 'unpause', {}, (host) =>
      this.#opts.compute.unpauseInstance(ctx, host, inst.id),
    );
  }

  /** Saves the guest's state to disk and ends its VM: SUSPENDED. */
  suspend(ctx: RequestContext, inst: InstanceRow): Promise<void> {
    return this.#start(ctx, inst, 'suspend', {}, (host) =>
      this.#opts.compute.suspendInstance(ctx, host, inst.id),
    );
  }

  resume(ctx: RequestContext, inst: InstanceRow): Promise<void> {
    return this.#start(ctx, inst, 'resume', {}, (host) =>
      this.#opts.compute.resumeInstance(ctx, host, inst.id),
    );
  }

  /**
   * Refuses (`conflict`, reason unsupported) work on an instance's own root disk for one that
   * boots from a volume: rebuilding, resizing and rescuing it are not offered.
   */
  async #ownDisk(inst: InstanceRow, action: string): Promise<void> {
    if (await rootVolumeOf(this.#opts.db, inst.id)) {
      throw new StratusError(
        'conflict',
        `Cannot '${action}' instance ${inst.id}: it boots from a volume, and ${action} is not offered for such instances.`,
        { resource: 'instance', id: inst.id, reason: 'unsupported' },
      );
    }
  }

  /**
   * Boots the instance from a rescue image (`imageRef`, or the instance's own image) with its
   * own disk attached second: RESCUE.
   */
  async rescue(ctx: RequestContext, inst: InstanceRow, imageRef?: string): Promise<void> {
    this.#check(ctx, inst, 'rescue');
    await this.#ownDisk(inst, 'rescue');
    const image = await this.#image(ctx, imageRef ?? inst.imageId);
    await this.#start(ctx, inst, 'rescue', {}, (host) =>
      this.#opts.compute.rescueInstance(ctx, host, inst.id, {
        imageId: image.id,
        kernelId: image.kernelId,
        ramdiskId: image.ramdiskId,
      }),
    );
  }

  unrescue(ctx: RequestContext, inst: InstanceRow): Promise<void> {
    return this.#start(ctx, inst, 'unrescue', {}, (host) =>
      this.#opts.compute.unrescueInstance(ctx, host, inst.id),
    );
  }

  /**
   * Gives the instance a new disk from `imageRef` (its kernel and ramdisk with it), keeping
   * its addresses and, unless `change` names another (or null: none), its key pair and user
   * data: REBUILD, then as it was (an errored one becomes active).
   */
  async rebuild(
    ctx: RequestContext,
    inst: InstanceRow,
    imageRef: string,
    change: {
      keyName?: string | null | undefined;
      userData?: string | null | undefined;
      /** Replaces the instance's metadata items. */
      metadata?: Readonly<Record<string, string>> | undefined;
    } = {},
  ): Promise<void> {
    this.#check(ctx, inst, 'rebuild');
    await this.#ownDisk(inst, 'rebuild');
    const image = await this.#image(ctx, imageRef);
    const set: Partial<InstancesTable> = {};
    if (change.keyName === null) Object.assign(set, { keyName: null, keyData: null });
    else if (change.keyName !== undefined) {
      const key = await new KeypairRepo(this.#opts.db).findByName(inst.projectId, change.keyName);
      if (!key) {
        throw invalid(
          `Invalid key_name provided: the key pair '${change.keyName}' does not exist.`,
          {
            resource: 'keypair',
            id: change.keyName,
          },
        );
      }
      Object.assign(set, { keyName: key.name, keyData: key.publicKey });
    }
    if (change.userData !== undefined) set.userData = change.userData;
    if (change.metadata !== undefined) {
      const r = await new ServerMetadataRepo(this.#opts.db).change(
        inst.id,
        { kind: 'replace', items: change.metadata },
        { vmStates: RULES.rebuild.from, maxItems: MAX_METADATA_ITEMS },
      );
      if (!r.ok && r.reason === 'limit') {
        throw new StratusError(
          'over_quota',
          `Quota exceeded for metadata_items: at most ${MAX_METADATA_ITEMS} items, and the change leaves ${r.count}.`,
          { resource: 'metadata_items', reason: 'metadata_items' },
        );
      }
      if (!r.ok) throw invalidState(await this.#instances.get(inst.id), 'rebuild');
    }
    if (image.kind !== 'machine') {
      throw invalid(`Image ${image.id} is not a machine image; an instance cannot boot it.`, {
        resource: 'image',
        id: image.id,
      });
    }
    await this.#start(
      ctx,
      inst,
      'rebuild',
      { ...set, imageId: image.id, kernelId: image.kernelId, ramdiskId: image.ramdiskId },
      (host) => this.#opts.compute.rebuildInstance(ctx, host, inst.id),
    );
  }

  /**
   * Gives the instance a new flavor: the quota and its host must hold it (the host keeps room
   * for the larger of the two until the resize is confirmed or reverted). The disk only grows.
   * Ends in VERIFY_RESIZE.
   */
  async resize(ctx: RequestContext, inst: InstanceRow, flavor: FlavorRow): Promise<void> {
    this.#check(ctx, inst, 'resize');
    await this.#ownDisk(inst, 'resize');
    if (flavor.id === inst.flavorId) {
      throw invalid('When resizing, instances must change flavor!', {
        resource: 'flavor',
        id: flavor.id,
      });
    }
    if (flavor.diskGb < inst.diskGb) {
      throw invalid('Resizing to a smaller disk flavor is not allowed.', {
        resource: 'flavor',
        id: flavor.id,
      });
    }
    await this.#checkQuota(inst, flavor);
    await this.#claim(inst, {
      vcpus: Math.max(inst.vcpus, flavor.vcpus),
      memoryMb: Math.max(inst.memoryMb, flavor.memoryMb),
      diskGb: Math.max(inst.diskGb, flavor.diskGb),
    });
    const source: ResizeSource = {
      flavorId: inst.flavorId,
      vcpus: inst.vcpus,
      memoryMb: inst.memoryMb,
      diskGb: inst.diskGb,
      vmState: inst.vmState === 'stopped' ? 'stopped' : 'active',
    };
    await this.#start(
      ctx,
      inst,
      'resize',
      {
        flavorId: flavor.id,
        vcpus: flavor.vcpus,
        memoryMb: flavor.memoryMb,
        diskGb: flavor.diskGb,
        resizeSource: JSON.stringify(source),
      },
      (host) => this.#opts.compute.resizeInstance(ctx, host, inst.id),
    );
  }

  /** Keeps the new flavor: the host's claim shrinks to it, the old disk is dropped. */
  async confirmResize(ctx: RequestContext, inst: InstanceRow): Promise<void> {
    this.#check(ctx, inst, 'confirmResize');
    await this.#claim(inst, inst);
    await this.#start(ctx, inst, 'confirmResize', {}, (host) =>
      this.#opts.compute.confirmResize(ctx, host, inst.id),
    );
  }

  /** Goes back to the old flavor and the old disk (the host's manager restores the record). */
  async revertResize(ctx: RequestContext, inst: InstanceRow): Promise<void> {
    this.#check(ctx, inst, 'revertResize');
    await this.#start(ctx, inst, 'revertResize', {}, (host) =>
      this.#opts.compute.revertResize(ctx, host, inst.id),
    );
  }

  /**
   * Locks the instance: only admins may act on it until it is unlocked. Who locked it is
   * `owner` when the caller belongs to its project, `admin` otherwise.
   */
  async lock(ctx: RequestContext, inst: InstanceRow, reason: string | null): Promise<void> {
    const by = ctx.projectId === inst.projectId ? 'owner' : 'admin';
    await this.#recorded(ctx, inst, 'lock', async () => {
      await this.#instances.update(inst.id, { lockedBy: by, lockedReason: reason });
    });
  }

  /**
   * Unlocks the instance. A lock an admin set (from outside the project) is only lifted by an
   * admin: `forbidden` for anyone else. Unlocking an unlocked instance does nothing.
   */
  async unlock(ctx: RequestContext, inst: InstanceRow): Promise<void> {
    if (inst.lockedBy === 'admin' && !isAdmin(ctx)) {
      throw new StratusError(
        'forbidden',
        'Policy does not allow unlocking an instance an admin locked; only an admin may.',
        { resource: 'instance', id: inst.id },
      );
    }
    await this.#recorded(ctx, inst, 'unlock', async () => {
      await this.#instances.update(inst.id, { lockedBy: null, lockedReason: null });
    });
  }

  /** The instance's action records, oldest first (each host step is one record). */
  actions(inst: InstanceRow): Promise<InstanceActionRow[]> {
    return this.#instances.actions(inst.id);
  }

  /** Forgets the password data the guest posted, so it may post a new one. */
  async clearPassword(_ctx: RequestContext, inst: InstanceRow): Promise<void> {
    await this.#instances.update(inst.id, { passwordData: null, passwordDataAt: null });
  }

  /** Refuses the action if the instance is locked or in a state it does not start from. */
  #check(ctx: RequestContext, inst: InstanceRow, action: LifecycleAction): void {
    checkUnlocked(ctx, inst);
    const rule = RULES[action];
    if (!rule.from.includes(inst.vmState) || inst.taskState !== null) {
      throw invalidState(inst, action);
    }
  }

  /**
   * Moves the instance into the action's task state (with `set`) if it is still in a state
   * the action starts from, then casts the work to its host.
   */
  async #start(
    ctx: RequestContext,
    inst: InstanceRow,
    action: LifecycleAction,
    set: Partial<InstancesTable>,
    send: (host: string) => Promise<void>,
  ): Promise<void> {
    this.#check(ctx, inst, action);
    const rule = RULES[action];
    const ok = await this.#instances.transition(
      inst.id,
      { vmStates: rule.from, taskStates: [null] },
      { ...set, taskState: rule.task },
    );
    if (!ok) throw invalidState(await this.#instances.get(inst.id), action);
    if (!inst.host) {
      await this.#instances.transition(inst.id, { taskStates: [rule.task] }, { taskState: null });
      throw invalidState(inst, action);
    }
    await send(inst.host);
  }

  /** Runs a change made here (no host involved) as a recorded, finished action. */
  async #recorded(
    ctx: RequestContext,
    inst: InstanceRow,
    action: string,
    fn: () => Promise<void>,
  ): Promise<void> {
    const id = await this.#instances.startAction({
      instanceId: inst.id,
      action,
      requestId: ctx.requestId,
      userId: ctx.userId,
      projectId: ctx.projectId,
      startedAt: Date.now(),
    });
    await fn();
    await this.#instances.finishAction(id, 'success');
  }

  /** A machine image the caller may use, by id. */
  async #image(ctx: RequestContext, ref: string): Promise<ImageRow> {
    const rows = await this.#images.list({
      idPrefixes: [ref],
      visibleTo: isAdmin(ctx) ? undefined : (ctx.projectId ?? ''),
    });
    const image = rows.find((r) => r.id === ref);
    if (!image) {
      throw invalid(`Image ${ref} could not be found.`, { resource: 'image', id: ref });
    }
    return image;
  }

  async #checkQuota(inst: InstanceRow, flavor: FlavorRow): Promise<void> {
    const [used, overrides] = await Promise.all([
      this.#instances.usage(inst.projectId),
      new QuotaRepo(this.#opts.db).overrides(inst.projectId),
    ]);
    const limits = effectiveLimits(this.#opts.quota, overrides);
    const cores = used.cores - inst.vcpus + flavor.vcpus;
    const ram = used.ramMb - inst.memoryMb + flavor.memoryMb;
    if (cores > limits.cores || ram > limits.ramMb) {
      const which = cores > limits.cores ? 'cores' : 'ram';
      throw new StratusError(
        'over_quota',
        which === 'cores'
          ? `Quota exceeded for cores: ${flavor.name} would bring the project to ${cores} vCPUs, over its limit of ${limits.cores}.`
          : `Quota exceeded for ram: ${flavor.name} would bring the project to ${ram} MiB, over its limit of ${limits.ramMb}.`,
        { resource: which, reason: which },
      );
    }
  }

  /** Sets what the instance's claim on its host holds; `unavailable` if the host lacks room. */
  async #claim(
    inst: InstanceRow,
    size: { vcpus: number; memoryMb: number; diskGb: number },
  ): Promise<void> {
    if (!inst.host) return;
    const ratios = this.#opts.allocationRatios ?? { cpu: 1, ram: 1, disk: 1 };
    const outcome = await new CapacityClaimRepo(this.#opts.db).resize(
      {
        instanceId: inst.id,
        host: inst.host,
        vcpus: size.vcpus,
        memoryMb: size.memoryMb,
        diskGb: size.diskGb,
      },
      (node) => ({
        vcpus: node.vcpus * ratios.cpu,
        memoryMb: node.memoryMb * ratios.ram,
        diskGb: node.diskGb * ratios.disk,
      }),
    );
    if (outcome === 'no_room') {
      throw new StratusError(
        'unavailable',
        `The host of instance ${inst.id} has no room for the new flavor.`,
        { resource: 'instance', id: inst.id, reason: 'no_valid_host' },
      );
    }
  }
}

/** The instance as it was before a resize waiting to be confirmed, or undefined. */
export function resizeSourceOf(inst: Pick<InstanceRow, 'resizeSource'>): ResizeSource | undefined {
  return inst.resizeSource ? (JSON.parse(inst.resizeSource) as ResizeSource) : undefined;
}
