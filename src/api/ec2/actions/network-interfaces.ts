// Network interface actions: CreateNetworkInterface, DescribeNetworkInterfaces,
// DeleteNetworkInterface, AttachNetworkInterface, DetachNetworkInterface,
// ModifyNetworkInterfaceAttribute, AssignPrivateIpAddresses, UnassignPrivateIpAddresses. An
// interface is a port on a VPC subnet (network/vpcs.ts); its id is `eni-` and the port's UUID,
// an attachment's `eni-attach-` and its UUID. Instances launched into a VPC have one each at
// device index 0 (more with NetworkInterface.N); more attach while an instance is stopped.
import type { RequestContext } from '../../../context.js';
import { invalid, notFound, StratusError } from '../../../errors.js';
import {
  ec2Id,
  parseEc2Id,
  privateDnsName,
  publicDnsName,
  uuidPrefix,
} from '../../../ids/index.js';
import { interfaceNotFound, type NetworkInterface, type Vpc } from '../../../network/index.js';
import type { Ec2ActionTable } from '../action.js';
import { missingParameter } from '../params.js';
import type { XmlObject } from '../xml.js';
import { applyFilters } from '../filters.js';
import type { Ec2Deps } from './deps.js';
import { allocationEc2Id, associationEc2Id } from './addresses.js';
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
 * The security groups `SecurityGroupId.N` names (and RunInstances' `SecurityGroup.N`, by name
 * within the VPC), as UUIDs (an unknown one is not found); none named: the VPC's `default`
 * group (the project's own for the default VPC and for no subnet). With `subnet`, each group
 * must be of the subnet's VPC (a group with no VPC of its own is the default VPC's), as EC2
 * requires; names are looked up in that VPC, where they are unique.
 */
export async function groupIds(
  deps: Ec2Deps,
  ctx: RequestContext,
  shown: readonly string[],
  subnet?: { vpc: Vpc; shown: string },
  names: readonly string[] = [],
): Promise<string[] | undefined> {
  if (shown.length === 0 && names.length === 0) {
    if (subnet && !subnet.vpc.isDefault) {
      return [(await deps.vpcs.defaultGroup(ctx, subnet.vpc)).id];
    }
    // The project's default group, made now if the project has none yet.
    const [d] = (await deps.securityGroups.list(ctx, { names: ['default'] })).filter(
      (g) => g.vpcId === null,
    );
    return d ? [d.id] : undefined;
  }
  const vpcId = subnet && !subnet.vpc.isDefault ? subnet.vpc.id : null;
  const byName: string[] = [];
  if (names.length > 0) {
    if (subnet && vpcId !== null && names.includes('default')) {
      await deps.vpcs.defaultGroup(ctx, subnet.vpc);
    }
    const rows = (await deps.securityGroups.list(ctx, { names })).filter(
      (r) => r.projectId === ctx.projectId && r.vpcId === vpcId,
    );
    for (const name of names) {
      const row = rows.find((r) => r.name === name);
      if (!row) {
        throw notFound(
          'security_group',
          name,
          `The security group '${name}' does not exist in ${vpcId === null ? 'the default VPC' : `VPC '${vpcEc2Id(vpcId)}'`}`,
        );
      }
      byName.push(row.id);
    }
  }
  if (shown.length === 0) return [...new Set(byName)];
  const prefixes = shown.map((g) => parseEc2Id(g, ['sg'], 'security_group').uuidPrefix);
  const rows = await deps.securityGroups.list(ctx, { idPrefixes: prefixes });
  const byId = shown.map((g, i) => {
    const row = rows.find(
      (r) => r.id.startsWith(prefixes[i] as string) && r.projectId === ctx.projectId,
    );
    if (!row) throw notFound('security_group', g, `The security group '${g}' does not exist`);
    if (subnet && row.vpcId !== vpcId) {
      throw new StratusError(
        'invalid',
        `Security group ${g} and subnet ${subnet.shown} belong to different networks.`,
        { resource: 'security_group', id: g, reason: 'combination' },
      );
    }
    return row.id;
  });
  return [...new Set([...byId, ...byName])];
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

/** The public address an interface has (from its launch or an Elastic IP), as EC2 shows it. */
export interface InterfacePublicIp {
  publicIp: string;
  /** The project's, or 'amazon' for one given at launch. */
  ipOwnerId: string;
  allocationId?: string | undefined;
  associationId?: string | undefined;
}

/** Whether an instance may take or give up an interface now. */
export const attachmentEc2Id = (uuid: string) => ec2Id('eni-attach', uuid);

/** An interface as EC2 shows it, in DescribeNetworkInterfaces and in an instance's view. */
export function interfaceView(
  eni: NetworkInterface,
  groups: readonly { groupId: string; groupName: string }[],
  tagList: { key: string; value: string }[] | undefined,
  region: string,
  publicIp?: InterfacePublicIp,
): XmlObject {
  const dns = privateDnsName(eni.privateIp, region);
  const association = publicIp && {
    publicIp: publicIp.publicIp,
    publicDnsName: publicDnsName(publicIp.publicIp, region),
    ipOwnerId: publicIp.ipOwnerId,
    allocationId: publicIp.allocationId,
    associationId: publicIp.associationId,
  };
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
    sourceDestCheck: eni.sourceDestCheck,
    interfaceType: 'interface',
    groupSet: groups.map((g) => ({ groupId: g.groupId, groupName: g.groupName })),
    association,
    attachment:
      eni.instanceId && eni.attachment
        ? {
            attachmentId: attachmentEc2Id(eni.attachment.id),
            instanceId: instanceEc2Id(eni.instanceId),
            instanceOwnerId: eni.port.projectId,
            deviceIndex: eni.attachment.deviceIndex,
            networkCardIndex: 0,
            status: 'attached',
            deleteOnTermination: eni.attachment.deleteOnTermination,
          }
        : undefined,
    privateIpAddressesSet: eni.privateIps.map((ip) => ({
      privateIpAddress: ip,
      privateDnsName: privateDnsName(ip, region),
      primary: ip === eni.privateIp,
      association: ip === eni.privateIp ? association : undefined,
    })),
    ipv6AddressesSet: [],
    tagSet: tagList,
  };
}

