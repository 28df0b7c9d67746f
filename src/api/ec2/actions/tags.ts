// Tag actions: CreateTags, DeleteTags, DescribeTags, on instances, images, security groups, key
// pairs, Elastic IP allocations, launch templates, placement groups, volumes and snapshots. A resource is tagged in the project that owns it; callers
// reach only their own project's resources (admins every project's).
import type { ImageKind } from '../../../db/index.js';
import { invalid } from '../../../errors.js';
import { checkTags } from '../../../text-rules.js';
import type { TagEntry, TaggableRef, TaggableType } from '../../../tags/index.js';
import type { Ec2ActionTable } from '../action.js';
import { applyFilters } from '../filters.js';
import { ec2Id, parseEc2Id } from '../../../ids/index.js';
import { missingParameter, type Params } from '../params.js';
import type { Ec2Deps } from './deps.js';
import { pageOffset, pageToken } from '../paging.js';

const MAX_PAGE = 1000;

/** EC2 id prefixes of taggable resources. */
const PREFIXES: Record<string, { type: TaggableType; imageKind?: ImageKind }> = {
  i: { type: 'instance' },
  ami: { type: 'image', imageKind: 'machine' },
  aki: { type: 'image', imageKind: 'kernel' },
  ari: { type: 'image', imageKind: 'ramdisk' },
  sg: { type: 'security-group' },
  key: { type: 'key-pair' },
  eipalloc: { type: 'elastic-ip' },
  lt: { type: 'launch-template' },
  pg: { type: 'placement-group' },
  vol: { type: 'volume' },
  vpc: { type: 'vpc' },
  subnet: { type: 'subnet' },
  igw: { type: 'internet-gateway' },
  rtb: { type: 'route-table' },
  eni: { type: 'network-interface' },
  snap: { type: 'snapshot' },
};
const IMAGE_PREFIX: Record<ImageKind, string> = { machine: 'ami', kernel: 'aki', ramdisk: 'ari' };
const TYPE_PREFIX: Record<Exclude<TaggableType, 'image'>, string> = {
  instance: 'i',
  'security-group': 'sg',
  'key-pair': 'key',
  'elastic-ip': 'eipalloc',
  'launch-template': 'lt',
  'placement-group': 'pg',
  vpc: 'vpc',
  subnet: 'subnet',
  'internet-gateway': 'igw',
  'route-table': 'rtb',
  'network-interface': 'eni',
  volume: 'vol',
  snapshot: 'snap',
};

/** A resource id as EC2 shows it, with the type and id prefix the tag service resolves. */
function taggableRef(shown: string): TaggableRef {
  const dash = shown.indexOf('-');
  const prefix = dash > 0 ? shown.slice(0, dash) : '';
  if (!Object.prototype.hasOwnProperty.call(PREFIXES, prefix)) {
    throw invalid(`The ID '${shown.slice(0, 64)}' is not valid.`, {
      resource: 'resource',
      id: shown,
      reason: 'malformed',
    });
  }
  const spec = PREFIXES[prefix] as (typeof PREFIXES)[string];
  const idPrefix = parseEc2Id(shown, [prefix], 'resource').uuidPrefix;
  return { type: spec.type, idPrefix, imageKind: spec.imageKind, shown };
}

/** The EC2 id of a tagged resource. */
function shownId(t: TagEntry): string {
  const prefix =
    t.resourceType === 'image'
      ? IMAGE_PREFIX[t.imageKind ?? 'machine']
      : TYPE_PREFIX[t.resourceType as Exclude<TaggableType, 'image'>];
  return ec2Id(prefix, t.resourceId);
}

export function tagActions({ tags }: Ec2Deps): Ec2ActionTable {
  const resourceIds = (params: Params): string[] => {
    const ids = params.list('ResourceId');
    if (ids.length === 0) throw missingParameter('ResourceId');
    return [...new Set(ids)];
  };

  return {
    CreateTags: async ({ params, context }) => {
      const ids = resourceIds(params);
      const given = params.tags('Tag');
      if (given.length === 0) throw missingParameter('Tag');
      checkTags(given);
      await tags.create(context, ids.map(taggableRef), given);
      return { return: true };
    },

    DeleteTags: async ({ params, context }) => {
      const ids = resourceIds(params);
      // A Value that is given, even empty, must match; a Key alone removes whatever value.
      const given = params.structs('Tag').map((t) => ({
        key: t.requireString('Key', { max: 128 }),
        value: t.string('Value', { max: 256 }),
      }));
      checkKeys(given.map((t) => t.key));
      await tags.delete(context, ids.map(taggableRef), given);
      return { return: true };
    },

    DescribeTags: async ({ params, context }) => {
      const maxResults = params.int('MaxResults', { min: 5, max: MAX_PAGE });
      const offset = pageOffset(params.string('NextToken', { max: 1024 }));
      const filters = params.filters();
      const live = await tags.list(context);
      const matched = applyFilters(
        live,
        filters,
        {
          key: (r) => r.key,
          value: (r) => r.value,
          'resource-id': shownId,
          'resource-type': (r) => r.resourceType,
        },
        { tags: (r) => [{ key: r.key, value: r.value }] },
      );
      const end = maxResults === undefined ? matched.length : offset + maxResults;
      return {
        tagSet: matched.slice(offset, end).map((r) => ({
          resourceId: shownId(r),
          resourceType: r.resourceType,
          key: r.key,
          value: r.value,
        })),
        nextToken: end < matched.length ? pageToken(end) : undefined,
      };
    },
  };
}

/** EC2's key rules beyond length: keys starting with 'aws:' belong to AWS-style tooling. */
function checkKeys(keys: readonly string[]): void {
  for (const key of keys) {
    if (key.toLowerCase().startsWith('aws:')) {
      throw invalid(`Tag keys starting with 'aws:' are reserved for internal use: ${key}`, {
        resource: 'parameter',
        id: 'Tag.Key',
      });
    }
  }
}
