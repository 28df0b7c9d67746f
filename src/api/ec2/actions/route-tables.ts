// Route table actions: CreateRouteTable, DeleteRouteTable, DescribeRouteTables,
// AssociateRouteTable, DisassociateRouteTable, ReplaceRouteTableAssociation, CreateRoute,
// ReplaceRoute, DeleteRoute. A VPC's first table is its router, its main one until another is
// made main; more tables are EC2's own (network/vpc-route-tables.ts). A table's id is `rtb-`
// and the router's or table's UUID; an association's is `rtbassoc-` and its UUID (the router's
// own main association: the router's UUID).
import { ec2Id, parseEc2Id } from '../../../ids/index.js';
import {
  associationNotFound,
  routeTableNotFound,
  type RouteTable,
} from '../../../network/index.js';
import type { Ec2ActionTable } from '../action.js';
import { applyFilters } from '../filters.js';
import { missingParameter } from '../params.js';
import type { Ec2Deps } from './deps.js';
import {
  creationTags,
  findGateway,
  findRouteTable,
  findSubnet,
  findVpc,
  gatewayEc2Id,
  named,
  page,
  pick,
  putCreationTags,
  routeTableEc2Id,
  routeTablePrefix,
  subnetEc2Id,
  tagsOf,
  vpcEc2Id,
} from './vpc-common.js';

const associationEc2Id = (uuid: string) => ec2Id('rtbassoc', uuid);
const associationPrefix = (shown: string) =>
  parseEc2Id(shown, ['rtbassoc'], 'association').uuidPrefix;

export function routeTableActions(deps: Ec2Deps): Ec2ActionTable {
  const { vpcs } = deps;

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
    associationSet: t.associations.map((a) => ({
      routeTableAssociationId: associationEc2Id(a.id),
      routeTableId: routeTableEc2Id(t.id),
      subnetId: a.subnetId ? subnetEc2Id(a.subnetId) : undefined,
      main: a.main,
      associationState: { state: 'associated' },
    })),
    propagatingVgwSet: [],
    tagSet: tagList,
  });

  const destination = (params: Parameters<typeof named>[0]) => {
    const d = params.string('DestinationCidrBlock', { max: 64 });
    if (d === undefined || d === '') throw missingParameter('DestinationCidrBlock');
    return d;
  };

  const gatewayParam = (params: Parameters<typeof named>[0]) => {
    const gateway = params.string('GatewayId', { max: 64 });
    if (gateway === undefined || gateway === '') throw missingParameter('GatewayId');
    return gateway;
  };

  const findAssociation = async (ctx: Parameters<typeof findVpc>[1], shown: string) =>
    pick(
      await vpcs.routeTables.associations(ctx),
      associationPrefix(shown),
      shown,
      associationNotFound,
    );

  return {
    CreateRouteTable: async ({ params, context }) => {
      const shownVpc = params.requireString('VpcId', { max: 64 });
      const tagList = creationTags(params, 'route-table');
      const vpc = await findVpc(deps, context, shownVpc);
      const table = await vpcs.routeTables.create(context, vpc);
      try {
        await putCreationTags(
          deps,
          'route-table',
          table.id,
          table.projectId,
          routeTableEc2Id(table.id),
          tagList,
        );
      } catch (err) {
        await vpcs.routeTables.delete(context, table.id).catch(() => undefined);
        throw err;
      }
      return { routeTable: view(table, (await tagsOf(deps, [table.id]))(table.id)) };
    },

    DeleteRouteTable: async ({ params, context }) => {
      const shown = params.requireString('RouteTableId', { max: 64 });
      const t = await findRouteTable(deps, context, shown);
      await vpcs.routeTables.delete(context, t.id, shown);
      return { return: true };
    },

    DescribeRouteTables: async ({ params, context }) => {
      const all = await vpcs.routeTables.list(context);
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
          'association.route-table-association-id': (t) =>
            t.associations.map((a) => associationEc2Id(a.id)),
          'association.route-table-id': (t) =>
            t.associations.length > 0 ? routeTableEc2Id(t.id) : undefined,
          'association.subnet-id': (t) =>
            t.associations.flatMap((a) => (a.subnetId ? [subnetEc2Id(a.subnetId)] : [])),
          'association.association-state': (t) => t.associations.map(() => 'associated'),
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

    AssociateRouteTable: async ({ params, context }) => {
      const table = params.requireString('RouteTableId', { max: 64 });
      const subnet = params.requireString('SubnetId', { max: 64 });
      const t = await findRouteTable(deps, context, table);
      const s = await findSubnet(deps, context, subnet);
      const a = await vpcs.routeTables.associate(context, t.id, s.id, { table, subnet });
      return {
        associationId: associationEc2Id(a.id),
        associationState: { state: 'associated' },
      };
    },

    DisassociateRouteTable: async ({ params, context }) => {
      const shown = params.requireString('AssociationId', { max: 64 });
      const a = await findAssociation(context, shown);
      await vpcs.routeTables.disassociate(context, a.id, shown);
      return { return: true };
    },

    ReplaceRouteTableAssociation: async ({ params, context }) => {
      const association = params.requireString('AssociationId', { max: 64 });
      const table = params.requireString('RouteTableId', { max: 64 });
      const a = await findAssociation(context, association);
      const t = await findRouteTable(deps, context, table);
      const replaced = await vpcs.routeTables.replaceAssociation(context, a.id, t.id, {
        association,
        table,
      });
      return {
        newAssociationId: associationEc2Id(replaced.id),
        associationState: { state: 'associated' },
      };
    },

    CreateRoute: async ({ params, context }) => {
      const table = params.requireString('RouteTableId', { max: 64 });
      const dest = destination(params);
      const gateway = gatewayParam(params);
      const t = await findRouteTable(deps, context, table);
      const g = await findGateway(deps, context, gateway);
      await vpcs.routeTables.createRoute(context, t.id, dest, g.id, { table, gateway });
      return { return: true };
    },

    ReplaceRoute: async ({ params, context }) => {
      const table = params.requireString('RouteTableId', { max: 64 });
      const dest = destination(params);
      const gateway = gatewayParam(params);
      const t = await findRouteTable(deps, context, table);
      const g = await findGateway(deps, context, gateway);
      await vpcs.routeTables.replaceRoute(context, t.id, dest, g.id, { table, gateway });
      return { return: true };
    },

    DeleteRoute: async ({ params, context }) => {
      const table = params.requireString('RouteTableId', { max: 64 });
      const dest = destination(params);
      const t = await findRouteTable(deps, context, table);
      await vpcs.routeTables.deleteRoute(context, t.id, dest, table);
      return { return: true };
    },
  };
}