/**
 * The public address of each interface, by port id: an Elastic IP bound to it, the address
 * its launch gave it, or the address of its instance on its primary interface.
 */
export async function interfacePublicIps(
  deps: Ec2Deps,
  ctx: RequestContext,
  enis: readonly NetworkInterface[],
): Promise<Map<string, InterfacePublicIp>> {
  const out = new Map<string, InterfacePublicIp>();
  const instanceIds = new Set(enis.flatMap((e) => (e.instanceId ? [e.instanceId] : [])));
  if (instanceIds.size === 0) return out;
  const rows = (await deps.addresses.floatingIps(ctx)).filter(
    (r) => r.associationId && r.instanceId && instanceIds.has(r.instanceId),
  );
  if (rows.length === 0) return out;
  const bindings = await deps.vpcs.interfaces.addressBindings(
    rows.map((r) => r.associationId as string),
  );
  const launched = await deps.vpcs.interfaces.launchAddresses([...instanceIds]);
  for (const r of rows) {
    const launch = r.allocationId ? launched.get(r.allocationId) : undefined;
    const portId =
      bindings.get(r.associationId as string)?.portId ??
      launch?.portId ??
      enis.find((e) => e.instanceId === r.instanceId && e.attachment?.deviceIndex === 0)?.port.id;
    if (!portId) continue;
    out.set(
      portId,
      launch
        ? { publicIp: r.address, ipOwnerId: 'amazon' }
        : {
            publicIp: r.address,
            ipOwnerId: r.projectId ?? '',
            allocationId: r.allocationId ? allocationEc2Id(r.allocationId) : undefined,
            associationId: associationEc2Id(r.associationId as string),
          },
    );
  }
  return out;
}

/** The interface an EC2 id names among the caller's. */
export async function findInterface(deps: Ec2Deps, ctx: RequestContext, shown: string) {
  return pick(
    (await deps.vpcs.listInterfaces(ctx)).map((e) => ({ ...e, id: e.port.id })),
    interfacePrefix(shown),
    shown,
    interfaceNotFound,
  );
}

