// VPCs over the project network model (issue 16): a VPC is a project network plus a router
// (its main route table); a VPC subnet is a subnet of that network joined to the router;
// an internet gateway attached to a VPC is the router's external gateway on the floating pool.
// What the Networking API has no field for (the VPC's CIDR block, DNS attributes, the
// project's default VPC, a subnet's zone and launch attributes, gateways and routes) is kept
// in VpcRepo. A network made through the Networking API is a VPC here too: its block is the
// smallest one holding its subnets, its route table a router joined to one of them.
// Work of several steps undoes the steps done when a later one fails: nothing half-made.
import { randomUUID } from 'node:crypto';
import { isAdmin, type RequestContext } from '../context.js';
import {
  isUniqueViolation,
  SecurityGroupRepo,
  VpcInterfaceRepo,
  VpcRepo,
  type Db,
  type SecurityGroupRow,
  type VpcRow,
  type VpcSubnetRow,
} from '../db/index.js';
import { invalid, notFound, StratusError } from '../errors.js';
import { formatIpv4, parseCidr, parseIpv4, type Cidr } from './ipv4.js';
import { releaseInstancePorts } from './launch-ports.js';
import type {
  ProjectNetwork,
  ProjectNetworkService,
  ProjectPort,
  ProjectRouter,
  ProjectSubnet,
} from './project-networks.js';
import { VpcInterfaces } from './vpc-interfaces.js';
import { VpcRouteTables, type RouteTable } from './vpc-route-tables.js';

export type { Route, RouteTable, RouteTableAssociation } from './vpc-route-tables.js';
export { associationNotFound, routeTableNotFound } from './vpc-route-tables.js';

export interface Vpc {
  /** The project network's id. */
  id: string;
  projectId: string;
  /** The VPC's block; for a network made elsewhere, the smallest block holding its subnets. */
  cidr: string;
  /** The router that is its main route table, if it has one. */
  routerId: string | null;
  isDefault: boolean;
  enableDnsSupport: boolean;
  enableDnsHostnames: boolean;
  /** Whether EC2 made it (false: the Networking API did). */
  madeHere: boolean;
  network: ProjectNetwork;
}

export interface VpcSubnet {
  id: string;
  vpcId: string;
  projectId: string;
  cidr: string;
  availabilityZone: string;
  mapPublicIp: boolean;
  defaultForAz: boolean;
  /** Addresses of its pools that no port holds. */
  availableAddresses: number;
  subnet: ProjectSubnet;
}

/** A port on a VPC subnet, other than a router's or DHCP's. */
export interface NetworkInterface {
  port: ProjectPort;
  vpcId: string;
  subnetId: string;
  availabilityZone: string;
  privateIp: string;
  /** The instance it is on (`compute:` ports), if any. */
  instanceId: string | null;
  /** Its attachment while on an instance (a launch's own: device 0, deleted with it). */
  attachment: InterfaceAttachment | null;
  sourceDestCheck: boolean;
  /** Its private addresses on its subnet, the primary first. */
  privateIps: string[];
}

export interface InterfaceAttachment {
  /** The attachment's id: the port's own for an interface made with its instance. */
  id: string;
  deviceIndex: number;
  deleteOnTermination: boolean;
}

export interface InternetGateway {
  id: string;
  projectId: string;
  /** The VPC it is attached to. */
  vpcId: string | null;
}

/** EC2's limits on a VPC's and a subnet's block. */
export const VPC_PREFIX = { min: 16, max: 28 } as const;

/** The default VPC's block and the size of each zone's default subnet. */
export const DEFAULT_VPC_CIDR = '172.31.0.0/16';
const DEFAULT_SUBNET_PREFIX = 20;

/** How long a claim on a default VPC may stay unfinished before another caller takes over. */
const STALE_CLAIM_MS = 60_000;

export class VpcService {
  readonly #repo: VpcRepo;
  readonly #groupRepo: SecurityGroupRepo;
  readonly #interfaceRepo: VpcInterfaceRepo;
  readonly #networks: ProjectNetworkService;
  /** The VPCs' route tables. */
  readonly routeTables: VpcRouteTables;
  /** Interface attachments, attributes, extra addresses and launch addresses. */
  readonly interfaces: VpcInterfaces;

  constructor(options: { db: Db; projectNetworks: ProjectNetworkService }) {
    this.#repo = new VpcRepo(options.db);
    this.#groupRepo = new SecurityGroupRepo(options.db);
    this.#interfaceRepo = new VpcInterfaceRepo(options.db);
    this.#networks = options.projectNetworks;
    this.routeTables = new VpcRouteTables({ db: options.db, vpcs: this });
    this.interfaces = new VpcInterfaces({
      db: options.db,
      vpcs: this,
      projectNetworks: options.projectNetworks,
    });
  }

  /** The availability zone subnets are in when none is asked for. */
  get defaultZone(): string {
    return this.#networks.zone;
  }

