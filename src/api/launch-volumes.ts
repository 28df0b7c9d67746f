// The volumes a launch makes from its block device mappings (EC2's BlockDeviceMapping.N and a
// volume-backed image's mappings, Compute's block_device_mapping_v2), one set per instance
// once the instance has its host and zone: recorded for the instance, which its host attaches
// before the instance runs. The root volume (a root device name) is the disk the instance
// boots from.
import type { RequestContext } from '../context.js';
import type { InstanceRow, SnapshotRow, VolumeRow } from '../db/index.js';
import type { VolumeOperations } from '../volume/index.js';

/** One mapping, checked by the API edge: a volume to make for each instance of the launch. */
export interface LaunchVolume {
  /** The device name, with /dev/. */
  device: string;
  sizeGb: number | undefined;
  snapshot: SnapshotRow | undefined;
  volumeType: string | undefined;
  deleteOnTermination: boolean;
  /**
   * The image whose data the volume holds (a root volume): made from the image's file without
   * a snapshot, or from the snapshot of a volume-backed image.
   */
  imageId?: string | undefined;
  /**
   * An existing available volume the instance boots from (a launch of one instance): it is
   * given to the instance instead of a new one, and freed again if the launch fails.
   */
  existing?: VolumeRow | undefined;
}

/**
 * The `prepare` step of a launch (RunRequest.prepare) that makes `mappings`' volumes for each
 * instance, in its zone; it returns the undo (they go again), and a failure midway removes
 * those already made. Undefined without mappings.
 */
export function makeLaunchVolumes(
  volumes: VolumeOperations,
  ctx: RequestContext,
  mappings: readonly LaunchVolume[],
): ((inst: InstanceRow) => Promise<(() => Promise<void>) | undefined>) | undefined {
  if (mappings.length === 0) return undefined;
  const kept = mappings.flatMap((m) => (m.existing ? [m.existing.id] : []));
  return async (inst) => {
    const undo = () => volumes.discardLaunch(ctx, inst.id, kept);
    try {
      for (const m of mappings) {
        const launch = {
          instanceId: inst.id,
          device: m.device,
          deleteOnTermination: m.deleteOnTermination,
        };
        if (m.existing) {
          await volumes.claimForLaunch(ctx, m.existing, inst.availabilityZone, launch);
          continue;
        }
        await volumes.create(ctx, {
          sizeGb: m.sizeGb,
          snapshot: m.snapshot,
          imageId: m.imageId,
          availabilityZone: inst.availabilityZone,
          volumeType: m.volumeType,
          launch,
        });
      }
    } catch (err) {
      await undo().catch(() => undefined);
      throw err;
    }
    return undo;
  };
}