/** The UUID prefix of an `eni-attach-` id; a malformed one is InvalidAttachmentID.Malformed. */
function attachmentPrefix(shown: string): string {
  const m = /^eni-attach-([0-9a-f]{1,32})$/.exec(shown);
  if (!m) {
    throw invalid(`Invalid id: "${shown.slice(0, 64)}" (expecting "eni-attach-...")`, {
      resource: 'attachment',
      id: shown,
      reason: 'malformed',
    });
  }
  return uuidPrefix(m[1] as string);
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
      const groups = await groupIds(deps, context, params.list('SecurityGroupId'), {
        vpc: await vpcs.getVpc(context, subnet.vpcId),
        shown: shownSubnet,
      });
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

    AttachNetworkInterface: async ({ params, context }) => {
      const shownEni = params.requireString('NetworkInterfaceId', { max: 64 });
      const shownInstance = params.requireString('InstanceId', { max: 64 });
      const deviceIndex = params.int('DeviceIndex', { min: 0, max: 31 });
      if (deviceIndex === undefined) throw missingParameter('DeviceIndex');
      const eni = await findInterface(deps, context, shownEni);
      const [inst] = await deps.instances.resolve(context, [
        { ref: parseEc2Id(shownInstance, ['i'], 'instance').uuidPrefix, shown: shownInstance },
      ]);
      if (!inst) throw notFound('instance', shownInstance);
      // A running instance's host plugs it live (hot-plug); a stopped one's is only recorded.
      const attachmentId = await deps.interfaceAttachments.attachInterface(context, {
        eniId: eni.id,
        shownEni,
        instance: inst,
        shown: shownInstance,
        deviceIndex,
      });
      return { attachmentId: attachmentEc2Id(attachmentId), networkCardIndex: 0 };
    },

    DetachNetworkInterface: async ({ params, context }) => {
      const shown = params.requireString('AttachmentId', { max: 64 });
      params.bool('Force');
      const eni = await vpcs.interfaces.byAttachment(context, attachmentPrefix(shown), shown);
      const [inst] = eni.instanceId
        ? await deps.instances.resolve(context, [
            { ref: eni.instanceId, shown: instanceEc2Id(eni.instanceId) },
          ])
        : [];
      await deps.interfaceAttachments.detachInterface(context, { eni, instance: inst, shown });
      return { return: true };
    },

    ModifyNetworkInterfaceAttribute: async ({ params, context }) => {
      const shown = params.requireString('NetworkInterfaceId', { max: 64 });
      const description = params.string('Description.Value', { max: 255 });
      const groupsShown = params.list('SecurityGroupId');
      const sourceDestCheck = params.bool('SourceDestCheck.Value');
      const attachment = params.string('Attachment.AttachmentId', { max: 64 });
      const deleteOnTermination = params.bool('Attachment.DeleteOnTermination');
      const given = [
        description !== undefined,
        groupsShown.length > 0,
        sourceDestCheck !== undefined,
        attachment !== undefined || deleteOnTermination !== undefined,
      ].filter(Boolean).length;
      if (given !== 1) {
        throw new StratusError(
          'invalid',
          'Give exactly one attribute: Description, SecurityGroupId, SourceDestCheck or Attachment.',
          { resource: 'parameter', reason: 'combination' },
        );
      }
      const eni = await findInterface(deps, context, shown);
      if (attachment !== undefined || deleteOnTermination !== undefined) {
        if (attachment === undefined) throw missingParameter('Attachment.AttachmentId');
        if (deleteOnTermination === undefined) {
          throw missingParameter('Attachment.DeleteOnTermination');
        }
        const prefix = attachmentPrefix(attachment);
        if (!eni.attachment?.id.startsWith(prefix)) {
          throw notFound(
            'attachment',
            attachment,
            `The attachment ID '${attachment}' does not exist on interface ${shown}`,
          );
        }
      }
      const groups =
        groupsShown.length > 0
          ? await groupIds(deps, context, groupsShown, {
              vpc: await vpcs.getVpc(context, eni.vpcId),
              shown: subnetEc2Id(eni.subnetId),
            })
          : undefined;
      await vpcs.interfaces.modify(context, eni, {
        description,
        securityGroups: groups,
        sourceDestCheck,
        deleteOnTermination,
      });
      return { return: true };
    },

    AssignPrivateIpAddresses: async ({ params, context }) => {
      const shown = params.requireString('NetworkInterfaceId', { max: 64 });
      const addresses = params.list('PrivateIpAddress');
      const count = params.int('SecondaryPrivateIpAddressCount', { min: 1, max: 50 });
      if (addresses.length > 0 && count !== undefined) {
        throw new StratusError(
          'invalid',
          'PrivateIpAddress and SecondaryPrivateIpAddressCount cannot be given together.',
          { resource: 'parameter', reason: 'combination' },
        );
      }
      if (addresses.length === 0 && count === undefined) {
        throw missingParameter('PrivateIpAddress or SecondaryPrivateIpAddressCount');
      }
      const eni = await findInterface(deps, context, shown);
      await vpcs.interfaces.assignPrivateIps(context, eni, { addresses, count: count ?? 0 });
      const after = await findInterface(deps, context, shown);
      return {
        networkInterfaceId: interfaceEc2Id(after.id),
        assignedPrivateIpAddressesSet: after.privateIps
          .filter((ip) => !eni.privateIps.includes(ip))
          .map((ip) => ({ privateIpAddress: ip })),
        return: true,
      };
    },

    UnassignPrivateIpAddresses: async ({ params, context }) => {
      const shown = params.requireString('NetworkInterfaceId', { max: 64 });
      const addresses = params.list('PrivateIpAddress');
      if (addresses.length === 0) throw missingParameter('PrivateIpAddress');
      const eni = await findInterface(deps, context, shown);
      await vpcs.interfaces.unassignPrivateIps(context, eni, addresses, shown);
      return { return: true };
    },

    DeleteNetworkInterface: async ({ params, context }) => {
      const shown = params.requireString('NetworkInterfaceId', { max: 64 });
      const eni = await findInterface(deps, context, shown);
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
      const publicIps = await interfacePublicIps(deps, context, items);
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
          'private-ip-address': (e) => e.privateIps,
          'addresses.private-ip-address': (e) => e.privateIps,
          'addresses.primary': () => true,
          'private-dns-name': (e) => privateDnsName(e.privateIp, region),
          status: (e) => (e.instanceId ? 'in-use' : 'available'),
          'attachment.instance-id': (e) => (e.instanceId ? instanceEc2Id(e.instanceId) : undefined),
          'attachment.instance-owner-id': (e) => (e.instanceId ? e.port.projectId : undefined),
          'attachment.attachment-id': (e) =>
            e.attachment ? attachmentEc2Id(e.attachment.id) : undefined,
          'attachment.status': (e) => (e.instanceId ? 'attached' : undefined),
          'attachment.device-index': (e) => e.attachment?.deviceIndex,
          'attachment.delete-on-termination': (e) => e.attachment?.deleteOnTermination,
          'association.public-ip': (e) => publicIps.get(e.id)?.publicIp,
          'association.ip-owner-id': (e) => publicIps.get(e.id)?.ipOwnerId,
          'association.allocation-id': (e) => publicIps.get(e.id)?.allocationId,
          'association.association-id': (e) => publicIps.get(e.id)?.associationId,
          'group-id': (e) => names(e).map((g) => g.groupId),
          'group-name': (e) => names(e).map((g) => g.groupName),
          'interface-type': () => 'interface',
          'requester-managed': () => false,
          'source-dest-check': (e) => e.sourceDestCheck,
        },
        { tags: (e) => tagList(e.id) },
      );
      const shown = page(params, matched, withIds, 'networkInterfaceIds');
      return {
        networkInterfaceSet: shown.items.map((e) =>
          interfaceView(e, names(e), tagList(e.id), region, publicIps.get(e.id)),
        ),
        nextToken: shown.nextToken,
      };
    },
  };
}
