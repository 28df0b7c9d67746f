// Elastic IP actions: AllocateAddress, AssociateAddress, DisassociateAddress, ReleaseAddress,
// DescribeAddresses. Changes go to the network service over the bus (it owns the floating
// pool and tells the data plane); descriptions are read here.
import type { RequestContext } from '../../../context.js';
import type { FloatingIpRow } from '../../../db/index.js';
import { invalid, notFound, StratusError } from '../../../errors.js';
import {
  DEFAULT_FLOATING_POOL,
  parseIpv4,
  type AssociationRef,
  type FloatingIpRef,
  type NetworkInterface,
} from '../../../network/index.js';
import type { Ec2ActionTable } from '../action.js';
import { applyFilters } from '../filters.js';
import { ec2Id, parseEc2Id } from '../../../ids/index.js';
import { invalidValue, missingParameter, type Params } from '../params.js';
import { checkTags } from './instances.js';
import { findInterface, interfaceInstance } from './network-interfaces.js';
import { interfaceEc2Id } from './vpc-common.js';
import type { XmlObject } from '../xml.js';
import type { Ec2Deps } from './deps.js';

/** Where an association is bound: the VPC interface and private address. */
interface Target {
  instance: { idPrefix: string; shown: string };
  eni?: NetworkInterface | undefined;
  privateIp: string;
}

/** A VPC interface (on an instance) and one of its private addresses (its primary by default). */
async function interfaceTarget(
  deps: Ec2Deps,
  ctx: RequestContext,
  shown: string,
  privateIp: string | undefined,
): Promise<Target> {
  const instance = await interfaceInstance(deps, ctx, shown);
  const eni = await findInterface(deps, ctx, shown);
  const ip = privateIp ?? eni.privateIp;
  if (!eni.privateIps.includes(ip)) {
    throw invalidValue('PrivateIpAddress', ip, `It is not an address of interface ${shown}.`);
  }
  return { instance, eni, privateIp: ip };
}

/** An instance, and with a PrivateIpAddress of one of its VPC interfaces, that interface. */
async function instanceTarget(
  deps: Ec2Deps,
  ctx: RequestContext,
  shown: string,
  privateIp: string | undefined,
): Promise<Target> {
  const instance = { idPrefix: parseEc2Id(shown, ['i'], 'instance').uuidPrefix, shown };
  const [inst] = await deps.instances.resolve(ctx, [{ ref: instance.idPrefix, shown }]);
  const enis = inst ? ((await deps.vpcs.interfacesOf([inst.id])).get(inst.id) ?? []) : [];
  // No address, or the instance's own: its primary interface, shown without a binding.
  if (privateIp === undefined || privateIp === inst?.privateIp) {
    return { instance, privateIp: privateIp ?? '' };
  }
  const eni = enis.find((e) => e.privateIps.includes(privateIp));
  if (!eni) {
    throw invalid(`The instance '${shown}' has no private address '${privateIp}'.`, {
      resource: 'parameter',
      id: 'PrivateIpAddress',
    });
  }
  return { instance, eni, privateIp };
}

/** The VPC interface and private address each associated address is on, by row id. */
async function vpcPlaces(
  deps: Ec2Deps,
  rows: readonly FloatingIpRow[],
): Promise<Map<string, { eni: NetworkInterface; privateIp: string }>> {
  const out = new Map<string, { eni: NetworkInterface; privateIp: string }>();
  const associated = rows.filter((r) => r.associationId && r.instanceId);
  if (associated.length === 0) return out;
  const enis = await deps.vpcs.interfacesOf(associated.map((r) => r.instanceId as string));
  const bindings = await deps.vpcs.interfaces.addressBindings(
    associated.map((r) => r.associationId as string),
  );
  for (const r of associated) {
    const mine = enis.get(r.instanceId as string) ?? [];
    const bound = bindings.get(r.associationId as string);
    const eni = bound ? mine.find((e) => e.port.id === bound.portId) : mine[0];
    // Unbound, it shows the address it maps onto, as the instance's PrivateIpAddress does.
    if (eni) out.set(r.id, { eni, privateIp: bound?.privateIp ?? r.fixedAddress ?? eni.privateIp });
  }
  return out;
}

export function allocationEc2Id(allocationId: string): string {
  return ec2Id('eipalloc', allocationId);
}

export function associationEc2Id(associationId: string): string {
  return ec2Id('eipassoc', associationId);
}

