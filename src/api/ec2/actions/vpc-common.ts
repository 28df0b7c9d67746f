// What the VPC action groups share (vpcs.ts, subnets.ts, internet-gateways.ts,
// route-tables.ts): EC2 ids of the network resources and their lookup, tags at creation and
// on views, and MaxResults/NextToken paging over listings made in code.
import type { RequestContext } from '../../../context.js';
import { StratusError } from '../../../errors.js';
import { ec2Id, parseEc2Id } from '../../../ids/index.js';
import {
  gatewayNotFound,
  routeTableNotFound,
  subnetNotFound,
  vpcNotFound,
} from '../../../network/index.js';
import type { TaggableType } from '../../../tags/index.js';
import { pageOffset, pageToken } from '../paging.js';
import { invalidValue, type Params } from '../params.js';
import { checkTags } from './instances.js';
import type { Ec2Deps } from './deps.js';

export const vpcEc2Id = (uuid: string) => ec2Id('vpc', uuid);
export const subnetEc2Id = (uuid: string) => ec2Id('subnet', uuid);
export const gatewayEc2Id = (uuid: string) => ec2Id('igw', uuid);
export const routeTableEc2Id = (uuid: string) => ec2Id('rtb', uuid);
export const interfaceEc2Id = (uuid: string) => ec2Id('eni', uuid);

/** The id prefix of a VPC id; a malformed one is InvalidVpcID.Malformed. */
export function vpcPrefix(shown: string): string {
  return parseEc2Id(shown, ['vpc'], 'network').uuidPrefix;
}

export function subnetPrefix(shown: string): string {
  return parseEc2Id(shown, ['subnet'], 'subnet').uuidPrefix;
}

export function gatewayPrefix(shown: string): string {
  return parseEc2Id(shown, ['igw'], 'internet_gateway').uuidPrefix;
}

export function routeTablePrefix(shown: string): string {
  return parseEc2Id(shown, ['rtb'], 'router').uuidPrefix;
}

/** Picks the item an EC2 id names from a listing, or throws `missing(shown)`. */
export function pick<T extends { id: string }>(
  items: readonly T[],
  prefix: string,
  shown: string,
  missing: (shown: string) => StratusError,
): T {
  const found = items.find((i) => i.id.startsWith(prefix));
  if (!found) throw missing(shown);
  return found;
}

export const findVpc = async (deps: Ec2Deps, ctx: RequestContext, shown: string) =>
  pick(await deps.vpcs.listVpcs(ctx), vpcPrefix(shown), shown, vpcNotFound);

export const findSubnet = async (deps: Ec2Deps, ctx: RequestContext, shown: string) =>
  pick(await deps.vpcs.listSubnets(ctx), subnetPrefix(shown), shown, subnetNotFound);

export const findGateway = async (deps: Ec2Deps, ctx: RequestContext, shown: string) =>
  pick(await deps.vpcs.listGateways(ctx), gatewayPrefix(shown), shown, gatewayNotFound);

export const findRouteTable = async (deps: Ec2Deps, ctx: RequestContext, shown: string) =>
  pick(await deps.vpcs.listRouteTables(ctx), routeTablePrefix(shown), shown, routeTableNotFound);

/**
 * The items named by `Name.N` ids (each must exist, else its not-found error), or all of them;
 * `withIds` says whether ids were given (MaxResults may not go with them).
 */
export function named<T extends { id: string }>(
  params: Params,
  name: string,
  items: readonly T[],
  prefixOf: (shown: string) => string,
  missing: (shown: string) => StratusError,
): { items: T[]; withIds: boolean } {
  const shown = params.list(name);
  if (shown.length === 0) return { items: [...items], withIds: false };
  const picked = shown.map((s) => pick(items, prefixOf(s), s, missing));
  return { items: [...new Map(picked.map((i) => [i.id, i])).values()], withIds: true };
}

/** MaxResults (5..1000) and NextToken over a listing made in code; MaxResults not with ids. */
export function page<T>(
  params: Params,
  items: readonly T[],
  withIds: boolean,
  idsName: string,
): { items: T[]; nextToken: string | undefined } {
  const maxResults = params.int('MaxResults', { min: 5, max: 1000 });
  if (maxResults !== undefined && withIds) {
    throw new StratusError(
      'invalid',
      `The parameter ${idsName} cannot be used with the parameter maxResults.`,
      { resource: 'parameter', reason: 'combination' },
    );
  }
  const offset = pageOffset(params.string('NextToken', { max: 1024 }));
  const end = maxResults === undefined ? items.length : offset + maxResults;
  return {
    items: items.slice(offset, end),
    nextToken: end < items.length ? pageToken(end) : undefined,
  };
}

/** The tags of `TagSpecification.N` for one resource type, checked before anything is made. */
export function creationTags(
  params: Params,
  resourceType: TaggableType,
): { key: string; value: string }[] {
  const list = params.tagSpecifications().flatMap((s) => {
    if (s.resourceType !== resourceType) {
      throw invalidValue(
        'TagSpecification.ResourceType',
        s.resourceType,
        `It must be '${resourceType}'.`,
      );
    }
    return s.tags;
  });
  checkTags(list);
  return list;
}

/** Puts tags given at creation on what was made. */
export async function putCreationTags(
  deps: Ec2Deps,
  type: TaggableType,
  id: string,
  projectId: string,
  shown: string,
  list: readonly { key: string; value: string }[],
): Promise<void> {
  if (list.length === 0) return;
  await deps.tags.put([{ type, id, projectId, shown }], list);
}

/** Each item's tags as EC2 shows them, by item id. */
export async function tagsOf(
  deps: Ec2Deps,
  ids: readonly string[],
): Promise<(id: string) => { key: string; value: string }[]> {
  const map = await deps.tags.of(ids);
  return (id) => (map.get(id) ?? []).map((t) => ({ key: t.key, value: t.value }));
}
