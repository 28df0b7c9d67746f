// Security groups through the Compute API: os-security-groups (list, show, create, update,
// delete), os-security-group-rules (create, delete), a server's groups
// (`/servers/{id}/os-security-groups`) and the addSecurityGroup/removeSecurityGroup actions.
// They are views of the same groups EC2 shows (a rule from a group is EC2's source group);
// every change goes to the network service, which carries it to every host's firewall.
// Statuses follow the Compute API reference: a duplicate name, a bad rule, or a group that
// cannot be deleted (default, in use) is 400; another project's group is 404.
import type { FastifyRequest } from 'fastify';
import { isAdmin, type RequestContext } from '../../context.js';
import type { InstanceRow, SecurityGroupRow, SecurityGroupRuleRow } from '../../db/index.js';
import { invalid, notFound, StratusError } from '../../errors.js';
import { parseRuleCidr, type PermissionSpec } from '../../network/index.js';
import { PROXIES_REMOVED_AT, requireBefore } from './proxy-version.js';
import { queryOf, type RouteDeps } from './routes.js';
import { findServer } from './servers.js';
import { bad, object, type Obj } from './requests.js';

type IdParams = { Params: { id: string } };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A rule as the Compute API shows it (ingress only; a source group by name and project). */
export function ruleView(r: SecurityGroupRuleRow, sources: ReadonlyMap<string, SecurityGroupRow>) {
  const source = r.sourceGroupId ? sources.get(r.sourceGroupId) : undefined;
  // All protocols: no protocol and no ports, as the reference shows a rule without them.
  const all = r.protocol === '-1';
  return {
    id: r.id,
    parent_group_id: r.groupId,
    ip_protocol: all ? null : r.protocol,
    from_port: all ? null : r.fromPort,
    to_port: all ? null : r.toPort,
    ip_range: r.cidr ? { cidr: r.cidr } : {},
    group: source ? { name: source.name, tenant_id: source.projectId } : {},
  };
}

/** Groups with their ingress rules, sorted by project and name as the Compute API lists them. */
export async function groupViews(
  reader: RouteDeps['services']['securityGroups'],
  groups: readonly SecurityGroupRow[],
) {
  const rules = (await reader.rules(groups.map((g) => g.id))).filter(
    (r) => r.direction === 'ingress',
  );
  const sourceIds = [...new Set(rules.flatMap((r) => r.sourceGroupId ?? []))];
  const sources = new Map((await reader.byIds(sourceIds)).map((g) => [g.id, g]));
  return [...groups]
    .sort((a, b) =>
      a.projectId === b.projectId
        ? a.name.localeCompare(b.name)
        : a.projectId.localeCompare(b.projectId),
    )
    .map((g) => ({
      id: g.id,
      name: g.name,
      description: g.description,
      tenant_id: g.projectId,
      rules: rules
        .filter((r) => r.groupId === g.id)
        // A rule whose source group is gone is left out, as the Compute API does.
        .filter((r) => r.sourceGroupId === null || sources.has(r.sourceGroupId))
        .map((r) => ruleView(r, sources)),
    }));
}

/** `{"security_group": {"name", "description"}}`: both strings of at most 255 characters. */
export function parseGroupBody(body: unknown): { name: string; description: string } {
  const top = object(body, 'the request body');
  if (top.security_group === undefined) {
    throw bad("Invalid input: 'security_group' is a required property.");
  }
  const g = object(top.security_group, 'security_group');
  const text = (key: 'name' | 'description'): string => {
    const v = g[key];
    if (v === undefined) throw bad(`Invalid input: '${key}' is a required property.`);
    if (typeof v !== 'string' || v.length > 255) {
      throw bad(
        `Invalid input for field/attribute ${key}. It must be a string of at most 255 characters.`,
      );
    }
    return v;
  };
  return { name: text('name'), description: text('description') };
}

/** A port, ICMP type or code as the request gives it: a number or a numeric string. */
function integer(v: unknown, what: string, icmp: boolean): number {
  const n = typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) {
    throw bad(
      icmp
        ? 'Invalid input: Type and Code must be integers for ICMP protocol type.'
        : `Invalid input: To and From ports must be integers (${what} is ${JSON.stringify(v)}).`,
    );
  }
  return n;
}

