// What the metadata service knows about the instance behind a fixed IP: read from the
// database when a guest asks, so it is always current (a newly associated floating IP, a
// changed group). Only a live instance holding the address is known; anything else is not.
import { LIVE_VM_STATES, SecurityGroupRepo, type Db, type InstanceRow } from '../../db/index.js';
import { ec2Id } from '../ec2/ids.js';

export interface InstanceMetadata {
  instance: InstanceRow;
  /** EC2 views of the ids. */
  instanceId: string;
  imageId: string;
  reservationId: string;
  hostname: string;
  instanceType: string;
  localIpv4: string;
  mac: string | null;
  publicIpv4: string | null;
  securityGroups: string[];
  /** The key pair's name and OpenSSH public key, when the instance was launched with one. */
  key: { name: string; openssh: string } | null;
  /** Decoded user data; null when there is none. */
  userData: Buffer | null;
}

export class MetadataService {
  constructor(private readonly db: Db) {}

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
    const inst = holders[0] as InstanceRow;
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
    return {
      instance: inst,
      instanceId: ec2Id('i', inst.id),
      imageId: ec2Id('ami', inst.imageId),
      reservationId: ec2Id('r', inst.reservationId),
      hostname: `ip-${address.replace(/\./g, '-')}`,
      instanceType: flavor?.name ?? inst.flavorId,
      localIpv4: address,
      mac: inst.macAddress,
      publicIpv4: floating?.address ?? null,
      securityGroups: groups.map((g) => g.name).sort(),
      key:
        inst.keyName && inst.keyData ? { name: inst.keyName, openssh: inst.keyData.trim() } : null,
      userData: inst.userData ? Buffer.from(inst.userData, 'base64') : null,
    };
  }
}
