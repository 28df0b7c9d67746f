// Tags: key/value pairs on instances, images, security groups, key pairs, floating-address
// allocations and launch templates. A tag is kept in the project that owns its resource; a caller reaches only its
// own project's resources (an admin every project's). This service is the one place tags change
// after their resource was created (owners write the tags given at creation in their own
// transaction), and it holds the per-resource limit.
import { isAdmin, type RequestContext } from '../context.js';
import {
  FloatingIpRepo,
  ImageRepo,
  InstanceRepo,
  KeypairRepo,
  LaunchTemplateRepo,
  SecurityGroupRepo,
  ServerGroupRepo,
  TagRepo,
  VolumeRepo,
  SnapshotRepo,
  type Db,
  type ImageKind,
  type TagRow,
} from '../db/index.js';
import { notFound, StratusError, type ErrorResource } from '../errors.js';
import { checkTags } from '../text-rules.js';

/** The most tags one resource may carry (EC2's limit). */
export const MAX_TAGS_PER_RESOURCE = 50;

/** The kinds of resources that carry tags, as tag rows name them. */
export type TaggableType =
  | 'instance'
  | 'image'
  | 'security-group'
  | 'key-pair'
  | 'elastic-ip'
  | 'launch-template'
  | 'placement-group'
  | 'volume'
  | 'snapshot'
  | 'vpc'
  | 'subnet'
  | 'internet-gateway'
  | 'route-table'
  | 'network-interface';

export interface Tag {
  key: string;
  value: string;
}

/** A resource a request names: its type and the leading characters of its id. */
export interface TaggableRef {
  type: TaggableType;
  idPrefix: string;
  /** For images: the kind the caller's id says it is; another kind does not match. */
  imageKind?: ImageKind | undefined;
  /** The id as the caller wrote it, for messages. */
  shown: string;
}

/** A resource found for a ref: its full id and the project its tags are kept in. */
export interface TaggedResource {
  type: TaggableType;
  id: string;
  projectId: string;
  shown: string;
}

/** A tag on a resource that still exists; `imageKind` is set for images. */
export interface TagEntry extends TagRow {
  imageKind?: ImageKind;
}

export interface TagServiceOptions {
  db: Db;
  /** How long a terminated instance stays visible (and taggable). */
  terminatedVisibleMs: number;
}

/** The domain resource names of each type, as not-found errors carry them. */
const RESOURCE: Record<TaggableType, { resource: ErrorResource; what: string }> = {
  instance: { resource: 'instance', what: 'instance ID' },
  image: { resource: 'image', what: 'image ID' },
  'security-group': { resource: 'security_group', what: 'security group' },
  'key-pair': { resource: 'keypair', what: 'key pair ID' },
  'elastic-ip': { resource: 'allocation', what: 'allocation ID' },
  'launch-template': { resource: 'launch_template', what: 'launch template ID' },
  'placement-group': { resource: 'server_group', what: 'placement group ID' },
  volume: { resource: 'volume', what: 'volume' },
  snapshot: { resource: 'snapshot', what: 'snapshot' },
  vpc: { resource: 'network', what: 'vpc ID' },
  subnet: { resource: 'subnet', what: 'subnet ID' },
  'internet-gateway': { resource: 'internet_gateway', what: 'internetGateway ID' },
  'route-table': { resource: 'router', what: 'routeTable ID' },
  'network-interface': { resource: 'port', what: 'networkInterface ID' },
};

/** The table each network resource type lives in (the project network model's, and 0037's). */
const NETWORK_TABLES = {
  vpc: 'projectNetworks',
  subnet: 'projectSubnets',
  'internet-gateway': 'internetGateways',
  'route-table': 'projectRouters',
  'network-interface': 'projectPorts',
} as const;

type NetworkTaggable = keyof typeof NETWORK_TABLES;

/** Ids looked up per query when listing. */
const BATCH = 200;

