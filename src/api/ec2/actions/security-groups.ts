// Security group actions: CreateSecurityGroup, DeleteSecurityGroup, DescribeSecurityGroups,
// DescribeSecurityGroupRules, AuthorizeSecurityGroupIngress, RevokeSecurityGroupIngress,
// AuthorizeSecurityGroupEgress, RevokeSecurityGroupEgress. Ingress rules arrive either as
// `IpPermissions.N` structures or in the older flat form (IpProtocol, FromPort, ToPort, CidrIp,
// SourceSecurityGroupName); both become the same permissions for the domain service. Egress
// rules take `IpPermissions.N` only and a `GroupId`, as in EC2; their IP ranges and groups are
// where the members may send to.
import type { SecurityGroupRow, SecurityGroupRuleRow } from '../../../db/index.js';
import { notFound, StratusError } from '../../../errors.js';
import type { GroupRef, PermissionSpec, SourceGroupRef } from '../../../network/index.js';
import type { Ec2ActionTable } from '../action.js';
import { applyFilters } from '../filters.js';
import { ec2Id, parseEc2Id } from '../../../ids/index.js';
import { invalidValue, missingParameter, type Params } from '../params.js';
import type { XmlObject } from '../xml.js';
import { checkTags } from './instances.js';
import type { Ec2Deps } from './deps.js';
import { pageOffset, pageToken } from '../paging.js';
import { findVpc, vpcEc2Id } from './vpc-common.js';
import { vpcNotFound } from '../../../network/index.js';

const ALL_IPV4 = '0.0.0.0/0';

/** What the older flat form grants when it names only a source group: all TCP, UDP and ICMP. */
const WHOLE_GROUP: readonly { protocol: string; fromPort: number; toPort: number }[] = [
  { protocol: 'icmp', fromPort: -1, toPort: -1 },
  { protocol: 'tcp', fromPort: 0, toPort: 65535 },
  { protocol: 'udp', fromPort: 0, toPort: 65535 },
];

