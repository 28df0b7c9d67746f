// Server groups, the request side: create, list, show and delete, with the project's quota.
// One model for the Compute API's server groups and EC2's placement groups (cluster is
// affinity, spread anti-affinity); the scheduler keeps each group's policy when it places a
// member, and launches join a group in their admission (launch-admission.ts).
import { randomUUID } from 'node:crypto';
import { isAdmin, type RequestContext } from '../context.js';
import {
  formatGroupRules,
  idStartsWith,
  QuotaRepo,
  ServerGroupRepo,
  TagRepo,
  type Db,
  type ServerGroupPolicy,
  type ServerGroupRow,
  type ServerGroupRules,
} from '../db/index.js';
import { alreadyExists, invalid, notFound, StratusError } from '../errors.js';
import { effectiveLimits, type QuotaLimits } from '../quota/index.js';
import { checkTags, checkText, SERVER_GROUP_NAME, type TextRule } from '../text-rules.js';

export interface ServerGroupServiceOptions {
  db: Db;
  quota: QuotaLimits;
}

export interface NewServerGroup {
  name: string;
  policy: ServerGroupPolicy;
  rules?: ServerGroupRules;
  /** Refuse a name another group of the project with a hard policy has (EC2's rule). */
  uniqueName?: boolean;
  /** The rule the name is checked against (default: the Compute API's). */
  nameRule?: TextRule;
  /** Tags kept with the group, under this resource type (EC2's placement-group tags). */
  tags?: { resourceType: string; tags: readonly { key: string; value: string }[] };
}

export interface ServerGroupQuery {
  /** Every project's groups (admins only; others see their project's whatever they ask). */
  allProjects?: boolean;
  idPrefixes?: readonly string[];
  names?: readonly string[];
  policies?: readonly ServerGroupPolicy[];
}

/** The most members per host anti-affinity's `max_server_per_host` may allow. */
const MAX_PER_HOST = 1000;

export class ServerGroupService {
  readonly #opts: ServerGroupServiceOptions;
  readonly #groups: ServerGroupRepo;

  constructor(options: ServerGroupServiceOptions) {
    this.#opts = options;
    this.#groups = new ServerGroupRepo(options.db);
  }

