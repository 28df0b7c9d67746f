// Network interface actions: CreateNetworkInterface, DescribeNetworkInterfaces,
// DeleteNetworkInterface. An interface is a port on a VPC subnet (network/vpcs.ts); its id is
// `eni-` and the port's UUID. Instances launched into a VPC have one each, at device index 0.
import type { RequestContext } from '../../../context.js';
import { notFound, StratusError } from '../../../errors.js';
import { ec2Id, parseEc2Id, privateDnsName } from '../../../ids/index.js';
import { interfaceNotFound, type NetworkInterface } from '../../../network/index.js';
import type { Ec2ActionTable } from '../action.js';
import type { XmlObject } from '../xml.js';
import { applyFilters } from '../filters.js';
import type { Ec2Deps } from './deps.js';
import { instanceEc2Id } from './instances.js';
import {
  creationTags,
  findSubnet,
  interfaceEc2Id,
  named,
  page,
  pick,
  putCreationTags,
  subnetEc2Id,
  tagsOf,
  vpcEc2Id,
} from './vpc-common.js';

const interfacePrefix = (shown: string) => parseEc2Id(shown, ['eni'], 'port').uuidPrefix;

/**
 * The security groups `SecurityGroupId.N` names, as UUIDs (an unknown one is not found); none
 * named: the project's default group.
 */
export async function groupIds(
  deps: Ec2Deps,
  ctx: RequestContext,
  shown: readonly string[],
): Promise<string[] | undefined> {
  if (shown.length === 0) {
    // The project's default group, made now if the project has none yet.
    const [d] = await deps.securityGroups.list(ctx, { names: ['default'] });
    return d ? [d.id] : undefined;
  }
  const prefixes = shown.map((g) => parseEc2Id(g, ['sg'], 'security_group').uuidPrefix);
  const rows = await deps.securityGroups.list(ctx, { idPrefixes: prefixes });
  return shown.map((g, i) => {
    const row = rows.find(
      (r) => r.id.startsWith(prefixes[i] as string) && r.projectId === ctx.projectId,
    );
    if (!row) throw notFound('security_group', g, `The security group '${g}' does not exist`);
    return row.id;
  });
}

/**
 * The instance a VPC interface is attached to, as an instance reference; an interface on no
 * instance is refused, as EC2 refuses associating an address with a detached interface.
 */
export async function interfaceInstance(
  deps: Ec2Deps,
  ctx: RequestContext,
  shown: string,
): Promise<{ idPrefix: string; shown: string }> {
  const eni = pick(
    (await deps.vpcs.listInterfaces(ctx)).map((e) => ({ ...e, id: e.port.id })),
    interfacePrefix(shown),
    shown,
    interfaceNotFound,
  );
  if (!eni.instanceId) {
    throw new StratusError(
      'conflict',
      `The network interface ${shown} is not attached to an instance; its address would reach nothing.`,
      { resource: 'port', id: shown },
    );
  }
  return { idPrefix: eni.instanceId, shown: instanceEc2Id(eni.instanceId) };
}

/** An interface as EC2 shows it, in DescribeNetworkInterfaces and in an instance's view. */
export function interfaceView(
  eni: NetworkInterface,
  groups: readonly { groupId: string; groupName: string }[],
  tagList: { key: string; value: string }[] | undefined,
  region: string,
): XmlObject {
  const dns = privateDnsName(eni.privateIp, region);
  return {
    networkInterfaceId: interfaceEc2Id(eni.port.id),
    subnetId: subnetEc2Id(eni.subnetId),
    vpcId: vpcEc2Id(eni.vpcId),
    availabilityZone: eni.availabilityZone,
    description: eni.port.description,
    ownerId: eni.port.projectId,
    requesterManaged: false,
    status: eni.instanceId ? 'in-use' : 'available',
    macAddress: eni.port.macAddress,
    privateIpAddress: eni.privateIp,
    privateDnsName: dns,
    sourceDestCheck: true,
    interfaceType: 'interface',
    groupSet: groups.map((g) => ({ groupId: g.groupId, groupName: g.groupName })),
    attachment: eni.instanceId
      ? {
          attachmentId: ec2Id('eni-attach', eni.port.id),
          instanceId: instanceEc2Id(eni.instanceId),
          instanceOwnerId: eni.port.projectId,
          deviceIndex: 0,
          networkCardIndex: 0,
          status: 'attached',
          deleteOnTermination: true,
        }
      : undefined,
    privateIpAddressesSet: [
      { privateIpAddress: eni.privateIp, privateDnsName: dns, primary: true },
    ],
    ipv6AddressesSet: [],
    tagSet: tagList,
  };
}

