// Security groups: named sets of ingress rules a project's instances are launched into. This
// service runs in the network service (reached over the bus through NetworkClient) and is the
// one place where groups and rules change; after each change it tells the data plane which
// groups changed through `onRulesChanged`, and `rulesForInstances` gives the data plane the
// whole rule set it has to enforce for a set of instances. Reads for the API edges are
// SecurityGroupReader's.
import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../context.js';
import { effectiveLimits, type QuotaLimits } from '../quota/index.js';
import {
  DEFAULT_GROUP,
  isUniqueViolation,
  ProjectNetworkRepo,
  QuotaRepo,
  SecurityGroupRepo,
  TagRepo,
  type Db,
  type SecurityGroupRow,
  type SecurityGroupRuleRow,
} from '../db/index.js';
import { alreadyExists, invalid, notFound, StratusError } from '../errors.js';
import type { Logger } from '../log.js';
import { checkTags } from '../text-rules.js';
import { formatIpv4, parseRuleCidr } from './ipv4.js';

/** TCP, UDP, ICMP, all ('-1'), or another IP protocol by its number (e.g. '47'). */
export type RuleProtocol = 'tcp' | 'udp' | 'icmp' | '-1' | `${number}`;

/** Which way a rule lets traffic pass: into the group's members, or out of them. */
export type RuleDirection = 'ingress' | 'egress';

/** A group and the rules a request added to it or removed from it. */
export interface RuleChange {
  group: SecurityGroupRow;
  rules: SecurityGroupRuleRow[];
}

/** A group of the caller's project, by the leading characters of its id or by its name. */
export type GroupRef = { idPrefix: string; shown?: string } | { name: string };

/** A rule by the leading characters of its id, with the id as the caller showed it. */
export interface RuleRef {
  idPrefix: string;
  shown?: string | undefined;
}

/** A source group of a rule: a group ref, optionally with the project it is expected in. */
export type SourceGroupRef = GroupRef & {
  ownerId?: string | undefined;
  /** What the rule from this group is for. */
  description?: string | undefined;
};

/** An IP range a permission admits, with what the rule from it is for. */
export interface IpRange {
  cidr: string;
  description?: string | undefined;
}

/**
 * One permission as a client states it: a protocol, a port range (ICMP type and code for
 * ICMP) and the sources it allows, each becoming one rule.
 */
export interface PermissionSpec {
  /** 'tcp', 'udp', 'icmp', '-1' (all), their protocol numbers, or 'all'. */
  protocol: string;
  fromPort?: number | undefined;
  toPort?: number | undefined;
  ipRanges?: readonly IpRange[];
  sourceGroups?: readonly SourceGroupRef[];
}

/** A rule as the data plane enforces it: what it allows, from (or to) which addresses. */
export interface EffectiveRule {
  ruleId: string;
  groupId: string;
  protocol: RuleProtocol;
  /** First port (TCP/UDP) or ICMP type (-1 for all); null for all protocols. */
  fromPort: number | null;
  /** Last port (TCP/UDP) or ICMP code (-1 for all); null for all protocols. */
  toPort: number | null;
  cidr: string | null;
  sourceGroupId: string | null;
  /**
   * The remote CIDR blocks: where traffic may come from (ingress) or go to (egress): the
   * rule's CIDR, or one /32 per live member of its remote group.
   */
  sources: string[];
}

export interface InstanceRuleSet {
  instanceId: string;
  groupIds: string[];
  ingress: EffectiveRule[];
  /** What the instance may send (an empty list: nothing but replies, DHCP and metadata). */
  egress: EffectiveRule[];
  /**
   * The IP TTL of the metadata service's replies to the guest (its metadata hop limit, 1 when
   * the instance is unknown).
   */
  metadataHopLimit: number;
}

/** What the overlay data plane enforces on a project network port (OverlayHost.setPortSecurity). */
export interface PortRuleSet {
  portId: string;
  networkId: string;
  /**
   * The port's groups' ingress and egress rules, remote groups as the addresses their member
   * ports hold on this port's network; undefined when the port's security is off.
   */
  security: { ingress: EffectiveRule[]; egress: EffectiveRule[] } | undefined;
}