  /**
   * Makes a group in the caller's project, within its `serverGroups` quota, counted under the
   * project's row lock so parallel creates cannot pass it together.
   */
  async create(ctx: RequestContext, group: NewServerGroup): Promise<ServerGroupRow> {
    const projectId = requireProject(ctx);
    checkText(group.name, group.nameRule ?? SERVER_GROUP_NAME, 'name');
    const max = group.rules?.maxServerPerHost;
    if (max !== undefined) {
      if (group.policy !== 'anti-affinity') {
        throw invalid(`Only the anti-affinity policy takes the rule max_server_per_host.`, {
          resource: 'server_group',
          reason: 'combination',
        });
      }
      if (!Number.isInteger(max) || max < 1 || max > MAX_PER_HOST) {
        throw invalid(`max_server_per_host must be an integer from 1 to ${MAX_PER_HOST}.`, {
          resource: 'server_group',
        });
      }
    }
    if (group.tags) checkTags(group.tags.tags);
    const row: ServerGroupRow = {
      id: randomUUID(),
      projectId,
      userId: ctx.userId ?? '',
      name: group.name,
      policy: group.policy,
      rules: formatGroupRules(group.rules ?? {}),
      createdAt: Date.now(),
    };
    await this.#opts.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('projects')
        .set({ id: projectId })
        .where('id', '=', projectId)
        .execute();
      const repo = new ServerGroupRepo(trx);
      const limit = effectiveLimits(
        this.#opts.quota,
        await new QuotaRepo(trx).overrides(projectId),
      ).serverGroups;
      if ((await repo.count(projectId)) >= limit) {
        throw new StratusError(
          'over_quota',
          `Quota exceeded for server_groups: the project may have at most ${limit} server groups.`,
          { resource: 'server_groups', reason: 'server_groups' },
        );
      }
      if (group.uniqueName) {
        const same = await repo.list({ projectId, names: [group.name] });
        if (same.some((g) => g.policy === 'affinity' || g.policy === 'anti-affinity')) {
          throw alreadyExists(
            'server_group',
            group.name,
            `The placement group '${group.name}' already exists.`,
          );
        }
      }
      await repo.insert(row);
      if (group.tags && group.tags.tags.length > 0) {
        await new TagRepo(trx).put(
          group.tags.tags.map((t) => ({
            resourceId: row.id,
            resourceType: group.tags?.resourceType ?? 'server-group',
            projectId,
            key: t.key,
            value: t.value,
          })),
        );
      }
    });
    return row;
  }

  /** The caller's groups (every project's for an admin who asks), oldest first. */
  list(ctx: RequestContext, query: ServerGroupQuery = {}): Promise<ServerGroupRow[]> {
    return this.#list(ctx, query);
  }

  async #list(ctx: RequestContext, query: ServerGroupQuery): Promise<ServerGroupRow[]> {
    const all = query.allProjects === true && isAdmin(ctx);
    let q = this.#opts.db.selectFrom('serverGroups').selectAll();
    if (!all) q = q.where('projectId', '=', requireProject(ctx));
    if (query.names && query.names.length > 0) q = q.where('name', 'in', query.names);
    if (query.policies && query.policies.length > 0) q = q.where('policy', 'in', query.policies);
    if (query.idPrefixes && query.idPrefixes.length > 0) {
      const prefixes = query.idPrefixes;
      q = q.where((eb) => idStartsWith(eb, 'id', prefixes));
    }
    return q.orderBy('createdAt').orderBy('id').execute();
  }

  /** The group with this id that the caller may see (its project's; any for an admin). */
  async get(ctx: RequestContext, id: string): Promise<ServerGroupRow> {
    const row = await this.#groups.find(id);
    if (!row || (!isAdmin(ctx) && row.projectId !== ctx.projectId)) {
      throw notFound('server_group', id, `The server group '${id}' does not exist.`);
    }
    return row;
  }

  /**
   * The members of these groups that are not retired (`live`: building, active or stopped
   * only), by group, oldest first.
   */
  members(groupIds: readonly string[], opts: { live?: boolean } = {}) {
    return this.#groups.members(groupIds, opts);
  }

  /** The group of each of these instances that is in one. */
  ofInstances(instanceIds: readonly string[]): Promise<Map<string, ServerGroupRow>> {
    return this.#groups.ofInstances(instanceIds);
  }

  /**
   * Deletes the group; its members stay, in no group. With `whileInUse: 'refuse'` (EC2) a group
   * with live members is refused (`conflict`, in_use), decided under the group's row lock so
   * a launch joining it at the same time either comes first (and the delete is refused) or
   * finds it gone.
   */
  async delete(
    ctx: RequestContext,
    id: string,
    opts: { whileInUse: 'refuse' | 'allow' } = { whileInUse: 'allow' },
  ): Promise<void> {
    const row = await this.get(ctx, id);
    await this.#opts.db.transaction().execute(async (trx) => {
      const repo = new ServerGroupRepo(trx);
      if (!(await repo.hold(row.id))) return;
      if (opts.whileInUse === 'refuse') {
        const live = (await repo.members([row.id], { live: true })).get(row.id) ?? [];
        if (live.length > 0) {
          throw new StratusError(
            'conflict',
            `The placement group '${row.name}' is in use and may not be deleted.`,
            { resource: 'server_group', id: row.id, reason: 'in_use' },
          );
        }
      }
      await repo.delete(row.id);
      await trx.deleteFrom('tags').where('resourceId', '=', row.id).execute();
    });
  }
}

function requireProject(ctx: RequestContext): string {
  if (!ctx.projectId) throw new StratusError('forbidden', 'This request needs a project.');
  return ctx.projectId;
}
