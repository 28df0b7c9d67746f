// The request parameters of the volume actions (actions/volumes.ts), each honoured, refused or
// ignored (rules.ts). Volume types differ here only in name: each is recorded and shown.
import {
  DRY_RUN,
  FILTERS,
  honoured,
  ignored,
  refused,
  TAG_SPECIFICATIONS,
  type ActionParameters,
} from './rules.js';

const LISTING: ActionParameters = {
  MaxResults: honoured('5 to 1000; not with VolumeId'),
  NextToken: honoured(),
  'VolumeId.N': honoured(),
  IncludeManagedResources: ignored(
    'no volume here is managed by another service, so including or leaving them out lists the same',
    'true',
  ),
};

export const volumeParameters: Readonly<Record<string, ActionParameters>> = {
  CreateVolume: {
    ...DRY_RUN,
    ...TAG_SPECIFICATIONS,
    Size: honoured(
      "1 to 16384 GiB; needed without SnapshotId, at least the snapshot's size with it",
    ),
    AvailabilityZone: honoured('a zone of this cloud'),
    AvailabilityZoneId: refused('zones have no separate ids here; name the zone.', {
      sample: 'use1-az1',
    }),
    VolumeType: honoured('gp2, gp3 or standard: recorded and shown'),
    SnapshotId: honoured('a completed snapshot the caller owns or that is shared with it'),
    Encrypted: refused('volumes are not encrypted here.', {
      code: 'InvalidParameterValue',
      accepts: ['false'],
      sample: 'true',
    }),
    KmsKeyId: refused('there is no key management service here.', { sample: 'key-1' }),
    Iops: refused('IOPS cannot be chosen; gp2 and gp3 report their baseline.', {
      code: 'InvalidParameterValue',
      sample: '4000',
    }),
    Throughput: refused('throughput cannot be chosen; gp3 reports its baseline.', {
      code: 'InvalidParameterValue',
      sample: '250',
    }),
    MultiAttachEnabled: refused('a volume attaches to one instance at a time.', {
      code: 'InvalidParameterValue',
      accepts: ['false'],
      sample: 'true',
    }),
    OutpostArn: refused('there are no Outposts here.', { sample: 'arn:aws:outposts:x' }),
    ClientToken: ignored(
      'accepted because SDKs fill it in; a retried request is not matched to the first by it yet.',
      'token-1',
    ),
    VolumeInitializationRate: refused('volumes start empty; nothing is initialized.', {
      code: 'InvalidParameterValue',
      sample: '200',
    }),
    'Operator.Principal': refused('no other service manages volumes here.'),
  },
  AttachVolume: {
    ...DRY_RUN,
    VolumeId: honoured("an available volume of the instance's project and zone"),
    InstanceId: honoured('a running or stopped instance'),
    Device: honoured("/dev/sdX, /dev/xvdX or /dev/vdX, not the root disk's nor one in use"),
    EbsCardIndex: refused('guests have one virtual storage controller; there are no EBS cards.', {
      code: 'InvalidParameterValue',
      sample: '1',
    }),
  },
  DetachVolume: {
    ...DRY_RUN,
    VolumeId: honoured(),
    InstanceId: honoured('must be the instance that holds the volume'),
    Device: honoured('must be the device the volume is attached as'),
    Force: honoured('detaches even when the guest does not release the disk'),
  },
  DeleteVolume: {
    ...DRY_RUN,
    VolumeId: honoured('refused while attached (VolumeInUse) or while it has snapshots'),
  },
  DescribeVolumes: { ...DRY_RUN, ...FILTERS, ...LISTING },
  DescribeVolumeStatus: { ...DRY_RUN, ...FILTERS, ...LISTING },
  ModifyVolume: {
    ...DRY_RUN,
    VolumeId: honoured(),
    Size: honoured('grow only, up to 16384 GiB'),
    VolumeType: honoured('gp2, gp3 or standard: recorded'),
    Iops: refused('IOPS cannot be chosen; gp2 and gp3 report their baseline.', {
      code: 'InvalidParameterValue',
      sample: '4000',
    }),
    Throughput: refused('throughput cannot be chosen; gp3 reports its baseline.', {
      code: 'InvalidParameterValue',
      sample: '250',
    }),
    MultiAttachEnabled: refused('a volume attaches to one instance at a time.', {
      code: 'InvalidParameterValue',
      accepts: ['false'],
      sample: 'true',
    }),
  },
};