export interface SecurityGroupServiceOptions {
  db: Db;
  quota: QuotaLimits;
  logger?: Logger;
  onRulesChanged?: (groupIds: readonly string[]) => void | Promise<void>;
}

/** What EC2 allows in group names and descriptions. */
const GROUP_TEXT = /^[a-zA-Z0-9 ._\-:/()#,@[\]+=&;{}!$*]{1,255}$/;
const MAX_PORT = 65535;

export class SecurityGroupService {
  readonly #opts: SecurityGroupServiceOptions;

  constructor(options: SecurityGroupServiceOptions) {
    this.#opts = options;
  }

  /** The caller's project's `default` group, created on first use (concurrent uses agree). */
  async ensureDefault(ctx: RequestContext): Promise<SecurityGroupRow> {
    return new SecurityGroupRepo(this.#opts.db).ensureDefault(project(ctx));
  }

  async create(
    ctx: RequestContext,
    args: {
      name: string;
      description: string;
      tags?: readonly { key: string; value: string }[];
      /** The network of the caller's VPC it belongs to; absent: the default VPC. */
      vpcId?: string | null;
    },
  ): Promise<SecurityGroupRow> {
    const projectId = project(ctx);
    checkText('GroupName', args.name);
    checkText('GroupDescription', args.description);
    checkTags(args.tags ?? []);
    if (args.name === DEFAULT_GROUP) {
      throw invalid(`The security group name '${DEFAULT_GROUP}' is reserved.`, {
        resource: 'security_group',
        id: args.name,
        reason: 'reserved',
      });
    }
    if (args.name.toLowerCase().startsWith('sg-')) {
      throw invalid("Group names may not be in the format 'sg-*'.", {
        resource: 'parameter',
        id: 'GroupName',
      });
    }
    const row: SecurityGroupRow = {
      id: randomUUID(),
      projectId,
      name: args.name,
      description: args.description,
      vpcId: args.vpcId ?? null,
      createdAt: Date.now(),
    };
    try {
      await this.#opts.db.transaction().execute(async (trx) => {
        await lockProject(trx, projectId);
        const repo = new SecurityGroupRepo(trx);
        await repo.ensureDefault(projectId);
        // Names are unique per VPC: two VPCs may each have a `web`.
        if (await repo.findByName(projectId, args.name, row.vpcId)) {
          throw duplicateGroup(args.name);
        }
        const limit = (await this.#limits(trx, projectId)).securityGroups;
        if ((await repo.countByProject(projectId)) >= limit) {
          throw new StratusError(
            'over_quota',
            `Your quota allows at most ${limit} security groups (the default group included).`,
            { resource: 'security_groups', reason: 'security_groups' },
          );
        }
        await repo.insert(row);
        const tags = args.tags ?? [];
        if (tags.length > 0) {
          await new TagRepo(trx).put(
            tags.map((t) => ({
              resourceId: row.id,
              resourceType: 'security-group',
              projectId,
              key: t.key,
              value: t.value,
            })),
          );
        }
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw duplicateGroup(args.name);
      throw err;
    }
    return row;
  }

  /**
   * Gives one of the caller's groups a new name and description (the Compute API's update).
   * The `default` group keeps its name, and no other group may take it; a name another group
   * of the project has is `already_exists`.
   */
  async update(
    ctx: RequestContext,
    ref: GroupRef,
    args: { name: string; description: string },
  ): Promise<SecurityGroupRow> {
    const projectId = project(ctx);
    checkText('GroupName', args.name);
    checkText('GroupDescription', args.description);
    try {
      return await this.#opts.db.transaction().execute(async (trx) => {
        await lockProject(trx, projectId);
        const repo = new SecurityGroupRepo(trx);
        const group = await resolveOwn(repo, projectId, ref);
        if (
          args.name !== group.name &&
          (group.name === DEFAULT_GROUP || args.name === DEFAULT_GROUP)
        ) {
          throw invalid(`The security group name '${DEFAULT_GROUP}' is reserved.`, {
            resource: 'security_group',
            id: args.name,
            reason: 'reserved',
          });
        }
        if (
          args.name !== group.name &&
          (await repo.findByName(projectId, args.name, group.vpcId))
        ) {
          throw duplicateGroup(args.name);
        }
        await repo.rename(group.id, args.name, args.description);
        return { ...group, name: args.name, description: args.description };
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw duplicateGroup(args.name);
      throw err;
    }
  }

  /**
   * Deletes one of the caller's groups. The `default` group stays; a group that a live instance
   * is in, or that another group's rule allows traffic from, is still needed.
   */
  async delete(ctx: RequestContext, ref: GroupRef): Promise<SecurityGroupRow> {
    const projectId = project(ctx);
    const group = await this.#opts.db.transaction().execute(async (trx) => {
      await lockProject(trx, projectId);
      const repo = new SecurityGroupRepo(trx);
      const group = await resolveOwn(repo, projectId, ref);
      if (group.name === DEFAULT_GROUP) {
        throw new StratusError(
          'conflict',
          `The '${DEFAULT_GROUP}' security group cannot be deleted; its rules can be changed.`,
          { resource: 'security_group', id: refText(ref), reason: 'cannot_delete' },
        );
      }
      const instances = await repo.liveInstancesUsing(group.id);
      if (instances.length > 0) {
        throw new StratusError(
          'conflict',
          `The security group '${refText(ref)}' is in use by ${instances.length} instance(s).`,
          { resource: 'security_group', id: refText(ref), reason: 'in_use' },
        );
      }
      const groups = await repo.referencedBy(group.id);
      if (groups.length > 0) {
        throw new StratusError(
          'conflict',
          `The security group '${refText(ref)}' is referenced by the rules of ${groups.length} other group(s).`,
          { resource: 'security_group', id: refText(ref), reason: 'in_use' },
        );
      }
      await repo.delete(group.id);
      return group;
    });
    await this.#changed([group.id]);
    return group;
  }

  /**
   * Adds ingress rules to one of the caller's groups: all of them or none. A rule the group
   * already has, or one given twice, is refused, as is going over the rules quota.
   */
  authorizeIngress(
    ctx: RequestContext,
    ref: GroupRef,
    permissions: readonly PermissionSpec[],
  ): Promise<RuleChange> {
    return this.authorize(ctx, 'ingress', ref, permissions);
  }

  /** Removes ingress rules from one of the caller's groups (see `revoke`). */
  revokeIngress(
    ctx: RequestContext,
    ref: GroupRef,
    what: { permissions?: readonly PermissionSpec[]; ruleRefs?: readonly RuleRef[] },
  ): Promise<RuleChange> {
    return this.revoke(ctx, 'ingress', ref, what);
  }

  /**
   * Adds rules of one direction to one of the caller's groups: all of them or none. For
   * egress, a permission's IP ranges and groups are where traffic may go. A rule the group
   * already has, or one given twice, is refused, as is going over the rules quota (counted
   * per direction, as EC2 does).
   */
  async authorize(
    ctx: RequestContext,
    direction: RuleDirection,
    ref: GroupRef,
    permissions: readonly PermissionSpec[],
  ): Promise<RuleChange> {
    const projectId = project(ctx);
    const candidates = permissions.flatMap(expandSpec);
    if (candidates.length === 0) throw noPermissions();
    const result = await this.#opts.db.transaction().execute(async (trx) => {
      await lockProject(trx, projectId);
      const repo = new SecurityGroupRepo(trx);
      const group = await resolveOwn(repo, projectId, ref);
      const wanted = await resolveSources(repo, projectId, candidates);
      const existing = new Set(
        (await repo.rules([group.id])).filter((r) => r.direction === direction).map(ruleKey),
      );
      const seen = new Set<string>();
      for (const rule of wanted) {
        const key = ruleKey(rule);
        if (existing.has(key) || seen.has(key)) {
          throw new StratusError(
            'already_exists',
            `The rule ${describeRule(direction, rule)} already exists in the security group.`,
            { resource: 'security_group_rule', id: refText(ref) },
          );
        }
        seen.add(key);
      }
      const limit = (await this.#limits(trx, projectId)).securityGroupRules;
      if (existing.size + wanted.length > limit) {
        throw new StratusError(
          'over_quota',
          `Your quota allows at most ${limit} ${direction} rules per security group (it has ${existing.size}).`,
          { resource: 'security_group_rules', reason: 'security_group_rules' },
        );
      }
      const at = Date.now();
      const rows: SecurityGroupRuleRow[] = wanted.map((rule, i) => ({
        id: randomUUID(),
        groupId: group.id,
        direction,
        protocol: rule.protocol,
        fromPort: rule.fromPort,
        toPort: rule.toPort,
        cidr: rule.cidr,
        sourceGroupId: rule.sourceGroupId,
        description: rule.description,
        createdAt: at + i,
      }));
      await repo.insertRules(rows);
      return { group, rules: rows };
    });
    await this.#changed([result.group.id]);
    return result;
  }

  /**
   * Removes rules of one direction from one of the caller's groups, given as permissions or by
   * rule id: all of them or none; a rule the group does not have (in that direction) is
   * refused. Revoking the allow-all egress rule closes the group's egress.
   */
  async revoke(
    ctx: RequestContext,
    direction: RuleDirection,
    ref: GroupRef,
    what: {
      permissions?: readonly PermissionSpec[];
      ruleRefs?: readonly RuleRef[];
    },
  ): Promise<RuleChange> {
    const projectId = project(ctx);
    const candidates = (what.permissions ?? []).flatMap(expandSpec);
    const ruleRefs = what.ruleRefs ?? [];
    if (candidates.length === 0 && ruleRefs.length === 0) throw noPermissions();
    const result = await this.#opts.db.transaction().execute(async (trx) => {
      const repo = new SecurityGroupRepo(trx);
      const group = await resolveOwn(repo, projectId, ref);
      const existing = (await repo.rules([group.id])).filter((r) => r.direction === direction);
      const byKey = new Map(existing.map((r) => [ruleKey(r), r]));
      const doomed = new Map<string, SecurityGroupRuleRow>();
      const missing = (text: string) =>
        new StratusError(
          'not_found',
          `The rule ${text} does not exist in the security group '${refText(ref)}'.`,
          { resource: 'security_group_rule', id: text },
        );
      for (const { idPrefix, shown } of ruleRefs) {
        const row = existing.find((r) => r.id.startsWith(idPrefix));
        if (!row) throw missing(shown ?? idPrefix);
        doomed.set(row.id, row);
      }
      if (candidates.length > 0) {
        for (const rule of await resolveSources(repo, projectId, candidates)) {
          const row = byKey.get(ruleKey(rule));
          if (!row) throw missing(describeRule(direction, rule));
          doomed.set(row.id, row);
        }
      }
      await repo.deleteRules([...doomed.keys()]);
      return { group, rules: [...doomed.values()] };
    });
    await this.#changed([result.group.id]);
    return result;
  }

  /**
   * Everything the data plane enforces for these instances: their groups and the ingress and
   * egress rules of those groups, with remote groups turned into the addresses of the groups'
   * live members.
   */
  async rulesForInstances(instanceIds: readonly string[]): Promise<InstanceRuleSet[]> {
    const repo = new SecurityGroupRepo(this.#opts.db);
    const groupsOf = await repo.groupsOfInstances(instanceIds);
    const groupIds = [...new Set([...groupsOf.values()].flat())];
    const rules = await repo.rules(groupIds);
    const sourceIds = [
      ...new Set(rules.map((r) => r.sourceGroupId).filter((g): g is string => g !== null)),
    ];
    const members = await repo.liveMemberAddresses(sourceIds);
    // In chunks, as groupsOfInstances reads them (a statement's parameters are limited).
    const hops = new Map<string, number>();
    for (let i = 0; i < instanceIds.length; i += 500) {
      const rows = await this.#opts.db
        .selectFrom('instances')
        .select(['id', 'metadataHopLimit'])
        .where('id', 'in', instanceIds.slice(i, i + 500))
        .execute();
      for (const r of rows) hops.set(r.id, r.metadataHopLimit);
    }
    const effective = rules.map((r) => ({
      direction: r.direction,
      ruleId: r.id,
      groupId: r.groupId,
      protocol: r.protocol as RuleProtocol,
      fromPort: r.fromPort,
      toPort: r.toPort,
      cidr: r.cidr,
      sourceGroupId: r.sourceGroupId,
      sources:
        r.cidr !== null
          ? [r.cidr]
          : (members.get(r.sourceGroupId ?? '') ?? []).map((ip) => `${ip}/32`),
    }));
    return instanceIds.map((instanceId) => {
      const ids = groupsOf.get(instanceId) ?? [];
      return {
        instanceId,
        groupIds: ids,
        ingress: ofDirection(effective, 'ingress', ids),
        egress: ofDirection(effective, 'egress', ids),
        metadataHopLimit: hops.get(instanceId) ?? 1,
      };
    });
  }

  /**
   * What the overlay data plane enforces on these project network ports: each port's groups'
   * rules, a remote group being the addresses held by the ports of that group on the same
   * network. A port with port security off gets `security` undefined (not filtered); ports
   * that do not exist are left out.
   */
  async rulesForPorts(portIds: readonly string[]): Promise<PortRuleSet[]> {
    const networks = new ProjectNetworkRepo(this.#opts.db);
    const wanted = new Set(portIds);
    const found = (await Promise.all(portIds.map((id) => networks.port(id)))).filter(
      (p): p is NonNullable<typeof p> => p !== undefined,
    );
    const groupsOf = (p: { securityGroups: string }) => JSON.parse(p.securityGroups) as string[];
    const networkIds = [...new Set(found.map((p) => p.networkId))];
    // Every port of those networks, for the members of remote groups, with its addresses.
    const neighbours = await networks.ports(networkIds);
    const ips = await networks.portIps(neighbours.map((p) => p.id));
    const addressesOf = new Map<string, string[]>();
    for (const ip of ips) {
      if (ip.portId)
        addressesOf.set(ip.portId, [...(addressesOf.get(ip.portId) ?? []), ip.address]);
    }
    const rules = await new SecurityGroupRepo(this.#opts.db).rules([
      ...new Set(found.flatMap(groupsOf)),
    ]);
    const out: PortRuleSet[] = [];
    for (const port of found) {
      if (!wanted.has(port.id)) continue;
      if (!port.portSecurityEnabled) {
        out.push({ portId: port.id, networkId: port.networkId, security: undefined });
        continue;
      }
      const groups = groupsOf(port);
      const members = (groupId: string) =>
        neighbours
          .filter((n) => n.networkId === port.networkId && groupsOf(n).includes(groupId))
          .flatMap((n) => (addressesOf.get(n.id) ?? []).map((a) => `${a}/32`));
      const effective = rules
        .filter((r) => groups.includes(r.groupId))
        .map((r) => ({
          direction: r.direction,
          ruleId: r.id,
          groupId: r.groupId,
          protocol: r.protocol as RuleProtocol,
          fromPort: r.fromPort,
          toPort: r.toPort,
          cidr: r.cidr,
          sourceGroupId: r.sourceGroupId,
          sources: r.cidr !== null ? [r.cidr] : members(r.sourceGroupId ?? ''),
        }));
      out.push({
        portId: port.id,
        networkId: port.networkId,
        security: {
          ingress: ofDirection(effective, 'ingress', groups),
          egress: ofDirection(effective, 'egress', groups),
        },
      });
    }
    return out;
  }

  /**
   * Puts a live instance in exactly these groups of its own project (ModifyInstanceAttribute's
   * groupSet); every host's agent is told, so the instance's own chain and the rules whose
   * source is one of its old or new groups follow. Returns the groups' ids.
   */
  async setInstanceGroups(instanceId: string, refs: readonly GroupRef[]): Promise<string[]> {
    const { ids, affected } = await this.#opts.db.transaction().execute(async (trx) => {
      const inst = await trx
        .selectFrom('instances')
        .select(['projectId', 'vmState'])
        .where('id', '=', instanceId)
        .executeTakeFirst();
      if (!inst) throw notFound('instance', instanceId);
      await lockProject(trx, inst.projectId);
      const repo = new SecurityGroupRepo(trx);
      const ids: string[] = [];
      for (const ref of refs) ids.push((await resolveOwn(repo, inst.projectId, ref)).id);
      const unique = [...new Set(ids)];
      const before = (await repo.groupsOfInstances([instanceId])).get(instanceId) ?? [];
      const sourcesBefore = await repo.groupsWithRulesFromGroupsOf(instanceId);
      await trx.deleteFrom('instanceSecurityGroups').where('instanceId', '=', instanceId).execute();
      // The Compute API may take an instance's last group away: then it is in none.
      if (unique.length > 0) {
        await trx
          .insertInto('instanceSecurityGroups')
          .values(unique.map((groupId) => ({ instanceId, groupId })))
          .execute();
      }
      const sourcesAfter = await repo.groupsWithRulesFromGroupsOf(instanceId);
      return {
        ids: unique,
        affected: [...new Set([...before, ...unique, ...sourcesBefore, ...sourcesAfter])],
      };
    });
    await this.#changed(affected);
    return ids;
  }

  /**
   * To be called when an instance got or gave back its fixed address (a launch or a terminate
   * on any host): when a rule names one of its groups as source, every host's agent is told
   * the groups with such rules changed, so their guests' rules follow. Nothing is announced
   * when no rule depends on its groups.
   */
  async membershipChanged(instanceId: string): Promise<void> {
    const affected = await new SecurityGroupRepo(this.#opts.db).groupsWithRulesFromGroupsOf(
      instanceId,
    );
    if (affected.length > 0) await this.#changed(affected);
  }

  async #limits(db: Db, projectId: string): Promise<QuotaLimits> {
    return effectiveLimits(this.#opts.quota, await new QuotaRepo(db).overrides(projectId));
  }

  async #changed(groupIds: readonly string[]): Promise<void> {
    const notify = this.#opts.onRulesChanged;
    if (!notify) return;
    try {
      await notify(groupIds);
    } catch (err) {
      this.#opts.logger?.warn({ err, groupIds }, 'telling the data plane of changed rules failed');
    }
  }
}

