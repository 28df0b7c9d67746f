// What the API edges call for volume snapshots: checks, quota and the record in one
// transaction, then a cast to the volume host that keeps the volume (snapshot-worker.ts does
// the copy there). One model behind EC2's snapshots and the Block Storage API's. A snapshot
// belongs to its project; others see it only when it is shared with them or public, and may
// then make volumes from it and copy it, but not change it.
import { randomUUID } from 'node:crypto';
import { isAdmin, type RequestContext } from '../context.js';
import {
  SnapshotRepo,
  TagRepo,
  VolumeRepo,
  now,
  type Db,
  type SnapshotRow,
  type SnapshotStatus,
  type VolumeRow,
} from '../db/index.js';
import { notFound, StratusError } from '../errors.js';
import { byIdPrefix } from '../ids/index.js';
import type { QuotaLimits } from '../quota/index.js';
import { checkTags } from '../text-rules.js';
import type { VolumeClient } from './client.js';
import { checkQuota, holdProject, requireProject } from './operations.js';

export interface SnapshotOperationsOptions {
  db: Db;
  volumes: VolumeClient;
  quota: QuotaLimits;
}

export interface CreateSnapshotArgs {
  name?: string | undefined;
  description?: string | undefined;
  tags?: readonly { key: string; value: string }[];
}

/** Who besides the owner may make volumes from a snapshot. */
export interface SnapshotPermissions {
  /** Every project. */
  isPublic: boolean;
  /** These projects. */
  projects: string[];
}

/** Statuses a snapshot may be deleted in: nothing is under way on it. */
const DELETABLE: readonly SnapshotStatus[] = ['available', 'error', 'error_deleting'];

export class SnapshotOperations {
  readonly #opts: SnapshotOperationsOptions;
  readonly #snapshots: SnapshotRepo;

  constructor(options: SnapshotOperationsOptions) {
    this.#opts = options;
    this.#snapshots = new SnapshotRepo(options.db);
  }

