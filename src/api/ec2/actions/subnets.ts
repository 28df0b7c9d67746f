// Subnet actions: CreateSubnet, DeleteSubnet, DescribeSubnets, ModifySubnetAttribute. A VPC
// subnet is a subnet of the VPC's network joined to its router (network/vpcs.ts); its id is
// `subnet-` and the subnet's UUID.
import { mayChange } from '../../../context.js';
import { StratusError } from '../../../errors.js';
import { subnetNotFound, type VpcSubnet } from '../../../network/index.js';
import type { Ec2ActionTable } from '../action.js';
import { applyFilters } from '../filters.js';
import { missingParameter } from '../params.js';
import type { Ec2Deps } from './deps.js';
import { defaultVpc } from './vpcs.js';
import {
  creationTags,
  findSubnet,
  findVpc,
  named,
  page,
  putCreationTags,
  subnetEc2Id,
  subnetPrefix,
  tagsOf,
  vpcEc2Id,
} from './vpc-common.js';

export function subnetActions(deps: Ec2Deps): Ec2ActionTable {
  const { vpcs } = deps;

  const view = (s: VpcSubnet, tagList: { key: string; value: string }[], region: string) => ({
    subnetId: subnetEc2Id(s.id),
    subnetArn: `arn:aws:ec2:${region}:${s.projectId}:subnet/${subnetEc2Id(s.id)}`,
    state: 'available',
    vpcId: vpcEc2Id(s.vpcId),
    ownerId: s.projectId,
    cidrBlock: s.cidr,
    availableIpAddressCount: s.availableAddresses,
    availabilityZone: s.availabilityZone,
    availabilityZoneId: `${region.toLowerCase()}-${s.availabilityZone}`,
    defaultForAz: s.defaultForAz,
    mapPublicIpOnLaunch: s.mapPublicIp,
    assignIpv6AddressOnCreation: false,
    ipv6CidrBlockAssociationSet: [],
    tagSet: tagList,
  });

  /** The zone a new subnet asks for, by name or id; one no host reports is refused. */
  const zoneOf = async (
    name: string | undefined,
    id: string | undefined,
    region: string,
  ): Promise<string | undefined> => {
    if (name === undefined && id === undefined) return undefined;
    if (name !== undefined && id !== undefined) {
      throw new StratusError(
        'invalid',
        'Only one of AvailabilityZone and AvailabilityZoneId may be given.',
        { resource: 'parameter', reason: 'combination' },
      );
    }
    const known = [
      ...new Set([...(await deps.hosts.zones()).map((z) => z.name), vpcs.defaultZone]),
    ];
    const found = known.find((z) => z === name || `${region.toLowerCase()}-${z}` === id);
    if (!found) {
      throw new StratusError(
        'invalid',
        `Value (${name ?? id}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: ${known.join(', ')}.`,
        { resource: 'zone', id: name ?? id },
      );
    }
    return found;
  };

  return {
    CreateSubnet: async ({ params, context, region }) => {
      const shownVpc = params.requireString('VpcId', { max: 64 });
      const cidr = params.string('CidrBlock', { max: 64 });
      if (cidr === undefined || cidr === '') throw missingParameter('CidrBlock');
      const tagList = creationTags(params, 'subnet');
      const zone = await zoneOf(
        params.string('AvailabilityZone', { max: 255 }),
        params.string('AvailabilityZoneId', { max: 255 }),
        region,
      );
      const vpc = await findVpc(deps, context, shownVpc);
      const subnet = await vpcs.createSubnet(context, { vpcId: vpc.id, cidr, zone }, shownVpc);
      try {
        await putCreationTags(
          deps,
          'subnet',
          subnet.id,
          subnet.projectId,
          subnetEc2Id(subnet.id),
          tagList,
        );
      } catch (err) {
        await vpcs.deleteSubnet(context, subnet.id).catch(() => undefined);
        throw err;
      }
      return { subnet: view(subnet, (await tagsOf(deps, [subnet.id]))(subnet.id), region) };
    },

    DeleteSubnet: async ({ params, context }) => {
      const shown = params.requireString('SubnetId', { max: 64 });
      const subnet = await findSubnet(deps, context, shown);
      await vpcs.deleteSubnet(context, subnet.id, shown);
      return { return: true };
    },

    DescribeSubnets: async ({ params, context, region }) => {
      // A reader makes no default VPC; it sees what is there.
      if (context.projectId && mayChange(context)) await defaultVpc(deps, context);
      const all = await vpcs.listSubnets(context);
      const { items, withIds } = named(params, 'SubnetId', all, subnetPrefix, subnetNotFound);
      const tagList = await tagsOf(
        deps,
        items.map((s) => s.id),
      );
      const matched = applyFilters(
        items,
        params.filters(),
        {
          'subnet-id': (s) => subnetEc2Id(s.id),
          'vpc-id': (s) => vpcEc2Id(s.vpcId),
          'cidr-block': (s) => s.cidr,
          cidr: (s) => s.cidr,
          cidrBlock: (s) => s.cidr,
          'availability-zone': (s) => s.availabilityZone,
          availabilityZone: (s) => s.availabilityZone,
          'availability-zone-id': (s) => `${region.toLowerCase()}-${s.availabilityZone}`,
          'available-ip-address-count': (s) => s.availableAddresses,
          'default-for-az': (s) => s.defaultForAz,
          defaultForAz: (s) => s.defaultForAz,
          'map-public-ip-on-launch': (s) => s.mapPublicIp,
          'owner-id': (s) => s.projectId,
          state: () => 'available',
          'subnet-arn': (s) => view(s, [], region).subnetArn,
        },
        { tags: (s) => tagList(s.id) },
      );
      const shown = page(params, matched, withIds, 'subnetIds');
      return {
        subnetSet: shown.items.map((s) => view(s, tagList(s.id), region)),
        nextToken: shown.nextToken,
      };
    },

    ModifySubnetAttribute: async ({ params, context }) => {
      const shown = params.requireString('SubnetId', { max: 64 });
      const mapPublicIp = params.bool('MapPublicIpOnLaunch.Value');
      if (mapPublicIp === undefined) {
        throw new StratusError(
          'missing',
          'The request must contain one attribute to change: MapPublicIpOnLaunch.',
          { resource: 'parameter', id: 'MapPublicIpOnLaunch' },
        );
      }
      const subnet = await findSubnet(deps, context, shown);
      await vpcs.modifySubnet(context, subnet.id, { mapPublicIp }, shown);
      return { return: true };
    },
  };
}
