// Images of instances whose root is a volume (EBS-style images): the host's side of EC2
// CreateImage and the Compute API's createImage for such an instance. Each volume the instance
// holds (the root and its data volumes) gets a snapshot, and the queued image becomes active
// with no data of its own, its properties naming those snapshots as Nova names them
// (image/volume-mappings.ts); launching it makes the volumes again from them.
//
// Consistency: without `noReboot` the guest is powered off cleanly (ACPI) for the copies and
// booted again once they are taken, so the file systems on the volumes are clean. With it, the
// copies are taken as the guest runs: each is the volume at one instant, as its volume host's
// storage daemon takes it (crash consistent, one volume at a time).
import type { RequestContext } from '../context.js';
import {
  SnapshotRepo,
  VolumeRepo,
  type Db,
  type InstanceRow,
  type SnapshotRow,
  type VolumeRow,
} from '../db/index.js';
import { StratusError } from '../errors.js';
import {
  volumeMappingProperties,
  type ImageStore,
  type ImageVolumeMapping,
} from '../image/index.js';
import type { VirtDriver } from '../virt/index.js';
import { isRootDevice } from './volume-attach-operations.js';

/** Records a snapshot of a volume the instance holds and has its volume host take it. */
export type SnapshotInstanceVolume = (
  ctx: RequestContext,
  volume: VolumeRow,
  instanceId: string,
  args: { description?: string | undefined },
) => Promise<SnapshotRow>;

export interface VolumeBackedImageDeps {
  db: Db;
  driver: VirtDriver;
  images: Pick<ImageStore, 'get' | 'update' | 'activateVolumeBacked'>;
  snapshotVolume: SnapshotInstanceVolume;
  /** How long the snapshots may take, in ms. */
  timeoutMs?: number;
}

/** The instance's root volume, when it boots from one. */
export async function rootVolumeOf(db: Db, instanceId: string): Promise<VolumeRow | undefined> {
  return (await new VolumeRepo(db).list({ instanceId })).find(
    (v) => v.device !== null && isRootDevice(v.device),
  );
}

/**
 * Takes the snapshots of `inst`'s volumes for the queued image `imageId` and makes the image
 * active with their mappings. Throws when a snapshot cannot be taken; the snapshots already
 * taken are left for the caller's error path (`dropSnapshots`).
 */
export async function snapshotVolumesIntoImage(
  deps: VolumeBackedImageDeps,
  ctx: RequestContext,
  inst: InstanceRow,
  imageId: string,
  noReboot: boolean,
  taken: SnapshotRow[],
): Promise<void> {
  const volumes = (await new VolumeRepo(deps.db).list({ instanceId: inst.id })).filter(
    (v) => v.status === 'in-use',
  );
  const root = volumes.find((v) => v.device !== null && isRootDevice(v.device));
  if (!root) {
    throw new StratusError('conflict', `Instance ${inst.id} has no root volume in use.`, {
      resource: 'instance',
      id: inst.id,
      reason: 'instance_state',
    });
  }
  let poweredOff = false;
  try {
    if (!noReboot && (await deps.driver.getState(inst.id)) === 'running') {
      await deps.driver.powerOff(inst.id, false);
      poweredOff = true;
    }
    for (const v of [root, ...volumes.filter((x) => x.id !== root.id)]) {
      taken.push(
        await deps.snapshotVolume(ctx, v, inst.id, {
          description: `Created by CreateImage(${inst.id}) for ${imageId} from ${v.id}`,
        }),
      );
    }
    await waitAvailable(deps.db, taken, deps.timeoutMs ?? 600_000);
  } finally {
    if (poweredOff) await deps.driver.powerOn(inst.id);
  }
  const mappings: ImageVolumeMapping[] = taken.map((s) => {
    const v = volumes.find((x) => x.id === s.volumeId) as VolumeRow;
    return {
      device: v.device as string,
      snapshotId: s.id,
      sizeGb: s.volumeSizeGb,
      deleteOnTermination: v.deleteOnTermination === 1,
      volumeType: v.volumeType,
      bootIndex: v.id === root.id ? 0 : null,
    };
  });
  const image = await deps.images.get(imageId);
  const props = JSON.parse(image.properties) as Record<string, string>;
  await deps.images.update(imageId, {
    properties: { ...props, ...volumeMappingProperties(root.device as string, mappings) },
  });
  if (!(await deps.images.activateVolumeBacked(imageId))) {
    throw new StratusError('conflict', `The image ${imageId} is no longer queued.`, {
      resource: 'image',
      id: imageId,
      reason: 'image_state',
    });
  }
}

/** Waits until every snapshot is available; one in error (or gone) fails the image. */
async function waitAvailable(db: Db, snapshots: readonly SnapshotRow[], timeoutMs: number) {
  const repo = new SnapshotRepo(db);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await Promise.all(snapshots.map((s) => repo.get(s.id)));
    const bad = rows.find((r) => !r || r.status === 'error' || r.status === 'deleting');
    if (bad !== undefined || rows.some((r) => r === undefined)) {
      const i = rows.indexOf(bad);
      throw new StratusError(
        'internal',
        `The snapshot ${snapshots[i]?.id ?? ''} of volume ${snapshots[i]?.volumeId ?? ''} could not be taken: ${bad?.statusReason ?? 'it is gone'}.`,
        { resource: 'snapshot', id: snapshots[i]?.id },
      );
    }
    if (rows.every((r) => r?.status === 'available')) return;
    if (Date.now() > deadline) {
      throw new StratusError(
        'unavailable',
        `The snapshots of the instance's volumes were not taken within ${timeoutMs / 1000} s.`,
        { resource: 'snapshot' },
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