/** The rules of one direction among those of these groups, as the data plane takes them. */
function ofDirection(
  rules: readonly (EffectiveRule & { direction: RuleDirection })[],
  direction: RuleDirection,
  groupIds: readonly string[],
): EffectiveRule[] {
  return rules
    .filter((r) => r.direction === direction && groupIds.includes(r.groupId))
    .map(({ direction: _, ...rule }) => rule);
}

/** A rule before it is stored: protocol and ports checked, one source, source group resolved. */
interface CandidateRule {
  protocol: RuleProtocol;
  fromPort: number | null;
  toPort: number | null;
  cidr: string | null;
  sourceGroup: SourceGroupRef | null;
  description: string | null;
}

interface ResolvedRule {
  protocol: RuleProtocol;
  fromPort: number | null;
  toPort: number | null;
  cidr: string | null;
  sourceGroupId: string | null;
  description: string | null;
  /** The source as the caller named it, for messages. */
  sourceText: string;
}

function expandSpec(spec: PermissionSpec): CandidateRule[] {
  const protocol = parseProtocol(spec.protocol);
  const [fromPort, toPort] = checkPorts(protocol, spec.fromPort, spec.toPort);
  const ranges = spec.ipRanges ?? [];
  const groups = spec.sourceGroups ?? [];
  if (ranges.length === 0 && groups.length === 0) {
    throw new StratusError(
      'missing',
      'A permission needs at least one source: an IP range (CidrIp) or a security group.',
      { resource: 'parameter', id: 'IpRanges' },
    );
  }
  return [
    ...ranges.map((r) => ({
      protocol,
      fromPort,
      toPort,
      cidr: checkCidr(r.cidr),
      sourceGroup: null,
      description: ruleDescription(r.description),
    })),
    ...groups.map((g) => ({
      protocol,
      fromPort,
      toPort,
      cidr: null,
      sourceGroup: g,
      description: ruleDescription(g.description),
    })),
  ];
}

