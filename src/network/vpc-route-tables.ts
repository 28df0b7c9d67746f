// VPC route tables (issue 16). Each VPC has the router that is its main table when made; more
// tables are EC2's own records (CreateRouteTable), with the local route of the VPC's block and
// routes to the VPC's internet gateway. An association ties a table to a subnet, or makes it
// the VPC's main table; a subnet without one uses the main table. The data plane knows one
// router per VPC, every subnet joined to it; the overlay sync reads these records and the
// router takes each subnet out only as far as its table routes to the attached internet
// gateway (overlay-plan.ts, docs/networking.md).
import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../context.js';
import { VpcRepo, VpcRouteTableRepo, type Db } from '../db/index.js';
import { invalid, notFound, StratusError } from '../errors.js';
import { formatIpv4, parseRuleCidr } from './ipv4.js';
import type { InternetGateway, Vpc, VpcSubnet } from './vpcs.js';

export interface Route {
  destination: string;
  /** 'local' for the VPC's own block, else an internet gateway's id. */
  gatewayId: string;
  /** 'blackhole' when the gateway is no longer attached to the VPC. */
  state: 'active' | 'blackhole';
  origin: 'CreateRouteTable' | 'CreateRoute';
}

export interface RouteTableAssociation {
  id: string;
  routeTableId: string;
  /** The subnet, or null for the VPC's main association. */
  subnetId: string | null;
  main: boolean;
}

export interface RouteTable {
  /** The router's id for a VPC's first table, else the table's own. */
  id: string;
  projectId: string;
  vpcId: string;
  /** Whether it is the VPC's router (its first table, which cannot be deleted). */
  router: boolean;
  main: boolean;
  routes: Route[];
  associations: RouteTableAssociation[];
}

/** What the tables need of the VPC service. */
export interface RouteTableVpcs {
  listVpcs(ctx: RequestContext): Promise<Vpc[]>;
  listSubnets(ctx: RequestContext): Promise<VpcSubnet[]>;
  getSubnet(ctx: RequestContext, id: string, shown?: string): Promise<VpcSubnet>;
  getGateway(ctx: RequestContext, id: string, shown?: string): Promise<InternetGateway>;
}

export class VpcRouteTables {
  readonly #routes: VpcRepo;
  readonly #tables: VpcRouteTableRepo;
  readonly #vpcs: RouteTableVpcs;

  constructor(options: { db: Db; vpcs: RouteTableVpcs }) {
    this.#routes = new VpcRepo(options.db);
    this.#tables = new VpcRouteTableRepo(options.db);
    this.#vpcs = options.vpcs;
  }

  /** The tables of the caller's VPCs: each VPC's router first, then those made, oldest first. */
  async list(ctx: RequestContext): Promise<RouteTable[]> {
    const vpcs = await this.#vpcs.listVpcs(ctx);
    const ids = vpcs.map((v) => v.id);
    const [made, associations, gateways] = await Promise.all([
      this.#tables.tables(ids),
      this.#tables.associations(ids),
      this.#routes.gateways({}),
    ]);
    const tables: Omit<RouteTable, 'main' | 'routes' | 'associations'>[] = [];
    for (const v of vpcs) {
      if (v.routerId)
        tables.push({ id: v.routerId, projectId: v.projectId, vpcId: v.id, router: true });
      for (const t of made.filter((m) => m.networkId === v.id)) {
        tables.push({ id: t.id, projectId: t.projectId, vpcId: v.id, router: false });
      }
    }
    const routes = await this.#routes.routes(tables.map((t) => t.id));
    const cidrOf = new Map(vpcs.map((v) => [v.id, v.cidr]));
    return tables.map((t) => {
      const mainRow = associations.find((a) => a.mainOf === t.vpcId);
      const main = mainRow ? mainRow.routeTableId === t.id : t.router;
      const own = associations
        .filter((a) => a.routeTableId === t.id && a.subnetId !== null)
        .map((a) => ({ id: a.id, routeTableId: t.id, subnetId: a.subnetId, main: false }));
      const cidr = cidrOf.get(t.vpcId) ?? '';
      return {
        ...t,
        main,
        associations: [
          // A VPC's router holds the main association until another table takes it; its id
          // is then the router's (EC2 shows `rtbassoc-` and the same digits).
          ...(main
            ? [{ id: mainRow?.id ?? t.id, routeTableId: t.id, subnetId: null, main: true }]
            : []),
          ...own,
        ],
        routes: [
          ...(cidr
            ? [
                {
                  destination: cidr,
                  gatewayId: 'local',
                  state: 'active' as const,
                  origin: 'CreateRouteTable' as const,
                },
              ]
            : []),
          ...routes
            .filter((r) => r.routerId === t.id)
            .map((r) => ({
              destination: r.destination,
              gatewayId: r.gatewayId,
              state: gateways.some((g) => g.id === r.gatewayId && g.networkId === t.vpcId)
                ? ('active' as const)
                : ('blackhole' as const),
              origin: 'CreateRoute' as const,
            })),
        ],
      };
    });
  }

