// Project networks, subnets, ports with their addresses, routers and router interfaces (issue
// 16). Work that belongs together runs in `transaction`, with a repository bound to it, so a
// failure halfway leaves nothing behind. Addresses are taken with an insert that does nothing
// on conflict or a conditional update of a resting row: never two ports on one address.
import type {
  Db,
  ProjectNetworkRow,
  ProjectNetworksTable,
  ProjectPortIpRow,
  ProjectPortRow,
  ProjectPortsTable,
  ProjectRouterInterfaceRow,
  ProjectRouterRow,
  ProjectRoutersTable,
  ProjectSubnetRow,
  ProjectSubnetsTable,
} from '../schema.js';

/** Which rows a listing returns: one project's (plus shared networks), or all. */
export interface ProjectScope {
  /** Absent: every project's. */
  projectId?: string;
}

export class ProjectNetworkRepo {
  constructor(
    /** The database or transaction this repository works in. */
    readonly db: Db,
  ) {}

  /** Runs `fn` in one transaction with a repository bound to it; all of it or none. */
  transaction<T>(fn: (repo: ProjectNetworkRepo) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => fn(new ProjectNetworkRepo(trx)));
  }

  // Networks

  async insertNetwork(row: ProjectNetworkRow): Promise<void> {
    await this.db.insertInto('projectNetworks').values(row).execute();
  }

  /** The segmentation ids in use, in order. */
  async segmentationIds(): Promise<number[]> {
    const rows = await this.db
      .selectFrom('projectNetworks')
      .select('segmentationId')
      .orderBy('segmentationId')
      .execute();
    return rows.map((r) => Number(r.segmentationId));
  }

  async network(id: string): Promise<ProjectNetworkRow | undefined> {
    return this.db
      .selectFrom('projectNetworks')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** A project's networks and every shared or external one (all networks without a project). */
  async networks(scope: ProjectScope): Promise<ProjectNetworkRow[]> {
    let q = this.db.selectFrom('projectNetworks').selectAll();
    const projectId = scope.projectId;
    if (projectId !== undefined) {
      q = q.where((eb) =>
        eb.or([eb('projectId', '=', projectId), eb('shared', '=', 1), eb('external', '=', 1)]),
      );
    }
    return q.orderBy('createdAt').orderBy('id').execute();
  }

  /**
   * Changes a network. Also the way to serialize work on one network: updating its row first
   * in a transaction makes every other transaction that does the same wait for it.
   */
  async updateNetwork(
    id: string,
    change: Partial<Omit<ProjectNetworksTable, 'id' | 'projectId' | 'createdAt'>>,
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('projectNetworks')
      .set({ ...change, updatedAt: change.updatedAt ?? Date.now() })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Removes a network with its subnets and its resting addresses (ports must be gone). */
  async deleteNetwork(id: string): Promise<void> {
    await this.db.deleteFrom('projectPortIps').where('networkId', '=', id).execute();
    await this.db.deleteFrom('projectSubnets').where('networkId', '=', id).execute();
    await this.db.deleteFrom('projectNetworks').where('id', '=', id).execute();
  }

  // Subnets

  async insertSubnet(row: ProjectSubnetRow): Promise<void> {
    await this.db.insertInto('projectSubnets').values(row).execute();
  }

  async subnet(id: string): Promise<ProjectSubnetRow | undefined> {
    return this.db.selectFrom('projectSubnets').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Subnets of these networks (all subnets when absent), oldest first. */
  async subnets(networkIds?: readonly string[]): Promise<ProjectSubnetRow[]> {
    let q = this.db.selectFrom('projectSubnets').selectAll();
    if (networkIds) {
      if (networkIds.length === 0) return [];
      q = q.where('networkId', 'in', networkIds);
    }
    return q.orderBy('createdAt').orderBy('id').execute();
  }

  async updateSubnet(
    id: string,
    change: Partial<Omit<ProjectSubnetsTable, 'id' | 'networkId' | 'projectId' | 'createdAt'>>,
  ): Promise<void> {
    await this.db
      .updateTable('projectSubnets')
      .set({ ...change, updatedAt: change.updatedAt ?? Date.now() })
      .where('id', '=', id)
      .execute();
  }

  /** Removes a subnet and its resting addresses (no port may hold one). */
  async deleteSubnet(id: string): Promise<void> {
    await this.db.deleteFrom('projectPortIps').where('subnetId', '=', id).execute();
    await this.db.deleteFrom('projectSubnets').where('id', '=', id).execute();
  }

  // Ports and their addresses

  async insertPort(row: ProjectPortRow): Promise<void> {
    await this.db.insertInto('projectPorts').values(row).execute();
  }

  async port(id: string): Promise<ProjectPortRow | undefined> {
    return this.db.selectFrom('projectPorts').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Ports on these networks (all when absent), oldest first. */
  async ports(networkIds?: readonly string[]): Promise<ProjectPortRow[]> {
    let q = this.db.selectFrom('projectPorts').selectAll();
    if (networkIds) {
      if (networkIds.length === 0) return [];
      q = q.where('networkId', 'in', networkIds);
    }
    return q.orderBy('createdAt').orderBy('id').execute();
  }

  /** The ports of one device (an instance, a router), oldest first. */
  async portsOfDevice(deviceId: string): Promise<ProjectPortRow[]> {
    return this.db
      .selectFrom('projectPorts')
      .selectAll()
      .where('deviceId', '=', deviceId)
      .orderBy('createdAt')
      .orderBy('id')
      .execute();
  }

  async updatePort(
    id: string,
    change: Partial<Omit<ProjectPortsTable, 'id' | 'networkId' | 'projectId' | 'createdAt'>>,
  ): Promise<void> {
    await this.db
      .updateTable('projectPorts')
      .set({ ...change, updatedAt: change.updatedAt ?? Date.now() })
      .where('id', '=', id)
      .execute();
  }

  async deletePort(id: string): Promise<void> {
    await this.db.deleteFrom('projectPorts').where('id', '=', id).execute();
  }

  /** The addresses held by these ports (all held ones when absent). */
  async portIps(portIds?: readonly string[]): Promise<ProjectPortIpRow[]> {
    let q = this.db.selectFrom('projectPortIps').selectAll().where('portId', 'is not', null);
    if (portIds) {
      if (portIds.length === 0) return [];
      q = q.where('portId', 'in', portIds);
    }
    return q.orderBy('subnetId').orderBy('address').execute();
  }

  /** The addresses of a subnet a new port may not take at `at`: held or still resting. */
  async unavailable(subnetId: string, at: number): Promise<Set<string>> {
    const rows = await this.db
      .selectFrom('projectPortIps')
      .select('address')
      .where('subnetId', '=', subnetId)
      .where((eb) => eb.or([eb('portId', 'is not', null), eb('reusableAt', '>', at)]))
      .execute();
    return new Set(rows.map((r) => r.address));
  }

  /** How many addresses of each of these subnets ports hold. */
  async heldCounts(subnetIds: readonly string[]): Promise<Map<string, number>> {
    if (subnetIds.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('projectPortIps')
      .select((eb) => ['subnetId', eb.fn.countAll<number>().as('n')])
      .where('subnetId', 'in', subnetIds)
      .where('portId', 'is not', null)
      .groupBy('subnetId')
      .execute();
    return new Map(rows.map((r) => [r.subnetId, Number(r.n)]));
  }

  /**
   * Gives the address to the port if no port holds it and it is not resting at `at`: an
   * insert that does nothing on conflict, else an update of the rested row. False when
   * another port has it (or it still rests); safe with any number of callers at once.
   */
  async takeAddress(
    subnetId: string,
    networkId: string,
    address: string,
    portId: string,
    at: number,
  ): Promise<boolean> {
    const inserted = await this.db
      .insertInto('projectPortIps')
      .values({ subnetId, networkId, address, portId, reusableAt: 0 })
      .onConflict((oc) => oc.columns(['subnetId', 'address']).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) return true;
    const updated = await this.db
      .updateTable('projectPortIps')
      .set({ portId, reusableAt: 0 })
      .where('subnetId', '=', subnetId)
      .where('address', '=', address)
      .where('portId', 'is', null)
      .where('reusableAt', '<=', at)
      .executeTakeFirst();
    return Number(updated.numUpdatedRows) === 1;
  }

  /**
   * Lets the port's addresses go (only those of `subnetId`, and never those in `keep`, when
   * given); they rest until `reusableAt` (ms).
   */
  async releaseAddresses(
    portId: string,
    reusableAt: number,
    options: { subnetId?: string; keep?: readonly string[] } = {},
  ): Promise<void> {
    let q = this.db
      .updateTable('projectPortIps')
      .set({ portId: null, reusableAt })
      .where('portId', '=', portId);
    if (options.subnetId !== undefined) q = q.where('subnetId', '=', options.subnetId);
    if (options.keep && options.keep.length > 0) q = q.where('address', 'not in', options.keep);
    await q.execute();
  }

  // Routers

  async insertRouter(row: ProjectRouterRow): Promise<void> {
    await this.db.insertInto('projectRouters').values(row).execute();
  }

  async router(id: string): Promise<ProjectRouterRow | undefined> {
    return this.db.selectFrom('projectRouters').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async routers(scope: ProjectScope): Promise<ProjectRouterRow[]> {
    let q = this.db.selectFrom('projectRouters').selectAll();
    if (scope.projectId !== undefined) q = q.where('projectId', '=', scope.projectId);
    return q.orderBy('createdAt').orderBy('id').execute();
  }

  async updateRouter(
    id: string,
    change: Partial<Omit<ProjectRoutersTable, 'id' | 'projectId' | 'createdAt'>>,
  ): Promise<void> {
    await this.db
      .updateTable('projectRouters')
      .set({ ...change, updatedAt: change.updatedAt ?? Date.now() })
      .where('id', '=', id)
      .execute();
  }

  async deleteRouter(id: string): Promise<void> {
    await this.db.deleteFrom('projectRouters').where('id', '=', id).execute();
  }

  /**
   * Records that the subnet is joined to the router through the port; false when the subnet
   * is joined to a router already (the unique subnet decides, whatever the concurrency).
   */
  async insertInterface(row: ProjectRouterInterfaceRow): Promise<boolean> {
    const r = await this.db
      .insertInto('projectRouterInterfaces')
      .values(row)
      .onConflict((oc) => oc.column('subnetId').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  /** The interfaces of these routers (all when absent). */
  async interfaces(routerIds?: readonly string[]): Promise<ProjectRouterInterfaceRow[]> {
    let q = this.db.selectFrom('projectRouterInterfaces').selectAll();
    if (routerIds) {
      if (routerIds.length === 0) return [];
      q = q.where('routerId', 'in', routerIds);
    }
    return q.execute();
  }

  async deleteInterface(subnetId: string): Promise<void> {
    await this.db.deleteFrom('projectRouterInterfaces').where('subnetId', '=', subnetId).execute();
  }
}