function parseProtocol(text: string): RuleProtocol {
  const p = text.trim().toLowerCase();
  if (p === 'tcp' || p === '6') return 'tcp';
  if (p === 'udp' || p === '17') return 'udp';
  if (p === 'icmp' || p === '1') return 'icmp';
  if (p === '-1' || p === 'all') return '-1';
  // Any other IP protocol by number, as EC2 and Neutron take it (all of its traffic).
  if (/^\d{1,3}$/.test(p) && Number(p) <= 255) return String(Number(p)) as `${number}`;
  throw invalid(`Invalid value '${text.slice(0, 64)}' for IP protocol. Unknown protocol.`, {
    resource: 'parameter',
    id: 'IpProtocol',
  });
}

function checkPorts(
  protocol: RuleProtocol,
  from: number | undefined,
  to: number | undefined,
): [number | null, number | null] {
  // All protocols, or a protocol without ports: every packet of it, whatever ports are given.
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'icmp') return [null, null];
  if (protocol === 'icmp') {
    const type = from ?? -1;
    const code = to ?? -1;
    for (const [name, v] of [
      ['FromPort', type],
      ['ToPort', code],
    ] as const) {
      if (!Number.isInteger(v) || v < -1 || v > 255) {
        throw invalid(`Invalid value '${v}' for ICMP ${name === 'FromPort' ? 'type' : 'code'}.`, {
          resource: 'parameter',
          id: name,
        });
      }
    }
    if (type === -1 && code !== -1) {
      throw invalid(
        `Invalid ICMP code ${code}: with type -1 (all ICMP types) the code must be -1.`,
        { resource: 'parameter', id: 'ToPort' },
      );
    }
    return [type, code];
  }
  if (from === undefined || to === undefined) {
    throw invalid(`Both FromPort and ToPort are needed for ${protocol.toUpperCase()} rules.`, {
      resource: 'parameter',
      id: from === undefined ? 'FromPort' : 'ToPort',
    });
  }
  for (const [name, v] of [
    ['FromPort', from],
    ['ToPort', to],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > MAX_PORT) {
      throw invalid(`Invalid value '${v}' for ${name}: ports are 0 to ${MAX_PORT}.`, {
        resource: 'parameter',
        id: name,
      });
    }
  }
  if (from > to) {
    throw invalid(`Invalid port range ${from}-${to}: FromPort must not be above ToPort.`, {
      resource: 'parameter',
      id: 'FromPort',
    });
  }
  return [from, to];
}

