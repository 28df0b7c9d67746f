// The metadata of an instance as its guest reads it: the domain's facts about the instance
// (InstanceMetadataReader) with EC2's ids and DNS names.
import type { InstanceFacts } from '../../compute/index.js';
import type { InstanceRow } from '../../db/index.js';
import { ec2Id, privateDnsName, publicDnsName } from '../../ids/index.js';

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
  /** The public DNS name, when there is a floating address. */
  publicHostname: string | null;
  securityGroups: string[];
  /** EC2 ids of the same groups, in the same order. */
  securityGroupIds: string[];
  /** The project, as EC2 shows the owner. */
  ownerId: string;
  region: string;
  /** The instance's tags, when it lets its guest see them (InstanceMetadataTags); else none. */
  tags: { key: string; value: string }[];
  /** The key pair's name and OpenSSH public key, when the instance was launched with one. */
  key: { name: string; openssh: string } | null;
  /** Decoded user data; null when there is none. */
  userData: Buffer | null;
  /** The server metadata set through the Compute API (OpenStack's `meta`). */
  serverMetadata: Record<string, string>;
  /**
   * The admin password the server was created with through the Compute API (given or made
   * up), served as meta_data.json's `admin_pass` for the guest to set; null when none.
   */
  adminPass?: string | null;
}

/** Where the facts come from (the domain's InstanceMetadataReader). */
export interface InstanceFactsSource {
  byFixedIp(address: string): Promise<InstanceFacts | undefined>;
  /** The live instance holding `address` on project network `networkId`. */
  byNetworkAddress(networkId: string, address: string): Promise<InstanceFacts | undefined>;
  forInstance(inst: InstanceRow, localIpv4?: string | null): Promise<InstanceFacts>;
  recordFetch(inst: InstanceRow, at: number): Promise<void>;
  recordPassword(inst: InstanceRow, data: string, at: number): Promise<boolean>;
  /** The key IMDSv2 session tokens are signed with, the same in every process. */
  tokenKey(): Promise<Buffer>;
}

export class MetadataService {
  constructor(
    private readonly facts: InstanceFactsSource,
    private readonly region: string,
  ) {}

  /** The metadata of the live instance holding fixed IP `address`, or undefined. */
  async byFixedIp(address: string): Promise<InstanceMetadata | undefined> {
    const facts = await this.facts.byFixedIp(address);
    return facts && this.#view(facts);
  }

  /** The metadata of the live instance holding `address` on project network `networkId`. */
  async byNetworkAddress(
    networkId: string,
    address: string,
  ): Promise<InstanceMetadata | undefined> {
    const facts = await this.facts.byNetworkAddress(networkId, address);
    return facts && this.#view(facts);
  }

  /**
   * Notes that the guest of `inst` asked for its metadata: the first request is kept, as a
   * sign the guest is up on the network (DescribeInstanceStatus's reachability check).
   */
  async recordFetch(inst: InstanceRow, at = Date.now()): Promise<void> {
    await this.facts.recordFetch(inst, at);
  }

  /**
   * Keeps the password data the guest posts (OpenStack's `/openstack/latest/password`, which
   * cloudbase-init uses): base64 of the password encrypted with the instance's key pair, as
   * EC2's GetPasswordData hands it out. Once only; whether it was kept.
   */
  recordPassword(inst: InstanceRow, data: string, at = Date.now()): Promise<boolean> {
    return this.facts.recordPassword(inst, data, at);
  }

  /** The key IMDSv2 session tokens are signed with. */
  tokenKey(): Promise<Buffer> {
    return this.facts.tokenKey();
  }

  /** The metadata of `inst`, as its guest sees it at `localIpv4` (default: its private IP). */
  async forInstance(inst: InstanceRow, localIpv4?: string | null): Promise<InstanceMetadata> {
    return this.#view(await this.facts.forInstance(inst, localIpv4));
  }

  #view(facts: InstanceFacts): InstanceMetadata {
    const inst = facts.instance;
    const { localIpv4 } = facts;
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
      instanceType: facts.flavorName,
      localIpv4,
      mac: inst.macAddress,
      publicIpv4: facts.publicIpv4,
      publicHostname: facts.publicIpv4 ? publicDnsName(facts.publicIpv4, this.region) : null,
      securityGroups: facts.securityGroups,
      securityGroupIds: (facts.securityGroupIds ?? []).map((g) => ec2Id('sg', g)),
      ownerId: inst.projectId,
      region: this.region,
      tags: inst.metadataTags === 'enabled' ? (facts.tags ?? []) : [],
      key:
        inst.keyName && inst.keyData ? { name: inst.keyName, openssh: inst.keyData.trim() } : null,
      userData: inst.userData ? Buffer.from(inst.userData, 'base64') : null,
      serverMetadata: facts.serverMetadata ?? {},
      adminPass: facts.adminPass ?? null,
    };
  }
}
