// Role assignments: which user holds which role in which project.
import type { Role } from '../../context.js';
import type { Db, RoleAssignmentRow } from '../schema.js';

export class RoleAssignmentRepo {
  constructor(private readonly db: Db) {}

  /** Grants a role; granting one the user already holds changes nothing. */
  async grant(userId: string, projectId: string, role: Role, at: number): Promise<void> {
    await this.db
      .insertInto('roleAssignments')
      .values({ userId, projectId, role, createdAt: at })
      .onConflict((oc) => oc.columns(['userId', 'projectId', 'role']).doNothing())
      .execute();
  }

  /** Removes a role; returns whether the user held it. */
  async revoke(userId: string, projectId: string, role: Role): Promise<boolean> {
    const r = await this.db
      .deleteFrom('roleAssignments')
      .where('userId', '=', userId)
      .where('projectId', '=', projectId)
      .where('role', '=', role)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async rolesOf(userId: string, projectId: string): Promise<Role[]> {
    const rows = await this.db
      .selectFrom('roleAssignments')
      .select('role')
      .where('userId', '=', userId)
      .where('projectId', '=', projectId)
      .orderBy('role')
      .execute();
    return rows.map((r) => r.role as Role);
  }

  async list(filter: { userId?: string; projectId?: string } = {}): Promise<RoleAssignmentRow[]> {
    let q = this.db.selectFrom('roleAssignments').selectAll();
    if (filter.userId) q = q.where('userId', '=', filter.userId);
    if (filter.projectId) q = q.where('projectId', '=', filter.projectId);
    return q.orderBy('userId').orderBy('projectId').orderBy('role').execute();
  }
}
