// What EC2 keeps of VPCs beside the project network model (migration 0037): VPC rows, the
// per-project claim on the default VPC, subnet attributes, internet gateways and routes.
// Claims, attachments and routes are taken by keyed inserts or conditional updates, so two
// racing requests never both win.
import type {
  Db,
  InternetGatewayRow,
  ProjectPortRow,
  VpcRouteRow,
  VpcRow,
  VpcSubnetRow,
  VpcsTable,
  VpcSubnetsTable,
} from '../schema.js';

export class VpcRepo {
  constructor(private readonly db: Db) {}

  /** Runs `fn` in one transaction with a repository bound to it; all of it or none. */
  transaction<T>(fn: (repo: VpcRepo) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => fn(new VpcRepo(trx)));
  }

  // VPCs

  async insertVpc(row: VpcRow): Promise<void> {
    await this.db.insertInto('vpcs').values(row).execute();
  }

  /** The VPC rows of these networks (all, or one project's, when absent). */
  async vpcs(scope: { projectId?: string; networkIds?: readonly string[] }): Promise<VpcRow[]> {
    let q = this.db.selectFrom('vpcs').selectAll();
    if (scope.projectId !== undefined) q = q.where('projectId', '=', scope.projectId);
    if (scope.networkIds) {
      if (scope.networkIds.length === 0) return [];
      q = q.where('networkId', 'in', scope.networkIds);
    }
    return q.orderBy('createdAt').orderBy('networkId').execute();
  }

  async updateVpc(
    networkId: string,
    change: Partial<Pick<VpcsTable, 'enableDnsSupport' | 'enableDnsHostnames'>>,
  ): Promise<void> {
    await this.db.updateTable('vpcs').set(change).where('networkId', '=', networkId).execute();
  }

  /** Removes a VPC's row with its routes, subnet attributes and default claim. */
  async deleteVpc(networkId: string, routerId: string | undefined): Promise<void> {
    if (routerId) await this.db.deleteFrom('vpcRoutes').where('routerId', '=', routerId).execute();
    await this.db.deleteFrom('vpcSubnets').where('networkId', '=', networkId).execute();
    await this.db.deleteFrom('defaultVpcs').where('networkId', '=', networkId).execute();
    await this.db.deleteFrom('vpcs').where('networkId', '=', networkId).execute();
  }

  // The default VPC

  async defaultClaim(
    projectId: string,
  ): Promise<{ networkId: string | null; claimedAt: number } | undefined> {
    const r = await this.db
      .selectFrom('defaultVpcs')
      .select(['networkId', 'claimedAt'])
      .where('projectId', '=', projectId)
      .executeTakeFirst();
    return r && { networkId: r.networkId, claimedAt: Number(r.claimedAt) };
  }

  /** Claims the making of the project's default VPC; false when another caller holds it. */
  async claimDefault(projectId: string, at: number): Promise<boolean> {
    const r = await this.db
      .insertInto('defaultVpcs')
      .values({ projectId, networkId: null, claimedAt: at })
      .onConflict((oc) => oc.column('projectId').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async completeDefault(projectId: string, networkId: string): Promise<void> {
    await this.db
      .updateTable('defaultVpcs')
      .set({ networkId })
      .where('projectId', '=', projectId)
      .execute();
  }

  /** Gives up an unfinished claim (made at `claimedAt`), so another caller may try. */
  async dropClaim(projectId: string, claimedAt: number): Promise<void> {
    await this.db
      .deleteFrom('defaultVpcs')
      .where('projectId', '=', projectId)
      .where('networkId', 'is', null)
      .where('claimedAt', '=', claimedAt)
      .execute();
  }

  // Subnets

  async insertSubnet(row: VpcSubnetRow): Promise<void> {
    await this.db.insertInto('vpcSubnets').values(row).execute();
  }

  async subnets(subnetIds?: readonly string[]): Promise<VpcSubnetRow[]> {
    let q = this.db.selectFrom('vpcSubnets').selectAll();
    if (subnetIds) {
      if (subnetIds.length === 0) return [];
      q = q.where('subnetId', 'in', subnetIds);
    }
    return q.execute();
  }

  async updateSubnet(
    subnetId: string,
    change: Partial<Pick<VpcSubnetsTable, 'mapPublicIp'>>,
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('vpcSubnets')
      .set(change)
      .where('subnetId', '=', subnetId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteSubnet(subnetId: string): Promise<void> {
    await this.db.deleteFrom('vpcSubnets').where('subnetId', '=', subnetId).execute();
  }

  // Internet gateways

  async insertGateway(row: InternetGatewayRow): Promise<void> {
    await this.db.insertInto('internetGateways').values(row).execute();
  }

  async gateways(scope: { projectId?: string }): Promise<InternetGatewayRow[]> {
    let q = this.db.selectFrom('internetGateways').selectAll();
    if (scope.projectId !== undefined) q = q.where('projectId', '=', scope.projectId);
    return q.orderBy('createdAt').orderBy('id').execute();
  }

  /** Attaches a detached gateway; false when it is attached already. */
  async attachGateway(id: string, networkId: string): Promise<boolean> {
    const r = await this.db
      .updateTable('internetGateways')
      .set({ networkId })
      .where('id', '=', id)
      .where('networkId', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Detaches a gateway from this VPC; false when it is not attached to it. */
  async detachGateway(id: string, networkId: string): Promise<boolean> {
    const r = await this.db
      .updateTable('internetGateways')
      .set({ networkId: null })
      .where('id', '=', id)
      .where('networkId', '=', networkId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Deletes a detached gateway; false when it is attached (or gone). */
  async deleteGateway(id: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('internetGateways')
      .where('id', '=', id)
      .where('networkId', 'is', null)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // Instances' ports

  /** The ports whose device is one of these instances, with their addresses and subnets. */
  async instancePorts(instanceIds: readonly string[]): Promise<
    {
      port: ProjectPortRow;
      subnetId: string;
      address: string;
      availabilityZone: string | null;
    }[]
  > {
    if (instanceIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('projectPorts')
      .innerJoin('projectPortIps', 'projectPortIps.portId', 'projectPorts.id')
      .leftJoin('vpcSubnets', 'vpcSubnets.subnetId', 'projectPortIps.subnetId')
      .selectAll('projectPorts')
      .select([
        'projectPortIps.subnetId as ipSubnetId',
        'projectPortIps.address as ipAddress',
        'vpcSubnets.availabilityZone as zone',
      ])
      .where('projectPorts.deviceId', 'in', instanceIds)
      .where('projectPorts.deviceOwner', 'like', 'compute:%')
      .orderBy('projectPorts.createdAt')
      .execute();
    return rows.map(({ ipSubnetId, ipAddress, zone, ...port }) => ({
      port,
      subnetId: ipSubnetId,
      address: ipAddress,
      availabilityZone: zone,
    }));
  }

  /** Of these instance ids, those with no instance row or a deleted one. */
  async goneInstances(instanceIds: readonly string[]): Promise<Set<string>> {
    if (instanceIds.length === 0) return new Set();
    const live = await this.db
      .selectFrom('instances')
      .select('id')
      .where('id', 'in', instanceIds)
      .where('vmState', '!=', 'deleted')
      .execute();
    const alive = new Set(live.map((r) => r.id));
    return new Set(instanceIds.filter((id) => !alive.has(id)));
  }

  // Routes

  async routes(routerIds: readonly string[]): Promise<VpcRouteRow[]> {
    if (routerIds.length === 0) return [];
    return this.db
      .selectFrom('vpcRoutes')
      .selectAll()
      .where('routerId', 'in', routerIds)
      .orderBy('createdAt')
      .execute();
  }

  /** Adds a route; false when the table has one to that destination. */
  async insertRoute(row: VpcRouteRow): Promise<boolean> {
    const r = await this.db
      .insertInto('vpcRoutes')
      .values(row)
      .onConflict((oc) => oc.columns(['routerId', 'destination']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async deleteRoute(routerId: string, destination: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('vpcRoutes')
      .where('routerId', '=', routerId)
      .where('destination', '=', destination)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
