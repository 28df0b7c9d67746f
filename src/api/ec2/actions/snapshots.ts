// Snapshot actions: CreateSnapshot, CopySnapshot, DeleteSnapshot, DescribeSnapshots and the
// createVolumePermission attribute (Describe/Modify/ResetSnapshotAttribute). A snapshot's EC2
// id is `snap-` and its UUID's first 17 hex digits; its owner is an account id, which here is
// a project id (32 hex digits), and sharing with an account lets that project see the
// snapshot, copy it and make volumes from it.
import type { RequestContext } from '../../../context.js';
import type { SnapshotRow } from '../../../db/index.js';
import { invalid, StratusError } from '../../../errors.js';
import { ec2Id, parseEc2Id } from '../../../ids/index.js';
import type { Ec2ActionTable } from '../action.js';
import { applyFilters } from '../filters.js';
import { pageOffset, pageToken } from '../paging.js';
import { invalidValue, missingParameter, type Params } from '../params.js';
import { ec2Time, type XmlObject } from '../xml.js';
import type { Ec2Deps } from './deps.js';
import { checkTags } from './instances.js';

/** An EC2 account id here: a project id, 32 hex digits. */
const ACCOUNT_ID = /^[0-9a-f]{32}$/;

/** EC2's word for a snapshot's status: pending, completed or error. */
export function snapshotState(s: SnapshotRow): string {
  switch (s.status) {
    case 'creating':
      return 'pending';
    case 'available':
    case 'deleting':
      return 'completed';
    default:
      return 'error';
  }
}

export function snapshotRef(id: string): { ref: string; shown: string } {
  return { ref: parseEc2Id(id, ['snap'], 'snapshot').uuidPrefix, shown: id };
}

