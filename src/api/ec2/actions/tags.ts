// Tag actions: CreateTags, DeleteTags, DescribeTags, on instances, images, security groups, key
// pairs and Elastic IP allocations. A resource is tagged in the project that owns it; callers
// reach only their own project's resources (admins every project's).
import { isAdmin, type RequestContext } from '../../../context.js';
import {
  FloatingIpRepo,
  ImageRepo,
  InstanceRepo,
  SecurityGroupRepo,
  TagRepo,
  type Db,
  type ImageKind,
  type TagRow,
} from '../../../db/index.js';
import { invalid, notFound, StratusError, type ErrorResource } from '../../../errors.js';
import { KeypairService } from '../../../keypairs/index.js';
import type { Ec2ActionTable } from '../action.js';
import { applyFilters } from '../filters.js';
import { ec2Id, parseEc2Id } from '../../../ids/index.js';
import { missingParameter, type Params } from '../params.js';
import type { Ec2Deps } from './deps.js';
import { pageOffset, pageToken } from '../paging.js';

/** The most tags one resource may carry (EC2's limit). */
export const MAX_TAGS_PER_RESOURCE = 50;
const MAX_PAGE = 1000;
const BATCH = 200;

type ResourceType = 'instance' | 'image' | 'security-group' | 'key-pair' | 'elastic-ip';
/** The domain resources behind the taggable types, for their NotFound errors. */
type TaggedResource = Extract<
  ErrorResource,
  'instance' | 'image' | 'security_group' | 'keypair' | 'allocation'
>;

/** EC2 id prefixes of taggable resources, with the resource name their NotFound codes use. */
const PREFIXES: Record<string, { type: ResourceType; resource: TaggedResource; kind?: ImageKind }> =
  {
    i: { type: 'instance', resource: 'instance' },
    ami: { type: 'image', resource: 'image', kind: 'machine' },
    aki: { type: 'image', resource: 'image', kind: 'kernel' },
    ari: { type: 'image', resource: 'image', kind: 'ramdisk' },
    sg: { type: 'security-group', resource: 'security_group' },
    key: { type: 'key-pair', resource: 'keypair' },
    eipalloc: { type: 'elastic-ip', resource: 'allocation' },
  };
const IMAGE_PREFIX: Record<ImageKind, string> = { machine: 'ami', kernel: 'aki', ramdisk: 'ari' };

/** A taggable resource the caller may tag: its domain id and the project it belongs to. */
interface Resource {
  shown: string;
  type: ResourceType;
  id: string;
  projectId: string;
}