  async get(ctx: RequestContext, id: string, shown = id): Promise<RouteTable> {
    const found = (await this.list(ctx)).find((t) => t.id === id);
    if (!found) throw routeTableNotFound(shown);
    return found;
  }

  /** Makes a table in a VPC of the caller's, with the local route only. */
  async create(ctx: RequestContext, vpc: Vpc): Promise<RouteTable> {
    const id = randomUUID();
    await this.#tables.insertTable({
      id,
      networkId: vpc.id,
      projectId: vpc.projectId,
      createdAt: Date.now(),
    });
    return this.get(ctx, id);
  }

  /**
   * Deletes a table; `conflict` (`in_use`, EC2's DependencyViolation) while it is main, has
   * subnets, or is the VPC's router.
   */
  async delete(ctx: RequestContext, id: string, shown = id): Promise<void> {
    const table = await this.get(ctx, id, shown);
    const why = table.main
      ? 'it is the main route table of its VPC'
      : table.associations.length > 0
        ? `it is associated with ${table.associations.length} subnet(s)`
        : table.router
          ? "it is the VPC's router"
          : undefined;
    if (why) {
      throw new StratusError(
        'conflict',
        `The routeTable '${shown}' has dependencies (${why}) and cannot be deleted.`,
        { resource: 'router', id: shown, reason: 'in_use' },
      );
    }
    if (!(await this.#tables.deleteTable(table.id))) throw routeTableNotFound(shown);
  }

  /** Every association of the caller's tables (the main ones too). */
  async associations(ctx: RequestContext): Promise<RouteTableAssociation[]> {
    return (await this.list(ctx)).flatMap((t) => t.associations);
  }

  /**
   * Associates a table with a subnet of its VPC; `conflict` (`already_associated`) when the
   * subnet has a table already. Returns the association.
   */
  async associate(
    ctx: RequestContext,
    tableId: string,
    subnetId: string,
    shown = { table: tableId, subnet: subnetId },
  ): Promise<RouteTableAssociation> {
    const table = await this.get(ctx, tableId, shown.table);
    const subnet = await this.#vpcs.getSubnet(ctx, subnetId, shown.subnet);
    if (subnet.vpcId !== table.vpcId) {
      throw invalid(
        `The route table ${shown.table} and the subnet ${shown.subnet} belong to different VPCs.`,
        { resource: 'parameter', reason: 'combination' },
      );
    }
    const id = randomUUID();
    const ok = await this.#tables.insertAssociation({
      id,
      routeTableId: table.id,
      networkId: table.vpcId,
      subnetId: subnet.id,
      mainOf: null,
      createdAt: Date.now(),
    });
    if (!ok) {
      throw new StratusError(
        'conflict',
        `The subnet ${shown.subnet} is already associated with a route table.`,
        { resource: 'subnet', id: shown.subnet, reason: 'already_associated' },
      );
    }
    return { id, routeTableId: table.id, subnetId: subnet.id, main: false };
  }

  /** Ends a subnet's association (it uses the main table again); a main one is refused. */
  async disassociate(ctx: RequestContext, associationId: string, shown = associationId) {
    const found = await this.#association(ctx, associationId, shown);
    if (found.main) {
      throw invalid(
        `The association ${shown} is a main association; make another table main instead (ReplaceRouteTableAssociation).`,
        { resource: 'association', id: shown },
      );
    }
    if (!(await this.#tables.deleteAssociation(found.id))) throw associationNotFound(shown);
  }

  /**
   * Points an association at another table of the same VPC, under a new association id; for
   * the main association, that table becomes the VPC's main one.
   */
  async replaceAssociation(
    ctx: RequestContext,
    associationId: string,
    tableId: string,
    shown = { association: associationId, table: tableId },
  ): Promise<RouteTableAssociation> {
    const found = await this.#association(ctx, associationId, shown.association);
    const table = await this.get(ctx, tableId, shown.table);
    const vpcId = (await this.get(ctx, found.routeTableId)).vpcId;
    if (table.vpcId !== vpcId) {
      throw invalid(
        `The route table ${shown.table} is not in the VPC of association ${shown.association}.`,
        { resource: 'parameter', reason: 'combination' },
      );
    }
    const newId = randomUUID();
    let ok: boolean;
    if (found.main && found.id === found.routeTableId) {
      // The router's implied main association becomes a row of its own.
      ok = await this.#tables.insertAssociation({
        id: newId,
        routeTableId: table.id,
        networkId: vpcId,
        subnetId: null,
        mainOf: vpcId,
        createdAt: Date.now(),
      });
    } else {
      ok = await this.#tables.replaceAssociation(found.id, table.id, newId);
    }
    if (!ok) throw associationNotFound(shown.association);
    return { id: newId, routeTableId: table.id, subnetId: found.subnetId, main: found.main };
  }

  /**
   * Adds a route to an internet gateway attached to the table's VPC. The destination is a
   * block outside the VPC's own; `already_exists` when the table has a route to it.
   */
  async createRoute(
    ctx: RequestContext,
    tableId: string,
    destination: string,
    gatewayId: string,
    shown = { table: tableId, gateway: gatewayId },
  ): Promise<void> {
    const table = await this.get(ctx, tableId, shown.table);
    const block = routeBlock(destination);
    await this.#checkGateway(ctx, table, gatewayId, shown);
    if (table.routes.some((r) => r.gatewayId === 'local' && r.destination === block)) {
      throw new StratusError(
        'already_exists',
        `The route identified by ${block} already exists (it is the VPC's local route).`,
        { resource: 'route', id: block },
      );
    }
    const inserted = await this.#routes.insertRoute({
      routerId: table.id,
      destination: block,
      gatewayId,
      createdAt: Date.now(),
    });
    if (!inserted) {
      throw new StratusError('already_exists', `The route identified by ${block} already exists.`, {
        resource: 'route',
        id: block,
      });
    }
  }

  /** Points an existing route at another gateway; `not_found` (route) when it has none. */
  async replaceRoute(
    ctx: RequestContext,
    tableId: string,
    destination: string,
    gatewayId: string,
    shown = { table: tableId, gateway: gatewayId },
  ): Promise<void> {
    const table = await this.get(ctx, tableId, shown.table);
    const block = routeBlock(destination);
    if (table.routes.some((r) => r.gatewayId === 'local' && r.destination === block)) {
      throw invalid(`The local route ${block} of route table ${shown.table} cannot be replaced.`, {
        resource: 'parameter',
        id: 'DestinationCidrBlock',
      });
    }
    await this.#checkGateway(ctx, table, gatewayId, shown);
    await this.#routes.transaction(async (repo) => {
      if (!(await repo.deleteRoute(table.id, block))) throw routeNotFound(block, shown.table);
      await repo.insertRoute({
        routerId: table.id,
        destination: block,
        gatewayId,
        createdAt: Date.now(),
      });
    });
  }

  async deleteRoute(
    ctx: RequestContext,
    tableId: string,
    destination: string,
    shownTable = tableId,
  ): Promise<void> {
    const table = await this.get(ctx, tableId, shownTable);
    const block = routeBlock(destination);
    if (table.routes.some((r) => r.gatewayId === 'local' && r.destination === block)) {
      throw invalid(`The local route ${block} of route table ${shownTable} cannot be deleted.`, {
        resource: 'parameter',
        id: 'DestinationCidrBlock',
      });
    }
    if (!(await this.#routes.deleteRoute(table.id, block))) throw routeNotFound(block, shownTable);
  }

  /** How many tables a VPC has beyond its router (DeleteVpc waits for them to go). */
  async madeIn(vpcId: string): Promise<number> {
    return (await this.#tables.tables([vpcId])).length;
  }

  /** Forgets a deleted subnet's association. */
  forgetSubnet(subnetId: string): Promise<void> {
    return this.#tables.forgetSubnet(subnetId);
  }

  /** Forgets a deleted VPC's tables and associations. */
  forgetVpc(vpcId: string): Promise<void> {
    return this.#tables.forgetVpc(vpcId);
  }

  async #association(
    ctx: RequestContext,
    id: string,
    shown: string,
  ): Promise<RouteTableAssociation> {
    const found = (await this.associations(ctx)).find((a) => a.id === id);
    if (!found) throw associationNotFound(shown);
    return found;
  }

  async #checkGateway(
    ctx: RequestContext,
    table: RouteTable,
    gatewayId: string,
    shown: { table: string; gateway: string },
  ): Promise<void> {
    const gateway = await this.#vpcs.getGateway(ctx, gatewayId, shown.gateway);
    if (gateway.vpcId !== table.vpcId) {
      throw invalid(
        `The gateway ${shown.gateway} is not attached to the VPC of route table ${shown.table}.`,
        { resource: 'internet_gateway', id: shown.gateway },
      );
    }
  }
}

function routeBlock(text: string): string {
  const cidr = parseRuleCidr(text);
  if (!cidr) {
    throw invalid(
      `Value (${text.slice(0, 64)}) for parameter destinationCidrBlock is invalid. This is not a valid CIDR block (its host bits must be zero).`,
      { resource: 'parameter', id: 'DestinationCidrBlock' },
    );
  }
  return `${formatIpv4(cidr.base)}/${cidr.prefix}`;
}

function routeNotFound(block: string, shownTable: string): StratusError {
  return notFound(
    'route',
    block,
    `The route identified by ${block} was not found in route table ${shownTable}.`,
  );
}

export function routeTableNotFound(shown: string): StratusError {
  return notFound('router', shown, `The routeTable ID '${shown}' does not exist`);
}

export function associationNotFound(shown: string): StratusError {
  return notFound('association', shown, `The association ID '${shown}' does not exist`);
}