/** A public IPv4 address as a client wrote it; malformed ones are refused. */
function publicIp(text: string): string {
  if (parseIpv4(text) === undefined) {
    throw invalid(`The address '${text.slice(0, 64)}' is not a valid IPv4 address.`, {
      resource: 'address',
      id: text,
      reason: 'malformed',
    });
  }
  return text;
}

function allocationRef(shown: string): FloatingIpRef {
  return { allocationPrefix: parseEc2Id(shown, ['eipalloc'], 'allocation').uuidPrefix, shown };
}

/** Exactly one of PublicIp and `idName` (AllocationId or AssociationId). */
function oneOf(params: Params, idName: string): { ip: string } | { id: string } {
  const ip = params.string('PublicIp', { max: 64 });
  const id = params.string(idName, { max: 64 });
  if (ip && id) {
    throw new StratusError(
      'invalid',
      `The parameters PublicIp and ${idName} cannot be used together.`,
      { resource: 'parameter', reason: 'combination' },
    );
  }
  if (ip) return { ip: publicIp(ip) };
  if (id) return { id };
  throw missingParameter(`PublicIp or ${idName}`);
}

export function addressActions(deps: Ec2Deps): Ec2ActionTable {
  // Reads here; every change goes through the network service.
  const { network, addresses, tags } = deps;

  const view = (
    row: FloatingIpRow,
    tags: { key: string; value: string }[] = [],
    place?: { eni: NetworkInterface; privateIp: string },
  ): XmlObject => ({
    publicIp: row.address,
    allocationId: row.allocationId ? allocationEc2Id(row.allocationId) : undefined,
    domain: row.domain ?? 'vpc',
    instanceId: row.instanceId ? ec2Id('i', row.instanceId) : undefined,
    associationId: row.associationId ? associationEc2Id(row.associationId) : undefined,
    networkInterfaceId: place ? interfaceEc2Id(place.eni.port.id) : undefined,
    networkInterfaceOwnerId: place?.eni.port.projectId,
    privateIpAddress: place?.privateIp ?? row.fixedAddress ?? undefined,
    tagSet: tags,
    publicIpv4Pool: row.pool,
    networkBorderGroup: deps.config.region,
  });

  /** NetworkBorderGroup: the region's name is the one there is. */
  const borderGroup = (params: Params): void => {
    const group = params.string('NetworkBorderGroup', { max: 64 });
    if (group !== undefined && group !== '' && group !== deps.config.region) {
      throw invalidValue(
        'NetworkBorderGroup',
        group,
        `The one network border group here is the region, ${deps.config.region}.`,
      );
    }
  };

  return {
    AllocateAddress: async ({ params, context }) => {
      const domain = params.enumOf('Domain', ['vpc', 'standard'] as const) ?? 'vpc';
      const pool = params.string('PublicIpv4Pool', { max: 64 });
      if (pool !== undefined && pool !== '' && pool !== DEFAULT_FLOATING_POOL) {
        throw invalid(`The address pool '${pool}' does not exist.`, {
          resource: 'parameter',
          id: 'PublicIpv4Pool',
        });
      }
      if (params.has('Address')) {
        throw invalid('Allocating a specific address is not supported; leave out Address.', {
          resource: 'parameter',
          id: 'Address',
        });
      }
      borderGroup(params);
      const given = params
        .tagSpecifications()
        .filter((s) => {
          if (s.resourceType !== 'elastic-ip')
            throw invalidValue(
              'TagSpecification.ResourceType',
              s.resourceType,
              "It must be 'elastic-ip'.",
            );
          return true;
        })
        .flatMap((s) => s.tags);
      checkTags(given);
      const row = await network.allocateFloatingIp(context, domain);
      const allocationId = row.allocationId as string;
      if (given.length > 0) {
        const shown = allocationEc2Id(allocationId);
        try {
          await tags.create(
            context,
            [{ type: 'elastic-ip', idPrefix: allocationId, shown }],
            given,
          );
        } catch (err) {
          // Nothing half-done: an address whose tags could not be put is given back.
          await network.releaseFloatingIp(context, allocationRef(shown)).catch(() => undefined);
          throw err;
        }
      }
      return {
        publicIp: row.address,
        domain: row.domain,
        allocationId: allocationEc2Id(row.allocationId as string),
        publicIpv4Pool: row.pool,
        networkBorderGroup: deps.config.region,
      };
    },

    AssociateAddress: async ({ params, context }) => {
      const which = oneOf(params, 'AllocationId');
      const ref: FloatingIpRef = 'ip' in which ? { address: which.ip } : allocationRef(which.id);
      const eniShown = params.string('NetworkInterfaceId', { max: 64 });
      if (eniShown !== undefined && params.has('InstanceId')) {
        throw invalid('Give InstanceId or NetworkInterfaceId, not both.', {
          resource: 'parameter',
          reason: 'combination',
        });
      }
      const privateIp = params.string('PrivateIpAddress', { max: 64 });
      const allow = params.bool('AllowReassociation');
      const target =
        eniShown !== undefined
          ? await interfaceTarget(deps, context, eniShown, privateIp)
          : await instanceTarget(
              deps,
              context,
              params.requireString('InstanceId', { max: 64 }),
              privateIp,
            );
      // The guest's traffic reaches it on its flat network address, so the address maps onto
      // the instance; the interface and private address it is bound to are EC2's record.
      const row = await network.associateFloatingIp(context, ref, target.instance, {
        allowReassociation: allow ?? null,
        fixedAddress: target.eni ? null : (privateIp ?? null),
      });
      if (target.eni) {
        await deps.vpcs.interfaces.bindAddress(
          row.associationId as string,
          target.eni.port.id,
          target.privateIp,
        );
      }
      return { return: true, associationId: associationEc2Id(row.associationId as string) };
    },

    DisassociateAddress: async ({ params, context }) => {
      const which = oneOf(params, 'AssociationId');
      const ref: AssociationRef =
        'ip' in which
          ? { address: which.ip }
          : {
              associationPrefix: parseEc2Id(which.id, ['eipassoc'], 'association').uuidPrefix,
              shown: which.id,
            };
      await network.disassociateFloatingIp(context, ref);
      return { return: true };
    },

    ReleaseAddress: async ({ params, context }) => {
      borderGroup(params);
      const which = oneOf(params, 'AllocationId');
      await network.releaseFloatingIp(
        context,
        'ip' in which ? { address: which.ip } : allocationRef(which.id),
      );
      return { return: true };
    },

    DescribeAddresses: async ({ params, context }) => {
      const ips = params.list('PublicIp').map(publicIp);
      const shownIds = params.list('AllocationId');
      const prefixes = shownIds.map((id) => parseEc2Id(id, ['eipalloc'], 'allocation').uuidPrefix);
      const filters = params.filters();
      let rows = await addresses.floatingIps(context);
      for (const ip of ips) {
        if (!rows.some((r) => r.address === ip))
          throw notFound('address', ip, `The address '${ip}' does not exist.`);
      }
      for (const [i, id] of shownIds.entries()) {
        const prefix = prefixes[i] as string;
        if (!rows.some((r) => r.allocationId?.startsWith(prefix)))
          throw notFound('allocation', id, `The allocation ID '${id}' does not exist.`);
      }
      if (ips.length > 0 || prefixes.length > 0) {
        rows = rows.filter(
          (r) =>
            ips.includes(r.address) ||
            prefixes.some((p) => r.allocationId !== null && r.allocationId.startsWith(p)),
        );
      }
      // Addresses given at launch are the instances' public IPs, not Elastic IPs.
      const launched = await deps.vpcs.interfaces.launchAddresses();
      rows = rows.filter((r) => !r.allocationId || !launched.has(r.allocationId));
      const where = await vpcPlaces(deps, rows);
      const tagMap = await tags.of(rows.flatMap((r) => (r.allocationId ? [r.allocationId] : [])));
      const tagList = (r: FloatingIpRow) =>
        (r.allocationId ? (tagMap.get(r.allocationId) ?? []) : []).map((t) => ({
          key: t.key,
          value: t.value,
        }));
      const matched = applyFilters(
        rows,
        filters,
        {
          'public-ip': (r) => r.address,
          'allocation-id': (r) => (r.allocationId ? allocationEc2Id(r.allocationId) : null),
          'association-id': (r) => (r.associationId ? associationEc2Id(r.associationId) : null),
          'instance-id': (r) => (r.instanceId ? ec2Id('i', r.instanceId) : null),
          domain: (r) => r.domain,
          'private-ip-address': (r) => where.get(r.id)?.privateIp ?? r.fixedAddress,
          'network-interface-id': (r) => {
            const eni = where.get(r.id)?.eni;
            return eni ? interfaceEc2Id(eni.port.id) : null;
          },
          'network-interface-owner-id': (r) => where.get(r.id)?.eni.port.projectId ?? null,
          'public-ipv4-pool': (r) => r.pool,
          'network-border-group': () => deps.config.region,
        },
        { tags: tagList },
      );
      return { addressesSet: matched.map((r) => view(r, tagList(r), where.get(r.id))) };
    },
  };
}