export function networkInterfaceActions(deps: Ec2Deps): Ec2ActionTable {
  const { vpcs } = deps;

  /** Each group id's EC2 id and name, for the views. */
  const groupNames = async (ctx: RequestContext, enis: readonly NetworkInterface[]) => {
    const ids = [...new Set(enis.flatMap((e) => e.port.securityGroups))];
    const rows = ids.length > 0 ? await deps.securityGroups.list(ctx, { idPrefixes: ids }) : [];
    const names = new Map(rows.map((r) => [r.id, r.name]));
    return (eni: NetworkInterface) =>
      eni.port.securityGroups.map((g) => ({
        groupId: ec2Id('sg', g),
        groupName: names.get(g) ?? '',
      }));
  };

  return {
    CreateNetworkInterface: async ({ params, context, region }) => {
      const shownSubnet = params.requireString('SubnetId', { max: 64 });
      const tagList = creationTags(params, 'network-interface');
      const subnet = await findSubnet(deps, context, shownSubnet);
      const groups = await groupIds(deps, context, params.list('SecurityGroupId'));
      const eni = await vpcs.createInterface(
        context,
        {
          subnetId: subnet.id,
          privateIp: params.string('PrivateIpAddress', { max: 64 }),
          securityGroups: groups,
          description: params.string('Description', { max: 255 }),
        },
        shownSubnet,
      );
      try {
        await putCreationTags(
          deps,
          'network-interface',
          eni.port.id,
          eni.port.projectId,
          interfaceEc2Id(eni.port.id),
          tagList,
        );
      } catch (err) {
        await vpcs.deleteInterface(context, eni.port.id).catch(() => undefined);
        throw err;
      }
      const names = await groupNames(context, [eni]);
      return {
        networkInterface: interfaceView(
          eni,
          names(eni),
          (await tagsOf(deps, [eni.port.id]))(eni.port.id),
          region,
        ),
      };
    },

    DeleteNetworkInterface: async ({ params, context }) => {
      const shown = params.requireString('NetworkInterfaceId', { max: 64 });
      const eni = pick(
        (await vpcs.listInterfaces(context)).map((e) => ({ ...e, id: e.port.id })),
        interfacePrefix(shown),
        shown,
        interfaceNotFound,
      );
      await vpcs.deleteInterface(context, eni.id, shown);
      return { return: true };
    },

    DescribeNetworkInterfaces: async ({ params, context, region }) => {
      const all = (await vpcs.listInterfaces(context)).map((e) => ({ ...e, id: e.port.id }));
      const { items, withIds } = named(
        params,
        'NetworkInterfaceId',
        all,
        interfacePrefix,
        interfaceNotFound,
      );
      const tagList = await tagsOf(
        deps,
        items.map((e) => e.id),
      );
      const names = await groupNames(context, items);
      const matched = applyFilters(
        items,
        params.filters(),
        {
          'network-interface-id': (e) => interfaceEc2Id(e.id),
          'subnet-id': (e) => subnetEc2Id(e.subnetId),
          'vpc-id': (e) => vpcEc2Id(e.vpcId),
          'availability-zone': (e) => e.availabilityZone,
          description: (e) => e.port.description,
          'mac-address': (e) => e.port.macAddress,
          'owner-id': (e) => e.port.projectId,
          'private-ip-address': (e) => e.privateIp,
          'addresses.private-ip-address': (e) => e.privateIp,
          'private-dns-name': (e) => privateDnsName(e.privateIp, region),
          status: (e) => (e.instanceId ? 'in-use' : 'available'),
          'attachment.instance-id': (e) => (e.instanceId ? instanceEc2Id(e.instanceId) : undefined),
          'attachment.status': (e) => (e.instanceId ? 'attached' : undefined),
          'attachment.device-index': (e) => (e.instanceId ? 0 : undefined),
          'group-id': (e) => names(e).map((g) => g.groupId),
          'group-name': (e) => names(e).map((g) => g.groupName),
          'interface-type': () => 'interface',
          'requester-managed': () => false,
          'source-dest-check': () => true,
        },
        { tags: (e) => tagList(e.id) },
      );
      const shown = page(params, matched, withIds, 'networkInterfaceIds');
      return {
        networkInterfaceSet: shown.items.map((e) =>
          interfaceView(e, names(e), tagList(e.id), region),
        ),
        nextToken: shown.nextToken,
      };
    },
  };
}
