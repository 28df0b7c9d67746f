// Internet gateway actions: CreateInternetGateway, AttachInternetGateway,
// DetachInternetGateway, DeleteInternetGateway, DescribeInternetGateways. Attached, a gateway
// is its VPC's router's external gateway on the floating pool (network/vpcs.ts); its id is
// `igw-` and its UUID.
import { gatewayNotFound, type InternetGateway } from '../../../network/index.js';
import type { Ec2ActionTable } from '../action.js';
import { applyFilters } from '../filters.js';
import type { Ec2Deps } from './deps.js';
import {
  creationTags,
  findGateway,
  findVpc,
  gatewayEc2Id,
  gatewayPrefix,
  named,
  page,
  putCreationTags,
  tagsOf,
  vpcEc2Id,
} from './vpc-common.js';

export function internetGatewayActions(deps: Ec2Deps): Ec2ActionTable {
  const { vpcs } = deps;

  const view = (g: InternetGateway, tagList: { key: string; value: string }[]) => ({
    internetGatewayId: gatewayEc2Id(g.id),
    ownerId: g.projectId,
    attachmentSet: g.vpcId ? [{ vpcId: vpcEc2Id(g.vpcId), state: 'available' }] : [],
    tagSet: tagList,
  });

  return {
    CreateInternetGateway: async ({ params, context }) => {
      const tagList = creationTags(params, 'internet-gateway');
      const g = await vpcs.createGateway(context);
      try {
        await putCreationTags(
          deps,
          'internet-gateway',
          g.id,
          g.projectId,
          gatewayEc2Id(g.id),
          tagList,
        );
      } catch (err) {
        await vpcs.deleteGateway(context, g.id).catch(() => undefined);
        throw err;
      }
      return { internetGateway: view(g, (await tagsOf(deps, [g.id]))(g.id)) };
    },

    AttachInternetGateway: async ({ params, context }) => {
      const gateway = params.requireString('InternetGatewayId', { max: 64 });
      const vpc = params.requireString('VpcId', { max: 64 });
      const g = await findGateway(deps, context, gateway);
      const v = await findVpc(deps, context, vpc);
      await vpcs.attachGateway(context, g.id, v.id, { gateway, vpc });
      return { return: true };
    },

    DetachInternetGateway: async ({ params, context }) => {
      const gateway = params.requireString('InternetGatewayId', { max: 64 });
      const vpc = params.requireString('VpcId', { max: 64 });
      const g = await findGateway(deps, context, gateway);
      const v = await findVpc(deps, context, vpc);
      await vpcs.detachGateway(context, g.id, v.id, { gateway, vpc });
      return { return: true };
    },

    DeleteInternetGateway: async ({ params, context }) => {
      const shown = params.requireString('InternetGatewayId', { max: 64 });
      const g = await findGateway(deps, context, shown);
      await vpcs.deleteGateway(context, g.id, shown);
      return { return: true };
    },

    DescribeInternetGateways: async ({ params, context }) => {
      const all = await vpcs.listGateways(context);
      const { items, withIds } = named(
        params,
        'InternetGatewayId',
        all,
        gatewayPrefix,
        gatewayNotFound,
      );
      const tagList = await tagsOf(
        deps,
        items.map((g) => g.id),
      );
      const matched = applyFilters(
        items,
        params.filters(),
        {
          'internet-gateway-id': (g) => gatewayEc2Id(g.id),
          'attachment.vpc-id': (g) => (g.vpcId ? vpcEc2Id(g.vpcId) : undefined),
          'attachment.state': (g) => (g.vpcId ? 'available' : undefined),
          'owner-id': (g) => g.projectId,
        },
        { tags: (g) => tagList(g.id) },
      );
      const shown = page(params, matched, withIds, 'internetGatewayIds');
      return {
        internetGatewaySet: shown.items.map((g) => view(g, tagList(g.id))),
        nextToken: shown.nextToken,
      };
    },
  };
}
