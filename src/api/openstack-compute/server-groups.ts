// Server groups (os-server-groups): list (all_projects for admins, limit/offset), create,
// show and delete, in the fields of the microversion asked for: through 2.63 a group has a
// list of `policies` (one of them) and `metadata`; 2.13 adds its project and user; 2.64
// replaces the list with `policy` and its `rules`. The soft policies exist from 2.15. The
// scheduler keeps each group's policy for the servers created with the `group` hint.
import { isAdmin } from '../../context.js';
import {
  parseGroupRules,
  SERVER_GROUP_POLICIES,
  type ServerGroupPolicy,
  type ServerGroupRow,
} from '../../compute/index.js';
import { invalid, notFound } from '../../errors.js';
import { atLeast, type Microversion } from './microversion.js';
import { queryOf, type RouteDeps } from './routes.js';
import { bad, object, onlyKeys } from './requests.js';

/** The request to create a group, checked. */
export interface CreateServerGroup {
  name: string;
  policy: ServerGroupPolicy;
  maxServerPerHost: number | undefined;
}

/** The policies a request may name at microversion `v`: the soft ones from 2.15. */
function policiesAt(v: Microversion): readonly ServerGroupPolicy[] {
  return atLeast(v, 15) ? SERVER_GROUP_POLICIES : ['affinity', 'anti-affinity'];
}

function policyOf(value: unknown, v: Microversion, what: string): ServerGroupPolicy {
  const allowed = policiesAt(v);
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw bad(
      `Invalid input for field/attribute ${what}. Value: ${JSON.stringify(value)}. It must be one of ${allowed.map((p) => `'${p}'`).join(', ')}.`,
    );
  }
  return value as ServerGroupPolicy;
}

/**
 * `{"server_group": {"name", "policies": [one policy]}}` through 2.63; from 2.64
 * `{"server_group": {"name", "policy", "rules"?}}`, rules only for anti-affinity.
 */
export function parseCreateServerGroup(body: unknown, v: Microversion): CreateServerGroup {
  const top = object(body, 'the request body');
  onlyKeys(top, ['server_group'], 'the request body');
  if (top.server_group === undefined) {
    throw bad("Invalid input: 'server_group' is a required property.");
  }
  const g = object(top.server_group, 'server_group');
  const modern = atLeast(v, 64);
  onlyKeys(g, modern ? ['name', 'policy', 'rules'] : ['name', 'policies'], 'server_group');
  const name = g.name;
  if (typeof name !== 'string' || name.length < 1 || name.length > 255) {
    throw bad(
      name === undefined
        ? "Invalid input: 'name' is a required property."
        : 'Invalid input for field/attribute name. It must be a string of 1 to 255 characters.',
    );
  }
  if (!modern) {
    const list = g.policies;
    if (list === undefined) throw bad("Invalid input: 'policies' is a required property.");
    if (!Array.isArray(list) || list.length !== 1) {
      throw bad('Invalid input for field/attribute policies. It must be a list of one policy.');
    }
    return { name, policy: policyOf(list[0], v, 'policies'), maxServerPerHost: undefined };
  }
  if (g.policy === undefined) throw bad("Invalid input: 'policy' is a required property.");
  const policy = policyOf(g.policy, v, 'policy');
  let maxServerPerHost: number | undefined;
  if (g.rules !== undefined) {
    const rules = object(g.rules, 'rules');
    onlyKeys(rules, ['max_server_per_host'], 'rules');
    const raw = rules.max_server_per_host;
    if (raw !== undefined) {
      const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
        throw bad(
          'Invalid input for field/attribute max_server_per_host. It must be a positive integer.',
        );
      }
      if (policy !== 'anti-affinity') {
        throw bad("Only the 'anti-affinity' policy takes the rule max_server_per_host.");
      }
      maxServerPerHost = n;
    }
  }
  return { name, policy, maxServerPerHost };
}

/** A group in the fields of microversion `v`. */
export function serverGroupView(g: ServerGroupRow, members: readonly string[], v: Microversion) {
  const rules = parseGroupRules(g.rules);
  return {
    id: g.id,
    name: g.name,
    ...(atLeast(v, 64)
      ? {
          policy: g.policy,
          rules:
            rules.maxServerPerHost === undefined
              ? {}
              : { max_server_per_host: rules.maxServerPerHost },
        }
      : { policies: [g.policy], metadata: {} }),
    members: [...members],
    ...(atLeast(v, 13) ? { project_id: g.projectId, user_id: g.userId } : {}),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A non-negative integer query parameter (limit, offset), or undefined when absent. */
function nonNegative(q: Record<string, string>, key: string): number | undefined {
  const raw = q[key];
  if (raw === undefined) return undefined;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw invalid(
      `Invalid input for query parameters ${key}. Value: ${raw}. It must be a non-negative integer.`,
      { resource: 'limit' },
    );
  }
  return n;
}

export function serverGroupRoutes({ app, services, caller }: RouteDeps): void {
  const { serverGroups } = services;
  const find = async (ctx: Parameters<typeof serverGroups.get>[0], id: string) => {
    if (!UUID.test(id)) {
      throw notFound('server_group', id, `Instance group ${id} could not be found.`);
    }
    return serverGroups.get(ctx, id.toLowerCase());
  };

  app.get('/v2.1/os-server-groups', async (request) => {
    const ctx = await caller(request);
    const q = queryOf(request);
    const limit = nonNegative(q, 'limit');
    const offset = nonNegative(q, 'offset') ?? 0;
    // Every project's groups for an admin who asks; anyone else sees their own project's.
    const asked = q.all_projects ?? q.all_tenants;
    const all = isAdmin(ctx) && asked !== undefined && !['0', 'false', 'False'].includes(asked);
    const rows = await serverGroups.list(ctx, { allProjects: all });
    const page = rows.slice(offset, limit === undefined ? undefined : offset + limit);
    const members = await serverGroups.members(page.map((g) => g.id));
    return {
      server_groups: page.map((g) =>
        serverGroupView(g, members.get(g.id) ?? [], request.microversion),
      ),
    };
  });

  app.post('/v2.1/os-server-groups', async (request) => {
    const ctx = await caller(request);
    const req = parseCreateServerGroup(request.body, request.microversion);
    const row = await serverGroups.create(ctx, {
      name: req.name,
      policy: req.policy,
      ...(req.maxServerPerHost === undefined
        ? {}
        : { rules: { maxServerPerHost: req.maxServerPerHost } }),
    });
    return { server_group: serverGroupView(row, [], request.microversion) };
  });

  app.get<{ Params: { id: string } }>('/v2.1/os-server-groups/:id', async (request) => {
    const ctx = await caller(request);
    const row = await find(ctx, request.params.id);
    const members = (await serverGroups.members([row.id])).get(row.id) ?? [];
    return { server_group: serverGroupView(row, members, request.microversion) };
  });

  app.delete<{ Params: { id: string } }>('/v2.1/os-server-groups/:id', async (request, reply) => {
    const ctx = await caller(request);
    const row = await find(ctx, request.params.id);
    await serverGroups.delete(ctx, row.id);
    reply.code(204).send();
  });
}
