// Placement group actions: CreatePlacementGroup, DescribePlacementGroups, DeletePlacementGroup.
// A placement group is a server group (the same rows the Compute API's os-server-groups
// shows): strategy `cluster` is the affinity policy (one host), `spread` anti-affinity with one
// instance per host (EC2 spreads over racks, at most seven per zone; here each instance of the
// group gets a host of its own). `partition` is refused. Names are unique per project, as EC2
// has them; the group's id on the wire is `pg-` and the UUID's first 17 hex digits.
import type { RequestContext } from '../../../context.js';
import type { ServerGroupPolicy, ServerGroupRow } from '../../../compute/index.js';
import { notFound, StratusError } from '../../../errors.js';
import { ec2Id, parseEc2Id } from '../../../ids/index.js';
import { SERVER_GROUP_NAME } from '../../../text-rules.js';
import type { Ec2ActionTable } from '../action.js';
import { applyFilters } from '../filters.js';
import { invalidValue, missingParameter, type Params } from '../params.js';
import { checkTags } from './instances.js';
import type { Ec2Deps } from './deps.js';

/** The tag rows' resource type of a placement group. */
const TAG_TYPE = 'placement-group';

/** EC2's strategies and the policies they are; only the hard policies are placement groups. */
const POLICY_OF = { cluster: 'affinity', spread: 'anti-affinity' } as const;
const STRATEGY_OF: Partial<Record<ServerGroupPolicy, keyof typeof POLICY_OF>> = {
  affinity: 'cluster',
  'anti-affinity': 'spread',
};
const PLACEMENT_POLICIES: ServerGroupPolicy[] = ['affinity', 'anti-affinity'];

export function placementGroupEc2Id(id: string): string {
  return ec2Id('pg', id);
}

/** Spread here is one instance per host. */
const SPREAD_LEVEL = 'host';

function unknownGroup(shown: string): StratusError {
  return notFound('server_group', shown, `The Placement Group '${shown}' is unknown.`);
}

/**
 * The caller's placement group named by `name` or by `pg-` id (the oldest, should the
 * Compute API have made two of one name); InvalidPlacementGroup.Unknown when there is none.
 */
export async function findPlacementGroup(
  deps: Pick<Ec2Deps, 'serverGroups'>,
  ctx: RequestContext,
  by: { name?: string | undefined; id?: string | undefined },
): Promise<ServerGroupRow> {
  const rows = await deps.serverGroups.list(ctx, {
    policies: PLACEMENT_POLICIES,
    ...(by.name !== undefined ? { names: [by.name] } : {}),
    ...(by.id !== undefined
      ? { idPrefixes: [parseEc2Id(by.id, ['pg'], 'server_group').uuidPrefix] }
      : {}),
  });
  const row = rows[0];
  if (!row) throw unknownGroup(by.name ?? by.id ?? '');
  return row;
}

