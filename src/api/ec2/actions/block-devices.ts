// RunInstances' block device mappings (`BlockDeviceMapping.N`): the extra volumes a launch
// makes for each instance (empty, or from a snapshot), checked whole before anything is made,
// and how DescribeInstances and DescribeInstanceAttribute show an instance's volumes.
import { isRootDevice, isVolumeDevice, normalizeDevice } from '../../../compute/index.js';
import type { RequestContext } from '../../../context.js';
import type { ImageRow, SnapshotRow, VolumeRow } from '../../../db/index.js';
import {
  rootDeviceNameOf,
  volumeMappingProperties,
  volumeMappingsOf,
  type ImageVolumeMapping,
} from '../../../image/index.js';
import { invalid, StratusError } from '../../../errors.js';
import { ec2Id } from '../../../ids/index.js';
import { MAX_VOLUME_GB, MIN_VOLUME_GB, VOLUME_TYPES } from '../../../volume/index.js';
import type { Params } from '../params.js';
import { ec2Time, type XmlObject } from '../xml.js';
import type { LaunchVolume } from '../../launch-volumes.js';
import type { Ec2Deps } from './deps.js';
import { snapshotRef } from './snapshots.js';

/**
 * The mappings of a RunInstances request, checked: each names a device (not twice) and an
 * `Ebs` volume with a size or a snapshot (one the caller may see) no larger than the size.
 * A volume-backed `image` brings its own mappings (its root volume first, made from its
 * snapshot): a request's mapping of the same device changes its size (not below the
 * snapshot's) and DeleteOnTermination. Refused: the root device of an image with data of its
 * own (its root disk is made on the host), `NoDevice` and `VirtualName` (there are no
 * instance-store disks beyond the root).
 */
export async function launchVolumes(
  deps: Ec2Deps,
  ctx: RequestContext,
  params: Params,
  image?: ImageRow,
): Promise<LaunchVolume[]> {
  const fromImage = image ? volumeMappingsOf(image) : undefined;
  const rootName =
    fromImage && image ? (rootDeviceNameOf(image) ?? fromImage[0]?.device) : undefined;
  const out: LaunchVolume[] = [];
  const seen = new Set<string>();
  const overrides = new Map<
    ImageVolumeMapping,
    {
      sizeGb?: number | undefined;
      deleteOnTermination?: boolean | undefined;
      volumeType?: string | undefined;
    }
  >();
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
    const imageMapping = fromImage?.find(
      (im) => normalizeDevice(im.device) === device || (im.bootIndex === 0 && device === rootName),
    );
    if (imageMapping) {
      const ebs = m.sub('Ebs');
      const sizeGb = ebs.int('VolumeSize', { min: MIN_VOLUME_GB, max: MAX_VOLUME_GB });
      if (sizeGb !== undefined && sizeGb < imageMapping.sizeGb) {
        throw invalid(
          `Volume of size ${sizeGb}GB is smaller than snapshot '${ec2Id('snap', imageMapping.snapshotId)}', expect size >= ${imageMapping.sizeGb}GB.`,
          { resource: 'parameter', id: `${prefix}Ebs.VolumeSize` },
        );
      }
      overrides.set(imageMapping, {
        sizeGb,
        deleteOnTermination: ebs.bool('DeleteOnTermination'),
        volumeType: ebs.enumOf('VolumeType', VOLUME_TYPES),
      });
      continue;
    }
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
  if (!fromImage || !image) return out;
  const own: LaunchVolume[] = [];
  for (const im of fromImage) {
    const device = im.bootIndex === 0 ? (rootName ?? im.device) : normalizeDevice(im.device);
    if (seen.has(device) && !overrides.has(im)) {
      throw invalid(`The device '${device}' is already mapped by the image.`, {
        resource: 'parameter',
        id: 'BlockDeviceMapping',
      });
    }
    const change = overrides.get(im) ?? {};
    const [snapshot] = await deps.snapshots.resolve(ctx, [
      { ref: im.snapshotId, shown: ec2Id('snap', im.snapshotId) },
    ]);
    own.push({
      device,
      sizeGb: change.sizeGb ?? im.sizeGb,
      snapshot,
      volumeType: change.volumeType ?? im.volumeType ?? undefined,
      deleteOnTermination: change.deleteOnTermination ?? im.deleteOnTermination,
      ...(im.bootIndex === 0 ? { imageId: image.id } : {}),
    });
  }
  return [...own, ...out];
}

/**
 * An instance's `rootDeviceType` and `rootDeviceName`: `ebs` and the volume's device when one
 * of its volumes is its root disk, `instance-store` on /dev/vda otherwise.
 */
export function rootDeviceView(volumes: readonly VolumeRow[]): {
  rootDeviceType: 'ebs' | 'instance-store';
  rootDeviceName: string;
} {
  const root = volumes.find((v) => v.device !== null && isRootDevice(v.device));
  return root
    ? { rootDeviceType: 'ebs', rootDeviceName: root.device as string }
    : { rootDeviceType: 'instance-store', rootDeviceName: '/dev/vda' };
}