function checkCidr(text: string): string {
  const cidr = parseRuleCidr(text.trim());
  if (!cidr) {
    throw invalid(
      `Invalid CIDR '${text.slice(0, 64)}': it must be an IPv4 block A.B.C.D/N (N 0 to 32) with no host bits set.`,
      { resource: 'parameter', id: 'CidrIp' },
    );
  }
  return `${formatIpv4(cidr.base)}/${cidr.prefix}`;
}

/** Looks up each rule's source group in the caller's project. */
async function resolveSources(
  repo: SecurityGroupRepo,
  projectId: string,
  candidates: readonly CandidateRule[],
): Promise<ResolvedRule[]> {
  const out: ResolvedRule[] = [];
  const cache = new Map<string, SecurityGroupRow>();
  for (const c of candidates) {
    let sourceGroupId: string | null = null;
    if (c.sourceGroup) {
      const ref = c.sourceGroup;
      if (ref.ownerId !== undefined && ref.ownerId !== '' && ref.ownerId !== projectId) {
        throw notFound(
          'security_group',
          refText(ref),
          `The source security group '${refText(ref)}' does not exist in this project.`,
        );
      }
      const key = 'name' in ref ? `n:${ref.name}` : `i:${ref.idPrefix}`;
      const source = cache.get(key) ?? (await resolveOwn(repo, projectId, ref));
      cache.set(key, source);
      sourceGroupId = source.id;
    }
    out.push({
      protocol: c.protocol,
      fromPort: c.fromPort,
      toPort: c.toPort,
      cidr: c.cidr,
      sourceGroupId,
      description: c.description,
      sourceText: c.sourceGroup ? `group ${refText(c.sourceGroup)}` : (c.cidr ?? ''),
    });
  }
  return out;
}

