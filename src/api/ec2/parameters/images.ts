// The request parameters of the image actions (actions/images.ts), each honoured, refused or
// ignored (rules.ts).
import { REFUSED_MAPPING_FIELDS } from './instances.js';
import {
  DRY_RUN,
  FILTERS,
  honoured,
  ignored,
  refused,
  TAG_SPECIFICATIONS,
  type ActionParameters,
} from './rules.js';

const NO_ORGANIZATIONS = 'there are no organizations: share with project ids (UserId).';

export const imageParameters: Readonly<Record<string, ActionParameters>> = {
  DescribeImages: {
    ...DRY_RUN,
    ...FILTERS,
    'ImageId.N': honoured(),
    'Owner.N': honoured('self, system or a project id'),
    'ExecutableBy.N': honoured('self, all or a project id'),
    MaxResults: honoured(),
    NextToken: honoured(),
    IncludeDeprecated: honoured(
      "other owners' images past their deprecation time are listed only with it, or by id",
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
    RootDeviceName: honoured(
      "with BlockDeviceMapping: the root volume's device (default /dev/sda1); otherwise checked and ignored (the image is the one disk, /dev/vda to the guest)",
    ),
    'BlockDeviceMapping.N.DeviceName': honoured(
      'a volume-backed image: the root device or a data volume device',
    ),
    'BlockDeviceMapping.N.Ebs.SnapshotId': honoured('an available snapshot the caller may see'),
    'BlockDeviceMapping.N.Ebs.VolumeSize': honoured("at least the snapshot's size (the default)"),
    'BlockDeviceMapping.N.Ebs.DeleteOnTermination': honoured('true unless told'),
    'BlockDeviceMapping.N.Ebs.VolumeType': honoured('gp2, gp3 or standard'),
    ...REFUSED_MAPPING_FIELDS,
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
    DeleteAssociatedSnapshots: ignored(
      "a volume-backed image's snapshots stay when it is deregistered, as EC2 keeps them by default",
      'true',
    ),
  },

  DescribeImageAttribute: { ...DRY_RUN, ImageId: honoured(), Attribute: honoured() },

  ModifyImageAttribute: {
    ...DRY_RUN,
    ImageId: honoured(),
    Attribute: honoured(
      'launchPermission or description, with OperationType/UserId/UserGroup or Value',
    ),
    Value: honoured('the description, with Attribute=description'),
    'Description.Value': honoured(),
    'LaunchPermission.Add.N.UserId': honoured('a project id: the image is shared with it'),
    'LaunchPermission.Add.N.Group': honoured('all: public, for admins only'),
    'LaunchPermission.Remove.N.UserId': honoured(),
    'LaunchPermission.Remove.N.Group': honoured(),
    OperationType: honoured('add or remove'),
    'UserId.N': honoured(),
    'UserGroup.N': honoured('all'),
    'LaunchPermission.Add.N.OrganizationArn': refused(NO_ORGANIZATIONS, {
      sample: 'arn:aws:organizations::1:organization/o-1',
    }),
    'LaunchPermission.Add.N.OrganizationalUnitArn': refused(NO_ORGANIZATIONS, {
      sample: 'arn:aws:organizations::1:ou/o-1/ou-1',
    }),
    'LaunchPermission.Remove.N.OrganizationArn': refused(NO_ORGANIZATIONS, {
      sample: 'arn:aws:organizations::1:organization/o-1',
    }),
    'LaunchPermission.Remove.N.OrganizationalUnitArn': refused(NO_ORGANIZATIONS, {
      sample: 'arn:aws:organizations::1:ou/o-1/ou-1',
    }),
    'OrganizationArn.N': refused(NO_ORGANIZATIONS, {
      sample: 'arn:aws:organizations::1:organization/o-1',
    }),
    'OrganizationalUnitArn.N': refused(NO_ORGANIZATIONS, {
      sample: 'arn:aws:organizations::1:ou/o-1/ou-1',
    }),
    'ProductCode.N': refused('there is no marketplace, so no product codes.', { sample: 'abc' }),
    'ImdsSupport.Value': refused(
      'an image does not set the metadata options of its instances here.',
      { sample: 'v2.0' },
    ),
  },
  ResetImageAttribute: {
    ...DRY_RUN,
    ImageId: honoured(),
    Attribute: honoured('launchPermission: private again, every share ended'),
  },
  CopyImage: {
    ...DRY_RUN,
    ...TAG_SPECIFICATIONS,
    SourceImageId: honoured(),
    SourceRegion: honoured('must be this region'),
    Name: honoured(),
    Description: honoured(),
    ClientToken: honoured('a retry with the same token answers the first copy'),
    CopyImageTags: honoured("the caller's tags of the source, the new ones winning"),
    Encrypted: refused('image files are not encrypted here.', {
      accepts: ['false'],
      sample: 'true',
    }),
    KmsKeyId: refused('there is no key management service.', { sample: 'k-1' }),
    DestinationOutpostArn: refused('there are no outposts.', { sample: 'arn:aws:outposts:x' }),
    DestinationAvailabilityZone: refused('images are regional here, not kept per zone.', {
      sample: 'a',
    }),
    DestinationAvailabilityZoneId: refused('images are regional here, not kept per zone.', {
      sample: 'a',
    }),
    SnapshotCopyCompletionDurationMinutes: refused(
      'there are no snapshots to copy on a schedule.',
      { sample: '15' },
    ),
  },
  EnableImageDeprecation: {
    ...DRY_RUN,
    ImageId: honoured(),
    DeprecateAt: honoured('shown as DeprecationTime; hides the image from other owners afterwards'),
  },
  DisableImageDeprecation: { ...DRY_RUN, ImageId: honoured() },
};