/** A CIDR as the Compute API takes it: percent-encoded or not (a bad escape stays as it is). */
function unquote(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** A rule create, checked as the Compute API checks it; `parent` is the group it goes into. */
export interface CreateRule {
  parent: string;
  permission: PermissionSpec;
}

/**
 * `{"security_group_rule": {"parent_group_id", "ip_protocol", "from_port", "to_port", "cidr"
 * | "group_id"}}`. A source group wins over a CIDR; without a source group the CIDR (default
 * 0.0.0.0/0) needs a protocol and both ports. With a source group and no ports, TCP and UDP
 * rules open 1-65535 and ICMP rules every type; with no protocol at all, every protocol.
 */
export function parseRuleBody(body: unknown): CreateRule {
  const top = object(body, 'the request body');
  if (top.security_group_rule === undefined) {
    throw bad("Invalid input: 'security_group_rule' is a required property.");
  }
  const r = object(top.security_group_rule, 'security_group_rule');
  const parent = r.parent_group_id;
  if (parent === undefined) throw bad("Invalid input: 'parent_group_id' is a required property.");
  if (typeof parent !== 'string' || !UUID.test(parent)) {
    throw bad(
      `Invalid input for field/attribute parent_group_id. Value: ${JSON.stringify(parent)}. It is not a valid UUID.`,
    );
  }
  const group = r.group_id ?? null;
  if (group !== null && (typeof group !== 'string' || !UUID.test(group))) {
    throw bad(
      `Invalid input for field/attribute group_id. Value: ${JSON.stringify(group)}. It is not a valid UUID.`,
    );
  }
  const rawProtocol = r.ip_protocol ?? null;
  if (rawProtocol !== null && typeof rawProtocol !== 'string') {
    throw bad(`Invalid IP protocol ${JSON.stringify(rawProtocol)}.`);
  }
  const protocol = rawProtocol === null || rawProtocol === '' ? null : rawProtocol.toLowerCase();
  let from = r.from_port ?? null;
  let to = r.to_port ?? null;
  let cidr: string | null = null;
  if (group !== null) {
    if (protocol === 'icmp' && from === null && to === null) [from, to] = [-1, -1];
    if ((protocol === 'tcp' || protocol === 'udp') && from === null && to === null) {
      [from, to] = [1, 65535];
    }
  } else {
    const given = r.cidr ?? null;
    if (given !== null && typeof given !== 'string') {
      throw bad(`${JSON.stringify(given)} is not a valid IP network.`);
    }
    cidr = given === null || given === '' ? '0.0.0.0/0' : unquote(given).trim();
    if (!parseRuleCidr(cidr)) {
      throw bad(
        `${cidr} is not a valid IP network: it must be an IPv4 block A.B.C.D/N with no host bits set.`,
      );
    }
    if (protocol === null || from === null || to === null) {
      throw bad('Not enough parameters to build a valid rule.');
    }
  }
  const sources =
    group !== null
      ? { sourceGroups: [{ idPrefix: group.toLowerCase(), shown: group }] }
      : { ipRanges: [{ cidr: cidr as string }] };
  if (protocol === null)
    return { parent: parent.toLowerCase(), permission: { protocol: '-1', ...sources } };
  if (!['tcp', 'udp', 'icmp'].includes(protocol)) {
    throw bad(`Invalid IP protocol ${rawProtocol}.`);
  }
  if (from === null || to === null) throw bad('Not enough parameters to build a valid rule.');
  const icmp = protocol === 'icmp';
  const fromPort = integer(from, 'from_port', icmp);
  const toPort = integer(to, 'to_port', icmp);
  if (!icmp && fromPort > toPort) {
    throw bad(
      `Invalid port range ${fromPort}:${toPort}. Former value cannot be greater than the later.`,
    );
  }
  if (!icmp && (fromPort < 1 || toPort > 65535)) {
    throw bad(
      `Invalid port range ${fromPort}:${toPort}. Valid ${protocol.toUpperCase()} ports should be between 1-65535.`,
    );
  }
  if (icmp && [fromPort, toPort].some((p) => p < -1 || p > 255)) {
    throw bad(`Invalid port range ${fromPort}:${toPort}. For ICMP, the type:code must be valid.`);
  }
  return { parent: parent.toLowerCase(), permission: { protocol, fromPort, toPort, ...sources } };
}

/** `{"<action>": {"name": "<group name or id>"}}`, the body of add/removeSecurityGroup. */
export function parseGroupAction(body: Obj, action: string): string {
  const arg = body[action];
  if (arg === null || typeof arg !== 'object' || Array.isArray(arg)) {
    throw bad('Missing parameter dict');
  }
  const a = arg as Obj;
  const extra = Object.keys(a).filter((k) => k !== 'name');
  if (extra.length > 0) {
    throw bad(
      `Invalid input for ${action}: additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} unexpected).`,
    );
  }
  if (a.name === undefined) throw bad('Security group not specified');
  if (typeof a.name !== 'string' || a.name.trim() === '') {
    throw bad('Security group name cannot be empty');
  }
  return a.name;
}

/** The Compute API answers a refusal the network service calls a conflict as a bad request. */
function asBadRequest(err: unknown, kinds: readonly StratusError['kind'][]): unknown {
  if (err instanceof StratusError && kinds.includes(err.kind)) {
    return new StratusError('invalid', err.message, {
      resource: err.resource,
      id: err.id,
      reason: err.reason,
      cause: err,
    });
  }
  return err;
}

export function securityGroupRoutes({ app, services, caller }: RouteDeps): void {
  const { securityGroups: reader, network } = services;

  /** The caller's (or for an admin, any project's) group by id; 400 for a malformed id. */
  const findGroup = async (ctx: RequestContext, id: string): Promise<SecurityGroupRow> => {
    if (!UUID.test(id)) throw bad('Security group id should be uuid');
    const [row] = (await reader.list(ctx, { idPrefixes: [id.toLowerCase()] })).filter(
      (g) => g.id === id.toLowerCase() && (isAdmin(ctx) || g.projectId === ctx.projectId),
    );
    if (!row) throw notFound('security_group', id, `Security group ${id} not found.`);
    return row;
  };
  const proxy = async (request: FastifyRequest) => {
    const ctx = await caller(request);
    requireBefore(request.microversion, PROXIES_REMOVED_AT, 'os-security-groups');
    return ctx;
  };
  const one = async (row: SecurityGroupRow) => ({
    security_group: (await groupViews(reader, [row]))[0],
  });

  app.get('/v2.1/os-security-groups', async (request) => {
    const ctx = await proxy(request);
    const q = queryOf(request);
    const all =
      isAdmin(ctx) &&
      q.all_tenants !== undefined &&
      !['0', 'false', 'False'].includes(q.all_tenants);
    const rows = (await reader.list(ctx)).filter((g) => all || g.projectId === ctx.projectId);
    const offset = nonNegative(q, 'offset') ?? 0;
    const limit = nonNegative(q, 'limit');
    // Sorted (by project, then name), then the page.
    const views = await groupViews(reader, rows);
    return {
      security_groups: views.slice(offset, limit === undefined ? undefined : offset + limit),
    };
  });

  app.get<IdParams>('/v2.1/os-security-groups/:id', async (request) => {
    const ctx = await proxy(request);
    return one(await findGroup(ctx, request.params.id));
  });

  app.post('/v2.1/os-security-groups', async (request) => {
    const ctx = await proxy(request);
    const { name, description } = parseGroupBody(request.body);
    try {
      return await one(await network.createSecurityGroup(ctx, { name, description }));
    } catch (err) {
      // A name the project already uses is a bad request in the Compute API.
      throw asBadRequest(err, ['already_exists']);
    }
  });

  app.put<IdParams>('/v2.1/os-security-groups/:id', async (request) => {
    const ctx = await proxy(request);
    const { name, description } = parseGroupBody(request.body);
    const row = await findGroup(ctx, request.params.id);
    try {
      return await one(
        await network.updateSecurityGroup(ctx, { idPrefix: row.id }, { name, description }),
      );
    } catch (err) {
      throw asBadRequest(err, ['already_exists']);
    }
  });

  app.delete<IdParams>('/v2.1/os-security-groups/:id', async (request, reply) => {
    const ctx = await proxy(request);
    const row = await findGroup(ctx, request.params.id);
    try {
      await network.deleteSecurityGroup(ctx, { idPrefix: row.id, shown: row.id });
    } catch (err) {
      // The default group, or one still in use: the Compute API answers 400.
      throw asBadRequest(err, ['conflict']);
    }
    return reply.code(202).send();
  });

  app.post('/v2.1/os-security-group-rules', async (request) => {
    const ctx = await caller(request);
    requireBefore(request.microversion, PROXIES_REMOVED_AT, 'os-security-group-rules');
    const { parent, permission } = parseRuleBody(request.body);
    const group = await findGroup(ctx, parent);
    let change;
    try {
      change = await network.authorizeSecurityGroupIngress(ctx, { idPrefix: group.id }, [
        permission,
      ]);
    } catch (err) {
      // A rule the group already has is a bad request in the Compute API.
      throw asBadRequest(err, ['already_exists']);
    }
    const [rule] = change.rules as [SecurityGroupRuleRow];
    const sources = new Map(
      (await reader.byIds(rule.sourceGroupId ? [rule.sourceGroupId] : [])).map((g) => [g.id, g]),
    );
    return { security_group_rule: ruleView(rule, sources) };
  });

  app.delete<IdParams>('/v2.1/os-security-group-rules/:id', async (request, reply) => {
    const ctx = await caller(request);
    requireBefore(request.microversion, PROXIES_REMOVED_AT, 'os-security-group-rules');
    const { id } = request.params;
    if (!UUID.test(id)) throw bad('Security group rule id should be uuid');
    const [rule] = await reader.rulesByIds([id.toLowerCase()]);
    const group = rule ? (await reader.byIds([rule.groupId]))[0] : undefined;
    if (!rule || !group || (!isAdmin(ctx) && group.projectId !== ctx.projectId)) {
      throw notFound('security_group_rule', id, `Security group rule ${id} not found.`);
    }
    await network.revokeSecurityGroupIngress(
      ctx,
      { idPrefix: group.id },
      { ruleRefs: [{ idPrefix: rule.id, shown: id }] },
    );
    return reply.code(202).send();
  });

  // A server's groups: not a proxy, so at every microversion.
  app.get<IdParams>('/v2.1/servers/:id/os-security-groups', async (request) => {
    const ctx = await caller(request);
    const row = await findServer(services.instances, ctx, request.params.id);
    const ids = (await services.instances.securityGroupsOf([row.id])).get(row.id) ?? [];
    return { security_groups: await groupViews(reader, await reader.byIds(ids)) };
  });
}

/**
 * addSecurityGroup and removeSecurityGroup on a server: the group (by name or id, in the
 * server's project) joins or leaves the server's groups, and every host's firewall follows.
 * Adding a group the server is in changes nothing; removing one it is not in is 404.
 */
export async function changeServerGroups(
  deps: RouteDeps,
  ctx: RequestContext,
  server: InstanceRow,
  action: 'addSecurityGroup' | 'removeSecurityGroup',
  ref: string,
): Promise<void> {
  const { securityGroups: reader, network, instances } = deps.services;
  const candidates = (await reader.list(ctx)).filter((g) => g.projectId === server.projectId);
  const group =
    candidates.find((g) => g.id === ref.toLowerCase()) ?? candidates.find((g) => g.name === ref);
  if (!group) {
    throw notFound(
      'security_group',
      ref,
      `Security group ${ref} is not found for project ${server.projectId}.`,
    );
  }
  const current = (await instances.securityGroupsOf([server.id])).get(server.id) ?? [];
  let wanted: string[];
  if (action === 'addSecurityGroup') {
    if (current.includes(group.id)) return;
    wanted = [...current, group.id];
  } else {
    if (!current.includes(group.id)) {
      throw notFound(
        'security_group',
        ref,
        `Security group ${ref} not associated with the instance ${server.id}.`,
      );
    }
    wanted = current.filter((g) => g !== group.id);
  }
  await network.setInstanceSecurityGroups(ctx, server.id, wanted);
}

/** A non-negative integer query parameter (limit, offset), or undefined when absent. */
function nonNegative(q: Record<string, string>, key: string): number | undefined {
  const raw = q[key];
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) {
    throw invalid(
      `Invalid input for query parameters ${key}. Value: ${raw}. It must be a non-negative integer.`,
      { resource: 'limit' },
    );
  }
  return Number(raw);
}
