// Security groups and their rules.
import { randomUUID } from 'node:crypto';
import { idStartsWith } from '../prefix.js';
import type { Db, SecurityGroupRow, SecurityGroupRuleRow } from '../schema.js';
import { LIVE_VM_STATES } from './instances.js';

export const DEFAULT_GROUP = 'default';

/** The rule a new group starts with, as in EC2 and Neutron: everything out, anywhere. */
export function allowAllEgressRule(groupId: string, createdAt: number): SecurityGroupRuleRow {
  return {
    id: randomUUID(),
    groupId,
    direction: 'egress',
    protocol: '-1',
    fromPort: null,
    toPort: null,
    cidr: '0.0.0.0/0',
    sourceGroupId: null,
    description: null,
    createdAt,
  };
}

export class SecurityGroupRepo {
  constructor(private readonly db: Db) {}

  async list(
    filter: { projectId?: string; idPrefixes?: readonly string[]; names?: readonly string[] } = {},
  ): Promise<SecurityGroupRow[]> {
    let q = this.db.selectFrom('securityGroups').selectAll();
    if (filter.projectId !== undefined) q = q.where('projectId', '=', filter.projectId);
    if (filter.idPrefixes) {
      const prefixes = filter.idPrefixes;
      if (prefixes.length === 0) return [];
      q = q.where((eb) => idStartsWith(eb, 'id', prefixes));
    }
    if (filter.names) {
      if (filter.names.length === 0) return [];
      q = q.where('name', 'in', filter.names);
    }
    return q.orderBy('createdAt').orderBy('id').execute();
  }

  async byIds(ids: readonly string[]): Promise<SecurityGroupRow[]> {
    if (ids.length === 0) return [];
    return this.db.selectFrom('securityGroups').selectAll().where('id', 'in', ids).execute();
  }

  /**
   * The project's group of this name in one VPC: `vpcId` null (the default) for the groups of
   * no VPC of their own (the default VPC's and the flat network's), as names are unique per VPC.
   */
  async findByName(
    projectId: string,
    name: string,
    vpcId: string | null = null,
  ): Promise<SecurityGroupRow | undefined> {
    let q = this.db
      .selectFrom('securityGroups')
      .selectAll()
      .where('projectId', '=', projectId)
      .where('name', '=', name);
    q = vpcId === null ? q.where('vpcId', 'is', null) : q.where('vpcId', '=', vpcId);
    return q.executeTakeFirst();
  }

  /**
   * The project's `default` group, created on first use with the allow-all egress rule
   * (concurrent first uses agree; only the one that made it adds the rule). It is the default
   * VPC's and the flat network's, and the Networking and Compute APIs' `default`.
   */
  async ensureDefault(projectId: string): Promise<SecurityGroupRow> {
    const existing = await this.findByName(projectId, DEFAULT_GROUP);
    if (existing) return existing;
    const id = randomUUID();
    const createdAt = Date.now();
    await this.db
      .insertInto('securityGroups')
      .values({ id, projectId, name: DEFAULT_GROUP, description: 'default group', createdAt })
      .onConflict((oc) => oc.doNothing())
      .execute();
    const row = (await this.findByName(projectId, DEFAULT_GROUP)) as SecurityGroupRow;
    if (row.id === id) await this.insertRules([allowAllEgressRule(id, createdAt)]);
    return row;
  }

  /**
   * The `default` group of a VPC other than the default one, created on first use with EC2's
   * rules: ingress from the group's own members, egress anywhere (concurrent uses agree).
   */
  async ensureVpcDefault(projectId: string, vpcId: string): Promise<SecurityGroupRow> {
    const existing = await this.findByName(projectId, DEFAULT_GROUP, vpcId);
    if (existing) return existing;
    const id = randomUUID();
    const createdAt = Date.now();
    await this.db
      .insertInto('securityGroups')
      .values({
        id,
        projectId,
        name: DEFAULT_GROUP,
        description: 'default VPC security group',
        vpcId,
        createdAt,
      })
      .onConflict((oc) => oc.doNothing())
      .execute();
    const row = (await this.findByName(projectId, DEFAULT_GROUP, vpcId)) as SecurityGroupRow;
    if (row.id === id) {
      await this.insertRules([
        {
          id: randomUUID(),
          groupId: id,
          direction: 'ingress',
          protocol: '-1',
          fromPort: null,
          toPort: null,
          cidr: null,
          sourceGroupId: id,
          description: null,
          createdAt,
        },
        allowAllEgressRule(id, createdAt + 1),
      ]);
    }
    return row;
  }

  async rules(groupIds: readonly string[]): Promise<SecurityGroupRuleRow[]> {
    if (groupIds.length === 0) return [];
    return this.db
      .selectFrom('securityGroupRules')
      .selectAll()
      .where('groupId', 'in', groupIds)
      .orderBy('createdAt')
      .execute();
  }

  /** Inserts a new group with the allow-all egress rule every group starts with. */
  async insert(row: SecurityGroupRow): Promise<void> {
    await this.db.insertInto('securityGroups').values(row).execute();
    await this.insertRules([allowAllEgressRule(row.id, row.createdAt)]);
  }