export function snapshotActions({ snapshots, volumes, tags }: Ec2Deps): Ec2ActionTable {
  const snapshotTags = (params: Params) => {
    const list = params
      .tagSpecifications()
      .filter((s) => {
        if (s.resourceType !== 'snapshot')
          throw invalidValue(
            'TagSpecification.ResourceType',
            s.resourceType,
            "It must be 'snapshot'.",
          );
        return true;
      })
      .flatMap((s) => s.tags);
    checkTags(list);
    return list;
  };
  const tagLists = async (rows: readonly SnapshotRow[]) => {
    const map = await tags.of(rows.map((r) => r.id));
    return (r: SnapshotRow) => (map.get(r.id) ?? []).map((t) => ({ key: t.key, value: t.value }));
  };
  const view = (s: SnapshotRow, tagSet: { key: string; value: string }[]): XmlObject => ({
    snapshotId: ec2Id('snap', s.id),
    volumeId: ec2Id('vol', s.volumeId),
    status: snapshotState(s),
    statusMessage: snapshotState(s) === 'error' ? (s.statusReason ?? undefined) : undefined,
    startTime: ec2Time(s.createdAt),
    progress: `${s.progress}%`,
    ownerId: s.projectId,
    volumeSize: s.volumeSizeGb,
    description: s.description ?? '',
    encrypted: false,
    storageTier: 'standard',
    tagSet,
  });
  const one = async (ctx: RequestContext, shown: string) =>
    (await snapshots.resolve(ctx, [snapshotRef(shown)]))[0] as SnapshotRow;
  /** `Attribute`: only createVolumePermission is kept (productCodes: none, always). */
  const attributeOf = (params: Params, allowed: readonly string[]) => {
    const attribute = params.string('Attribute', { max: 64 });
    if (attribute === undefined) throw missingParameter('Attribute');
    if (!allowed.includes(attribute)) {
      throw invalidValue('Attribute', attribute, `It must be ${allowed.join(' or ')}.`);
    }
    return attribute;
  };

  return {
    CreateSnapshot: async ({ params, context }) => {
      const shown = params.requireString('VolumeId', { max: 64 });
      const description = params.string('Description', { max: 255 });
      const newTags = snapshotTags(params);
      const [volume] = await volumes.resolve(context, [
        { ref: parseEc2Id(shown, ['vol'], 'volume').uuidPrefix, shown },
      ]);
      // EC2 snapshots a volume in use as it is (crash consistent), without asking.
      const row = await snapshots.create(context, volume as NonNullable<typeof volume>, shown, {
        description,
        tags: newTags,
        inUse: true,
      });
      return view(row, newTags);
    },

    CopySnapshot: async ({ params, context, region }) => {
      // Outposts, keys, other zones and timed copies are refused by the parameter table.
      const sourceRegion = params.requireString('SourceRegion', { max: 64 });
      if (sourceRegion !== region) {
        throw invalidValue(
          'SourceRegion',
          sourceRegion,
          `Snapshots can only be copied within this region (${region}).`,
        );
      }
      const destination = params.string('DestinationRegion', { max: 64 });
      if (destination !== undefined && destination !== region) {
        throw invalidValue(
          'DestinationRegion',
          destination,
          `Snapshots can only be copied within this region (${region}).`,
        );
      }
      const description = params.string('Description', { max: 255 });
      const newTags = snapshotTags(params);
      const source = await one(context, params.requireString('SourceSnapshotId', { max: 64 }));
      const row = await snapshots.copy(context, source, ec2Id('snap', source.id), {
        description: description ?? source.description ?? undefined,
        tags: newTags,
      });
      return { snapshotId: ec2Id('snap', row.id), tagSet: newTags };
    },

    DeleteSnapshot: async ({ params, context }) => {
      const shown = params.requireString('SnapshotId', { max: 64 });
      await snapshots.delete(context, await one(context, shown), shown);
      return { return: true };
    },

    DescribeSnapshots: async ({ params, context }) => {
      const shownIds = params.list('SnapshotId');
      const owners = params.list('Owner');
      const restorableBy = params.list('RestorableBy');
      const maxResults = params.int('MaxResults', { min: 5, max: 1000 });
      if (maxResults !== undefined && shownIds.length > 0) {
        throw new StratusError(
          'invalid',
          'The parameter snapshotIds cannot be used with the parameter maxResults.',
          { resource: 'parameter', reason: 'combination' },
        );
      }
      let rows =
        shownIds.length > 0
          ? [
              ...new Map(
                (await snapshots.resolve(context, shownIds.map(snapshotRef))).map((r) => [r.id, r]),
              ).values(),
            ]
          : await snapshots.list(context);
      const self = context.projectId;
      if (owners.length > 0) {
        // 'self' is the caller's account; EC2's own owner aliases (amazon, ...) own nothing here.
        const wanted = new Set(owners.map((o) => (o === 'self' ? self : o)));
        rows = rows.filter((r) => wanted.has(r.projectId));
      }
      if (restorableBy.length > 0) {
        const shares = await snapshots.sharedWith(context, rows);
        rows = rows.filter((r) =>
          restorableBy.some((who) => {
            if (who === 'all') return r.isPublic === 1;
            const account = who === 'self' ? (self ?? '') : who;
            return (
              r.isPublic === 1 ||
              r.projectId === account ||
              (shares.get(r.id) ?? []).includes(account)
            );
          }),
        );
      }
      const tagList = await tagLists(rows);
      const matched = applyFilters(
        rows,
        params.filters(),
        {
          description: (r) => r.description ?? '',
          encrypted: () => 'false',
          'owner-id': (r) => r.projectId,
          'owner-alias': () => undefined,
          progress: (r) => `${r.progress}%`,
          'snapshot-id': (r) => ec2Id('snap', r.id),
          'start-time': (r) => ec2Time(r.createdAt),
          status: (r) => snapshotState(r),
          'storage-tier': () => 'standard',
          'volume-id': (r) => ec2Id('vol', r.volumeId),
          'volume-size': (r) => String(r.volumeSizeGb),
        },
        { tags: tagList },
      );
      const offset = pageOffset(params.string('NextToken', { max: 1024 }));
      const end = maxResults === undefined ? matched.length : offset + maxResults;
      return {
        snapshotSet: matched.slice(offset, end).map((r) => view(r, tagList(r))),
        nextToken: end < matched.length ? pageToken(end) : undefined,
      };
    },

    DescribeSnapshotAttribute: async ({ params, context }) => {
      const attribute = attributeOf(params, ['createVolumePermission', 'productCodes']);
      const shown = params.requireString('SnapshotId', { max: 64 });
      const row = await one(context, shown);
      const perms = await snapshots.permissions(context, row, shown);
      return {
        snapshotId: ec2Id('snap', row.id),
        ...(attribute === 'createVolumePermission'
          ? {
              createVolumePermission: [
                ...(perms.isPublic ? [{ group: 'all' }] : []),
                ...perms.projects.map((p) => ({ userId: p })),
              ],
            }
          : { productCodes: [] }),
      };
    },

    ModifySnapshotAttribute: async ({ params, context }) => {
      const attribute = params.string('Attribute', { max: 64 });
      if (attribute === 'productCodes') {
        throw invalid('Snapshots here have no product codes to change.', {
          resource: 'parameter',
          id: 'Attribute',
          reason: 'unsupported',
        });
      }
      if (attribute !== undefined && attribute !== 'createVolumePermission') {
        throw invalidValue('Attribute', attribute, 'It must be createVolumePermission.');
      }
      const change = permissionChange(params);
      if (
        change.add.projects.length === 0 &&
        change.remove.projects.length === 0 &&
        !change.add.all &&
        !change.remove.all
      ) {
        throw missingParameter(
          'CreateVolumePermission (or OperationType with UserId or UserGroup)',
        );
      }
      for (const p of [...change.add.projects, ...change.remove.projects]) {
        if (!ACCOUNT_ID.test(p)) {
          throw invalidValue(
            'UserId',
            p.slice(0, 64),
            'An account here is a project id (32 hex digits, as DescribeSnapshots shows OwnerId).',
          );
        }
      }
      const shown = params.requireString('SnapshotId', { max: 64 });
      const row = await one(context, shown);
      await snapshots.changePermissions(context, row, shown, change);
      return { return: true };
    },

    ResetSnapshotAttribute: async ({ params, context }) => {
      attributeOf(params, ['createVolumePermission']);
      const shown = params.requireString('SnapshotId', { max: 64 });
      const row = await one(context, shown);
      await snapshots.changePermissions(context, row, shown, { reset: true });
      return { return: true };
    },
  };
}