  /**
   * Records a snapshot of `volume` (`creating`) and asks the volume's host to copy its data.
   * A volume an instance holds (`in-use`) is copied by its storage daemon while the guest
   * keeps writing, when `inUse` allows it (EC2 always does; Cinder asks for `force`);
   * otherwise, and for a volume being attached, detached or otherwise busy, `conflict`.
   * `over_quota` (reason `snapshots` or `gigabytes`) past the project's quota.
   */
  async create(
    ctx: RequestContext,
    volume: VolumeRow,
    shown: string,
    args: CreateSnapshotArgs & { inUse?: boolean },
  ): Promise<SnapshotRow> {
    const { inUse = false, ...rest } = args;
    if (volume.status === 'in-use' && !inUse) {
      throw new StratusError(
        'conflict',
        `The volume '${shown}' is attached to an instance; a snapshot of a volume in use must be forced.`,
        { resource: 'volume', id: shown, reason: 'in_use' },
      );
    }
    if (!snapshotable(volume, inUse)) {
      throw new StratusError(
        'conflict',
        `The volume '${shown}' is ${volume.status}; a snapshot is taken only of an available or in-use volume.`,
        { resource: 'volume', id: shown },
      );
    }
    return this.#record(ctx, {
      volumeId: volume.id,
      volumeSizeGb: volume.sizeGb,
      host: volume.host as string,
      sourceSnapshotId: null,
      shown,
      inUse,
      ...rest,
    });
  }

  /**
   * Records a copy of `source` (an available snapshot the caller may see) in the caller's
   * project, on the same volume host, and asks that host to copy the file.
   */
  async copy(
    ctx: RequestContext,
    source: SnapshotRow,
    shown: string,
    args: CreateSnapshotArgs,
  ): Promise<SnapshotRow> {
    if (source.status !== 'available' || source.host === null) {
      throw new StratusError(
        'conflict',
        `The snapshot '${shown}' is ${source.status}; only an available snapshot is copied.`,
        { resource: 'snapshot', id: shown },
      );
    }
    return this.#record(ctx, {
      volumeId: source.volumeId,
      volumeSizeGb: source.volumeSizeGb,
      host: source.host,
      sourceSnapshotId: source.id,
      shown,
      inUse: false,
      ...args,
    });
  }

  async #record(
    ctx: RequestContext,
    args: CreateSnapshotArgs & {
      volumeId: string;
      volumeSizeGb: number;
      host: string;
      sourceSnapshotId: string | null;
      /** The volume (or source snapshot) as the caller named it, for messages. */
      shown: string;
      /** A volume in use may be copied. */
      inUse: boolean;
    },
  ): Promise<SnapshotRow> {
    const tags = args.tags ?? [];
    checkTags(tags);
    const projectId = requireProject(ctx);
    const at = now();
    const row: SnapshotRow = {
      id: randomUUID(),
      projectId,
      userId: ctx.userId ?? '',
      volumeId: args.volumeId,
      volumeSizeGb: args.volumeSizeGb,
      status: 'creating',
      progress: 0,
      host: args.host,
      name: args.name ?? null,
      description: args.description ?? null,
      sourceSnapshotId: args.sourceSnapshotId,
      isPublic: 0,
      statusReason: null,
      createdAt: at,
      updatedAt: at,
    };
    await this.#opts.db.transaction().execute(async (trx) => {
      await holdProject(trx, projectId);
      if (args.sourceSnapshotId === null) {
        // Under the project's lock, as an extend, a delete or an attach moves the volume: still
        // as it was checked.
        const volume = await new VolumeRepo(trx).get(args.volumeId);
        if (!volume || !snapshotable(volume, args.inUse)) {
          throw new StratusError(
            'conflict',
            `The volume '${args.shown}' is ${volume?.status ?? 'gone'}; a snapshot is taken only of an available or in-use volume.`,
            { resource: 'volume', id: args.shown },
          );
        }
      }
      await checkQuota(trx, this.#opts.quota, projectId, {
        volumes: 0,
        gigabytes: row.volumeSizeGb,
        snapshots: 1,
      });
      await new SnapshotRepo(trx).insert(row);
      if (tags.length > 0) {
        await new TagRepo(trx).put(
          tags.map((t) => ({
            resourceId: row.id,
            resourceType: 'snapshot',
            projectId,
            key: t.key,
            value: t.value,
          })),
        );
      }
    });
    await this.#opts.volumes.createSnapshot(ctx, args.host, row.id);
    return row;
  }

  /**
   * The snapshots the caller may see: its project's, those shared with it and public ones
   * (with `ownOnly`, its project's alone); every project's for admins unless `allProjects` is
   * false. Optionally only those whose id starts with one of `idPrefixes`.
   */
  async list(
    ctx: RequestContext,
    filter: { idPrefixes?: readonly string[]; allProjects?: boolean; ownOnly?: boolean } = {},
  ): Promise<SnapshotRow[]> {
    const projectId =
      isAdmin(ctx) && filter.allProjects !== false ? undefined : requireProject(ctx);
    return this.#snapshots.list({
      ...(projectId !== undefined ? { projectId, ownOnly: filter.ownOnly === true } : {}),
      ...(filter.idPrefixes ? { idPrefixes: filter.idPrefixes } : {}),
    });
  }

  /**
   * Resolves snapshot ids (or their leading characters) the caller may see; `not_found` names
   * the first missing one as the caller wrote it.
   */
  async resolve(
    ctx: RequestContext,
    refs: readonly { ref: string; shown: string }[],
  ): Promise<SnapshotRow[]> {
    if (refs.length === 0) return [];
    const rows = await this.list(ctx, { idPrefixes: refs.map((r) => r.ref) });
    return byIdPrefix(rows, refs, (shown) =>
      notFound('snapshot', shown, `The snapshot '${shown}' does not exist.`),
    );
  }

  /**
   * Deletes a snapshot: only its owner (or an admin), `conflict` while it is being made or a
   * volume or copy is being made from it. It is `deleting` until its host removed the file.
   */
  async delete(ctx: RequestContext, snapshot: SnapshotRow, shown: string): Promise<void> {
    this.#checkOwner(ctx, snapshot, shown);
    if (snapshot.status === 'deleting') return;
    const db = this.#opts.db;
    const reading = await db
      .selectFrom('volumes')
      .select('id')
      .where('snapshotId', '=', snapshot.id)
      .where('status', '=', 'creating')
      .executeTakeFirst();
    const copying = await db
      .selectFrom('snapshots')
      .select('id')
      .where('sourceSnapshotId', '=', snapshot.id)
      .where('status', '=', 'creating')
      .executeTakeFirst();
    if (reading || copying) {
      throw new StratusError(
        'conflict',
        `A ${reading ? 'volume' : 'copy'} is being made from the snapshot '${shown}'; delete it when that is done.`,
        { resource: 'snapshot', id: shown, reason: 'in_use' },
      );
    }
    const moved = await this.#snapshots.update(snapshot.id, { status: 'deleting' }, DELETABLE);
    if (!moved) throw busy(snapshot, shown);
    if (snapshot.host === null) await this.#snapshots.delete(snapshot.id);
    else await this.#opts.volumes.deleteSnapshot(ctx, snapshot.host, snapshot.id);
  }

  /** Changes a snapshot's name and description (undefined: kept; null: cleared). Owner only. */
  async rename(
    ctx: RequestContext,
    snapshot: SnapshotRow,
    change: { name?: string | null; description?: string | null },
  ): Promise<SnapshotRow> {
    this.#checkOwner(ctx, snapshot, snapshot.id);
    const set = {
      ...(change.name !== undefined ? { name: change.name } : {}),
      ...(change.description !== undefined ? { description: change.description } : {}),
    };
    if (Object.keys(set).length > 0) await this.#snapshots.update(snapshot.id, set);
    return { ...snapshot, ...set };
  }

  /** Admins only: sets a snapshot's status without doing anything (a repair after a fault). */
  async resetStatus(
    ctx: RequestContext,
    snapshot: SnapshotRow,
    status: SnapshotStatus,
  ): Promise<void> {
    if (!isAdmin(ctx)) {
      throw new StratusError('forbidden', 'Only an administrator may reset a snapshot status.', {
        resource: 'snapshot',
        id: snapshot.id,
      });
    }
    await this.#snapshots.update(snapshot.id, { status, statusReason: null });
  }

  /**
   * The projects each of these snapshots (ones the caller sees) is shared with, by id, for
   * asking who may restore them (EC2's RestorableBy).
   */
  async sharedWith(
    _ctx: RequestContext,
    snapshots: readonly SnapshotRow[],
  ): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    const ids = snapshots.map((s) => s.id);
    for (let i = 0; i < ids.length; i += 500) {
      for (const [k, v] of await this.#snapshots.sharesOfMany(ids.slice(i, i + 500))) out.set(k, v);
    }
    return out;
  }

  /** Who besides the owner may make volumes from the snapshot. Owner (or admin) only. */
  async permissions(
    ctx: RequestContext,
    snapshot: SnapshotRow,
    shown: string,
  ): Promise<SnapshotPermissions> {
    this.#checkOwner(ctx, snapshot, shown);
    return {
      isPublic: snapshot.isPublic === 1,
      projects: await this.#snapshots.sharesOf(snapshot.id),
    };
  }

  /**
   * Adds and removes projects (and the public group) that may make volumes from the snapshot;
   * with `reset`, ends every share and makes it private. Owner (or admin) only. Adding a share
   * twice or removing one that is not there is not an error.
   */
  async changePermissions(
    ctx: RequestContext,
    snapshot: SnapshotRow,
    shown: string,
    change: {
      add?: { projects: readonly string[]; all: boolean };
      remove?: { projects: readonly string[]; all: boolean };
      reset?: boolean;
    },
  ): Promise<void> {
    this.#checkOwner(ctx, snapshot, shown);
    await this.#opts.db.transaction().execute(async (trx) => {
      const repo = new SnapshotRepo(trx);
      if (change.reset) {
        await repo.unshare(snapshot.id);
        await repo.update(snapshot.id, { isPublic: 0 });
        return;
      }
      for (const p of change.remove?.projects ?? []) await repo.unshare(snapshot.id, p);
      for (const p of change.add?.projects ?? []) {
        if (p !== snapshot.projectId) await repo.share(snapshot.id, p);
      }
      if (change.remove?.all) await repo.update(snapshot.id, { isPublic: 0 });
      if (change.add?.all) await repo.update(snapshot.id, { isPublic: 1 });
    });
  }

  /** A shared snapshot is the owner's to change: others are refused (`forbidden`). */
  #checkOwner(ctx: RequestContext, snapshot: SnapshotRow, shown: string): void {
    if (isAdmin(ctx) || snapshot.projectId === ctx.projectId) return;
    throw new StratusError(
      'forbidden',
      `The snapshot '${shown}' belongs to another account; only its owner may change it.`,
      { resource: 'snapshot', id: shown },
    );
  }
}

/**
 * Whether a snapshot of the volume may be taken now: available and held by no instance, or
 * (with `inUse`) in use by one; never while it is attaching, detaching or otherwise busy.
 */
function snapshotable(volume: VolumeRow, inUse: boolean): boolean {
  if (volume.host === null) return false;
  if (volume.status === 'available') return volume.instanceId === null;
  return inUse && volume.status === 'in-use' && volume.instanceId !== null;
}

function busy(snapshot: SnapshotRow, shown: string): StratusError {
  return new StratusError(
    'conflict',
    `The snapshot '${shown}' is ${snapshot.status}; it must be available or in error for this.`,
    { resource: 'snapshot', id: shown },
  );
}