export class TagService {
  readonly #opts: TagServiceOptions;
  readonly #tags: TagRepo;

  constructor(options: TagServiceOptions) {
    this.#opts = options;
    this.#tags = new TagRepo(options.db);
  }

  /**
   * Finds each resource among those the caller may reach; the first one missing (or another
   * project's, for a non-admin) is `not_found`, naming it as the caller wrote it.
   */
  async resolve(ctx: RequestContext, refs: readonly TaggableRef[]): Promise<TaggedResource[]> {
    const projectId = isAdmin(ctx) ? undefined : callerProject(ctx);
    const out: TaggedResource[] = [];
    for (const ref of refs) {
      const found = await this.#findOne(ctx, ref, projectId);
      if (!found) {
        const { resource, what } = RESOURCE[ref.type];
        throw notFound(resource, ref.shown, `The ${what} '${ref.shown}' does not exist.`);
      }
      out.push({ type: ref.type, id: found.id, projectId: found.projectId, shown: ref.shown });
    }
    return out;
  }

  /**
   * Sets tags on resources the caller may reach: all of them or none. A key given twice keeps
   * its last value; a key a resource has already gets the new value. A resource that would end
   * up with more than MAX_TAGS_PER_RESOURCE tags is refused (`over_quota`, reason `tags`);
   * concurrent requests on one project's resources are counted one at a time.
   */
  async create(
    ctx: RequestContext,
    refs: readonly TaggableRef[],
    tags: readonly Tag[],
  ): Promise<TaggedResource[]> {
    const wanted = [...new Map(tags.map((t) => [t.key, t.value])).entries()];
    if (wanted.length > MAX_TAGS_PER_RESOURCE) throw tooMany(refs[0]?.shown ?? 'resource');
    checkTags(tags);
    const resources = await this.resolve(ctx, refs);
    await this.#put(resources, wanted);
    return resources;
  }

  /**
   * Sets tags on resources already found (an owner's view of its own resource: the Compute API
   * names a server by its `Name` tag), under the same limit as `create`.
   */
  async put(resources: readonly TaggedResource[], tags: readonly Tag[]): Promise<void> {
    checkTags(tags);
    await this.#put(resources, [...new Map(tags.map((t) => [t.key, t.value])).entries()]);
  }

