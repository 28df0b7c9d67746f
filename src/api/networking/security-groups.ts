// The Networking API's security groups and rules, over the same groups and rules EC2 and the
// Compute API show: ingress and egress rules alike (a new group's allow-all egress rule is a
// rule of the model, which a user may delete to close the group's egress).
import type { RequestContext } from '../../context.js';
import type { SecurityGroupRuleRow } from '../../db/index.js';
import { invalid, notFound } from '../../errors.js';
import { int, project, required, str } from './body.js';
import { resourceRoutes, type NetworkingRoutes } from './resource-router.js';
import {
  RULE_ATTRIBUTES,
  ruleView,
  SECURITY_GROUP_ATTRIBUTES,
  securityGroupView,
} from './views.js';

export function securityGroupRoutes(r: NetworkingRoutes): void {
  const { network: networkClient, securityGroups: groups } = r.services;

  /** The groups the caller may see, each with its rules as the API shows them. */
  const groupViews = async (ctx: RequestContext) => {
    const rows = await groups.list(ctx);
    const rules = await groups.rules(rows.map((g) => g.id));
    const defaults = new Set(rows.filter((g) => g.name === 'default').map((g) => g.id));
    const projectOf = new Map(rows.map((g) => [g.id, g.projectId]));
    const ruleJson = (r: SecurityGroupRuleRow) =>
      ruleView(r, projectOf.get(r.groupId) ?? '', defaults);
    return rows.map((g) => ({
      row: g,
      rules: rules.filter((r) => r.groupId === g.id).map(ruleJson),
    }));
  };
  const findGroup = async (ctx: RequestContext, id: string) => {
    const found = (await groupViews(ctx)).find((g) => g.row.id === id);
    if (!found) throw notFound('security_group', id, `Security group ${id} does not exist`);
    return found;
  };

  const groupView = async (ctx: RequestContext, id: string) => {
    const g = await findGroup(ctx, id);
    return securityGroupView(g.row, g.rules);
  };

  resourceRoutes(r, {
    path: 'security-groups',
    member: 'security_group',
    collection: 'security_groups',
    attributes: SECURITY_GROUP_ATTRIBUTES,
    list: async (ctx) => (await groupViews(ctx)).map((g) => securityGroupView(g.row, g.rules)),
    show: groupView,
    create: {
      keys: ['name', 'description', 'project_id', 'tenant_id', 'stateful'],
      async run(ctx, b) {
        if (b['stateful'] === false) {
          throw invalid('Stateless security groups are not offered here.', {
            resource: 'parameter',
            id: 'stateful',
            reason: 'unsupported',
          });
        }
        if (project(b) !== undefined && project(b) !== ctx.projectId) {
          throw invalid('A security group is made in the project of the token here.', {
            resource: 'parameter',
            id: 'project_id',
            reason: 'unsupported',
          });
        }
        const row = await networkClient.createSecurityGroup(ctx, {
          name: required(str(b, 'name'), 'name'),
          description: str(b, 'description') ?? '',
        });
        return groupView(ctx, row.id);
      },
    },
    update: {
      keys: ['name', 'description'],
      async run(ctx, id, b) {
        const g = await findGroup(ctx, id);
        await networkClient.updateSecurityGroup(
          ctx,
          { idPrefix: g.row.id, shown: g.row.id },
          {
            name: str(b, 'name') ?? g.row.name,
            description: str(b, 'description') ?? g.row.description,
          },
        );
        return groupView(ctx, id);
      },
    },
    async remove(ctx, id) {
      const g = await findGroup(ctx, id);
      await networkClient.deleteSecurityGroup(ctx, { idPrefix: g.row.id, shown: g.row.id });
    },
  });

  const allRules = async (ctx: RequestContext) => (await groupViews(ctx)).flatMap((g) => g.rules);
  resourceRoutes(r, {
    path: 'security-group-rules',
    member: 'security_group_rule',
    collection: 'security_group_rules',
    attributes: RULE_ATTRIBUTES,
    list: allRules,
    async show(ctx, id) {
      const found = (await allRules(ctx)).find((x) => x['id'] === id);
      if (!found) {
        throw notFound('security_group_rule', id, `Security group rule ${id} does not exist`);
      }
      return found;
    },
    create: {
      keys: [
        'security_group_id',
        'direction',
        'ethertype',
        'protocol',
        'port_range_min',
        'port_range_max',
        'remote_ip_prefix',
        'remote_group_id',
        'remote_address_group_id',
        'description',
        'project_id',
        'tenant_id',
      ],
      async run(ctx, b) {
        const g = await findGroup(ctx, required(str(b, 'security_group_id'), 'security_group_id'));
        const direction = str(b, 'direction');
        if (direction !== 'ingress' && direction !== 'egress') {
          throw invalid(
            `Invalid input for direction. Reason: '${String(direction)}' is not in ['ingress', 'egress'].`,
            { resource: 'parameter', id: 'direction' },
          );
        }
        const ethertype = str(b, 'ethertype') ?? 'IPv4';
        if (ethertype !== 'IPv4') {
          throw invalid(
            ethertype === 'IPv6'
              ? 'IPv6 rules are not offered here: the networks are IPv4 only.'
              : `Invalid input for ethertype. Reason: '${ethertype}' is not in ['IPv4', 'IPv6'].`,
            { resource: 'parameter', id: 'ethertype', reason: 'unsupported' },
          );
        }
        if (b['remote_address_group_id'] !== undefined && b['remote_address_group_id'] !== null) {
          throw invalid('Address groups are not offered here.', {
            resource: 'parameter',
            id: 'remote_address_group_id',
            reason: 'unsupported',
          });
        }
        const protocol = ruleProtocol(b['protocol']);
        const remoteIp = str(b, 'remote_ip_prefix');
        const remoteGroup = str(b, 'remote_group_id');
        if (remoteIp !== undefined && remoteGroup !== undefined) {
          throw invalid('Only remote_ip_prefix or remote_group_id may be provided.', {
            resource: 'parameter',
            id: 'remote_group_id',
            reason: 'combination',
          });
        }
        const min = int(b, 'port_range_min');
        const max = int(b, 'port_range_max');
        if (protocol === 'tcp' || protocol === 'udp') {
          // A minimum alone is that one port; neither is every port.
          const lo = min ?? 1;
          const hi = max ?? min ?? 65535;
          if (lo < 1 || hi > 65535 || lo > hi) {
            throw invalid(
              `For TCP/UDP protocols, port_range_min must be <= port_range_max and both from 1 to 65535 (got ${lo}-${hi}).`,
              { resource: 'parameter', id: 'port_range_min' },
            );
          }
        } else if (protocol === 'icmp') {
          for (const [key, v] of [
            ['port_range_min', min],
            ['port_range_max', max],
          ] as const) {
            if (v !== undefined && (v < 0 || v > 255)) {
              throw invalid(
                `Invalid value for ICMP ${key === 'port_range_min' ? 'type' : 'code'}: ${v}.`,
                {
                  resource: 'parameter',
                  id: key,
                },
              );
            }
          }
          if (min === undefined && max !== undefined) {
            throw invalid('An ICMP code needs an ICMP type (port_range_min).', {
              resource: 'parameter',
              id: 'port_range_max',
            });
          }
        } else if (min !== undefined || max !== undefined) {
          throw invalid('Port ranges apply to TCP, UDP and ICMP rules only.', {
            resource: 'parameter',
            id: 'port_range_min',
          });
        }
        const description = str(b, 'description');
        const permission = {
          protocol,
          ...(protocol === 'tcp' || protocol === 'udp'
            ? { fromPort: min ?? 1, toPort: max ?? min ?? 65535 }
            : protocol === 'icmp'
              ? { fromPort: min ?? -1, toPort: max ?? -1 }
              : {}),
          ...(remoteGroup !== undefined
            ? { sourceGroups: [{ idPrefix: remoteGroup, shown: remoteGroup, description }] }
            : { ipRanges: [{ cidr: remoteIp ?? '0.0.0.0/0', description }] }),
        };
        if (remoteGroup !== undefined) {
          const visible = (await groups.list(ctx)).some((x) => x.id === remoteGroup);
          if (!visible) {
            throw notFound(
              'security_group',
              remoteGroup,
              `Security group ${remoteGroup} does not exist`,
            );
          }
        }
        const ref = { idPrefix: g.row.id, shown: g.row.id };
        const change =
          direction === 'ingress'
            ? await networkClient.authorizeSecurityGroupIngress(ctx, ref, [permission])
            : await networkClient.authorizeSecurityGroupEgress(ctx, ref, [permission]);
        const rule = change.rules[0] as SecurityGroupRuleRow;
        const defaults = new Set(g.row.name === 'default' ? [g.row.id] : []);
        return ruleView(rule, g.row.projectId, defaults);
      },
    },
    async remove(ctx, id) {
      const found = (await allRules(ctx)).find((r) => r['id'] === id);
      if (!found)
        throw notFound('security_group_rule', id, `Security group rule ${id} does not exist`);
      const groupId = String(found['security_group_id']);
      const ref = { idPrefix: groupId, shown: groupId };
      const what = { ruleRefs: [{ idPrefix: id, shown: id }] };
      if (found['direction'] === 'egress') {
        await networkClient.revokeSecurityGroupEgress(ctx, ref, what);
      } else {
        await networkClient.revokeSecurityGroupIngress(ctx, ref, what);
      }
    },
  });
}

/** A rule's protocol as the model names it ('-1' for any). */
function ruleProtocol(value: unknown): string {
  if (value === undefined || value === null || value === 'any') return '-1';
  const names: Record<string, string> = {
    tcp: 'tcp',
    udp: 'udp',
    icmp: 'icmp',
    '6': 'tcp',
    '17': 'udp',
    '1': 'icmp',
  };
  const key =
    typeof value === 'number'
      ? String(value)
      : typeof value === 'string'
        ? value.toLowerCase()
        : '';
  // Another IP protocol by its number: all of its traffic (no ports).
  if (/^\d{1,3}$/.test(key) && Number(key) <= 255) return names[key] ?? String(Number(key));
  const p = names[key];
  if (!p) {
    throw invalid(
      `Security group rule protocol ${JSON.stringify(value)} is not supported here. Only tcp, udp, icmp, any and protocol numbers (0 to 255) are.`,
      { resource: 'parameter', id: 'protocol', reason: 'unsupported' },
    );
  }
  return p;
}
