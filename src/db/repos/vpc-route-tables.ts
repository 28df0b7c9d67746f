// The route tables EC2 made beside each VPC's main one, and route table associations
// (migration 0040). A subnet has at most one association and a VPC one main association,
// both kept by unique columns, so two racing requests never both win.
import type { Db, VpcRouteTableAssociationRow, VpcRouteTableRow } from '../schema.js';
import { isUniqueViolation } from '../constraint.js';

export class VpcRouteTableRepo {
  constructor(private readonly db: Db) {}

  /** Runs `fn` in one transaction with a repository bound to it; all of it or none. */
  transaction<T>(fn: (repo: VpcRouteTableRepo) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => fn(new VpcRouteTableRepo(trx)));
  }

  async insertTable(row: VpcRouteTableRow): Promise<void> {
    await this.db.insertInto('vpcRouteTables').values(row).execute();
  }

  /** The tables of these VPCs, oldest first. */
  async tables(networkIds: readonly string[]): Promise<VpcRouteTableRow[]> {
    if (networkIds.length === 0) return [];
    return this.db
      .selectFrom('vpcRouteTables')
      .selectAll()
      .where('networkId', 'in', networkIds)
      .orderBy('createdAt')
      .orderBy('id')
      .execute();
  }

  /** Deletes a table with its routes; false when it is gone already. */
  async deleteTable(id: string): Promise<boolean> {
    await this.db.deleteFrom('vpcRoutes').where('routerId', '=', id).execute();
    const r = await this.db.deleteFrom('vpcRouteTables').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** The associations of these VPCs, oldest first. */
  async associations(networkIds: readonly string[]): Promise<VpcRouteTableAssociationRow[]> {
    if (networkIds.length === 0) return [];
    return this.db
      .selectFrom('vpcRouteTableAssociations')
      .selectAll()
      .where('networkId', 'in', networkIds)
      .orderBy('createdAt')
      .orderBy('id')
      .execute();
  }

  /** Adds an association; false when the subnet (or the VPC's main) has one already. */
  async insertAssociation(row: VpcRouteTableAssociationRow): Promise<boolean> {
    try {
      await this.db.insertInto('vpcRouteTableAssociations').values(row).execute();
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  /** Points an association at another table under a new id; false when it is gone. */
  async replaceAssociation(id: string, routeTableId: string, newId: string): Promise<boolean> {
    const r = await this.db
      .updateTable('vpcRouteTableAssociations')
      .set({ id: newId, routeTableId, createdAt: Date.now() })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteAssociation(id: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('vpcRouteTableAssociations')
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Removes what a subnet's going leaves behind: its association. */
  async forgetSubnet(subnetId: string): Promise<void> {
    await this.db
      .deleteFrom('vpcRouteTableAssociations')
      .where('subnetId', '=', subnetId)
      .execute();
  }

  /** Removes a VPC's tables, their routes and its associations (the VPC is going). */
  async forgetVpc(networkId: string): Promise<void> {
    const tables = await this.tables([networkId]);
    if (tables.length > 0) {
      await this.db
        .deleteFrom('vpcRoutes')
        .where(
          'routerId',
          'in',
          tables.map((t) => t.id),
        )
        .execute();
    }
    await this.db.deleteFrom('vpcRouteTables').where('networkId', '=', networkId).execute();
    await this.db
      .deleteFrom('vpcRouteTableAssociations')
      .where('networkId', '=', networkId)
      .execute();
  }
}
