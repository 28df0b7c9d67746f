// Security groups and their rules.
import { randomUUID } from 'node:crypto';
import { idStartsWith } from '../prefix.js';
import type { Db, SecurityGroupRow, SecurityGroupRuleRow } from '../schema.js';

export const DEFAULT_GROUP = 'default';

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

  async findByName(projectId: string, name: string): Promise<SecurityGroupRow | undefined> {
    return this.db
      .selectFrom('securityGroups')
      .selectAll()
      .where('projectId', '=', projectId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  /** The project's `default` group, created on first use (concurrent first uses agree). */
  async ensureDefault(projectId: string): Promise<SecurityGroupRow> {
    const existing = await this.findByName(projectId, DEFAULT_GROUP);
    if (existing) return existing;
    await this.db
      .insertInto('securityGroups')
      .values({
        id: randomUUID(),
        projectId,
        name: DEFAULT_GROUP,
        description: 'default group',
        createdAt: Date.now(),
      })
      .onConflict((oc) => oc.columns(['projectId', 'name']).doNothing())
      .execute();
    return (await this.findByName(projectId, DEFAULT_GROUP)) as SecurityGroupRow;
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
}