/** A volume-backed image's mappings as EC2's `blockDeviceMapping` items of DescribeImages. */
export function imageBlockDeviceMappingView(image: ImageRow): XmlObject[] {
  const mappings = volumeMappingsOf(image) ?? [];
  const root = rootDeviceNameOf(image);
  return mappings.map((m) => ({
    deviceName: m.bootIndex === 0 ? (root ?? m.device) : m.device,
    ebs: {
      snapshotId: ec2Id('snap', m.snapshotId),
      volumeSize: m.sizeGb,
      deleteOnTermination: m.deleteOnTermination,
      volumeType: m.volumeType ?? 'gp2',
      encrypted: false,
    },
  }));
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

/**
 * RegisterImage with `BlockDeviceMapping.N`: a volume-backed image of the caller's project
 * whose volumes are made from snapshots the caller may see. `RootDeviceName` (default
 * /dev/sda1) must be one of the mappings, with a snapshot; each mapping names a device once
 * and an `Ebs` volume with a snapshot (`VolumeSize` at least the snapshot's, its size when
 * absent; `DeleteOnTermination` true unless told; `VolumeType`). Without a kernel given, the
 * image boots with the kernel and ramdisk of the image the root snapshot's volume was made
 * from, when there is one.
 */
export async function registerVolumeBacked(
  deps: Ec2Deps,
  ctx: RequestContext,
  params: Params,
  req: {
    name: string;
    description: string | undefined;
    architecture: string | undefined;
    kernelId: string | undefined;
    ramdiskId: string | undefined;
  },
): Promise<ImageRow> {
  const rootName = normalizeDevice(
    params.string('RootDeviceName', { max: 32, pattern: /^\/dev\/[a-z0-9]+$/ }) ?? '/dev/sda1',
  );
  const mappings: ImageVolumeMapping[] = [];
  const snapshots: SnapshotRow[] = [];
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
    const root = device === rootName;
    if (!root && !isVolumeDevice(device)) {
      throw invalid(`'${given}' is not a device name such as /dev/sdf or /dev/xvdg.`, {
        resource: 'parameter',
        id: `${prefix}DeviceName`,
      });
    }
    if (mappings.some((x) => x.device === device)) {
      throw invalid(`The device '${given}' is used in more than one block device mapping.`, {
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
    const shown = ebs.string('SnapshotId', { max: 64 });
    if (shown === undefined) {
      throw new StratusError('missing', `The mapping of ${given} needs Ebs.SnapshotId.`, {
        resource: 'parameter',
        id: `${prefix}Ebs.SnapshotId`,
      });
    }
    const [snapshot] = await deps.snapshots.resolve(ctx, [snapshotRef(shown)]);
    const s = snapshot as SnapshotRow;
    if (s.status !== 'available') {
      throw new StratusError(
        'conflict',
        `The snapshot '${shown}' is ${s.status}; an image is registered only from available snapshots.`,
        { resource: 'snapshot', id: shown },
      );
    }
    const sizeGb =
      ebs.int('VolumeSize', { min: MIN_VOLUME_GB, max: MAX_VOLUME_GB }) ?? s.volumeSizeGb;
    if (sizeGb < s.volumeSizeGb) {
      throw invalid(
        `Volume of size ${sizeGb}GB is smaller than snapshot '${shown}', expect size >= ${s.volumeSizeGb}GB.`,
        { resource: 'parameter', id: `${prefix}Ebs.VolumeSize` },
      );
    }
    snapshots.push(s);
    mappings.push({
      device,
      snapshotId: s.id,
      sizeGb,
      deleteOnTermination: ebs.bool('DeleteOnTermination') ?? true,
      volumeType: ebs.enumOf('VolumeType', VOLUME_TYPES) ?? null,
      bootIndex: root ? 0 : null,
    });
  }
  const rootIndex = mappings.findIndex((m) => m.bootIndex === 0);
  if (rootIndex < 0) {
    throw invalid(`The root device ${rootName} must be one of the block device mappings.`, {
      resource: 'parameter',
      id: 'RootDeviceName',
    });
  }
  // The kernel and ramdisk of the image the root snapshot's data came from, unless given.
  let kernelId = req.kernelId;
  let ramdiskId = req.ramdiskId;
  let architecture = req.architecture;
  if (kernelId === undefined) {
    const rootSnapshot = snapshots[rootIndex] as SnapshotRow;
    const [volume] = await deps.volumes
      .resolve(ctx, [{ ref: rootSnapshot.volumeId, shown: rootSnapshot.volumeId }])
      .catch(() => []);
    const source = volume?.imageId
      ? await deps.images.get(ctx, volume.imageId).catch(() => undefined)
      : undefined;
    kernelId = source?.kernelId ?? undefined;
    ramdiskId ??= source?.ramdiskId ?? undefined;
    architecture ??= source?.architecture;
  }
  const ordered = [
    mappings[rootIndex] as ImageVolumeMapping,
    ...mappings.filter((m) => m.bootIndex !== 0),
  ];
  return deps.images.registerVolumeBacked(ctx, {
    name: req.name,
    description: req.description,
    architecture,
    kernelId,
    ramdiskId,
    properties: volumeMappingProperties(rootName, ordered),
  });
}