  /**
   * Removes tags from resources the caller may reach. A tag with a value is removed only if it
   * has exactly that value (the empty string included); without one, whatever its value; with
   * no tags given, every tag of each resource. Removing a tag that is not there is no error.
   */
  async delete(
    ctx: RequestContext,
    refs: readonly TaggableRef[],
    tags: readonly { key: string; value?: string | undefined }[],
  ): Promise<void> {
    const resources = await this.resolve(ctx, refs);
    await this.#opts.db.transaction().execute(async (trx) => {
      const repo = new TagRepo(trx);
      for (const r of resources) {
        if (tags.length === 0) await repo.deleteResource(r.id);
        for (const t of tags) await repo.delete(r.id, t.key, t.value);
      }
    });
  }

  /** The tags of these resources, by resource id, every project's (callers pick theirs). */
  of(resourceIds: readonly string[]): Promise<Map<string, TagRow[]>> {
    return this.#tags.of(resourceIds);
  }

  /**
   * The tags the caller may see (its project's; every project's for an admin) on resources
   * that still exist, by resource type, resource id and key.
   */
  async list(ctx: RequestContext): Promise<TagEntry[]> {
    const rows = await this.#tags.list({
      projectId: isAdmin(ctx) ? undefined : callerProject(ctx),
    });
    const live = await this.#existing(rows);
    return rows.flatMap((r) => {
      const found = live.get(r.resourceId);
      if (!found) return [];
      return [found.imageKind ? { ...r, imageKind: found.imageKind } : { ...r }];
    });
  }

  async #put(resources: readonly TaggedResource[], wanted: [string, string][]): Promise<void> {
    await this.#opts.db.transaction().execute(async (trx) => {
      for (const p of [...new Set(resources.map((r) => r.projectId))].sort())
        await lockProject(trx, p);
      const repo = new TagRepo(trx);
      const current = await repo.of(resources.map((r) => r.id));
      for (const r of resources) {
        // The cloud's own `aws:` tags (a launch template's, on its instances) do not count, as
        // on EC2.
        const keys = new Set(
          (current.get(r.id) ?? []).map((t) => t.key).filter((k) => !isSystemKey(k)),
        );
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
  }

  async #findOne(
    ctx: RequestContext,
    ref: TaggableRef,
    projectId: string | undefined,
  ): Promise<{ id: string; projectId: string } | undefined> {
    const db = this.#opts.db;
    switch (ref.type) {
      case 'instance': {
        const [row] = await new InstanceRepo(db).list({
          projectId,
          idPrefixes: [ref.idPrefix],
          terminatedSince: Date.now() - this.#opts.terminatedVisibleMs,
        });
        return row && { id: row.id, projectId: row.projectId };
      }
      case 'image': {
        const rows = await new ImageRepo(db).list({
          idPrefixes: [ref.idPrefix],
          kind: ref.imageKind,
        });
        const row = rows.find((r) => projectId === undefined || r.ownerProjectId === projectId);
        // The cloud's own images are tagged in the tagging admin's project.
        return row && { id: row.id, projectId: row.ownerProjectId ?? callerProject(ctx) };
      }
      case 'security-group': {
        const [row] = await new SecurityGroupRepo(db).list({
          projectId,
          idPrefixes: [ref.idPrefix],
        });
        return row && { id: row.id, projectId: row.projectId };
      }
      case 'key-pair': {
        const [row] = await new KeypairRepo(db).list({ projectId, idPrefixes: [ref.idPrefix] });
        return row && { id: row.id, projectId: row.projectId };
      }
      case 'launch-template': {
        const [row] = await new LaunchTemplateRepo(db).list({
          projectId,
          idPrefixes: [ref.idPrefix],
        });
        return row && { id: row.id, projectId: row.projectId };
      }
      case 'elastic-ip': {
        const [row] = await new FloatingIpRepo(db).list({
          projectId,
          allocationPrefixes: [ref.idPrefix],
        });
        return row?.allocationId
          ? { id: row.allocationId, projectId: row.projectId as string }
          : undefined;
      }
      case 'placement-group': {
        const [row] = await new ServerGroupRepo(db).list({
          projectId,
          idPrefixes: [ref.idPrefix],
        });
        return row && { id: row.id, projectId: row.projectId };
      }
      case 'volume': {
        const [row] = await new VolumeRepo(db).list({ projectId, idPrefixes: [ref.idPrefix] });
        return row && { id: row.id, projectId: row.projectId };
      }
      case 'snapshot': {
        // Only the owner tags a snapshot, even one shared with others.
        const [row] = await new SnapshotRepo(db).list({
          ...(projectId !== undefined ? { projectId, ownOnly: true } : {}),
          idPrefixes: [ref.idPrefix],
        });
        return row && { id: row.id, projectId: row.projectId };
      }
      case 'vpc':
      case 'subnet':
      case 'internet-gateway':
      case 'route-table':
      case 'network-interface': {
        let q = db
          .selectFrom(NETWORK_TABLES[ref.type])
          .select(['id', 'projectId'])
          .where('id', 'like', `${ref.idPrefix}%`);
        if (projectId !== undefined) q = q.where('projectId', '=', projectId);
        const row = await q.orderBy('id').executeTakeFirst();
        if (row || ref.type !== 'route-table')
          return row && { id: row.id, projectId: row.projectId };
        // A route table is a VPC's router or one CreateRouteTable made (migration 0040).
        let made = db
          .selectFrom('vpcRouteTables')
          .select(['id', 'projectId'])
          .where('id', 'like', `${ref.idPrefix}%`);
        if (projectId !== undefined) made = made.where('projectId', '=', projectId);
        return made.orderBy('id').executeTakeFirst();
      }
    }
  }

  /** The resources behind these tags that still exist, by id (images with their kind). */
  async #existing(
    rows: readonly TagRow[],
  ): Promise<Map<string, { imageKind: ImageKind | undefined }>> {
    const db = this.#opts.db;
    const out = new Map<string, { imageKind: ImageKind | undefined }>();
    const found = (id: string, imageKind?: ImageKind) => out.set(id, { imageKind });
    const ids = (type: TaggableType) => [
      ...new Set(rows.filter((r) => r.resourceType === type).map((r) => r.resourceId)),
    ];
    for (const chunk of chunks(ids('instance'))) {
      const list = await new InstanceRepo(db).list({
        ids: chunk,
        terminatedSince: Date.now() - this.#opts.terminatedVisibleMs,
      });
      for (const r of list) found(r.id);
    }
    for (const chunk of chunks(ids('image')))
      for (const r of await new ImageRepo(db).list({ idPrefixes: chunk })) found(r.id, r.kind);
    for (const chunk of chunks(ids('security-group')))
      for (const r of await new SecurityGroupRepo(db).byIds(chunk)) found(r.id);
    for (const chunk of chunks(ids('key-pair')))
      for (const r of await new KeypairRepo(db).list({ idPrefixes: chunk })) found(r.id);
    for (const chunk of chunks(ids('launch-template')))
      for (const r of await new LaunchTemplateRepo(db).list({ idPrefixes: chunk })) found(r.id);
    for (const chunk of chunks(ids('elastic-ip'))) {
      for (const r of await new FloatingIpRepo(db).list({ allocationPrefixes: chunk }))
        if (r.allocationId) found(r.allocationId);
    }
    for (const chunk of chunks(ids('placement-group')))
      for (const r of await new ServerGroupRepo(db).list({ idPrefixes: chunk })) found(r.id);
    for (const chunk of chunks(ids('volume')))
      for (const r of await new VolumeRepo(db).list({ idPrefixes: chunk })) found(r.id);
    for (const chunk of chunks(ids('snapshot')))
      for (const r of await new SnapshotRepo(db).list({ idPrefixes: chunk })) found(r.id);
    for (const type of Object.keys(NETWORK_TABLES) as NetworkTaggable[]) {
      for (const chunk of chunks(ids(type))) {
        const rows = await db
          .selectFrom(NETWORK_TABLES[type])
          .select('id')
          .where('id', 'in', chunk)
          .execute();
        for (const r of rows) found(r.id);
      }
    }
    for (const chunk of chunks(ids('route-table'))) {
      const rows = await db
        .selectFrom('vpcRouteTables')
        .select('id')
        .where('id', 'in', chunk)
        .execute();
      for (const r of rows) found(r.id);
    }
    return out;
  }
}

/** A key under the prefix reserved for the cloud's own tags. */
function isSystemKey(key: string): boolean {
  return key.toLowerCase().startsWith('aws:');
}

function callerProject(ctx: RequestContext): string {
  if (!ctx.projectId) throw new StratusError('forbidden', 'This request needs a project.');
  return ctx.projectId;
}

/** Takes the project's row lock (PostgreSQL); SQLite's BEGIN IMMEDIATE already serialises. */
async function lockProject(db: Db, projectId: string): Promise<void> {
  await db.updateTable('projects').set({ id: projectId }).where('id', '=', projectId).execute();
}

function tooMany(shown: string): StratusError {
  return new StratusError(
    'over_quota',
    `The resource '${shown}' would have more than ${MAX_TAGS_PER_RESOURCE} tags.`,
    { resource: 'tags', id: shown, reason: 'tags' },
  );
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += BATCH) out.push(items.slice(i, i + BATCH));
  return out;
}