export function securityGroupActions(deps: Ec2Deps): Ec2ActionTable {
  // Reads here; every change goes to the network service, which tells every host's data plane.
  const { network, securityGroups: groups, tags: tagService } = deps;

  const sgId = (id: string) => ec2Id('sg', id);

  const groupRef = (params: Params): GroupRef => {
    const id = params.string('GroupId', { max: 64 });
    if (id !== undefined && id !== '') {
      return { idPrefix: parseEc2Id(id, ['sg'], 'security_group').uuidPrefix, shown: id };
    }
    const name = params.string('GroupName', { max: 255 });
    if (name !== undefined && name !== '') return { name };
    throw missingParameter('GroupId');
  };

  const sourceGroupRef = (g: Params): SourceGroupRef => {
    const ownerId = g.string('UserId', { max: 64 });
    const description = g.string('Description', { max: 1024 });
    const id = g.string('GroupId', { max: 64 });
    if (id !== undefined && id !== '') {
      return {
        idPrefix: parseEc2Id(id, ['sg'], 'security_group').uuidPrefix,
        shown: id,
        ownerId,
        description,
      };
    }
    const name = g.string('GroupName', { max: 255 });
    if (name !== undefined && name !== '') return { name, ownerId, description };
    throw missingParameter('IpPermissions.N.Groups.M.GroupId');
  };

  /** The group of an egress action: by id only, as EC2 requires. */
  const groupIdRef = (params: Params): GroupRef => {
    const id = params.requireString('GroupId', { max: 64 });
    return { idPrefix: parseEc2Id(id, ['sg'], 'security_group').uuidPrefix, shown: id };
  };

  const ipPermissionStructs = (params: Params): PermissionSpec[] =>
    params.structs('IpPermissions').map((p) => {
      for (const unsupported of ['Ipv6Ranges', 'PrefixListIds']) {
        if (p.has(unsupported)) {
          throw invalidValue(
            `IpPermissions.${unsupported}`,
            unsupported,
            'Only IPv4 ranges and security groups can be sources of rules here.',
          );
        }
      }
      return {
        protocol: p.requireString('IpProtocol', { max: 16 }),
        fromPort: p.int('FromPort'),
        toPort: p.int('ToPort'),
        ipRanges: p.structs('IpRanges').map((r) => ({
          cidr: r.requireString('CidrIp', { max: 64 }),
          description: r.string('Description', { max: 1024 }),
        })),
        sourceGroups: p.structs('Groups').map(sourceGroupRef),
      };
    });

  const permissions = (params: Params): PermissionSpec[] => {
    const out = ipPermissionStructs(params);
    const protocol = params.string('IpProtocol', { max: 16 });
    const cidr = params.string('CidrIp', { max: 64 });
    const sourceName = params.string('SourceSecurityGroupName', { max: 255 });
    const ownerId = params.string('SourceSecurityGroupOwnerId', { max: 64 });
    const sourceGroups: SourceGroupRef[] = sourceName ? [{ name: sourceName, ownerId }] : [];
    if (protocol !== undefined) {
      out.push({
        protocol,
        fromPort: params.int('FromPort'),
        toPort: params.int('ToPort'),
        ipRanges: (cidr !== undefined ? [cidr] : sourceName ? [] : [ALL_IPV4]).map((c) => ({
          cidr: c,
        })),
        sourceGroups,
      });
    } else if (sourceName) {
      for (const p of WHOLE_GROUP) {
        out.push({ ...p, ipRanges: cidr ? [{ cidr }] : [], sourceGroups });
      }
    } else if (cidr !== undefined) {
      throw missingParameter('IpProtocol');
    }
    return out;
  };

  const tagSpecs = (params: Params) => {
    const list = params
      .tagSpecifications()
      .filter((s) => {
        if (s.resourceType !== 'security-group')
          throw invalidValue(
            'TagSpecification.ResourceType',
            s.resourceType,
            "It must be 'security-group'.",
          );
        return true;
      })
      .flatMap((s) => s.tags);
    checkTags(list);
    return list;
  };

  const ruleView = (
    group: SecurityGroupRow,
    r: SecurityGroupRuleRow,
    sources: Map<string, SecurityGroupRow>,
  ): XmlObject => {
    const source = r.sourceGroupId ? sources.get(r.sourceGroupId) : undefined;
    return {
      securityGroupRuleId: ec2Id('sgr', r.id),
      groupId: sgId(group.id),
      groupOwnerId: group.projectId,
      isEgress: r.direction === 'egress',
      ipProtocol: r.protocol,
      fromPort: r.fromPort,
      toPort: r.toPort,
      cidrIpv4: r.cidr,
      description: r.description ?? undefined,
      referencedGroupInfo: r.sourceGroupId
        ? { groupId: sgId(r.sourceGroupId), userId: source?.projectId ?? group.projectId }
        : undefined,
      tagSet: [],
    };
  };

  const sourcesOf = async (rules: readonly SecurityGroupRuleRow[]) => {
    const ids = [...new Set(rules.flatMap((r) => (r.sourceGroupId ? [r.sourceGroupId] : [])))];
    return new Map((await groups.byIds(ids)).map((g) => [g.id, g]));
  };

  /** EC2's view of a group's rules of one direction: one permission per protocol and ports. */
  const ipPermissions = (
    rules: readonly SecurityGroupRuleRow[],
    sources: Map<string, SecurityGroupRow>,
    direction: 'ingress' | 'egress',
  ): XmlObject[] => {
    const byRange = new Map<
      string,
      { rule: SecurityGroupRuleRow; groups: XmlObject[]; ipRanges: XmlObject[] }
    >();
    for (const r of rules) {
      if (r.direction !== direction) continue;
      const key = `${r.protocol}|${r.fromPort ?? ''}|${r.toPort ?? ''}`;
      const entry = byRange.get(key) ?? { rule: r, groups: [], ipRanges: [] };
      byRange.set(key, entry);
      if (r.cidr !== null) {
        entry.ipRanges.push({ cidrIp: r.cidr, description: r.description ?? undefined });
      }
      if (r.sourceGroupId !== null) {
        const source = sources.get(r.sourceGroupId);
        entry.groups.push({
          userId: source?.projectId,
          groupId: sgId(r.sourceGroupId),
          groupName: source?.name,
          description: r.description ?? undefined,
        });
      }
    }
    return [...byRange.values()].map(({ rule, groups: g, ipRanges }) => ({
      ipProtocol: rule.protocol,
      fromPort: rule.fromPort,
      toPort: rule.toPort,
      groups: g,
      ipRanges,
      ipv6Ranges: [],
      prefixListIds: [],
    }));
  };

  const revokedView = (group: SecurityGroupRow, r: SecurityGroupRuleRow): XmlObject => ({
    securityGroupRuleId: ec2Id('sgr', r.id),
    groupId: sgId(group.id),
    isEgress: r.direction === 'egress',
    ipProtocol: r.protocol,
    fromPort: r.fromPort,
    toPort: r.toPort,
    cidrIpv4: r.cidr,
    referencedSecurityGroupId: r.sourceGroupId ? sgId(r.sourceGroupId) : undefined,
  });

  const ruleRefsOf = (params: Params) =>
    params.list('SecurityGroupRuleId').map((shown) => ({
      idPrefix: parseEc2Id(shown, ['sgr'], 'security_group_rule').uuidPrefix,
      shown,
    }));

  return {
    CreateSecurityGroup: async ({ params, context }) => {
      const name = params.requireString('GroupName', { max: 255 });
      const description = params.requireString('GroupDescription', { max: 255 });
      const tags = tagSpecs(params);
      const shownVpc = params.string('VpcId', { max: 64 });
      // The default VPC's groups are those with no VPC of their own (the flat network's).
      let vpcId: string | null = null;
      if (shownVpc !== undefined && shownVpc !== '') {
        const vpc = await findVpc(deps, context, shownVpc);
        if (vpc.projectId !== context.projectId) throw vpcNotFound(shownVpc);
        vpcId = vpc.isDefault ? null : vpc.id;
      }
      const group = await network.createSecurityGroup(context, {
        name,
        description,
        tags,
        vpcId,
      });
      return {
        return: true,
        groupId: sgId(group.id),
        tagSet: tags.map((t) => ({ key: t.key, value: t.value })),
      };
    },

    DeleteSecurityGroup: async ({ params, context }) => {
      const group = await network.deleteSecurityGroup(context, groupRef(params));
      return { return: true, groupId: sgId(group.id) };
    },

    DescribeSecurityGroups: async ({ params, context }) => {
      const names = params.list('GroupName');
      const shownIds = params.list('GroupId');
      const idPrefixes = shownIds.map((id) => parseEc2Id(id, ['sg'], 'security_group').uuidPrefix);
      const filters = params.filters();
      const maxResults = params.int('MaxResults', { min: 5, max: 1000 });
      if (maxResults !== undefined && shownIds.length > 0) {
        throw new StratusError(
          'invalid',
          'The parameter groupIds cannot be used with the parameter maxResults.',
          { resource: 'parameter', reason: 'combination' },
        );
      }
      const offset = pageOffset(params.string('NextToken', { max: 1024 }));
      // GroupName.N names the default VPC's groups, as in EC2 (names are unique per VPC).
      const rows = (await groups.list(context, { names, idPrefixes })).filter(
        (r) => names.length === 0 || r.vpcId === null,
      );
      for (const name of names) {
        if (!rows.some((r) => r.name === name))
          throw notFound('security_group', name, `The security group '${name}' does not exist.`);
      }
      for (const [i, id] of shownIds.entries()) {
        if (!rows.some((r) => r.id.startsWith(idPrefixes[i] as string)))
          throw notFound('security_group', id, `The security group '${id}' does not exist.`);
      }
      const rules = await groups.rules(rows.map((r) => r.id));
      const sources = await sourcesOf(rules);
      const rulesOf = new Map<string, SecurityGroupRuleRow[]>();
      for (const r of rules) rulesOf.set(r.groupId, [...(rulesOf.get(r.groupId) ?? []), r]);
      const tagMap = await tagService.of(rows.map((r) => r.id));
      // A group with no VPC of its own is in its project's default VPC, if that has been made.
      const defaultOfCaller = await deps.vpcs.existingDefaultVpc(context);
      const vpcOf = (g: SecurityGroupRow) =>
        g.vpcId !== null
          ? vpcEc2Id(g.vpcId)
          : defaultOfCaller && g.projectId === context.projectId
            ? vpcEc2Id(defaultOfCaller.id)
            : undefined;
      const tagList = (g: SecurityGroupRow) =>
        (tagMap.get(g.id) ?? []).map((t) => ({ key: t.key, value: t.value }));
      // The `ip-permission.*` filters (ingress) and their `egress.` twins.
      const ruleFilters = (direction: 'ingress' | 'egress') => {
        const values =
          <T>(get: (r: SecurityGroupRuleRow) => T) =>
          (g: SecurityGroupRow) =>
            (rulesOf.get(g.id) ?? []).filter((r) => r.direction === direction).map(get);
        const prefix = direction === 'ingress' ? 'ip-permission' : 'egress.ip-permission';
        return {
          [`${prefix}.protocol`]: values((r) => r.protocol),
          [`${prefix}.from-port`]: values((r) => r.fromPort),
          [`${prefix}.to-port`]: values((r) => r.toPort),
          [`${prefix}.cidr`]: values((r) => r.cidr),
          [`${prefix}.group-id`]: values((r) => (r.sourceGroupId ? sgId(r.sourceGroupId) : null)),
          [`${prefix}.group-name`]: values((r) =>
            r.sourceGroupId ? sources.get(r.sourceGroupId)?.name : null,
          ),
          [`${prefix}.user-id`]: values((r) =>
            r.sourceGroupId ? sources.get(r.sourceGroupId)?.projectId : null,
          ),
        };
      };
      const matched = applyFilters(
        rows,
        filters,
        {
          'group-name': (g) => g.name,
          'group-id': (g) => sgId(g.id),
          description: (g) => g.description,
          'owner-id': (g) => g.projectId,
          'vpc-id': vpcOf,
          ...ruleFilters('ingress'),
          ...ruleFilters('egress'),
        },
        { tags: tagList },
      );
      const end = maxResults === undefined ? matched.length : offset + maxResults;
      return {
        nextToken: end < matched.length ? pageToken(end) : undefined,
        securityGroupInfo: matched.slice(offset, end).map((g) => ({
          ownerId: g.projectId,
          groupId: sgId(g.id),
          groupName: g.name,
          groupDescription: g.description,
          vpcId: vpcOf(g),
          ipPermissions: ipPermissions(rulesOf.get(g.id) ?? [], sources, 'ingress'),
          ipPermissionsEgress: ipPermissions(rulesOf.get(g.id) ?? [], sources, 'egress'),
          tagSet: tagList(g),
        })),
      };
    },

    AuthorizeSecurityGroupIngress: async ({ params, context }) => {
      const ref = groupRef(params);
      const { group, rules } = await network.authorizeSecurityGroupIngress(
        context,
        ref,
        permissions(params),
      );
      const sources = await sourcesOf(rules);
      return {
        return: true,
        securityGroupRuleSet: rules.map((r) => ruleView(group, r, sources)),
      };
    },

    RevokeSecurityGroupIngress: async ({ params, context }) => {
      const ref = groupRef(params);
      const { group, rules } = await network.revokeSecurityGroupIngress(context, ref, {
        permissions: permissions(params),
        ruleRefs: ruleRefsOf(params),
      });
      return {
        return: true,
        revokedSecurityGroupRuleSet: rules.map((r) => revokedView(group, r)),
      };
    },

    AuthorizeSecurityGroupEgress: async ({ params, context }) => {
      const ref = groupIdRef(params);
      const { group, rules } = await network.authorizeSecurityGroupEgress(
        context,
        ref,
        ipPermissionStructs(params),
      );
      const sources = await sourcesOf(rules);
      return {
        return: true,
        securityGroupRuleSet: rules.map((r) => ruleView(group, r, sources)),
      };
    },

    RevokeSecurityGroupEgress: async ({ params, context }) => {
      const ref = groupIdRef(params);
      const { group, rules } = await network.revokeSecurityGroupEgress(context, ref, {
        permissions: ipPermissionStructs(params),
        ruleRefs: ruleRefsOf(params),
      });
      return {
        return: true,
        revokedSecurityGroupRuleSet: rules.map((r) => revokedView(group, r)),
      };
    },

    DescribeSecurityGroupRules: async ({ params, context }) => {
      const shownIds = params.list('SecurityGroupRuleId');
      const idPrefixes = shownIds.map(
        (id) => parseEc2Id(id, ['sgr'], 'security_group_rule').uuidPrefix,
      );
      const maxResults = params.int('MaxResults', { min: 5, max: 1000 });
      const offset = pageOffset(params.string('NextToken', { max: 1024 }));
      const rows = await groups.list(context, {});
      const byId = new Map(rows.map((g) => [g.id, g]));
      let rules = await groups.rules(rows.map((g) => g.id));
      if (shownIds.length > 0) {
        rules = rules.filter((r) => idPrefixes.some((p) => r.id.startsWith(p)));
        for (const [i, id] of shownIds.entries()) {
          if (!rules.some((r) => r.id.startsWith(idPrefixes[i] as string))) {
            throw notFound(
              'security_group_rule',
              id,
              `The security group rule '${id}' does not exist.`,
            );
          }
        }
      }
      const sources = await sourcesOf(rules);
      const matched = applyFilters(rules, params.filters(), {
        'group-id': (r) => sgId(r.groupId),
        'security-group-rule-id': (r) => ec2Id('sgr', r.id),
      });
      const end = maxResults === undefined ? matched.length : offset + maxResults;
      return {
        nextToken: end < matched.length ? pageToken(end) : undefined,
        securityGroupRuleSet: matched
          .slice(offset, end)
          .map((r) => ruleView(byId.get(r.groupId) as SecurityGroupRow, r, sources)),
      };
    },
  };
}
