// What the API edges call for volumes: checks, quota and the record in one transaction, then a
// cast to the volume host that keeps the file (manager.ts). One model behind EC2's volumes and
// the Block Storage API's.
import { randomUUID } from 'node:crypto';
import { isAdmin, type RequestContext } from '../context.js';
import {
  QuotaRepo,
  ServiceRepo,
  SnapshotRepo,
  TagRepo,
  VolumeRepo,
  now,
  type Db,
  type SnapshotRow,
  type VolumeRow,
  type VolumeStatus,
} from '../db/index.js';
import { invalid, notFound, StratusError } from '../errors.js';
import { byIdPrefix } from '../ids/index.js';
import type { Logger } from '../log.js';
import { effectiveLimits, type QuotaLimits } from '../quota/index.js';
import { checkTags } from '../text-rules.js';
import type { VolumeClient } from './client.js';
import { VolumeTypes } from './volume-types.js';

/** The sizes a volume may have, in GiB (EC2's bounds for gp2 and gp3). */
export const MIN_VOLUME_GB = 1;
export const MAX_VOLUME_GB = 16_384;

/** Statuses a volume may be deleted in: nothing is under way and no instance holds it. */
const DELETABLE: readonly VolumeStatus[] = [
  'available',
  'error',
  'error_deleting',
  'error_extending',
];

export interface VolumeOperationsOptions {
  db: Db;
  volumes: VolumeClient;
  quota: QuotaLimits;
  /** The zone a volume is made in when the request names none. */
  availabilityZone: string;
  /** The zones of the cloud now (a volume's zone must be one of them or the default). */
  zones: () => Promise<readonly string[]>;
  /** A volume service whose heartbeat is older than this is down. */
  downAfterMs: number;
  /**
   * Grows an attached volume (recorded `extending` at its new size) through the host of the
   * instance that holds it, so the guest sees the new size; without it, only available volumes
   * may be extended.
   */
  extendAttached?: (ctx: RequestContext, volume: VolumeRow) => Promise<void>;
  logger?: Logger;
}

export interface CreateVolumeArgs {
  /** The size in GiB; the snapshot's volume size when absent (needed without a snapshot). */
  sizeGb?: number | undefined;
  /**
   * The snapshot whose data the volume starts with (one the caller may see, from
   * `SnapshotOperations.resolve`); the volume is made on the snapshot's volume host.
   */
  snapshot?: SnapshotRow | undefined;
  availabilityZone?: string | undefined;
  volumeType?: string | undefined;
  name?: string | undefined;
  description?: string | undefined;
  tags?: readonly { key: string; value: string }[];
  /**
   * Made by a launch from a block device mapping: recorded for the instance under `device`
   * from the start (its compute host attaches it before the instance runs), and whether it
   * goes when the instance is terminated.
   */
  launch?: { instanceId: string; device: string; deleteOnTermination: boolean } | undefined;
  /**
   * The image whose data the volume holds, which makes it bootable: without a snapshot the
   * volume is made from the image's file (at least the image's size, checked by the caller);
   * with one, the snapshot holds that image's data (a volume-backed image's root).
   */
  imageId?: string | undefined;
}

export class VolumeOperations {
  readonly #opts: VolumeOperationsOptions;
  readonly #volumes: VolumeRepo;

  /** The volume types, built in and added by administrators. */
  readonly types: VolumeTypes;

  constructor(options: VolumeOperationsOptions) {
    this.#opts = options;
    this.#volumes = new VolumeRepo(options.db);
    this.types = new VolumeTypes(options.db);
  }

