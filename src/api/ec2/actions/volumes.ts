// Volume actions: CreateVolume (empty or from a snapshot), DeleteVolume, DescribeVolumes, DescribeVolumeStatus,
// ModifyVolume. A volume's EC2 id is `vol-` and its UUID's first 17 hex digits.
import type { VolumeRow } from '../../../db/index.js';
import { StratusError } from '../../../errors.js';
import { ec2Id, parseEc2Id } from '../../../ids/index.js';
import { MAX_VOLUME_GB, MIN_VOLUME_GB, VOLUME_TYPES } from '../../../volume/index.js';
import type { Ec2ActionTable } from '../action.js';
import { applyFilters } from '../filters.js';
import { pageOffset, pageToken } from '../paging.js';
import { invalidValue, type Params } from '../params.js';
import { ec2Time, type XmlObject } from '../xml.js';
import type { Ec2Deps } from './deps.js';
import { checkTags } from './instances.js';
import { snapshotRef } from './snapshots.js';

/** A gp3 volume's baseline, which EC2 reports for every gp3 volume: IOPS and MiB/s. */
const GP3_IOPS = 3000;
const GP3_THROUGHPUT = 125;

/** The state EC2 shows for a domain status: EC2 has no words for the steps in between. */
function ec2State(v: VolumeRow): string {
  switch (v.status) {
    case 'attaching':
    case 'detaching':
      return 'in-use';
    case 'extending':
    case 'uploading':
      return v.instanceId ? 'in-use' : 'available';
    case 'error_deleting':
    case 'error_extending':
      return 'error';
    default:
      return v.status;
  }
}

/** The state of a volume's attachment as EC2 names it. */
function attachState(v: VolumeRow): string {
  if (v.status === 'attaching' || v.status === 'detaching') return v.status;
  return 'attached';
}

/** What DescribeVolumeStatus says of a volume: ok, impaired or insufficient-data. */
function ioStatus(v: VolumeRow): { status: string; ioEnabled: string } {
  const state = ec2State(v);
  if (state === 'available' || state === 'in-use') return { status: 'ok', ioEnabled: 'passed' };
  if (state === 'error') return { status: 'impaired', ioEnabled: 'failed' };
  return { status: 'insufficient-data', ioEnabled: 'insufficient-data' };
}

/** gp2's baseline: 3 IOPS per GiB, at least 100 and at most 16000. */
function iops(v: VolumeRow): number | undefined {
  if (v.volumeType === 'gp3') return GP3_IOPS;
  if (v.volumeType === 'gp2') return Math.min(16_000, Math.max(100, 3 * v.sizeGb));
  return undefined;
}

