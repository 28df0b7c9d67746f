// The EC2 instance metadata of one instance as request path -> body: what a driver that
// provides the guest's network itself (QEMU user mode) serves at 169.254.169.254. The same
// paths the metadata service answers once the data plane routes guests to it.
import type { InstanceRow } from '../../db/index.js';
import { ec2Id } from '../ec2/ids.js';

export interface MetadataContext {
  region: string;
  availabilityZone: string;
}

/** The metadata files of `inst`; user data decoded from the base64 the API received. */
export function ec2MetadataFiles(inst: InstanceRow, ctx: MetadataContext): Record<string, string> {
  const instanceId = ec2Id('i', inst.id);
  const md = '/latest/meta-data';
  const files: Record<string, string> = {
    [`${md}/instance-id`]: instanceId,
    [`${md}/ami-id`]: ec2Id('ami', inst.imageId),
    [`${md}/reservation-id`]: ec2Id('r', inst.reservationId),
    [`${md}/ami-launch-index`]: String(inst.launchIndex),
    [`${md}/hostname`]: `${instanceId}.${ctx.region.toLowerCase()}.compute.internal`,
    [`${md}/local-hostname`]: `${instanceId}.${ctx.region.toLowerCase()}.compute.internal`,
    [`${md}/placement/availability-zone`]: ctx.availabilityZone,
  };
  if (inst.privateIp) files[`${md}/local-ipv4`] = inst.privateIp;
  if (inst.macAddress) files[`${md}/mac`] = inst.macAddress;
  if (inst.kernelId) files[`${md}/kernel-id`] = ec2Id('aki', inst.kernelId);
  if (inst.ramdiskId) files[`${md}/ramdisk-id`] = ec2Id('ari', inst.ramdiskId);
  if (inst.keyData) files[`${md}/public-keys/0/openssh-key`] = `${inst.keyData.trim()}\n`;
  if (inst.userData) files['/latest/user-data'] = Buffer.from(inst.userData, 'base64').toString();
  return files;
}