  /**
   * Records a volume (`creating`) on the volume host with the fewest GiB allocated and asks that
   * host to make it. Refuses a size outside 1-16384 GiB, an unknown type or zone (`invalid`),
   * more volumes or GiB than the project's quota (`over_quota`, reason `volumes`/`gigabytes`),
   * and answers `unavailable` when no volume service is up.
   */
  async create(ctx: RequestContext, args: CreateVolumeArgs): Promise<VolumeRow> {
    const snapshot = args.snapshot;
    const sizeGb = args.sizeGb ?? snapshot?.volumeSizeGb;
    if (sizeGb === undefined) {
      throw new StratusError('missing', 'A volume needs a size or a snapshot to start from.', {
        resource: 'parameter',
        id: 'Size',
      });
    }
    checkSize(sizeGb);
    if (snapshot) checkSnapshotSource(snapshot, sizeGb);
    const volumeType = await this.types.nameFor(args.volumeType, isAdmin(ctx));
    const zone = args.availabilityZone ?? this.#opts.availabilityZone;
    const zones = await this.#opts.zones();
    if (zone !== this.#opts.availabilityZone && !zones.includes(zone)) {
      throw invalid(`The availability zone '${zone}' does not exist.`, {
        resource: 'zone',
        id: zone,
      });
    }
    const tags = args.tags ?? [];
    checkTags(tags);
    const host = await this.#pickHost(snapshot?.host ?? undefined);
    const projectId = requireProject(ctx);
    const at = now();
    const row: VolumeRow = {
      id: randomUUID(),
      projectId,
      userId: ctx.userId ?? '',
      sizeGb,
      availabilityZone: zone,
      status: 'creating',
      host,
      volumeType,
      name: args.name ?? null,
      description: args.description ?? null,
      instanceId: args.launch?.instanceId ?? null,
      device: args.launch?.device ?? null,
      attachedAt: null,
      statusReason: null,
      snapshotId: snapshot?.id ?? null,
      deleteOnTermination: args.launch?.deleteOnTermination ? 1 : 0,
      imageId: args.imageId ?? null,
      createdAt: at,
      updatedAt: at,
    };
    await this.#opts.db.transaction().execute(async (trx) => {
      await holdProject(trx, projectId);
      await checkQuota(trx, this.#opts.quota, projectId, { volumes: 1, gigabytes: sizeGb });
      if (snapshot) {
        // The snapshot must still be there: a delete racing this create loses or wins whole.
        const current = await new SnapshotRepo(trx).get(snapshot.id);
        if (!current || current.status !== 'available') {
          throw new StratusError(
            'conflict',
            `The snapshot '${snapshot.id}' is ${current?.status ?? 'gone'}; a volume is made only from an available snapshot.`,
            { resource: 'snapshot', id: snapshot.id },
          );
        }
      }
      await new VolumeRepo(trx).insert(row);
      if (tags.length > 0) {
        await new TagRepo(trx).put(
          tags.map((t) => ({
            resourceId: row.id,
            resourceType: 'volume',
            projectId,
            key: t.key,
            value: t.value,
          })),
        );
      }
    });
    await this.#opts.volumes.createVolume(ctx, host, row.id);
    return row;
  }

  /**
   * The caller's volumes (every project's for admins, unless `allProjects` is false),
   * optionally only those whose id starts with one of `idPrefixes`.
   */
  async list(
    ctx: RequestContext,
    filter: { idPrefixes?: readonly string[]; allProjects?: boolean } = {},
  ): Promise<VolumeRow[]> {
    const projectId =
      isAdmin(ctx) && filter.allProjects !== false ? undefined : requireProject(ctx);
    return this.#volumes.list({
      ...(projectId !== undefined ? { projectId } : {}),
      ...(filter.idPrefixes ? { idPrefixes: filter.idPrefixes } : {}),
    });
  }

  /**
   * Resolves volume ids (or their leading characters) the caller may see; `not_found` names
   * the first missing one as the caller wrote it.
   */
  async resolve(
    ctx: RequestContext,
    refs: readonly { ref: string; shown: string }[],
  ): Promise<VolumeRow[]> {
    if (refs.length === 0) return [];
    const rows = await this.list(ctx, { idPrefixes: refs.map((r) => r.ref) });
    return byIdPrefix(rows, refs, (shown) =>
      notFound('volume', shown, `The volume '${shown}' does not exist.`),
    );
  }

  /** The volumes attached (or being attached) to each of these instances, by instance id. */
  async ofInstances(instanceIds: readonly string[]): Promise<Map<string, VolumeRow[]>> {
    const out = new Map<string, VolumeRow[]>();
    for (const v of await this.#volumes.list({ instanceIds: [...new Set(instanceIds)] })) {
      const id = v.instanceId as string;
      out.set(id, [...(out.get(id) ?? []), v]);
    }
    return out;
  }

  /**
   * Gives an existing available volume (of the caller's project, in `zone`) to a launch's
   * instance under `launch.device`, recorded `attaching` for it; its host attaches it before
   * the instance runs. Refused (`conflict`, reason `in_use`) when it is attached or not
   * available any more, `invalid` (resource `zone`) in another zone.
   */
  async claimForLaunch(
    _ctx: RequestContext,
    volume: VolumeRow,
    zone: string,
    launch: { instanceId: string; device: string; deleteOnTermination: boolean },
  ): Promise<void> {
    if (volume.availabilityZone !== zone) {
      throw new StratusError(
        'invalid',
        `The volume '${volume.id}' is in zone '${volume.availabilityZone}', not in the instance's zone '${zone}'.`,
        { resource: 'zone', id: volume.availabilityZone, reason: 'combination' },
      );
    }
    const moved =
      volume.instanceId === null &&
      (await this.#volumes.update(
        volume.id,
        {
          status: 'attaching',
          instanceId: launch.instanceId,
          device: launch.device,
          attachedAt: null,
          deleteOnTermination: launch.deleteOnTermination ? 1 : 0,
        },
        ['available'],
      ));
    if (!moved) {
      throw new StratusError(
        'conflict',
        `The volume '${volume.id}' is in use or not available; an instance boots only from an available volume.`,
        { resource: 'volume', id: volume.id, reason: 'in_use' },
      );
    }
  }

  /**
   * Removes the volumes a launch made for an instance that was never handed to its host (the
   * launch failed): they go with it, whatever their DeleteOnTermination; those in `keep`
   * (existing volumes the launch was given) are only freed.
   */
  async discardLaunch(
    ctx: RequestContext,
    instanceId: string,
    keep: readonly string[] = [],
  ): Promise<void> {
    for (const v of await this.#volumes.list({ instanceId })) {
      if (keep.includes(v.id)) {
        await this.#volumes.update(
          v.id,
          {
            status: 'available',
            instanceId: null,
            device: null,
            attachedAt: null,
            deleteOnTermination: 0,
          },
          ['attaching', 'available'],
        );
        continue;
      }
      const moved = await this.#volumes.update(
        v.id,
        { status: 'deleting', instanceId: null, device: null, attachedAt: null },
        ['creating', 'available', 'error'],
      );
      if (!moved) continue;
      if (v.host === null) await this.#volumes.delete(v.id);
      else await this.#opts.volumes.deleteVolume(ctx, v.host, v.id);
    }
  }

  /**
   * Deletes a volume: `conflict` (reason `in_use`) while an instance holds it, `conflict` while
   * other work is under way on it. The volume is `deleting` until its host removed the file.
   */
  async delete(ctx: RequestContext, volume: VolumeRow, shown: string): Promise<void> {
    if (volume.instanceId !== null || volume.status === 'in-use') {
      throw new StratusError('conflict', `The volume '${shown}' is attached to an instance.`, {
        resource: 'volume',
        id: shown,
        reason: 'in_use',
      });
    }
    if (volume.status === 'deleting') return;
    const snapshots = await new SnapshotRepo(this.#opts.db).countOfVolume(volume.id);
    if (snapshots > 0) {
      throw new StratusError(
        'conflict',
        `The volume '${shown}' has ${snapshots} snapshot(s); delete them before the volume.`,
        { resource: 'volume', id: shown },
      );
    }
    const moved = await this.#volumes.update(volume.id, { status: 'deleting' }, DELETABLE);
    if (!moved) throw busy(volume, shown);
    if (volume.host === null) await this.#volumes.delete(volume.id);
    else await this.#opts.volumes.deleteVolume(ctx, volume.host, volume.id);
  }

  /**
   * Grows a volume to `sizeGb` (`invalid` unless larger, `over_quota` beyond the project's
   * GiB); an `available` volume, or an `in-use` one where attached volumes can grow, which is
   * `extending` until its host grew the file (and the guest was told).
   */
  async extend(
    ctx: RequestContext,
    volume: VolumeRow,
    shown: string,
    sizeGb: number,
  ): Promise<VolumeRow> {
    checkSize(sizeGb);
    if (sizeGb <= volume.sizeGb) {
      throw invalid(
        `The new size of volume '${shown}' (${sizeGb} GiB) must be larger than its size now (${volume.sizeGb} GiB).`,
        { resource: 'parameter', id: 'Size' },
      );
    }
    const attached = volume.status === 'in-use' && this.#opts.extendAttached !== undefined;
    if (volume.status !== 'available' && !attached) throw busy(volume, shown);
    await this.#opts.db.transaction().execute(async (trx) => {
      await holdProject(trx, volume.projectId);
      // A snapshot being taken records the size the volume has now: the copy must see that
      // size. Under the project's lock, as a snapshot is recorded, so the two cannot cross.
      const taking = await trx
        .selectFrom('snapshots')
        .select('id')
        .where('volumeId', '=', volume.id)
        .where('status', '=', 'creating')
        .where('sourceSnapshotId', 'is', null)
        .executeTakeFirst();
      if (taking) {
        throw new StratusError(
          'conflict',
          `A snapshot of the volume '${shown}' is being taken; extend it when that is done.`,
          { resource: 'volume', id: shown },
        );
      }
      await checkQuota(trx, this.#opts.quota, volume.projectId, {
        volumes: 0,
        gigabytes: sizeGb - volume.sizeGb,
      });
      const moved = await new VolumeRepo(trx).update(volume.id, { status: 'extending', sizeGb }, [
        volume.status,
      ]);
      if (!moved) throw busy(volume, shown);
    });
    if (attached)
      await this.#opts.extendAttached?.(ctx, { ...volume, status: 'extending', sizeGb });
    else if (volume.host !== null)
      await this.#opts.volumes.extendVolume(ctx, volume.host, volume.id);
    return { ...volume, status: 'extending', sizeGb };
  }

  /** Records a new volume type (types here differ only in name; the file stays as it is). */
  async retype(
    ctx: RequestContext,
    volume: VolumeRow,
    shown: string,
    wanted: string,
  ): Promise<VolumeRow> {
    const volumeType = await this.types.nameFor(wanted, isAdmin(ctx));
    const moved = await this.#volumes.update(volume.id, { volumeType }, ['available', 'in-use']);
    if (!moved) throw busy(volume, shown);
    return { ...volume, volumeType };
  }

  /** Changes a volume's name and description (undefined: kept; null: cleared). */
  async rename(
    _ctx: RequestContext,
    volume: VolumeRow,
    change: { name?: string | null; description?: string | null },
  ): Promise<VolumeRow> {
    const set = {
      ...(change.name !== undefined ? { name: change.name } : {}),
      ...(change.description !== undefined ? { description: change.description } : {}),
    };
    if (Object.keys(set).length > 0) await this.#volumes.update(volume.id, set);
    return { ...volume, ...set };
  }

  /** Admins only: sets a volume's status without doing anything (a repair after a fault). */
  async resetStatus(ctx: RequestContext, volume: VolumeRow, status: VolumeStatus): Promise<void> {
    if (!isAdmin(ctx)) {
      throw new StratusError('forbidden', 'Only an administrator may reset a volume status.', {
        resource: 'volume',
        id: volume.id,
      });
    }
    await this.#volumes.update(volume.id, { status, statusReason: null });
  }

  /**
   * The live volume host with the fewest GiB allocated (`only` that host when given: a volume
   * from a snapshot is made where the snapshot's file is); `unavailable` when none is up.
   */
  async #pickHost(only?: string): Promise<string> {
    const at = now();
    const live = (await new ServiceRepo(this.#opts.db).list({ binary: 'volume' })).filter(
      (s) =>
        s.disabled === 0 &&
        at - s.heartbeatAt <= this.#opts.downAfterMs &&
        (only === undefined || s.host === only),
    );
    if (live.length === 0) {
      throw new StratusError('unavailable', 'No volume service is running to keep the volume.', {
        resource: 'volume',
        reason: 'no_valid_host',
      });
    }
    const allocated = await this.#volumes.allocatedByHost();
    const gb = (host: string) => allocated.get(host) ?? 0;
    return live.map((s) => s.host).sort((a, b) => gb(a) - gb(b) || a.localeCompare(b))[0] as string;
  }
}

