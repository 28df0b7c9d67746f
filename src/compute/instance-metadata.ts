// What the metadata service knows about an instance beyond its row, read from the database when
// a guest asks (or, in QEMU user mode, when it is spawned), so it is current: a newly associated
// floating address, a changed group. By fixed IP, only a live instance holding the address is
// known. Reads only; the metadata edge (src/api/metadata) renders it for the guest.
import {
  InstanceRepo,
  LIVE_VM_STATES,
  SecurityGroupRepo,
  ServerMetadataRepo,
  type Db,
  type InstanceRow,
} from '../db/index.js';

export interface InstanceFacts {
  instance: InstanceRow;
  /** The address the guest asked from (by default its private IP). */
  localIpv4: string | null;
  /** The floating address mapped onto the instance, if any. */
  publicIpv4: string | null;
  /** The names of the instance's security groups, sorted. */
  securityGroups: string[];
  /** The name of the instance's flavor (its id if the flavor is gone). */
  flavorName: string;
  /** The instance's server metadata (the Compute API's), for OpenStack's meta_data.json. */
  serverMetadata?: Record<string, string>;
}

export class InstanceMetadataReader {
  constructor(private readonly db: Db) {}

  /** The facts of the live instance holding fixed IP `address`, or undefined. */
  async byFixedIp(address: string): Promise<InstanceFacts | undefined> {
    const holders = await this.db
      .selectFrom('fixedIps')
      .innerJoin('instances', 'instances.id', 'fixedIps.instanceId')
      .selectAll('instances')
      .where('fixedIps.address', '=', address)
      .where('instances.vmState', 'in', [...LIVE_VM_STATES])
      .execute();
    // The same address on two networks is ambiguous: answer neither rather than the wrong one.
    if (holders.length !== 1) return undefined;
    return this.forInstance(holders[0] as InstanceRow, address);
  }

  /** The facts of `inst`, as its guest sees them at `localIpv4` (default: its private IP). */
  /** Records the guest's first metadata request (later ones change nothing). */
  async recordFetch(inst: InstanceRow, at: number): Promise<void> {
    if (inst.metadataFetchedAt !== null) return;
    await new InstanceRepo(this.db).recordMetadataFetch(inst.id, at);
  }

  /** Keeps the password data the guest posted, if it posted none before; whether it was kept. */
  recordPassword(inst: InstanceRow, data: string, at: number): Promise<boolean> {
    return new InstanceRepo(this.db).recordPasswordData(inst.id, data, at);
  }

  async forInstance(
    inst: InstanceRow,
    localIpv4: string | null = inst.privateIp,
  ): Promise<InstanceFacts> {
    const floating = await this.db
      .selectFrom('floatingIps')
      .select('address')
      .where('instanceId', '=', inst.id)
      .executeTakeFirst();
    const groupIds = await this.db
      .selectFrom('instanceSecurityGroups')
      .select('groupId')
      .where('instanceId', '=', inst.id)
      .execute();
    const groups = await new SecurityGroupRepo(this.db).byIds(groupIds.map((g) => g.groupId));
    const flavor = await this.db
      .selectFrom('flavors')
      .select('name')
      .where('id', '=', inst.flavorId)
      .executeTakeFirst();
    const serverMetadata = (await new ServerMetadataRepo(this.db).of([inst.id])).get(inst.id);
    return {
      instance: inst,
      localIpv4,
      publicIpv4: floating?.address ?? null,
      securityGroups: groups.map((g) => g.name).sort(),
      flavorName: flavor?.name ?? inst.flavorId,
      serverMetadata: serverMetadata ?? {},
    };
  }
}
