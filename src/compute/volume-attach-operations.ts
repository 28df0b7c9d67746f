// What the API edges call to attach volumes to instances and detach them: the rules (whose
// volume, which zone, which device name, which states), the volume recorded `attaching` or
// `detaching` with its instance in one compare-and-set, then a cast to the instance's compute
// host (attachment-worker.ts). One model behind EC2's attachments, Compute's
// os-volume_attachments and the Block Storage API's attachments.
import { isAdmin, type RequestContext } from '../context.js';
import {
  isUniqueViolation,
  VolumeRepo,
  type Db,
  type InstanceRow,
  type VolumeRow,
} from '../db/index.js';
import { invalid, notFound, StratusError } from '../errors.js';
import type { ComputeClient } from './client.js';

/** Device names a volume may be given: /dev/sdf, /dev/xvdg, /dev/vdb (the /dev/ may be left out). */
const DEVICE = /^(\/dev\/)?(sd|xvd|vd|hd)[a-z]{1,2}$/;
/** The names of root disks, which a volume never gets. */
const ROOT_DEVICES = new Set(['/dev/sda', '/dev/xvda', '/dev/vda', '/dev/hda']);

export interface VolumeAttachOperationsOptions {
  db: Db;
  compute: ComputeClient;
}

/** Whether `device` (with /dev/) names a disk a volume may be given, and not a root disk. */
export function isVolumeDevice(device: string): boolean {
  return DEVICE.test(device) && !ROOT_DEVICES.has(device);
}

/** Whether `device` names an instance's root disk (/dev/sda1, /dev/xvda, /dev/vda ...). */
export function isRootDevice(device: string): boolean {
  return ROOT_DEVICES.has(device.replace(/1$/, ''));
}

/** A device name as recorded: always with /dev/. */
export function normalizeDevice(device: string): string {
  return device.startsWith('/dev/') ? device : `/dev/${device}`;
}

export class VolumeAttachOperations {
  readonly #opts: VolumeAttachOperationsOptions;
  readonly #volumes: VolumeRepo;

  constructor(options: VolumeAttachOperationsOptions) {
    this.#opts = options;
    this.#volumes = new VolumeRepo(options.db);
  }