export function volumeActions({ volumes, snapshots, tags }: Ec2Deps): Ec2ActionTable {
  const volumeTags = (params: Params) => {
    const list = params
      .tagSpecifications()
      .filter((s) => {
        if (s.resourceType !== 'volume')
          throw invalidValue(
            'TagSpecification.ResourceType',
            s.resourceType,
            "It must be 'volume'.",
          );
        return true;
      })
      .flatMap((s) => s.tags);
    checkTags(list);
    return list;
  };
  const ref = (id: string) => ({ ref: parseEc2Id(id, ['vol'], 'volume').uuidPrefix, shown: id });
  const tagLists = async (rows: readonly VolumeRow[]) => {
    const map = await tags.of(rows.map((r) => r.id));
    return (r: VolumeRow) => (map.get(r.id) ?? []).map((t) => ({ key: t.key, value: t.value }));
  };
  const view = (v: VolumeRow, tagSet: { key: string; value: string }[]): XmlObject => ({
    volumeId: ec2Id('vol', v.id),
    size: v.sizeGb,
    snapshotId: v.snapshotId ? ec2Id('snap', v.snapshotId) : '',
    availabilityZone: v.availabilityZone,
    status: ec2State(v),
    createTime: ec2Time(v.createdAt),
    attachmentSet: v.instanceId
      ? [
          {
            volumeId: ec2Id('vol', v.id),
            instanceId: ec2Id('i', v.instanceId),
            device: v.device,
            status: attachState(v),
            attachTime: v.attachedAt === null ? undefined : ec2Time(v.attachedAt),
            deleteOnTermination: false,
          },
        ]
      : [],
    tagSet,
    volumeType: v.volumeType,
    iops: iops(v),
    throughput: v.volumeType === 'gp3' ? GP3_THROUGHPUT : undefined,
    encrypted: false,
    multiAttachEnabled: false,
  });
  /** MaxResults and NextToken over a listing made in code; MaxResults not with ids (as EC2). */
  const page = <T>(params: Params, items: readonly T[], withIds: boolean) => {
    const maxResults = params.int('MaxResults', { min: 5, max: 1000 });
    if (maxResults !== undefined && withIds) {
      throw new StratusError(
        'invalid',
        'The parameter volumeIds cannot be used with the parameter maxResults.',
        { resource: 'parameter', reason: 'combination' },
      );
    }
    const offset = pageOffset(params.string('NextToken', { max: 1024 }));
    const end = maxResults === undefined ? items.length : offset + maxResults;
    return {
      items: items.slice(offset, end),
      nextToken: end < items.length ? pageToken(end) : undefined,
    };
  };
  /** The volumes a Describe action names (all the caller's when none), each checked to exist. */
  const named = async (params: Params, context: Parameters<typeof volumes.list>[0]) => {
    const shownIds = params.list('VolumeId');
    if (shownIds.length === 0) return { rows: await volumes.list(context), withIds: false };
    const rows = await volumes.resolve(context, shownIds.map(ref));
    return { rows: [...new Map(rows.map((r) => [r.id, r])).values()], withIds: true };
  };

  return {
    CreateVolume: async ({ params, context }) => {
      const size = params.int('Size', { min: MIN_VOLUME_GB, max: MAX_VOLUME_GB });
      const snapshotShown = params.string('SnapshotId', { max: 64 });
      if (size === undefined && snapshotShown === undefined) {
        throw new StratusError(
          'missing',
          'The request must contain the parameter size or snapshotId.',
          {
            resource: 'parameter',
            id: 'Size',
          },
        );
      }
      const volumeType = params.enumOf('VolumeType', VOLUME_TYPES);
      const volumeTagList = volumeTags(params);
      const [snapshot] =
        snapshotShown === undefined
          ? []
          : await snapshots.resolve(context, [snapshotRef(snapshotShown)]);
      const row = await volumes.create(context, {
        sizeGb: size,
        snapshot,
        availabilityZone: params.requireString('AvailabilityZone', { max: 255 }),
        volumeType,
        tags: volumeTagList,
      });
      return view(row, (await tagLists([row]))(row));
    },

    DeleteVolume: async ({ params, context }) => {
      const id = params.requireString('VolumeId', { max: 64 });
      const [row] = await volumes.resolve(context, [ref(id)]);
      await volumes.delete(context, row as VolumeRow, id);
      return { return: true };
    },

    DescribeVolumes: async ({ params, context }) => {
      const { rows, withIds } = await named(params, context);
      const tagList = await tagLists(rows);
      const matched = applyFilters(
        rows,
        params.filters(),
        {
          'availability-zone': (r) => r.availabilityZone,
          'create-time': (r) => ec2Time(r.createdAt),
          encrypted: () => 'false',
          'multi-attach-enabled': () => 'false',
          size: (r) => String(r.sizeGb),
          'snapshot-id': (r) => (r.snapshotId ? ec2Id('snap', r.snapshotId) : ''),
          status: (r) => ec2State(r),
          'volume-id': (r) => ec2Id('vol', r.id),
          'volume-type': (r) => r.volumeType,
          'attachment.instance-id': (r) => (r.instanceId ? ec2Id('i', r.instanceId) : undefined),
          'attachment.device': (r) => r.device,
          'attachment.status': (r) => (r.instanceId ? attachState(r) : undefined),
          'attachment.delete-on-termination': (r) => (r.instanceId ? 'false' : undefined),
        },
        { tags: tagList },
      );
      const { items, nextToken } = page(params, matched, withIds);
      return { volumeSet: items.map((r) => view(r, tagList(r))), nextToken };
    },

    DescribeVolumeStatus: async ({ params, context }) => {
      const { rows, withIds } = await named(params, context);
      const matched = applyFilters(rows, params.filters(), {
        'availability-zone': (r) => r.availabilityZone,
        'volume-status.status': (r) => ioStatus(r).status,
        'volume-status.details-name': () => ['io-enabled', 'io-performance'],
        'volume-status.details-status': (r) => [ioStatus(r).ioEnabled, 'not-applicable'],
      });
      const { items, nextToken } = page(params, matched, withIds);
      return {
        volumeStatusSet: items.map((r) => ({
          volumeId: ec2Id('vol', r.id),
          availabilityZone: r.availabilityZone,
          volumeStatus: {
            status: ioStatus(r).status,
            details: [
              { name: 'io-enabled', status: ioStatus(r).ioEnabled },
              { name: 'io-performance', status: 'not-applicable' },
            ],
          },
          actionsSet: [],
          eventsSet: [],
        })),
        nextToken,
      };
    },

    ModifyVolume: async ({ params, context }) => {
      const id = params.requireString('VolumeId', { max: 64 });
      const size = params.int('Size', { min: MIN_VOLUME_GB, max: MAX_VOLUME_GB });
      const volumeType = params.enumOf('VolumeType', VOLUME_TYPES);
      const [before] = (await volumes.resolve(context, [ref(id)])) as [VolumeRow];
      if (size === undefined && volumeType === undefined) {
        throw new StratusError(
          'missing',
          'ModifyVolume needs a new Size or VolumeType for the volume.',
          { resource: 'parameter', id: 'Size' },
        );
      }
      if (size !== undefined && size < before.sizeGb) {
        throw invalidValue(
          'Size',
          String(size),
          `A volume cannot shrink: '${id}' has ${before.sizeGb} GiB.`,
        );
      }
      let after = before;
      if (volumeType !== undefined && volumeType !== before.volumeType)
        after = await volumes.retype(context, after, id, volumeType);
      if (size !== undefined && size > before.sizeGb)
        after = await volumes.extend(context, after, id, size);
      const growing = after.status === 'extending';
      return {
        volumeModification: {
          volumeId: id,
          modificationState: growing ? 'modifying' : 'completed',
          targetSize: after.sizeGb,
          targetVolumeType: after.volumeType,
          targetIops: iops(after),
          targetThroughput: after.volumeType === 'gp3' ? GP3_THROUGHPUT : undefined,
          targetMultiAttachEnabled: false,
          originalSize: before.sizeGb,
          originalVolumeType: before.volumeType,
          originalIops: iops(before),
          originalThroughput: before.volumeType === 'gp3' ? GP3_THROUGHPUT : undefined,
          originalMultiAttachEnabled: false,
          progress: growing ? 0 : 100,
          startTime: ec2Time(Date.now()),
        },
      };
    },
  };
}