/**
 * The shares a ModifySnapshotAttribute asks to change: `CreateVolumePermission.Add.N` /
 * `.Remove.N` (UserId or Group=all), or the older `OperationType` add|remove with `UserId.N`
 * / `UserGroup.N`.
 */
function permissionChange(params: Params): {
  add: { projects: string[]; all: boolean };
  remove: { projects: string[]; all: boolean };
} {
  const out = {
    add: { projects: [] as string[], all: false },
    remove: { projects: [] as string[], all: false },
  };
  for (const side of ['Add', 'Remove'] as const) {
    const into = side === 'Add' ? out.add : out.remove;
    for (const item of params.structs(`CreateVolumePermission.${side}`)) {
      const user = item.string('UserId', { max: 64 });
      const group = item.string('Group', { max: 16 });
      if (group !== undefined && group !== 'all') {
        throw invalidValue(`CreateVolumePermission.${side}.N.Group`, group, "It must be 'all'.");
      }
      if (user === undefined && group === undefined) {
        throw missingParameter(`CreateVolumePermission.${side}.N.UserId or Group`);
      }
      if (user !== undefined) into.projects.push(user);
      if (group === 'all') into.all = true;
    }
  }
  const users = params.list('UserId');
  const groups = params.list('UserGroup');
  const operation = params.enumOf('OperationType', ['add', 'remove'] as const);
  if (users.length > 0 || groups.length > 0 || operation !== undefined) {
    if (operation === undefined) throw missingParameter('OperationType');
    const into = operation === 'add' ? out.add : out.remove;
    into.projects.push(...users);
    for (const g of groups) {
      if (g !== 'all') throw invalidValue('UserGroup', g, "It must be 'all'.");
      into.all = true;
    }
  }
  return out;
}