function checkSize(sizeGb: number): void {
  if (!Number.isInteger(sizeGb) || sizeGb < MIN_VOLUME_GB || sizeGb > MAX_VOLUME_GB) {
    throw invalid(
      `A volume's size must be a whole number of GiB from ${MIN_VOLUME_GB} to ${MAX_VOLUME_GB}, not ${sizeGb}.`,
      { resource: 'parameter', id: 'Size' },
    );
  }
}

function busy(volume: VolumeRow, shown: string): StratusError {
  return new StratusError(
    'conflict',
    `The volume '${shown}' is ${volume.status}; it must be available for this.`,
    { resource: 'volume', id: shown },
  );
}

/** A volume is made from an available snapshot, at least as large as the snapshot's volume. */
function checkSnapshotSource(snapshot: SnapshotRow, sizeGb: number): void {
  if (snapshot.status !== 'available') {
    throw new StratusError(
      'conflict',
      `The snapshot '${snapshot.id}' is ${snapshot.status}; a volume is made only from an available snapshot.`,
      { resource: 'snapshot', id: snapshot.id },
    );
  }
  if (sizeGb < snapshot.volumeSizeGb) {
    throw invalid(
      `The volume size (${sizeGb} GiB) must be at least the snapshot's size (${snapshot.volumeSizeGb} GiB).`,
      { resource: 'parameter', id: 'Size' },
    );
  }
}