  /** Gives a group a new name and description. */
  async rename(id: string, name: string, description: string): Promise<void> {
    await this.db
      .updateTable('securityGroups')
      .set({ name, description })
      .where('id', '=', id)
      .execute();
  }

  /** How many groups belong to the VPC of this network, besides its `default` group. */
  async countByVpc(vpcId: string): Promise<number> {
    const row = await this.db
      .selectFrom('securityGroups')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('vpcId', '=', vpcId)
      .where('name', '!=', DEFAULT_GROUP)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async countByProject(projectId: string): Promise<number> {
    const row = await this.db
      .selectFrom('securityGroups')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('projectId', '=', projectId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Removes a group with its rules, its tags and its links to instances that are gone. Callers
   * check first that no live instance and no other group's rule still needs it.
   */
  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('securityGroupRules').where('groupId', '=', id).execute();
    await this.db.deleteFrom('securityGroupRules').where('sourceGroupId', '=', id).execute();
    await this.db.deleteFrom('instanceSecurityGroups').where('groupId', '=', id).execute();
    await this.db.deleteFrom('tags').where('resourceId', '=', id).execute();
    await this.db.deleteFrom('securityGroups').where('id', '=', id).execute();
  }

  async insertRules(rows: readonly SecurityGroupRuleRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db
      .insertInto('securityGroupRules')
      .values([...rows])
      .execute();
  }

  async deleteRules(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.deleteFrom('securityGroupRules').where('id', 'in', ids).execute();
  }

  /** Rules whose id starts with one of these. */
  async rulesByIdPrefixes(prefixes: readonly string[]): Promise<SecurityGroupRuleRow[]> {
    if (prefixes.length === 0) return [];
    return this.db
      .selectFrom('securityGroupRules')
      .selectAll()
      .where((eb) => idStartsWith(eb, 'id', prefixes))
      .orderBy('createdAt')
      .execute();
  }

  async countRules(groupId: string): Promise<number> {
    const row = await this.db
      .selectFrom('securityGroupRules')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('groupId', '=', groupId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Live (building, active or stopped) instances that are members of the group. */
  async liveInstancesUsing(groupId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('instanceSecurityGroups')
      .innerJoin('instances', 'instances.id', 'instanceSecurityGroups.instanceId')
      .select('instances.id as id')
      .where('instanceSecurityGroups.groupId', '=', groupId)
      .where('instances.vmState', 'in', LIVE_VM_STATES)
      .orderBy('instances.id')
      .execute();
    return rows.map((r) => r.id);
  }

  /** Other groups with a rule that names this group as its source. */
  async referencedBy(groupId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('securityGroupRules')
      .select('groupId')
      .distinct()
      .where('sourceGroupId', '=', groupId)
      .where('groupId', '!=', groupId)
      .orderBy('groupId')
      .execute();
    return rows.map((r) => r.groupId);
  }

  /** The groups of each of these instances. */
  async groupsOfInstances(instanceIds: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (let i = 0; i < instanceIds.length; i += 500) {
      const rows = await this.db
        .selectFrom('instanceSecurityGroups')
        .selectAll()
        .where('instanceId', 'in', instanceIds.slice(i, i + 500))
        .orderBy('groupId')
        .execute();
      for (const r of rows) out.set(r.instanceId, [...(out.get(r.instanceId) ?? []), r.groupId]);
    }
    return out;
  }

  /**
   * The fixed addresses held by the live instances in each of these groups, whichever host
   * they run on. An address counts from the moment the network service hands it out to the
   * moment the instance gives it back (both announced to every host's agent), not by the
   * instance record's copy, which is written later and kept after the address is returned.
   */
  async liveMemberAddresses(groupIds: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (groupIds.length === 0) return out;
    const rows = await this.db
      .selectFrom('instanceSecurityGroups')
      .innerJoin('instances', 'instances.id', 'instanceSecurityGroups.instanceId')
      .innerJoin('fixedIps', 'fixedIps.instanceId', 'instanceSecurityGroups.instanceId')
      .select(['instanceSecurityGroups.groupId as groupId', 'fixedIps.address as address'])
      .where('instanceSecurityGroups.groupId', 'in', groupIds)
      .where('instances.vmState', 'in', LIVE_VM_STATES)
      .orderBy('fixedIps.seq')
      .execute();
    for (const r of rows) out.set(r.groupId, [...(out.get(r.groupId) ?? []), r.address]);
    return out;
  }

  /**
   * The groups with a rule whose source is one of the instance's groups: the groups whose
   * effective rules change when the instance gets or gives back its address (one query).
   */
  async groupsWithRulesFromGroupsOf(instanceId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('securityGroupRules')
      .innerJoin(
        'instanceSecurityGroups',
        'instanceSecurityGroups.groupId',
        'securityGroupRules.sourceGroupId',
      )
      .select('securityGroupRules.groupId as groupId')
      .distinct()
      .where('instanceSecurityGroups.instanceId', '=', instanceId)
      .orderBy('securityGroupRules.groupId')
      .execute();
    return rows.map((r) => r.groupId);
  }
}
