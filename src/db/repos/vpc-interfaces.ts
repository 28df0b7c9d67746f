// What EC2 keeps of VPC interfaces beside their ports (migration 0040): attachment attributes,
// the public addresses given at launch, and the interface an Elastic IP is bound to.
import type {
  Db,
  VpcAddressBindingRow,
  VpcInterfaceAttributesRow,
  VpcLaunchAddressRow,
} from '../schema.js';

export class VpcInterfaceRepo {
  constructor(private readonly db: Db) {}

  /** The attributes of these ports (those that have a row). */
  async attributes(portIds: readonly string[]): Promise<VpcInterfaceAttributesRow[]> {
    if (portIds.length === 0) return [];
    return this.db
      .selectFrom('vpcInterfaceAttributes')
      .selectAll()
      .where('portId', 'in', portIds)
      .execute();
  }

  /**
   * Which of these ports were attached to their instance after its launch (a device index
   * above 0): cards of their own, not the instance's first port.
   */
  async attachedLater(portIds: readonly string[]): Promise<Set<string>> {
    return new Set(
      (await this.attributes(portIds)).filter((a) => a.deviceIndex > 0).map((a) => a.portId),
    );
  }

  /** Writes a port's attributes whole (insert or replace). */
  async putAttributes(row: VpcInterfaceAttributesRow): Promise<void> {
    await this.db
      .insertInto('vpcInterfaceAttributes')
      .values(row)
      .onConflict((oc) =>
        oc.column('portId').doUpdateSet({
          deviceIndex: row.deviceIndex,
          deleteOnTermination: row.deleteOnTermination,
          sourceDestCheck: row.sourceDestCheck,
          attachmentId: row.attachmentId,
          attachedAt: row.attachedAt,
        }),
      )
      .execute();
  }

  async deleteAttributes(portId: string): Promise<void> {
    await this.db.deleteFrom('vpcInterfaceAttributes').where('portId', '=', portId).execute();
  }

  // Public addresses given at launch

  async insertLaunchAddress(row: VpcLaunchAddressRow): Promise<void> {
    await this.db.insertInto('vpcLaunchAddresses').values(row).execute();
  }

  /** The launch addresses of these instances (all of them when absent). */
  async launchAddresses(instanceIds?: readonly string[]): Promise<VpcLaunchAddressRow[]> {
    let q = this.db.selectFrom('vpcLaunchAddresses').selectAll();
    if (instanceIds) {
      if (instanceIds.length === 0) return [];
      q = q.where('instanceId', 'in', instanceIds);
    }
    return q.execute();
  }

  async deleteLaunchAddress(allocationId: string): Promise<void> {
    await this.db
      .deleteFrom('vpcLaunchAddresses')
      .where('allocationId', '=', allocationId)
      .execute();
  }

  // Elastic IPs bound to an interface

  async putBinding(row: VpcAddressBindingRow): Promise<void> {
    await this.db
      .insertInto('vpcAddressBindings')
      .values(row)
      .onConflict((oc) =>
        oc.column('associationId').doUpdateSet({ portId: row.portId, privateIp: row.privateIp }),
      )
      .execute();
  }

  /** The bindings of these associations (all of them when absent). */
  async bindings(associationIds?: readonly string[]): Promise<VpcAddressBindingRow[]> {
    let q = this.db.selectFrom('vpcAddressBindings').selectAll();
    if (associationIds) {
      if (associationIds.length === 0) return [];
      q = q.where('associationId', 'in', associationIds);
    }
    return q.execute();
  }

  async deleteBinding(associationId: string): Promise<void> {
    await this.db
      .deleteFrom('vpcAddressBindings')
      .where('associationId', '=', associationId)
      .execute();
  }
}