export function requireProject(ctx: RequestContext): string {
  if (!ctx.projectId) throw new StratusError('forbidden', 'This request needs a project.');
  return ctx.projectId;
}

/** Takes the project's row lock, so two requests of one project count its quota one by one. */
export async function holdProject(db: Db, projectId: string): Promise<void> {
  await db.updateTable('projects').set({ id: projectId }).where('id', '=', projectId).execute();
}

/** Refuses (`over_quota`) when `adding` would take the project past its volume quotas. */
export async function checkQuota(
  db: Db,
  defaults: QuotaLimits,
  projectId: string,
  adding: { volumes: number; gigabytes: number; snapshots?: number },
): Promise<void> {
  const limits = effectiveLimits(defaults, await new QuotaRepo(db).overrides(projectId));
  const volumes = await new VolumeRepo(db).usage(projectId);
  const snapshots = await new SnapshotRepo(db).usage(projectId);
  // Snapshots count in the GiB quota as in Cinder's.
  const used = {
    volumes: volumes.volumes,
    gigabytes: volumes.gigabytes + snapshots.gigabytes,
    snapshots: snapshots.snapshots,
  };
  if ((adding.snapshots ?? 0) > 0 && used.snapshots + (adding.snapshots ?? 0) > limits.snapshots) {
    throw new StratusError(
      'over_quota',
      `Your quota allows at most ${limits.snapshots} snapshots.`,
      { resource: 'snapshots', reason: 'snapshots' },
    );
  }
  if (used.volumes + adding.volumes > limits.volumes) {
    throw new StratusError('over_quota', `Your quota allows at most ${limits.volumes} volumes.`, {
      resource: 'volumes',
      reason: 'volumes',
    });
  }
  if (used.gigabytes + adding.gigabytes > limits.gigabytes) {
    throw new StratusError(
      'over_quota',
      `Your quota allows at most ${limits.gigabytes} GiB of volumes and snapshots; ${used.gigabytes} GiB are in use.`,
      { resource: 'gigabytes', reason: 'gigabytes' },
    );
  }
}