async function resolveOwn(
  repo: SecurityGroupRepo,
  projectId: string,
  ref: GroupRef,
): Promise<SecurityGroupRow> {
  if ('name' in ref) {
    // A name is the default VPC's group of that name; else the one group of a VPC with it.
    const row =
      ref.name === DEFAULT_GROUP
        ? await repo.ensureDefault(projectId)
        : ((await repo.findByName(projectId, ref.name)) ??
          (await onlyByName(repo, projectId, ref.name)));
    if (!row)
      throw notFound(
        'security_group',
        ref.name,
        `The security group '${ref.name}' does not exist.`,
      );
    return row;
  }
  const [row] = await repo.list({ projectId, idPrefixes: [ref.idPrefix] });
  if (!row) {
    const shown = ref.shown ?? ref.idPrefix;
    throw notFound('security_group', shown, `The security group '${shown}' does not exist.`);
  }
  return row;
}

async function onlyByName(
  repo: SecurityGroupRepo,
  projectId: string,
  name: string,
): Promise<SecurityGroupRow | undefined> {
  const rows = await repo.list({ projectId, names: [name] });
  return rows.length === 1 ? rows[0] : undefined;
}

function ruleKey(r: {
  protocol: string;
  fromPort: number | null;
  toPort: number | null;
  cidr: string | null;
  sourceGroupId: string | null;
}): string {
  return [r.protocol, r.fromPort ?? '', r.toPort ?? '', r.cidr ?? '', r.sourceGroupId ?? ''].join(
    '|',
  );
}

