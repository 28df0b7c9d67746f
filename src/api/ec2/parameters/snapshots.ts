// The request parameters of the snapshot actions (actions/snapshots.ts), each honoured,
// refused or ignored (rules.ts). Snapshots are files on one volume host: no Outposts, other
// regions, keys or archive tiers.
import {
  DRY_RUN,
  FILTERS,
  honoured,
  ignored,
  refused,
  TAG_SPECIFICATIONS,
  type ActionParameters,
} from './rules.js';

const PERMISSION = {
  ...DRY_RUN,
  SnapshotId: honoured('a snapshot the caller owns'),
  Attribute: honoured('createVolumePermission'),
};

export const snapshotParameters: Readonly<Record<string, ActionParameters>> = {
  CreateSnapshot: {
    ...DRY_RUN,
    ...TAG_SPECIFICATIONS,
    VolumeId: honoured(
      'an available volume, or one in use (copied while the guest writes); one being attached or detached is IncorrectState',
    ),
    Description: honoured('up to 255 characters'),
    OutpostArn: refused('there are no Outposts here.', { sample: 'arn:aws:outposts:x' }),
    Location: refused('snapshots are kept by the volume host, not in a chosen place.', {
      code: 'InvalidParameterValue',
      accepts: ['regional'],
      sample: 'local',
    }),
  },
  CopySnapshot: {
    ...DRY_RUN,
    ...TAG_SPECIFICATIONS,
    SourceRegion: honoured('this region only'),
    SourceSnapshotId: honoured('a completed snapshot the caller owns or that is shared with it'),
    Description: honoured("the source's when absent"),
    DestinationRegion: honoured('this region only'),
    Encrypted: refused('snapshots are not encrypted here.', {
      code: 'InvalidParameterValue',
      accepts: ['false'],
      sample: 'true',
    }),
    KmsKeyId: refused('there is no key management service here.', { sample: 'key-1' }),
    PresignedUrl: ignored(
      'the AWS SDKs fill it in for every copy; it signs a request to the source region, which is this one, so there is nothing to send it to',
      'https://x',
    ),
    DestinationOutpostArn: refused('there are no Outposts here.', { sample: 'arn:aws:outposts:x' }),
    CompletionDurationMinutes: refused('a copy cannot be timed here.', { sample: '15' }),
    DestinationAvailabilityZone: refused('snapshots are regional here.', { sample: 'zone-1' }),
  },
  DeleteSnapshot: {
    ...DRY_RUN,
    SnapshotId: honoured('refused while a volume or copy is being made from it'),
  },
  DescribeSnapshots: {
    ...DRY_RUN,
    ...FILTERS,
    MaxResults: honoured('5 to 1000; not with SnapshotId'),
    NextToken: honoured(),
    'SnapshotId.N': honoured(),
    'Owner.N': honoured("account ids (project ids) or 'self'"),
    'RestorableBy.N': honoured("account ids, 'self' or 'all'"),
  },
  DescribeSnapshotAttribute: {
    ...DRY_RUN,
    SnapshotId: honoured('a snapshot the caller owns'),
    Attribute: honoured('createVolumePermission, or productCodes (always none)'),
  },
  ModifySnapshotAttribute: {
    ...PERMISSION,
    'CreateVolumePermission.Add.N.UserId': honoured('an account id (project id)'),
    'CreateVolumePermission.Add.N.Group': honoured("'all'"),
    'CreateVolumePermission.Remove.N.UserId': honoured(),
    'CreateVolumePermission.Remove.N.Group': honoured("'all'"),
    OperationType: honoured('add or remove, with UserId.N or UserGroup.N'),
    'UserId.N': honoured(),
    'UserGroup.N': honoured("'all'"),
  },
  ResetSnapshotAttribute: PERMISSION,
};