  /**
   * Records the volume `attaching` to the instance under `device` (the first free /dev/vdX
   * when none) and asks the instance's host to attach it. Refuses: a volume another instance
   * holds (`conflict`, reason `in_use`) or that is not available (`conflict`); one of another
   * project (`forbidden`) or zone (`invalid`, resource `zone`); an instance that is neither
   * running nor stopped, or busy (`conflict`, reason `instance_state`); a device name that is
   * malformed, a root disk's or taken on the instance (`invalid`).
   */
  async attach(
    ctx: RequestContext,
    args: { volume: VolumeRow; shown: string; instance: InstanceRow; device?: string | undefined },
  ): Promise<VolumeRow> {
    const { volume, shown, instance } = args;
    if (volume.projectId !== instance.projectId) {
      throw new StratusError(
        'forbidden',
        `The volume '${shown}' belongs to another project than the instance.`,
        { resource: 'volume', id: shown },
      );
    }
    if (volume.instanceId !== null || volume.status === 'in-use') {
      throw new StratusError(
        'conflict',
        `The volume '${shown}' is already attached to an instance.`,
        { resource: 'volume', id: shown, reason: 'in_use' },
      );
    }
    if (volume.status !== 'available') {
      throw new StratusError(
        'conflict',
        `The volume '${shown}' is ${volume.status}; it must be available to be attached.`,
        { resource: 'volume', id: shown },
      );
    }
    if (volume.availabilityZone !== instance.availabilityZone) {
      throw new StratusError(
        'invalid',
        `The volume '${shown}' is in zone '${volume.availabilityZone}', not in the instance's zone '${instance.availabilityZone}'.`,
        { resource: 'zone', id: volume.availabilityZone, reason: 'combination' },
      );
    }
    checkInstance(instance);
    const held = await this.#volumes.list({ instanceId: instance.id });
    const taken = new Set(held.map((v) => v.device).filter((d): d is string => d !== null));
    const device = args.device === undefined ? firstFree(taken) : normalizeDevice(args.device);
    if (!DEVICE.test(device)) {
      throw invalid(`'${args.device}' is not a device name such as /dev/sdf or /dev/vdb.`, {
        resource: 'parameter',
        id: 'Device',
      });
    }
    if (ROOT_DEVICES.has(device) || taken.has(device)) {
      throw invalid(`The device name ${device} is already in use on the instance.`, {
        resource: 'parameter',
        id: 'Device',
      });
    }
    let moved: boolean;
    try {
      moved = await this.#volumes.update(
        volume.id,
        { status: 'attaching', instanceId: instance.id, device, attachedAt: null },
        ['available'],
      );
    } catch (err) {
      // Another volume took the name at the same moment (one device name per instance).
      if (!isUniqueViolation(err)) throw err;
      throw invalid(`The device name ${device} is already in use on the instance.`, {
        resource: 'parameter',
        id: 'Device',
      });
    }
    if (!moved) {
      throw new StratusError('conflict', `The volume '${shown}' is no longer available.`, {
        resource: 'volume',
        id: shown,
      });
    }
    await this.#opts.compute.attachVolume(ctx, instance.host as string, instance.id, volume.id);
    return { ...volume, status: 'attaching', instanceId: instance.id, device, attachedAt: null };
  }

  /**
   * Records the volume `detaching` and asks its instance's host to detach it (`force`: whatever
   * the guest does). `instanceId`, when given, must be the one that holds it; not attached
   * there: `not_found` (resource `attachment`). A volume being attached or detached, or an
   * instance in the middle of other work: `conflict`. The instance's root volume: `invalid`
   * (reason `protected`).
   */
  async detach(
    ctx: RequestContext,
    args: {
      volume: VolumeRow;
      shown: string;
      instance?: InstanceRow | undefined;
      device?: string | undefined;
      force: boolean;
    },
  ): Promise<VolumeRow> {
    const { volume, shown } = args;
    const attachedTo = volume.instanceId;
    if (
      attachedTo === null ||
      (args.instance !== undefined && args.instance.id !== attachedTo) ||
      (args.device !== undefined && normalizeDevice(args.device) !== volume.device)
    ) {
      throw new StratusError(
        'not_found',
        `The volume '${shown}' is not attached${args.instance ? ' to that instance' : ''}${args.device ? ` as ${args.device}` : ''}.`,
        { resource: 'attachment', id: shown },
      );
    }
    if (volume.device !== null && isRootDevice(volume.device)) {
      // The disk the instance boots from stays with it until it is terminated (EC2 and the
      // Compute API both refuse this).
      throw invalid(
        `The volume '${shown}' is the root device of instance '${attachedTo}' and cannot be detached from it.`,
        { resource: 'volume', id: shown, reason: 'protected' },
      );
    }
    if (volume.status === 'detaching') return volume;
    // A forced detach also ends an attach that is stuck.
    const from = args.force ? (['in-use', 'attaching'] as const) : (['in-use'] as const);
    if (!(from as readonly string[]).includes(volume.status)) {
      throw new StratusError(
        'conflict',
        `The volume '${shown}' is ${volume.status}; it must be in use to be detached.`,
        { resource: 'volume', id: shown },
      );
    }
    const instance =
      args.instance ??
      (await this.#opts.db
        .selectFrom('instances')
        .selectAll()
        .where('id', '=', attachedTo)
        .executeTakeFirst());
    if (!instance) throw notFound('instance', attachedTo);
    if (instance.taskState !== null && !args.force) {
      throw new StratusError(
        'conflict',
        `The instance '${attachedTo}' is busy (${instance.taskState}); try again when it is done.`,
        { resource: 'instance', id: attachedTo, reason: 'instance_state' },
      );
    }
    const moved = await this.#volumes.update(volume.id, { status: 'detaching' }, from);
    if (!moved) {
      throw new StratusError('conflict', `The volume '${shown}' changed meanwhile; try again.`, {
        resource: 'volume',
        id: shown,
      });
    }
    if (instance.host === null) {
      await this.#volumes.update(
        volume.id,
        {
          status: 'available',
          instanceId: null,
          device: null,
          attachedAt: null,
          deleteOnTermination: 0,
        },
        ['detaching'],
      );
      return { ...volume, status: 'available' };
    }
    await this.#opts.compute.detachVolume(ctx, instance.host, attachedTo, volume.id, args.force);
    return { ...volume, status: 'detaching' };
  }

  /**
   * Asks the host of the instance holding `volume` (recorded `extending` at its new size) to
   * grow it, so the guest sees the new size. Wired into VolumeOperations.extend.
   */
  async extendAttached(ctx: RequestContext, volume: VolumeRow): Promise<void> {
    if (volume.instanceId === null) return;
    const inst = await this.#opts.db
      .selectFrom('instances')
      .select(['host'])
      .where('id', '=', volume.instanceId)
      .executeTakeFirst();
    if (inst?.host)
      await this.#opts.compute.extendVolume(ctx, inst.host, volume.instanceId, volume.id);
  }

  /** The volumes attached (or being attached) to an instance the caller may see. */
  async ofInstance(ctx: RequestContext, instance: InstanceRow): Promise<VolumeRow[]> {
    if (!isAdmin(ctx) && ctx.projectId !== instance.projectId) return [];
    return this.#volumes.list({ instanceId: instance.id });
  }
}

function checkInstance(instance: InstanceRow): void {
  const ok =
    (instance.vmState === 'active' || instance.vmState === 'stopped') &&
    instance.taskState === null &&
    instance.host !== null;
  if (!ok) {
    throw new StratusError(
      'conflict',
      `The instance '${instance.id}' must be running or stopped, with nothing else under way, to attach a volume.`,
      { resource: 'instance', id: instance.id, reason: 'instance_state' },
    );
  }
}

function firstFree(taken: ReadonlySet<string>): string {
  for (let c = 'b'.charCodeAt(0); c <= 'z'.charCodeAt(0); c++) {
    const d = `/dev/vd${String.fromCharCode(c)}`;
    if (!taken.has(d)) return d;
  }
  return '/dev/vdzz';
}
