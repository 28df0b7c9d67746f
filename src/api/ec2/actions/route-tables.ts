// Route table actions: DescribeRouteTables, CreateRoute, DeleteRoute. Each VPC has one route
// table, its main one: the VPC's router, with the local route of the VPC's block and routes
// to the VPC's internet gateway (network/vpcs.ts). Its id is `rtb-` and the router's UUID;
// the main association's is `rtbassoc-` and the same digits.
import { ec2Id } from '../../../ids/index.js';
import { routeTableNotFound, type RouteTable } from '../../../network/index.js';
import type { Ec2ActionTable } from '../action.js';
import { applyFilters } from '../filters.js';
import { missingParameter } from '../params.js';
import type { Ec2Deps } from './deps.js';
import {
  findGateway,
  findRouteTable,
  gatewayEc2Id,
  named,
  page,
  routeTableEc2Id,
  routeTablePrefix,
  tagsOf,
  vpcEc2Id,
} from './vpc-common.js';

export function routeTableActions(deps: Ec2Deps): Ec2ActionTable {
  const { vpcs } = deps;

  const associationId = (t: RouteTable) => ec2Id('rtbassoc', t.id);
  const gatewayOf = (gatewayId: string) =>
    gatewayId === 'local' ? 'local' : gatewayEc2Id(gatewayId);

  const view = (t: RouteTable, tagList: { key: string; value: string }[]) => ({
    routeTableId: routeTableEc2Id(t.id),
    vpcId: vpcEc2Id(t.vpcId),
    ownerId: t.projectId,
    routeSet: t.routes.map((r) => ({
      destinationCidrBlock: r.destination,
      gatewayId: gatewayOf(r.gatewayId),
      state: r.state,
      origin: r.origin,
    })),
    associationSet: [
      {
        routeTableAssociationId: associationId(t),
        routeTableId: routeTableEc2Id(t.id),
        main: t.main,
        associationState: { state: 'associated' },
      },
    ],
    propagatingVgwSet: [],
    tagSet: tagList,
  });

  const destination = (params: Parameters<typeof named>[0]) => {
    const d = params.string('DestinationCidrBlock', { max: 64 });
    if (d === undefined || d === '') throw missingParameter('DestinationCidrBlock');
    return d;
  };

  return {
    DescribeRouteTables: async ({ params, context }) => {
      const all = await vpcs.listRouteTables(context);
      const { items, withIds } = named(
        params,
        'RouteTableId',
        all,
        routeTablePrefix,
        routeTableNotFound,
      );
      const tagList = await tagsOf(
        deps,
        items.map((t) => t.id),
      );
      const matched = applyFilters(
        items,
        params.filters(),
        {
          'route-table-id': (t) => routeTableEc2Id(t.id),
          'vpc-id': (t) => vpcEc2Id(t.vpcId),
          'owner-id': (t) => t.projectId,
          'association.main': (t) => t.main,
          'association.route-table-association-id': (t) => associationId(t),
          'association.route-table-id': (t) => routeTableEc2Id(t.id),
          'association.subnet-id': () => undefined,
          'route.destination-cidr-block': (t) => t.routes.map((r) => r.destination),
          'route.gateway-id': (t) => t.routes.map((r) => gatewayOf(r.gatewayId)),
          'route.state': (t) => t.routes.map((r) => r.state),
          'route.origin': (t) => t.routes.map((r) => r.origin),
        },
        { tags: (t) => tagList(t.id) },
      );
      const shown = page(params, matched, withIds, 'routeTableIds');
      return {
        routeTableSet: shown.items.map((t) => view(t, tagList(t.id))),
        nextToken: shown.nextToken,
      };
    },

    CreateRoute: async ({ params, context }) => {
      const table = params.requireString('RouteTableId', { max: 64 });
      const dest = destination(params);
      const gateway = params.string('GatewayId', { max: 64 });
      if (gateway === undefined || gateway === '') throw missingParameter('GatewayId');
      const t = await findRouteTable(deps, context, table);
      const g = await findGateway(deps, context, gateway);
      await vpcs.createRoute(context, t.id, dest, g.id, { table, gateway });
      return { return: true };
    },

    DeleteRoute: async ({ params, context }) => {
      const table = params.requireString('RouteTableId', { max: 64 });
      const dest = destination(params);
      const t = await findRouteTable(deps, context, table);
      await vpcs.deleteRoute(context, t.id, dest, table);
      return { return: true };
    },
  };
}
