// CreateImage (actions/create-image.ts): an image from an instance's root disk.
import { DRY_RUN, honoured, refused, TAG_SPECIFICATIONS, type ActionParameters } from './rules.js';

export const instanceImageParameters: Readonly<Record<string, ActionParameters>> = {
  CreateImage: {
    ...DRY_RUN,
    ...TAG_SPECIFICATIONS,
    'TagSpecification.N.ResourceType': honoured(
      'image, or snapshot: roots are instance store, so no snapshot is made and snapshot tags have nothing to go on',
    ),
    InstanceId: honoured(
      'a terminated instance, or one with work under way, is IncorrectInstanceState',
    ),
    Name: honoured("unique among the project's images (InvalidAMIName.Duplicate)"),
    Description: honoured(),
    NoReboot: honoured(
      'false (the default): the guest is shut down cleanly around the copy and booted again; true: a crash-consistent copy of the running disk',
    ),
    SnapshotLocation: refused("images are kept in the region's image store, not in a local zone.", {
      code: 'InvalidParameterValue',
      accepts: ['regional'],
      sample: 'local',
    }),
    BootModeOverride: refused('guests boot with a BIOS.', {
      code: 'InvalidParameterValue',
      accepts: ['legacy-bios'],
      sample: 'uefi',
    }),
    'BlockDeviceMapping.N.*': refused(
      'the image is a copy of the instance-store root disk alone; no volumes are added to it.',
      { code: 'InvalidParameterValue', sample: '/dev/sdb' },
    ),
  },
};