function describeRule(direction: RuleDirection, r: ResolvedRule): string {
  const proto = r.protocol === '-1' ? 'all' : r.protocol;
  const ports = r.fromPort === null ? '' : ` ${r.fromPort}-${r.toPort}`;
  return `'${proto}${ports} ${direction === 'ingress' ? 'from' : 'to'} ${r.sourceText}'`;
}

function refText(ref: GroupRef): string {
  return 'name' in ref ? ref.name : (ref.shown ?? ref.idPrefix);
}

function checkText(param: string, value: string): void {
  if (!GROUP_TEXT.test(value)) {
    throw invalid(
      `Invalid ${param}: it must be 1 to 255 characters of a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*.`,
      { resource: 'parameter', id: param },
    );
  }
}

/** A rule's description: EC2's 0-255 characters of the group text set; empty is none. */
function ruleDescription(text: string | undefined): string | null {
  if (text === undefined || text === '') return null;
  checkText('Description', text);
  return text;
}

function duplicateGroup(name: string): StratusError {
  return alreadyExists('security_group', name, `The security group '${name}' already exists.`);
}

function noPermissions(): StratusError {
  return new StratusError('missing', 'The request must contain the parameter IpPermissions.', {
    resource: 'parameter',
    id: 'IpPermissions',
  });
}

async function lockProject(db: Db, projectId: string): Promise<void> {
  await db.updateTable('projects').set({ id: projectId }).where('id', '=', projectId).execute();
}

function project(ctx: RequestContext): string {
  if (!ctx.projectId) throw new StratusError('forbidden', 'This request needs a project.');
  return ctx.projectId;
}
