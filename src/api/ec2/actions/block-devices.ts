// RunInstances' block device mappings (`BlockDeviceMapping.N`): the extra volumes a launch
// makes for each instance (empty, or from a snapshot), checked whole before anything is made,
// and how DescribeInstances and DescribeInstanceAttribute show an instance's volumes.
import { isRootDevice, isVolumeDevice, normalizeDevice } from '../../../compute/index.js';
import type { RequestContext } from '../../../context.js';
import type { VolumeRow } from '../../../db/index.js';
import { invalid, StratusError } from '../../../errors.js';
import { ec2Id } from '../../../ids/index.js';
import { MAX_VOLUME_GB, MIN_VOLUME_GB, VOLUME_TYPES } from '../../../volume/index.js';
import type { Params } from '../params.js';
import { ec2Time, type XmlObject } from '../xml.js';
import type { LaunchVolume } from '../../launch-volumes.js';
import type { Ec2Deps } from './deps.js';
import { snapshotRef } from './snapshots.js';

/**
 * The mappings of a RunInstances request, checked: each names a device (not a root disk's,
 * not twice) and an `Ebs` volume with a size or a snapshot (one the caller may see) no larger
 * than the size. Refused: a root disk on a volume (not offered yet), `NoDevice` and
 * `VirtualName` (there are no instance-store disks beyond the root).
 */
export async function launchVolumes(
  deps: Ec2Deps,
  ctx: RequestContext,
  params: Params,
): Promise<LaunchVolume[]> {
  const out: LaunchVolume[] = [];
  const seen = new Set<string>();
  for (const [i, m] of params.structs('BlockDeviceMapping').entries()) {
    const prefix = `BlockDeviceMapping.${i + 1}.`;
    const given = m.string('DeviceName', { max: 64 });
    if (given === undefined) {
      throw new StratusError('missing', 'A block device mapping needs a DeviceName.', {
        resource: 'parameter',
        id: `${prefix}DeviceName`,
      });
    }
    const device = normalizeDevice(given);
    if (seen.has(device)) {
      throw invalid(`The device '${given}' is used in more than one block device mapping.`, {
        resource: 'parameter',
        id: `${prefix}DeviceName`,
      });
    }
    seen.add(device);
    if (isRootDevice(device)) {
      throw invalid(
        `The root device ${given} cannot be mapped: an instance's root disk is made from its image on its host.`,
        { resource: 'parameter', id: `${prefix}DeviceName`, reason: 'unsupported' },
      );
    }
    if (!isVolumeDevice(device)) {
      throw invalid(`'${given}' is not a device name such as /dev/sdf or /dev/xvdg.`, {
        resource: 'parameter',
        id: `${prefix}DeviceName`,
      });
    }
    if (m.has('NoDevice') || m.has('VirtualName')) {
      throw invalid(
        'NoDevice and VirtualName are not offered: there are no instance-store disks beyond the root.',
        { resource: 'parameter', id: `${prefix}VirtualName`, reason: 'unsupported' },
      );
    }
    const ebs = m.sub('Ebs');
    if (ebs.names().length === 0) {
      throw new StratusError('missing', `The mapping of ${given} needs an Ebs volume.`, {
        resource: 'parameter',
        id: `${prefix}Ebs`,
      });
    }
    const sizeGb = ebs.int('VolumeSize', { min: MIN_VOLUME_GB, max: MAX_VOLUME_GB });
    const snapshotShown = ebs.string('SnapshotId', { max: 64 });
    if (sizeGb === undefined && snapshotShown === undefined) {
      throw new StratusError(
        'missing',
        `The mapping of ${given} needs Ebs.VolumeSize or Ebs.SnapshotId.`,
        { resource: 'parameter', id: `${prefix}Ebs.VolumeSize` },
      );
    }
    const [snapshot] =
      snapshotShown === undefined
        ? []
        : await deps.snapshots.resolve(ctx, [snapshotRef(snapshotShown)]);
    if (snapshot && sizeGb !== undefined && sizeGb < snapshot.volumeSizeGb) {
      throw invalid(
        `Volume of size ${sizeGb}GB is smaller than snapshot '${snapshotShown}', expect size >= ${snapshot.volumeSizeGb}GB.`,
        { resource: 'parameter', id: `${prefix}Ebs.VolumeSize` },
      );
    }
    out.push({
      device,
      sizeGb,
      snapshot,
      volumeType: ebs.enumOf('VolumeType', VOLUME_TYPES),
      // RunInstances' own default: the volumes it makes go with the instance.
      deleteOnTermination: ebs.bool('DeleteOnTermination') ?? true,
    });
  }
  return out;
}

/** An instance's volumes as EC2's `blockDeviceMapping` items. */
export function blockDeviceMappingView(volumes: readonly VolumeRow[]): XmlObject[] {
  return volumes.map((v) => ({
    deviceName: v.device ?? '',
    ebs: {
      volumeId: ec2Id('vol', v.id),
      status: ATTACHMENT_STATUS[v.status] ?? 'attaching',
      attachTime: ec2Time(v.attachedAt ?? v.createdAt),
      deleteOnTermination: v.deleteOnTermination === 1,
    },
  }));
}

const ATTACHMENT_STATUS: Readonly<Record<string, string>> = {
  creating: 'attaching',
  available: 'attaching',
  attaching: 'attaching',
  'in-use': 'attached',
  detaching: 'detaching',
  extending: 'attached',
};