export function placementGroupActions(deps: Ec2Deps): Ec2ActionTable {
  const { serverGroups, tags } = deps;

  const tagsFor = (params: Params) => {
    const list = params
      .tagSpecifications()
      .filter((s) => {
        if (s.resourceType !== TAG_TYPE)
          throw invalidValue(
            'TagSpecification.ResourceType',
            s.resourceType,
            `It must be '${TAG_TYPE}'.`,
          );
        return true;
      })
      .flatMap((s) => s.tags);
    checkTags(list);
    return list;
  };

  const view = (g: ServerGroupRow, tagList: { key: string; value: string }[], region: string) => ({
    groupName: g.name,
    state: 'available',
    strategy: STRATEGY_OF[g.policy],
    groupId: placementGroupEc2Id(g.id),
    tagSet: tagList,
    groupArn: `arn:aws:ec2:${region}:${g.projectId}:placement-group/${g.name}`,
    spreadLevel: g.policy === 'anti-affinity' ? SPREAD_LEVEL : undefined,
  });

  const tagsOf = async (rows: readonly ServerGroupRow[]) => {
    const map = await tags.of(rows.map((r) => r.id));
    return (r: ServerGroupRow) =>
      (map.get(r.id) ?? []).map((t) => ({ key: t.key, value: t.value }));
  };

  return {
    CreatePlacementGroup: async ({ params, context }) => {
      const name = params.requireString('GroupName', { max: 255 });
      const raw = params.string('Strategy', { max: 32 });
      if (raw === undefined) throw missingParameter('Strategy');
      if (raw === 'partition') {
        throw new StratusError(
          'invalid',
          "The placement strategy 'partition' is not supported by this cloud; use 'cluster' (all instances on one host) or 'spread' (each instance on a host of its own).",
          { resource: 'parameter', id: 'Strategy', reason: 'unsupported' },
        );
      }
      if (raw !== 'cluster' && raw !== 'spread') {
        throw invalidValue('Strategy', raw, "It must be 'cluster', 'spread' or 'partition'.");
      }
      if (params.string('PartitionCount', { max: 16 }) !== undefined) {
        throw invalidValue(
          'PartitionCount',
          params.string('PartitionCount') as string,
          "It is valid only with the 'partition' strategy.",
        );
      }
      const spreadLevel = params.string('SpreadLevel', { max: 16 });
      if (spreadLevel !== undefined) {
        if (raw !== 'spread') {
          throw invalidValue('SpreadLevel', spreadLevel, "It is valid only with 'spread'.");
        }
        if (spreadLevel !== SPREAD_LEVEL) {
          throw new StratusError(
            'invalid',
            `The spread level '${spreadLevel}' is not supported by this cloud: a spread group places each instance on a host of its own ('host').`,
            { resource: 'parameter', id: 'SpreadLevel', reason: 'unsupported' },
          );
        }
      }
      const row = await serverGroups.create(context, {
        name,
        policy: POLICY_OF[raw],
        uniqueName: true,
        nameRule: { ...SERVER_GROUP_NAME, what: 'placement group name', ascii: true },
        tags: { resourceType: TAG_TYPE, tags: tagsFor(params) },
      });
      return {
        return: true,
        placementGroup: view(row, (await tagsOf([row]))(row), deps.config.region),
      };
    },

    DescribePlacementGroups: async ({ params, context }) => {
      const names = params.list('GroupName');
      const shownIds = params.list('GroupId');
      const idPrefixes = shownIds.map((id) => parseEc2Id(id, ['pg'], 'server_group').uuidPrefix);
      const rows = await serverGroups.list(context, {
        policies: PLACEMENT_POLICIES,
        names,
        idPrefixes,
      });
      for (const name of names) {
        if (!rows.some((r) => r.name === name)) throw unknownGroup(name);
      }
      for (const [i, id] of shownIds.entries()) {
        if (!rows.some((r) => r.id.startsWith(idPrefixes[i] as string))) throw unknownGroup(id);
      }
      const tagList = await tagsOf(rows);
      const matched = applyFilters(
        rows,
        params.filters(),
        {
          'group-name': (r) => r.name,
          'group-id': (r) => placementGroupEc2Id(r.id),
          'group-arn': (r) => view(r, [], deps.config.region).groupArn,
          strategy: (r) => STRATEGY_OF[r.policy],
          state: () => 'available',
          'spread-level': (r) => (r.policy === 'anti-affinity' ? SPREAD_LEVEL : undefined),
        },
        { tags: tagList },
      );
      return {
        placementGroupSet: matched.map((r) => view(r, tagList(r), deps.config.region)),
      };
    },

    DeletePlacementGroup: async ({ params, context }) => {
      const name = params.requireString('GroupName', { max: 255 });
      const row = await findPlacementGroup(deps, context, { name });
      await serverGroups.delete(context, row.id, { whileInUse: 'refuse' });
      return { return: true };
    },
  };
}
