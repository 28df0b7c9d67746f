// The volumes a launch makes from its block device mappings (EC2's BlockDeviceMapping.N,
// Compute's block_device_mapping_v2), one set per instance once the instance has its host and
// zone: recorded for the instance, which its host attaches before the instance runs.
import type { RequestContext } from '../context.js';
import type { InstanceRow, SnapshotRow } from '../db/index.js';
import type { VolumeOperations } from '../volume/index.js';

/** One mapping, checked by the API edge: a volume to make for each instance of the launch. */
export interface LaunchVolume {
  /** The device name, with /dev/. */
  device: string;
  sizeGb: number | undefined;
  snapshot: SnapshotRow | undefined;
  volumeType: string | undefined;
  deleteOnTermination: boolean;
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
  return async (inst) => {
    const undo = () => volumes.discardLaunch(ctx, inst.id);
    try {
      for (const m of mappings) {
        await volumes.create(ctx, {
          sizeGb: m.sizeGb,
          snapshot: m.snapshot,
          availabilityZone: inst.availabilityZone,
          volumeType: m.volumeType,
          launch: {
            instanceId: inst.id,
            device: m.device,
            deleteOnTermination: m.deleteOnTermination,
          },
        });
      }
    } catch (err) {
      await undo().catch(() => undefined);
      throw err;
    }
    return undo;
  };
}