export function tagActions(deps: Ec2Deps): Ec2ActionTable {
  const db = deps.db;
  const tags = new TagRepo(db);
  const keypairs = new KeypairService({ db, quota: deps.config.quota });
  const visibleMs = deps.config.compute.terminatedVisibleSeconds * 1000;

  /** Finds each resource; the first one missing (or another project's) is refused. */
  const resolve = async (ctx: RequestContext, shownIds: readonly string[]): Promise<Resource[]> => {
    const projectId = isAdmin(ctx) ? undefined : callerProject(ctx);
    const out: Resource[] = [];
    for (const shown of shownIds) {
      const dash = shown.indexOf('-');
      const spec = dash > 0 ? PREFIXES[shown.slice(0, dash)] : undefined;
      if (!spec || !Object.prototype.hasOwnProperty.call(PREFIXES, shown.slice(0, dash))) {
        throw invalid(`The ID '${shown.slice(0, 64)}' is not valid.`, {
          resource: 'resource',
          id: shown,
          reason: 'malformed',
        });
      }
      const ref = parseEc2Id(shown, [shown.slice(0, dash)], 'resource').uuidPrefix;
      const found = await findOne(ctx, spec.type, ref, projectId, spec.kind);
      if (!found) throw missingResource(spec.resource, shown);
      out.push({ shown, type: spec.type, id: found.id, projectId: found.projectId });
    }
    return out;
  };

  const findOne = async (
    ctx: RequestContext,
    type: ResourceType,
    ref: string,
    projectId: string | undefined,
    kind: ImageKind | undefined,
  ): Promise<{ id: string; projectId: string } | undefined> => {
    switch (type) {
      case 'instance': {
        const [row] = await new InstanceRepo(db).list({
          projectId,
          idPrefixes: [ref],
          terminatedSince: Date.now() - visibleMs,
        });
        return row && { id: row.id, projectId: row.projectId };
      }
      case 'image': {
        const row = (await new ImageRepo(db).list({ idPrefixes: [ref], kind })).find(
          (r) => projectId === undefined || r.ownerProjectId === projectId,
        );
        // The cloud's own images are tagged in the tagging admin's project.
        return row && { id: row.id, projectId: row.ownerProjectId ?? callerProject(ctx) };
      }
      case 'security-group': {
        const [row] = await new SecurityGroupRepo(db).list({ projectId, idPrefixes: [ref] });
        return row && { id: row.id, projectId: row.projectId };
      }
      case 'key-pair': {
        const [row] = await keypairs.list(ctx, { idPrefixes: [ref] });
        return row && { id: row.id, projectId: row.projectId };
      }
      case 'elastic-ip': {
        const [row] = await new FloatingIpRepo(db).list({ projectId, allocationPrefixes: [ref] });
        return row?.allocationId
          ? { id: row.allocationId, projectId: row.projectId as string }
          : undefined;
      }
    }
  };

  /** The EC2 ids of the resources behind these tags that still exist, by domain id. */
  const existing = async (ctx: RequestContext, rows: readonly TagRow[]) => {
    const out = new Map<string, string>();
    const ids = (type: ResourceType) => [
      ...new Set(rows.filter((r) => r.resourceType === type).map((r) => r.resourceId)),
    ];
    for (const chunk of chunks(ids('instance'))) {
      const list = await new InstanceRepo(db).list({
        ids: chunk,
        terminatedSince: Date.now() - visibleMs,
      });
      for (const r of list) out.set(r.id, ec2Id('i', r.id));
    }
    for (const chunk of chunks(ids('image'))) {
      for (const r of await new ImageRepo(db).list({ idPrefixes: chunk }))
        out.set(r.id, ec2Id(IMAGE_PREFIX[r.kind], r.id));
    }
    for (const chunk of chunks(ids('security-group'))) {
      for (const r of await new SecurityGroupRepo(db).byIds(chunk))
        out.set(r.id, ec2Id('sg', r.id));
    }
    for (const chunk of chunks(ids('key-pair'))) {
      for (const r of await keypairs.list(ctx, { idPrefixes: chunk }))
        out.set(r.id, ec2Id('key', r.id));
    }
    for (const chunk of chunks(ids('elastic-ip'))) {
      for (const r of await new FloatingIpRepo(db).list({ allocationPrefixes: chunk }))
        if (r.allocationId) out.set(r.allocationId, ec2Id('eipalloc', r.allocationId));
    }
    return out;
  };

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
      checkKeys(given.map((t) => t.key));
      // A key given twice keeps its last value, as a later CreateTags would.
      const wanted = [...new Map(given.map((t) => [t.key, t.value])).entries()];
      if (wanted.length > MAX_TAGS_PER_RESOURCE) throw tooMany(ids[0] as string);
      const resources = await resolve(context, ids);
      await db.transaction().execute(async (trx) => {
        // Concurrent CreateTags on one project's resources are counted one at a time.
        for (const p of [...new Set(resources.map((r) => r.projectId))].sort())
          await lockProject(trx, p);
        const repo = new TagRepo(trx);
        const current = await repo.of(resources.map((r) => r.id));
        for (const r of resources) {
          const keys = new Set((current.get(r.id) ?? []).map((t) => t.key));
          for (const [key] of wanted) keys.add(key);
          if (keys.size > MAX_TAGS_PER_RESOURCE) throw tooMany(r.shown);
        }
        await repo.put(
          resources.flatMap((r) =>
            wanted.map(([key, value]) => ({
              resourceId: r.id,
              resourceType: r.type,
              projectId: r.projectId,
              key,
              value,
            })),
          ),
        );
      });
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
      const resources = await resolve(context, ids);
      await db.transaction().execute(async (trx) => {
        const repo = new TagRepo(trx);
        for (const r of resources) {
          if (given.length === 0) await repo.deleteResource(r.id);
          for (const t of given) await repo.delete(r.id, t.key, t.value);
        }
      });
      return { return: true };
    },

    DescribeTags: async ({ params, context }) => {
      const maxResults = params.int('MaxResults', { min: 5, max: MAX_PAGE });
      const offset = pageOffset(params.string('NextToken', { max: 1024 }));
      const filters = params.filters();
      const rows = await tags.list({
        projectId: isAdmin(context) ? undefined : callerProject(context),
      });
      const shownIds = await existing(context, rows);
      const live = rows.filter((r) => shownIds.has(r.resourceId));
      const shown = (r: TagRow) => shownIds.get(r.resourceId) as string;
      const matched = applyFilters(
        live,
        filters,
        {
          key: (r) => r.key,
          value: (r) => r.value,
          'resource-id': shown,
          'resource-type': (r) => r.resourceType,
        },
        { tags: (r) => [{ key: r.key, value: r.value }] },
      );
      const end = maxResults === undefined ? matched.length : offset + maxResults;
      return {
        tagSet: matched.slice(offset, end).map((r) => ({
          resourceId: shown(r),
          resourceType: r.resourceType,
          key: r.key,
          value: r.value,
        })),
        nextToken: end < matched.length ? pageToken(end) : undefined,
      };
    },
  };
}

function callerProject(ctx: RequestContext): string {
  if (!ctx.projectId) throw new StratusError('forbidden', 'This request needs a project.');
  return ctx.projectId;
}

async function lockProject(db: Db, projectId: string): Promise<void> {
  await db.updateTable('projects').set({ id: projectId }).where('id', '=', projectId).execute();
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

function tooMany(shown: string): StratusError {
  return new StratusError(
    'over_quota',
    `The resource '${shown}' would have more than ${MAX_TAGS_PER_RESOURCE} tags.`,
    { resource: 'tags', id: shown, reason: 'tags' },
  );
}

function missingResource(resource: TaggedResource, shown: string): StratusError {
  const what: Record<TaggedResource, string> = {
    instance: 'instance ID',
    image: 'image ID',
    security_group: 'security group',
    keypair: 'key pair ID',
    allocation: 'allocation ID',
  };
  return notFound(resource, shown, `The ${what[resource]} '${shown}' does not exist.`);
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += BATCH) out.push(items.slice(i, i + BATCH));
  return out;
}
