// What the metadata service knows about an instance, read from the database when a guest asks
// (or, in QEMU user mode, when it is spawned), so it is current: a newly associated floating
// IP, a changed group. By fixed IP, only a live instance holding the address is known.
import {
  InstanceRepo,
  LIVE_VM_STATES,
  SecurityGroupRepo,
  type Db,
  type InstanceRow,
} from '../../db/index.js';
import { ec2Id, privateDnsName } from '../../ids/index.js';

export interface InstanceMetadata {
  instance: InstanceRow;
  /** EC2 views of the ids. */
  instanceId: string;
  imageId: string;
  kernelId: string | null;
  ramdiskId: string | null;
  reservationId: string;
  /** The private DNS name, as DescribeInstances shows it. */
  hostname: string;
  instanceType: string;
  localIpv4: string | null;
  mac: string | null;
  publicIpv4: string | null;
  securityGroups: string[];
  /** The key pair's name and OpenSSH public key, when the instance was launched with one. */
  key: { name: string; openssh: string } | null;
  /** Decoded user data; null when there is none. */
  userData: Buffer | null;
}

export class MetadataService {
  constructor(
    private readonly db: Db,
    private readonly region: string,
  ) {}

  /** The metadata of the live instance holding fixed IP `address`, or undefined. */
  async byFixedIp(address: string): Promise<InstanceMetadata | undefined> {
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

  /**
   * Notes that the guest of `inst` asked for its metadata: the first request is kept, as a
   * sign the guest is up on the network (DescribeInstanceStatus's reachability check).
   */
  async recordFetch(inst: InstanceRow, at = Date.now()): Promise<void> {
    if (inst.metadataFetchedAt !== null) return;
    await new InstanceRepo(this.db).recordMetadataFetch(inst.id, at);
  }

  /** The metadata of `inst`, as its guest sees it at `localIpv4` (default: its private IP). */
  async forInstance(
    inst: InstanceRow,
    localIpv4: string | null = inst.privateIp,
  ): Promise<InstanceMetadata> {
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
    const instanceId = ec2Id('i', inst.id);
    return {
      instance: inst,
      instanceId,
      imageId: ec2Id('ami', inst.imageId),
      kernelId: inst.kernelId ? ec2Id('aki', inst.kernelId) : null,
      ramdiskId: inst.ramdiskId ? ec2Id('ari', inst.ramdiskId) : null,
      reservationId: ec2Id('r', inst.reservationId),
      hostname: localIpv4
        ? privateDnsName(localIpv4, this.region)
        : `${instanceId}.${this.region.toLowerCase()}.compute.internal`,
      instanceType: flavor?.name ?? inst.flavorId,
      localIpv4,
      mac: inst.macAddress,
      publicIpv4: floating?.address ?? null,
      securityGroups: groups.map((g) => g.name).sort(),
      key:
        inst.keyName && inst.keyData ? { name: inst.keyName, openssh: inst.keyData.trim() } : null,
      userData: inst.userData ? Buffer.from(inst.userData, 'base64') : null,
    };
  }
}