  // VPCs

  /** The caller's VPCs (an admin's: every project's), oldest first. */
  async listVpcs(ctx: RequestContext): Promise<Vpc[]> {
    const networks = (await this.#networks.listNetworks(ctx)).filter(
      (n) =>
        n.origin === 'project' && !n.external && (isAdmin(ctx) || n.projectId === ctx.projectId),
    );
    const rows = new Map(
      (await this.#repo.vpcs({ networkIds: networks.map((n) => n.id) })).map((r) => [
        r.networkId,
        r,
      ]),
    );
    const subnets = await this.#networks.listSubnets(ctx);
    const routers = await this.#networks.listRouters(ctx);
    return networks.map((n) => {
      const row = rows.get(n.id);
      if (row) return vpcOf(n, row);
      const own = subnets.filter((s) => s.networkId === n.id);
      const router = routers.find((r) =>
        r.interfaces.some((i) => own.some((s) => s.id === i.subnetId)),
      );
      return {
        id: n.id,
        projectId: n.projectId,
        cidr: coveringBlock(own.map((s) => s.cidr)),
        routerId: router?.id ?? null,
        isDefault: false,
        enableDnsSupport: true,
        enableDnsHostnames: false,
        madeHere: false,
        network: n,
      };
    });
  }

  /** One of the caller's VPCs by network id; `not_found` otherwise. */
  async getVpc(ctx: RequestContext, id: string, shown = id): Promise<Vpc> {
    const found = (await this.listVpcs(ctx)).find((v) => v.id === id);
    if (!found) throw vpcNotFound(shown);
    return found;
  }

  /**
   * Makes a VPC: a network, its router, and the row that holds its block. A block outside
   * /16../28 is `invalid` (reason `range`); a failing step undoes the earlier ones.
   */
  async createVpc(
    ctx: RequestContext,
    spec: { cidr: string; isDefault?: boolean; name?: string },
  ): Promise<Vpc> {
    const cidr = vpcBlock(spec.cidr);
    const undo: (() => Promise<unknown>)[] = [];
    try {
      const network = await this.#networks.createNetwork(ctx, { name: spec.name ?? '' });
      undo.push(() => this.#networks.deleteNetwork(ctx, network.id));
      const router = await this.#networks.createRouter(ctx, { name: spec.name ?? '' });
      undo.push(() => this.#networks.deleteRouter(ctx, router.id));
      await this.#repo.insertVpc({
        networkId: network.id,
        projectId: network.projectId,
        cidr: `${formatIpv4(cidr.base)}/${cidr.prefix}`,
        routerId: router.id,
        isDefault: spec.isDefault ? 1 : 0,
        enableDnsSupport: 1,
        enableDnsHostnames: spec.isDefault ? 1 : 0,
        createdAt: Date.now(),
      });
      // Its `default` group, made with it (the default VPC's is the project's own).
      if (spec.isDefault) await this.#groupRepo.ensureDefault(network.projectId);
      else await this.#groupRepo.ensureVpcDefault(network.projectId, network.id);
      return await this.getVpc(ctx, network.id);
    } catch (err) {
      await undoAll(undo);
      throw err;
    }
  }

  /**
   * The `default` security group of one of the caller's VPCs: the project's own for the
   * default VPC; made now for a VPC that has none yet (one the Networking API made).
   */
  async defaultGroup(ctx: RequestContext, vpc: Vpc): Promise<SecurityGroupRow> {
    if (vpc.isDefault) return this.#groupRepo.ensureDefault(vpc.projectId);
    return this.#groupRepo.ensureVpcDefault(vpc.projectId, vpc.id);
  }

  /**
   * Deletes a VPC with its router and its `default` security group: `conflict` (`in_use`)
   * while it has subnets, an attached internet gateway or other security groups, as EC2's
   * DependencyViolation.
   */
  async deleteVpc(ctx: RequestContext, id: string, shown = id): Promise<void> {
    const vpc = await this.getVpc(ctx, id, shown);
    if (vpc.network.subnetIds.length > 0) {
      throw new StratusError(
        'conflict',
        `The vpc '${shown}' has dependencies (${vpc.network.subnetIds.length} subnet(s)) and cannot be deleted.`,
        { resource: 'network', id: shown, reason: 'in_use' },
      );
    }
    const gateways = await this.#repo.gateways({});
    if (gateways.some((g) => g.networkId === vpc.id)) {
      throw new StratusError(
        'conflict',
        `The vpc '${shown}' has dependencies (an attached internet gateway) and cannot be deleted.`,
        { resource: 'network', id: shown, reason: 'in_use' },
      );
    }
    const groups = await this.#groupRepo.countByVpc(vpc.id);
    if (groups > 0) {
      throw new StratusError(
        'conflict',
        `The vpc '${shown}' has dependencies (${groups} security group(s)) and cannot be deleted.`,
        { resource: 'network', id: shown, reason: 'in_use' },
      );
    }
    const tables = await this.routeTables.madeIn(vpc.id);
    if (tables > 0) {
      throw new StratusError(
        'conflict',
        `The vpc '${shown}' has dependencies (${tables} route table(s) besides its main one) and cannot be deleted.`,
        { resource: 'network', id: shown, reason: 'in_use' },
      );
    }
    // The network first: it refuses while ports are on it, before anything else has gone.
    await this.#networks.deleteNetwork(ctx, vpc.id);
    if (vpc.routerId && vpc.madeHere) {
      await this.#networks.deleteRouter(ctx, vpc.routerId).catch(() => undefined);
    }
    await this.#repo.transaction((repo) => repo.deleteVpc(vpc.id, vpc.routerId ?? undefined));
    await this.routeTables.forgetVpc(vpc.id);
  }

  /** Sets a VPC's DNS attributes (kept for VPCs EC2 made). */
  async modifyVpc(
    ctx: RequestContext,
    id: string,
    change: { enableDnsSupport?: boolean; enableDnsHostnames?: boolean },
    shown = id,
  ): Promise<Vpc> {
    const vpc = await this.getVpc(ctx, id, shown);
    if (!vpc.madeHere) {
      throw invalid(
        `The vpc '${shown}' was made through the Networking API; its DNS attributes are fixed.`,
        { resource: 'network', id: shown, reason: 'unsupported' },
      );
    }
    await this.#repo.updateVpc(vpc.id, {
      ...(change.enableDnsSupport !== undefined
        ? { enableDnsSupport: change.enableDnsSupport ? 1 : 0 }
        : {}),
      ...(change.enableDnsHostnames !== undefined
        ? { enableDnsHostnames: change.enableDnsHostnames ? 1 : 0 }
        : {}),
    });
    return this.getVpc(ctx, id, shown);
  }

  // The default VPC

  /**
   * The caller's project's default VPC, made on first use: 172.31.0.0/16, a /20 subnet per
   * zone that maps public addresses, an attached internet gateway and a default route to it.
   * Two first calls at once make one: a keyed claim decides, the other waits for it.
   */
  async defaultVpc(ctx: RequestContext, zones: readonly string[]): Promise<Vpc> {
    const projectId = ctx.projectId;
    if (!projectId) throw new StratusError('forbidden', 'This request needs a project.');
    const deadline = Date.now() + 2 * STALE_CLAIM_MS;
    while (Date.now() < deadline) {
      const claim = await this.#repo.defaultClaim(projectId);
      if (claim?.networkId) {
        const vpc = (await this.listVpcs(ctx)).find((v) => v.id === claim.networkId);
        if (vpc) return vpc;
        throw new StratusError('internal', `The default VPC of project ${projectId} is missing.`);
      }
      if (claim) {
        if (Date.now() - claim.claimedAt > STALE_CLAIM_MS) {
          await this.#repo.dropClaim(projectId, claim.claimedAt);
        } else {
          await new Promise((r) => setTimeout(r, 50));
        }
        continue;
      }
      const at = Date.now();
      if (!(await this.#repo.claimDefault(projectId, at))) continue;
      try {
        const vpc = await this.#makeDefault(ctx, zones.length > 0 ? zones : [this.defaultZone]);
        await this.#repo.completeDefault(projectId, vpc.id);
        return vpc;
      } catch (err) {
        await this.#repo.dropClaim(projectId, at);
        throw err;
      }
    }
    throw new StratusError('unavailable', 'The default VPC is still being made; try again.', {
      resource: 'network',
      reason: 'timeout',
    });
  }

  /** The default VPC of the caller's project if it has been made. */
  async existingDefaultVpc(ctx: RequestContext): Promise<Vpc | undefined> {
    const claim = ctx.projectId ? await this.#repo.defaultClaim(ctx.projectId) : undefined;
    if (!claim?.networkId) return undefined;
    return (await this.listVpcs(ctx)).find((v) => v.id === claim.networkId);
  }

  async #makeDefault(ctx: RequestContext, zones: readonly string[]): Promise<Vpc> {
    const vpc = await this.createVpc(ctx, { cidr: DEFAULT_VPC_CIDR, isDefault: true });
    const made: { subnets: string[]; gateway?: string } = { subnets: [] };
    try {
      const base = parseCidr(DEFAULT_VPC_CIDR) as Cidr;
      const size = 2 ** (32 - DEFAULT_SUBNET_PREFIX);
      for (const [i, zone] of zones.slice(0, base.size / size).entries()) {
        const s = await this.createSubnet(ctx, {
          vpcId: vpc.id,
          cidr: `${formatIpv4(base.base + i * size)}/${DEFAULT_SUBNET_PREFIX}`,
          zone,
          mapPublicIp: true,
          defaultForAz: true,
        });
        made.subnets.push(s.id);
      }
      const gw = await this.createGateway(ctx);
      made.gateway = gw.id;
      await this.attachGateway(ctx, gw.id, vpc.id);
      await this.createRoute(ctx, vpc.routerId as string, '0.0.0.0/0', gw.id);
      return await this.getVpc(ctx, vpc.id);
    } catch (err) {
      const gw = made.gateway;
      // In the order of making; undoAll runs them backwards.
      await undoAll([
        () => this.deleteVpc(ctx, vpc.id),
        ...made.subnets.map((id) => () => this.deleteSubnet(ctx, id)),
        ...(gw
          ? [() => this.deleteGateway(ctx, gw), () => this.detachGateway(ctx, gw, vpc.id)]
          : []),
      ]);
      throw err;
    }
  }

  // Subnets

  async listSubnets(ctx: RequestContext): Promise<VpcSubnet[]> {
    const vpcs = new Map((await this.listVpcs(ctx)).map((v) => [v.id, v]));
    const subnets = (await this.#networks.listSubnets(ctx)).filter((s) => vpcs.has(s.networkId));
    const attrs = new Map(
      (await this.#repo.subnets(subnets.map((s) => s.id))).map((r) => [r.subnetId, r]),
    );
    // A router's interface holds the gateway address, outside the pools: not one of them.
    const routed = new Set(
      (await this.#networks.listRouters(ctx)).flatMap((r) => r.interfaces.map((i) => i.subnetId)),
    );
    const free = new Map<string, number>();
    for (const a of await this.#networks.ipAvailabilities(ctx)) {
      for (const s of a.subnets) {
        free.set(s.subnet.id, s.total - s.used + (routed.has(s.subnet.id) ? 1 : 0));
      }
    }
    return subnets.map((s) => subnetOf(s, attrs.get(s.id), free.get(s.id) ?? 0, this.defaultZone));
  }

  async getSubnet(ctx: RequestContext, id: string, shown = id): Promise<VpcSubnet> {
    const found = (await this.listSubnets(ctx)).find((s) => s.id === id);
    if (!found) throw subnetNotFound(shown);
    return found;
  }

  /**
   * Makes a subnet of a VPC, inside the VPC's block and /16../28 (`invalid`, reason `range`);
   * one that overlaps another subnet of the VPC is `invalid` (`combination`). EC2 keeps the
   * first four addresses and the last one; the gateway is the first host address, and the
   * VPC's router is joined to the subnet there.
   */
  async createSubnet(
    ctx: RequestContext,
    spec: {
      vpcId: string;
      cidr: string;
      zone?: string | undefined;
      mapPublicIp?: boolean;
      defaultForAz?: boolean;
    },
    shownVpc = spec.vpcId,
  ): Promise<VpcSubnet> {
    const vpc = await this.getVpc(ctx, spec.vpcId, shownVpc);
    const block = subnetBlock(spec.cidr, vpc.cidr);
    const undo: (() => Promise<unknown>)[] = [];
    try {
      const subnet = await this.#networks.createSubnet(ctx, {
        networkId: vpc.id,
        cidr: `${formatIpv4(block.base)}/${block.prefix}`,
        gateway: formatIpv4(block.base + 1),
        allocationPools: [
          { start: formatIpv4(block.base + 4), end: formatIpv4(block.base + block.size - 2) },
        ],
      });
      undo.push(() => this.#networks.deleteSubnet(ctx, subnet.id));
      await this.#repo.insertSubnet({
        subnetId: subnet.id,
        networkId: vpc.id,
        availabilityZone: spec.zone ?? this.defaultZone,
        mapPublicIp: spec.mapPublicIp ? 1 : 0,
        defaultForAz: spec.defaultForAz ? 1 : 0,
      });
      undo.push(() => this.#repo.deleteSubnet(subnet.id));
      if (vpc.routerId)
        await this.#networks.addInterface(ctx, vpc.routerId, { subnetId: subnet.id });
      return await this.getSubnet(ctx, subnet.id);
    } catch (err) {
      await undoAll(undo);
      throw err;
    }
  }

  /** Deletes a subnet: `conflict` (`in_use`) while an interface other than its router's is on it. */
  async deleteSubnet(ctx: RequestContext, id: string, shown = id): Promise<void> {
    const subnet = await this.getSubnet(ctx, id, shown);
    await this.#releaseGone(ctx);
    const ports = (await this.#networks.listPorts(ctx)).filter(
      (p) =>
        p.deviceOwner !== 'network:router_interface' &&
        p.fixedIps.some((f) => f.subnetId === subnet.id),
    );
    if (ports.length > 0) {
      throw new StratusError(
        'conflict',
        `The subnet '${shown}' has dependencies (${ports.length} network interface(s)) and cannot be deleted.`,
        { resource: 'subnet', id: shown, reason: 'in_use' },
      );
    }
    const router = (await this.#networks.listRouters(ctx)).find((r) =>
      r.interfaces.some((i) => i.subnetId === subnet.id),
    );
    if (router) await this.#networks.removeInterface(ctx, router.id, { subnetId: subnet.id });
    try {
      await this.#networks.deleteSubnet(ctx, subnet.id);
    } catch (err) {
      if (router) {
        await this.#networks
          .addInterface(ctx, router.id, { subnetId: subnet.id })
          .catch(() => undefined);
      }
      throw err;
    }
    await this.#repo.deleteSubnet(subnet.id);
    await this.routeTables.forgetSubnet(subnet.id);
  }

  /** Sets whether instances launched into the subnet get a public address. */
  async modifySubnet(
    ctx: RequestContext,
    id: string,
    change: { mapPublicIp: boolean },
    shown = id,
  ): Promise<VpcSubnet> {
    const subnet = await this.getSubnet(ctx, id, shown);
    const value = change.mapPublicIp ? 1 : 0;
    if (!(await this.#repo.updateSubnet(subnet.id, { mapPublicIp: value }))) {
      // A subnet the Networking API made gets its attribute row now.
      await this.#repo.insertSubnet({
        subnetId: subnet.id,
        networkId: subnet.vpcId,
        availabilityZone: subnet.availabilityZone,
        mapPublicIp: value,
        defaultForAz: 0,
      });
    }
    return this.getSubnet(ctx, id, shown);
  }

  // Network interfaces

  /** The ports on the caller's VPC subnets, but routers' and DHCP's, oldest first. */
  async listInterfaces(ctx: RequestContext): Promise<NetworkInterface[]> {
    const subnets = new Map((await this.listSubnets(ctx)).map((s) => [s.id, s]));
    const out: Omit<NetworkInterface, 'attachment' | 'sourceDestCheck'>[] = [];
    for (const p of await this.#networks.listPorts(ctx)) {
      if (p.deviceOwner.startsWith('network:')) continue;
      const first = p.fixedIps.find((f) => subnets.has(f.subnetId));
      const subnet = first && subnets.get(first.subnetId);
      if (!first || !subnet) continue;
      out.push({
        port: p,
        vpcId: subnet.vpcId,
        subnetId: subnet.id,
        availabilityZone: subnet.availabilityZone,
        privateIp: first.ipAddress,
        privateIps: p.fixedIps.filter((f) => f.subnetId === subnet.id).map((f) => f.ipAddress),
        instanceId: p.deviceOwner.startsWith('compute:') && p.deviceId ? p.deviceId : null,
      });
    }
    return this.#withAttributes(out);
  }

  /** Adds what EC2 keeps of each interface beside its port (migration 0040). */
  async #withAttributes(
    enis: readonly Omit<NetworkInterface, 'attachment' | 'sourceDestCheck'>[],
  ): Promise<NetworkInterface[]> {
    const rows = new Map(
      (await this.#interfaceRepo.attributes(enis.map((e) => e.port.id))).map((r) => [r.portId, r]),
    );
    return enis.map((e) => {
      const row = rows.get(e.port.id);
      return {
        ...e,
        sourceDestCheck: row ? row.sourceDestCheck === 1 : true,
        attachment: e.instanceId
          ? {
              id: row?.attachmentId ?? e.port.id,
              deviceIndex: row?.deviceIndex ?? 0,
              deleteOnTermination: row ? row.deleteOnTermination === 1 : true,
            }
          : null,
      };
    });
  }

  async getInterface(ctx: RequestContext, id: string, shown = id): Promise<NetworkInterface> {
    const found = (await this.listInterfaces(ctx)).find((i) => i.port.id === id);
    if (!found) throw interfaceNotFound(shown);
    return found;
  }

  /**
   * Makes a port on a VPC subnet: the address asked for (taken: `conflict`,
   * `address_in_use`) or the subnet's next free one; the groups given, or the project's
   * default group. `instance` makes it that instance's port (a launch into the subnet).
   */
  async createInterface(
    ctx: RequestContext,
    spec: {
      subnetId: string;
      privateIp?: string | undefined;
      securityGroups?: string[] | undefined;
      description?: string | undefined;
      instance?: { id: string; zone: string; host?: string | null } | undefined;
    },
    shownSubnet = spec.subnetId,
  ): Promise<NetworkInterface> {
    const subnet = await this.getSubnet(ctx, spec.subnetId, shownSubnet);
    const port = await this.#networks.createPort(ctx, {
      networkId: subnet.vpcId,
      fixedIps: [
        {
          subnetId: subnet.id,
          ...(spec.privateIp !== undefined ? { ipAddress: spec.privateIp } : {}),
        },
      ],
      ...(spec.securityGroups !== undefined ? { securityGroups: spec.securityGroups } : {}),
      ...(spec.description !== undefined ? { description: spec.description } : {}),
      ...(spec.instance
        ? {
            deviceOwner: `compute:${spec.instance.zone}`,
            deviceId: spec.instance.id,
            bindingHost: spec.instance.host ?? null,
            deleteOnTermination: true,
          }
        : {}),
    });
    return this.getInterface(ctx, port.id);
  }

  /** Deletes a port no instance uses; `conflict` (`in_use`) while one does. */
  async deleteInterface(ctx: RequestContext, id: string, shown = id): Promise<void> {
    const eni = await this.getInterface(ctx, id, shown);
    if (eni.port.deviceId !== '') {
      throw new StratusError(
        'conflict',
        `The networkInterface ID '${shown}' is in use (attached to ${eni.port.deviceId}).`,
        { resource: 'port', id: shown, reason: 'in_use' },
      );
    }
    await this.#networks.deletePort(ctx, eni.port.id);
  }

  /**
   * Makes a port the instance's, bound to the host it was placed on (its binding host; the
   * host plugs it into the overlay when the network is carried there).
   */
  async bindInterface(
    ctx: RequestContext,
    id: string,
    instance: { id: string; zone: string; host?: string | null },
  ): Promise<void> {
    await this.#networks.updatePort(ctx, id, {
      deviceOwner: `compute:${instance.zone}`,
      deviceId: instance.id,
      ...(instance.host !== undefined ? { bindingHost: instance.host } : {}),
    });
  }

  /**
   * The VPC interfaces of these instances, by instance id (whoever asks: the caller has
   * already been shown the instances).
   */
  async interfacesOf(instanceIds: readonly string[]): Promise<Map<string, NetworkInterface[]>> {
    const byPort = new Map<string, Omit<NetworkInterface, 'attachment' | 'sourceDestCheck'>>();
    for (const r of await this.#repo.instancePorts(instanceIds)) {
      const p = r.port;
      const seen = byPort.get(p.id);
      if (seen) {
        // A second address of the same port (AssignPrivateIpAddresses).
        if (r.subnetId === seen.subnetId) seen.privateIps.push(r.address);
        continue;
      }
      const eni: Omit<NetworkInterface, 'attachment' | 'sourceDestCheck'> = {
        port: {
          id: p.id,
          networkId: p.networkId,
          projectId: p.projectId,
          name: p.name,
          description: p.description,
          macAddress: p.macAddress,
          adminStateUp: p.adminStateUp === 1,
          deviceOwner: p.deviceOwner,
          deviceId: p.deviceId,
          portSecurityEnabled: p.portSecurityEnabled === 1,
          securityGroups: JSON.parse(p.securityGroups) as string[],
          allowedAddressPairs: [],
          bindingHost: p.bindingHost,
          deleteOnTermination: p.deleteOnTermination === 1,
          fixedIps: [{ subnetId: r.subnetId, ipAddress: r.address }],
          status: p.bindingHost ? 'ACTIVE' : 'DOWN',
          createdAt: Number(p.createdAt),
          updatedAt: Number(p.updatedAt),
        },
        vpcId: p.networkId,
        subnetId: r.subnetId,
        availabilityZone: r.availabilityZone ?? this.defaultZone,
        privateIp: r.address,
        privateIps: [r.address],
        instanceId: p.deviceId,
      };
      byPort.set(p.id, eni);
    }
    const out = new Map<string, NetworkInterface[]>();
    const enis = await this.#withAttributes([...byPort.values()]);
    for (const eni of enis.sort(
      (a, b) => (a.attachment?.deviceIndex ?? 0) - (b.attachment?.deviceIndex ?? 0),
    )) {
      const id = eni.instanceId as string;
      out.set(id, [...(out.get(id) ?? []), eni]);
    }
    return out;
  }

  /**
   * After these instances were terminated: their EC2 interfaces are deleted, or detached when
   * they are not to be deleted with their instance; then any other port of theirs follows the
   * launch ports' rule, shared with the Compute API (made at launch: deleted; given: unbound).
   * Missing ones are no error.
   */
  async releaseInstances(ctx: RequestContext, instanceIds: readonly string[]): Promise<void> {
    await this.interfaces.releaseInstances(ctx, instanceIds);
    await releaseInstancePorts(this.#networks, ctx, instanceIds);
  }

  /** Deletes the ports of instances that are gone however they went (the Compute API too). */
  async #releaseGone(ctx: RequestContext): Promise<void> {
    const held = (await this.listInterfaces(ctx)).filter((e) => e.instanceId !== null);
    const gone = await this.#repo.goneInstances(held.map((e) => e.instanceId as string));
    for (const eni of held) {
      if (gone.has(eni.instanceId as string)) {
        await this.#networks.deletePort(ctx, eni.port.id).catch(() => undefined);
      }
    }
  }

  // Internet gateways

  async listGateways(ctx: RequestContext): Promise<InternetGateway[]> {
    const rows = await this.#repo.gateways(isAdmin(ctx) ? {} : { projectId: ctx.projectId ?? '' });
    return rows.map((r) => ({ id: r.id, projectId: r.projectId, vpcId: r.networkId }));
  }

  async getGateway(ctx: RequestContext, id: string, shown = id): Promise<InternetGateway> {
    const found = (await this.listGateways(ctx)).find((g) => g.id === id);
    if (!found) throw gatewayNotFound(shown);
    return found;
  }

  async createGateway(ctx: RequestContext): Promise<InternetGateway> {
    const projectId = ctx.projectId;
    if (!projectId) throw new StratusError('forbidden', 'This request needs a project.');
    const row = { id: randomUUID(), projectId, networkId: null, createdAt: Date.now() };
    await this.#repo.insertGateway(row);
    return { id: row.id, projectId, vpcId: null };
  }

  /**
   * Attaches a gateway to a VPC: the VPC's router takes its external gateway on the floating
   * pool. `conflict` (`already_associated`) when the gateway is attached or the VPC has one.
   */
  async attachGateway(
    ctx: RequestContext,
    id: string,
    vpcId: string,
    shown = { gateway: id, vpc: vpcId },
  ): Promise<void> {
    const gateway = await this.getGateway(ctx, id, shown.gateway);
    const vpc = await this.getVpc(ctx, vpcId, shown.vpc);
    if (gateway.vpcId !== null) {
      throw new StratusError(
        'conflict',
        `resource ${shown.gateway} is already attached to network ${gateway.vpcId === vpc.id ? shown.vpc : 'another VPC'}.`,
        { resource: 'internet_gateway', id: shown.gateway, reason: 'already_associated' },
      );
    }
    let attached: boolean;
    try {
      attached = await this.#repo.attachGateway(gateway.id, vpc.id);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      throw new StratusError(
        'conflict',
        `Network ${shown.vpc} already has an internet gateway attached.`,
        {
          resource: 'internet_gateway',
          id: shown.gateway,
          reason: 'already_associated',
          cause: err,
        },
      );
    }
    if (!attached) {
      throw new StratusError('conflict', `resource ${shown.gateway} is already attached.`, {
        resource: 'internet_gateway',
        id: shown.gateway,
        reason: 'already_associated',
      });
    }
    if (vpc.routerId) {
      try {
        await this.#networks.updateRouter(ctx, vpc.routerId, {
          externalGateway: { networkId: this.#networks.floatingNetworkId },
        });
      } catch (err) {
        await this.#repo.detachGateway(gateway.id, vpc.id);
        throw err;
      }
    }
  }

  /** Detaches a gateway from a VPC; `conflict` (`not_attached`) when it is not attached to it. */
  async detachGateway(
    ctx: RequestContext,
    id: string,
    vpcId: string,
    shown = { gateway: id, vpc: vpcId },
  ): Promise<void> {
    const gateway = await this.getGateway(ctx, id, shown.gateway);
    const vpc = await this.getVpc(ctx, vpcId, shown.vpc);
    if (!(await this.#repo.detachGateway(gateway.id, vpc.id))) {
      throw new StratusError(
        'conflict',
        `resource ${shown.gateway} is not attached to network ${shown.vpc}.`,
        { resource: 'internet_gateway', id: shown.gateway, reason: 'not_attached' },
      );
    }
    if (vpc.routerId) {
      await this.#networks.updateRouter(ctx, vpc.routerId, { externalGateway: null });
    }
  }

  /** Deletes a detached gateway; `conflict` (`in_use`) while it is attached. */
  async deleteGateway(ctx: RequestContext, id: string, shown = id): Promise<void> {
    const gateway = await this.getGateway(ctx, id, shown);
    if (!(await this.#repo.deleteGateway(gateway.id))) {
      throw new StratusError(
        'conflict',
        `The internetGateway '${shown}' has dependencies (it is attached to a VPC) and cannot be deleted.`,
        { resource: 'internet_gateway', id: shown, reason: 'in_use' },
      );
    }
  }

  // Route tables: the work is VpcRouteTables' (vpc-route-tables.ts).

  listRouteTables(ctx: RequestContext): Promise<RouteTable[]> {
    return this.routeTables.list(ctx);
  }

  getRouteTable(ctx: RequestContext, id: string, shown = id): Promise<RouteTable> {
    return this.routeTables.get(ctx, id, shown);
  }

  createRoute(
    ctx: RequestContext,
    tableId: string,
    destination: string,
    gatewayId: string,
    shown = { table: tableId, gateway: gatewayId },
  ): Promise<void> {
    return this.routeTables.createRoute(ctx, tableId, destination, gatewayId, shown);
  }

  deleteRoute(
    ctx: RequestContext,
    tableId: string,
    destination: string,
    shownTable = tableId,
  ): Promise<void> {
    return this.routeTables.deleteRoute(ctx, tableId, destination, shownTable);
  }

  /** The routers of the caller's VPCs, for views that join them. */
  routers(ctx: RequestContext): Promise<ProjectRouter[]> {
    return this.#networks.listRouters(ctx);
  }
}

function vpcOf(n: ProjectNetwork, row: VpcRow): Vpc {
  return {
    id: n.id,
    projectId: n.projectId,
    cidr: row.cidr,
    routerId: row.routerId,
    isDefault: row.isDefault === 1,
    enableDnsSupport: row.enableDnsSupport === 1,
    enableDnsHostnames: row.enableDnsHostnames === 1,
    madeHere: true,
    network: n,
  };
}

function subnetOf(
  s: ProjectSubnet,
  row: VpcSubnetRow | undefined,
  available: number,
  zone: string,
): VpcSubnet {
  return {
    id: s.id,
    vpcId: s.networkId,
    projectId: s.projectId,
    cidr: s.cidr,
    availabilityZone: row?.availabilityZone ?? zone,
    mapPublicIp: row?.mapPublicIp === 1,
    defaultForAz: row?.defaultForAz === 1,
    availableAddresses: available,
    subnet: s,
  };
}

/** The smallest block holding all these blocks ('' when there are none). */
export function coveringBlock(cidrs: readonly string[]): string {
  const blocks = cidrs.map((c) => parseCidr(c, 0)).filter((c): c is Cidr => c !== undefined);
  if (blocks.length === 0) return '';
  const first = Math.min(...blocks.map((b) => b.base));
  const last = Math.max(...blocks.map((b) => b.base + b.size - 1));
  let prefix = Math.min(...blocks.map((b) => b.prefix));
  for (; prefix > 0; prefix--) {
    const size = 2 ** (32 - prefix);
    if (Math.floor(first / size) === Math.floor(last / size)) break;
  }
  const size = 2 ** (32 - prefix);
  return `${formatIpv4(first - (first % size))}/${prefix}`;
}

function malformedBlock(text: string, what: string): StratusError {
  return invalid(
    `Value (${text.slice(0, 64)}) for parameter cidrBlock is invalid. This is not a valid CIDR block${what}.`,
    {
      resource: 'parameter',
      id: 'CidrBlock',
    },
  );
}

/** A block with no host bits; its prefix is checked by the caller. */
function block(text: string, what: string): Cidr {
  const [addr, bits, extra] = text.split('/');
  const ip = addr === undefined ? undefined : parseIpv4(addr);
  if (ip === undefined || bits === undefined || extra !== undefined || !/^\d{1,2}$/.test(bits)) {
    throw malformedBlock(text, what);
  }
  const prefix = Number(bits);
  if (prefix > 32) throw malformedBlock(text, what);
  const size = 2 ** (32 - prefix);
  if (ip % size !== 0) throw malformedBlock(text, ` (its host bits must be zero)${what}`);
  return { base: ip, prefix, size };
}

function vpcBlock(text: string): Cidr {
  const b = block(text, '');
  if (b.prefix < VPC_PREFIX.min || b.prefix > VPC_PREFIX.max) {
    throw invalid(`The CIDR '${text}' is invalid: a VPC's block is from /16 to /28.`, {
      resource: 'network',
      id: text,
      reason: 'range',
    });
  }
  return b;
}

function subnetBlock(text: string, vpcCidr: string): Cidr {
  const b = block(text, '');
  const outer = parseCidr(vpcCidr, 0);
  if (
    b.prefix < VPC_PREFIX.min ||
    b.prefix > VPC_PREFIX.max ||
    !outer ||
    b.base < outer.base ||
    b.base + b.size > outer.base + outer.size
  ) {
    throw invalid(
      `The CIDR '${text}' is invalid: a subnet's block is from /16 to /28 and inside its VPC's block ${vpcCidr || '(none)'}.`,
      { resource: 'subnet', id: text, reason: 'range' },
    );
  }
  return b;
}

export function vpcNotFound(shown: string): StratusError {
  return notFound('network', shown, `The vpc ID '${shown}' does not exist`);
}

export function subnetNotFound(shown: string): StratusError {
  return notFound('subnet', shown, `The subnet ID '${shown}' does not exist`);
}

export function interfaceNotFound(shown: string): StratusError {
  return notFound('port', shown, `The networkInterface ID '${shown}' does not exist`);
}

export function gatewayNotFound(shown: string): StratusError {
  return notFound('internet_gateway', shown, `The internetGateway ID '${shown}' does not exist`);
}

/** Runs undo steps in reverse order of their making; a failing one does not stop the rest. */
async function undoAll(steps: readonly (() => Promise<unknown>)[]): Promise<void> {
  for (const step of [...steps].reverse()) {
    try {
      await step();
    } catch {
      // The first failure is what the caller hears of; the rest is best effort.
    }
  }
}
