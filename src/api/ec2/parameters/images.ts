// The request parameters of the image actions (actions/images.ts), each honoured, refused or
// ignored (rules.ts).
import {
  DRY_RUN,
  FILTERS,
  honoured,
  ignored,
  refused,
  TAG_SPECIFICATIONS,
  type ActionParameters,
} from './rules.js';

const ONE_DISK = 'an image here is one local disk file.';

export const imageParameters: Readonly<Record<string, ActionParameters>> = {
  DescribeImages: {
    ...DRY_RUN,
    ...FILTERS,
    'ImageId.N': honoured(),
    'Owner.N': honoured('self, system or a project id'),
    'ExecutableBy.N': honoured('self, all or a project id'),
    MaxResults: honoured(),
    NextToken: honoured(),
    IncludeDeprecated: ignored(
      'no image here is deprecated, so including deprecated ones lists the same',
      'true',
    ),
    IncludeDisabled: ignored(
      'no image here is disabled, so including disabled ones lists the same',
      'true',
    ),
  },

  RegisterImage: {
    ...DRY_RUN,
    ...TAG_SPECIFICATIONS,
    Name: honoured(),
    ImageLocation: honoured('an image id or <owner>/<name>: the new image uses its disk'),
    Description: honoured(),
    Architecture: honoured('kept and shown; Mac architectures are refused'),
    KernelId: honoured(),
    RamdiskId: honoured(),
    VirtualizationType: refused('guests boot as hvm.', {
      code: 'InvalidParameterValue',
      accepts: ['hvm'],
      sample: 'paravirtual',
    }),
    BootMode: refused('guests boot with a BIOS.', {
      code: 'InvalidParameterValue',
      accepts: ['legacy-bios', 'uefi-preferred'],
      sample: 'uefi',
    }),
    RootDeviceName: ignored(
      'the image is the one disk, which a guest sees as /dev/vda whatever it is called',
      '/dev/sda1',
    ),
    'BlockDeviceMapping.N.*': refused(ONE_DISK, {
      code: 'InvalidParameterValue',
      sample: '/dev/sdb',
    }),
    'BillingProduct.N': refused('there is no billing.', {
      code: 'InvalidParameterValue',
      sample: 'bp-1',
    }),
    UefiData: refused('guests boot with a BIOS.', { code: 'InvalidParameterValue' }),
    TpmSupport: refused('guests have no TPM.', { code: 'InvalidParameterValue', sample: 'v2.0' }),
    ImdsSupport: refused('the metadata service does not require session tokens.', {
      code: 'InvalidParameterValue',
      sample: 'v2.0',
    }),
    SriovNetSupport: refused('guests have virtio network devices.', {
      code: 'InvalidParameterValue',
      sample: 'simple',
    }),
    EnaSupport: refused('guests have virtio network devices.', {
      code: 'InvalidParameterValue',
      accepts: ['false'],
      sample: 'true',
    }),
  },

  DeregisterImage: {
    ...DRY_RUN,
    ImageId: honoured(),
    DeleteAssociatedSnapshots: ignored('there are no snapshots behind an image here', 'true'),
  },

  DescribeImageAttribute: { ...DRY_RUN, ImageId: honoured(), Attribute: honoured() },
};
