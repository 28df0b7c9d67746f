// Project networks (issue 16): the networks, subnets, ports and routers a project makes, with
// the checks that keep them consistent, over ProjectNetworkRepo; and the flat network and the
// floating pool shown in the same terms (a shared provider network with its instances' ports,
// an external network). The data plane for project networks reads this model: per network its
// VNI and MTU, per subnet its CIDR, gateway, pools, DNS servers and host routes, per port its
// MAC, addresses, security groups and binding host. Routers are recorded here only.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { isAdmin, type RequestContext } from '../context.js';
import {
  DEFAULT_GROUP,
  isUniqueViolation,
  NetworkRepo,
  ProjectNetworkRepo,
  ProjectRepo,
  QuotaRepo,
  SecurityGroupRepo,
  type Db,
  type NetworkRow,
  type ProjectNetworkRow,
  type ProjectPortRow,
  type ProjectRouterRow,
  type ProjectSubnetRow,
} from '../db/index.js';
import { invalid, notFound, StratusError } from '../errors.js';
import { cidrContains, formatIpv4, parseCidr, parseIpv4, type Cidr } from './ipv4.js';
import { LEASE_MARGIN_MS } from './leases.js';

/** What the kind of a network is, as the data plane needs it. */
export type NetworkType = 'vxlan' | 'flat';

export interface ProjectNetwork {
  id: string;
  /** '' for the networks the cloud itself offers (the flat network, the floating pool). */
  projectId: string;
  name: string;
  description: string;
  adminStateUp: boolean;
  shared: boolean;
  external: boolean;
  mtu: number;
  networkType: NetworkType;
  /** The VXLAN VNI; null for the flat network. */
  segmentationId: number | null;
  /** The physical network a flat network is on; null for VXLAN. */
  physicalNetwork: string | null;
  subnetIds: string[];
  /** 'project': made through the API; 'provider': the flat network; 'floating': the pool. */
  origin: 'project' | 'provider' | 'floating';
  createdAt: number;
  updatedAt: number;
}

export interface AllocationPool {
  start: string;
  end: string;
}

export interface HostRoute {
  destination: string;
  nexthop: string;
}

export interface ProjectSubnet {
  id: string;
  networkId: string;
  projectId: string;
  name: string;
  description: string;
  cidr: string;
  gateway: string | null;
  enableDhcp: boolean;
  allocationPools: AllocationPool[];
  dnsNameservers: string[];
  hostRoutes: HostRoute[];
  createdAt: number;
  updatedAt: number;
}

export interface FixedIp {
  subnetId: string;
  ipAddress: string;
}

export interface AddressPair {
  ipAddress: string;
  macAddress: string;
}

export interface ProjectPort {
  id: string;
  networkId: string;
  projectId: string;
  name: string;
  description: string;
  macAddress: string;
  adminStateUp: boolean;
  deviceOwner: string;
  deviceId: string;
  portSecurityEnabled: boolean;
  securityGroups: string[];
  allowedAddressPairs: AddressPair[];
  bindingHost: string | null;
  /** A launch made it for its instance: it goes when the instance does. */
  deleteOnTermination: boolean;
  fixedIps: FixedIp[];
  /** 'ACTIVE' when bound to a host or a router, else 'DOWN'. */
  status: 'ACTIVE' | 'DOWN';
  createdAt: number;
  updatedAt: number;
}

export interface RouterInterface {
  subnetId: string;
  portId: string;
}

export interface ProjectRouter {
  id: string;
  projectId: string;
  name: string;
  description: string;
  adminStateUp: boolean;
  externalGateway: { networkId: string; enableSnat: boolean } | null;
  interfaces: RouterInterface[];
  createdAt: number;
  updatedAt: number;
}

/** A network's addresses: per subnet how many there are to hand out and how many are held. */
export interface IpAvailability {
  network: ProjectNetwork;
  subnets: { subnet: ProjectSubnet; total: number; used: number }[];
}

/** Most of each thing a project may have. */
export interface ProjectNetworkQuota {
  networks: number;
  subnets: number;
  ports: number;
  routers: number;
}

export const DEFAULT_PROJECT_NETWORK_QUOTA: ProjectNetworkQuota = Object.freeze({
  networks: 100,
  subnets: 100,
  ports: 500,
  routers: 10,
});

export interface ProjectNetworkServiceOptions {
  db: Db;
  /** The VNIs project networks take, both ends included (VXLAN allows 1..16777215). */
  vniRange?: { min: number; max: number };
  /** The MTU of a project network: the underlay's 1500 less VXLAN's 50 bytes. */
  mtu?: number;
  /** How long a released address rests before another port may take it (ms). */
  restMs?: number;
  quota?: ProjectNetworkQuota;
  /** The floating pool's name, shown as an external network. */
  floatingPool: string;
  /** The availability zone the flat network's instance ports name in `compute:<zone>`. */
  defaultZone?: string;
}

export interface NetworkSpec {
  name?: string | undefined;
  description?: string | undefined;
  adminStateUp?: boolean | undefined;
  shared?: boolean | undefined;
  external?: boolean | undefined;
  mtu?: number | undefined;
  /** An admin's choice of VNI; otherwise the lowest free one of the range. */
  segmentationId?: number | undefined;
  /** An admin may make a network for another project. */
  projectId?: string | undefined;
}

export interface SubnetSpec {
  networkId: string;
  cidr: string;
  name?: string | undefined;
  description?: string | undefined;
  /** Undefined: the first address; null: no gateway. */
  gateway?: string | null | undefined;
  enableDhcp?: boolean | undefined;
  allocationPools?: AllocationPool[] | undefined;
  dnsNameservers?: string[] | undefined;
  hostRoutes?: HostRoute[] | undefined;
  projectId?: string | undefined;
}

export interface PortSpec {
  networkId: string;
  name?: string | undefined;
  description?: string | undefined;
  adminStateUp?: boolean | undefined;
  macAddress?: string | undefined;
  /** Each a subnet, an address, or both; none given: one address from the first subnet. */
  fixedIps?: { subnetId?: string | undefined; ipAddress?: string | undefined }[] | undefined;
  deviceOwner?: string | undefined;
  deviceId?: string | undefined;
  portSecurityEnabled?: boolean | undefined;
  securityGroups?: string[] | undefined;
  allowedAddressPairs?: { ipAddress: string; macAddress?: string | undefined }[] | undefined;
  bindingHost?: string | null | undefined;
  projectId?: string | undefined;
  /** A launch made it for its instance: deleted with the instance (default: only unbound). */
  deleteOnTermination?: boolean | undefined;
}

export interface RouterSpec {
  name?: string | undefined;
  description?: string | undefined;
  adminStateUp?: boolean | undefined;
  externalGateway?: { networkId: string; enableSnat?: boolean | undefined } | null | undefined;
  projectId?: string | undefined;
}

const ROUTER_INTERFACE = 'network:router_interface';
const QUOTA_KEYS = ['networks', 'subnets', 'ports', 'routers'] as const;

/** The quota row a limit is kept in, beside the Compute API's (which do not use these names). */
function quotaRow(key: (typeof QUOTA_KEYS)[number]): string {
  return `project_${key}`;
}

export class ProjectNetworkService {
  readonly #repo: ProjectNetworkRepo;
  readonly #flat: NetworkRepo;
  readonly #db: Db;
  readonly #vni: { min: number; max: number };
  readonly #mtu: number;
  readonly #restMs: number;
  readonly #quota: ProjectNetworkQuota;
  readonly #pool: string;
  readonly #zone: string;

  constructor(options: ProjectNetworkServiceOptions) {
    this.#db = options.db;
    this.#repo = new ProjectNetworkRepo(options.db);
    this.#flat = new NetworkRepo(options.db);
    this.#vni = options.vniRange ?? { min: 1000, max: 1999 };
    this.#mtu = options.mtu ?? 1450;
    this.#restMs = options.restMs ?? 86_400_000 + LEASE_MARGIN_MS;
    this.#quota = options.quota ?? DEFAULT_PROJECT_NETWORK_QUOTA;
    this.#pool = options.floatingPool;
    this.#zone = options.defaultZone ?? 'nova';
  }

  /** The project's limits: the defaults, each replaced by the project's own where set (-1: none). */
  async limits(projectId: string, db: Db = this.#db): Promise<ProjectNetworkQuota> {
    const own = await new QuotaRepo(db).projectOverrides(projectId);
    const out = { ...this.#quota };
    for (const k of QUOTA_KEYS) {
      const v = own[quotaRow(k)];
      if (v !== undefined) out[k] = v;
    }
    return out;
  }

  /** Sets some of a project's limits (admin only); -1 is unlimited. */
  async setLimits(
    ctx: RequestContext,
    projectId: string,
    changes: Partial<ProjectNetworkQuota>,
  ): Promise<ProjectNetworkQuota> {
    if (!isAdmin(ctx)) {
      throw new StratusError('forbidden', 'Only an admin may change quotas.', {
        resource: 'project',
        id: projectId,
      });
    }
    const project = await new ProjectRepo(this.#db).find(projectId);
    if (!project || project.id !== projectId) {
      throw invalid(`Project ID ${projectId} is not a valid project.`, {
        resource: 'project',
        id: projectId,
      });
    }
    for (const [k, v] of Object.entries(changes)) {
      if (!Number.isSafeInteger(v) || (v as number) < -1) {
        throw invalid(`The quota limit of ${k} must be a whole number, or -1 for unlimited.`, {
          resource: 'limit',
          id: k,
        });
      }
    }
    await this.#db.transaction().execute(async (trx) => {
      const repo = new QuotaRepo(trx);
      for (const k of QUOTA_KEYS) {
        const v = changes[k];
        if (v !== undefined) await repo.set(projectId, quotaRow(k), v);
      }
    });
    return this.limits(projectId);
  }

  /** The availability zone the networks and routers are in. */
  get zone(): string {
    return this.#zone;
  }

  /** The id the floating pool's external network has (stable across restarts). */
  get floatingNetworkId(): string {
    return stableUuid(`floating-pool:${this.#pool}`);
  }

  // Networks

  /** The networks the caller may see: its own, the shared and external ones (admins: all). */
  async listNetworks(ctx: RequestContext): Promise<ProjectNetwork[]> {
    const rows = await this.#repo.networks(scope(ctx));
    const subnets = await this.#repo.subnets(rows.map((r) => r.id));
    const byNetwork = groupBy(subnets, (s) => s.networkId);
    const flat = await this.#flat.list();
    return [
      ...flat.map((n) => providerNetwork(n)),
      this.#floatingNetwork(),
      ...rows.map((r) =>
        networkOf(
          r,
          (byNetwork.get(r.id) ?? []).map((s) => s.id),
        ),
      ),
    ];
  }

  /**
   * The project network addresses of these instances (ports bound to them), by instance id,
   * each under its network's name (its id when it has none), in the order they were made.
   * Whoever asks: the caller has already been shown the instances.
   */
  async instanceAddresses(
    instanceIds: readonly string[],
  ): Promise<Map<string, { network: string; address: string; mac: string }[]>> {
    const out = new Map<string, { network: string; address: string; mac: string }[]>();
    if (instanceIds.length === 0) return out;
    const wanted = new Set(instanceIds);
    const ports = (await this.#repo.ports()).filter(
      (p) => wanted.has(p.deviceId) && p.deviceOwner.startsWith('compute:'),
    );
    if (ports.length === 0) return out;
    const ips = groupBy(await this.#repo.portIps(ports.map((p) => p.id)), (r) => r.portId ?? '');
    const names = new Map<string, string>();
    for (const id of new Set(ports.map((p) => p.networkId))) {
      const n = await this.#repo.network(id);
      names.set(id, n?.name || id);
    }
    for (const p of ports) {
      for (const ip of ips.get(p.id) ?? []) {
        const list = out.get(p.deviceId) ?? [];
        list.push({
          network: names.get(p.networkId) ?? p.networkId,
          address: ip.address,
          mac: p.macAddress,
        });
        out.set(p.deviceId, list);
      }
    }
    return out;
  }

  /** One network the caller may see; `not_found` otherwise. */
  async getNetwork(ctx: RequestContext, id: string): Promise<ProjectNetwork> {
    const found = (await this.listNetworks(ctx)).find((n) => n.id === id);
    if (!found) throw notFound('network', id, `Network ${id} could not be found.`);
    return found;
  }

  async createNetwork(ctx: RequestContext, spec: NetworkSpec): Promise<ProjectNetwork> {
    const projectId = owner(ctx, spec.projectId);
    if (!isAdmin(ctx)) {
      for (const [key, value] of [
        ['router:external', spec.external],
        ['provider:segmentation_id', spec.segmentationId],
      ] as const) {
        if (value !== undefined && value !== false) {
          throw new StratusError('forbidden', `Only an admin may set ${key} on a network.`, {
            resource: 'network',
          });
        }
      }
      if (spec.shared) {
        throw new StratusError('forbidden', 'Only an admin may make a shared network.', {
          resource: 'network',
        });
      }
    }
    const mtu = spec.mtu ?? this.#mtu;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > this.#mtu) {
      throw invalid(`The MTU must be a whole number from 68 to ${this.#mtu}.`, {
        resource: 'parameter',
        id: 'mtu',
      });
    }
    if (
      spec.segmentationId !== undefined &&
      (!Number.isInteger(spec.segmentationId) ||
        spec.segmentationId < 1 ||
        spec.segmentationId > 16_777_215)
    ) {
      throw invalid('The segmentation id of a VXLAN network is from 1 to 16777215.', {
        resource: 'parameter',
        id: 'provider:segmentation_id',
      });
    }
    const at = Date.now();
    // The unique segmentation id decides between racing creators: on a clash, look again.
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        const row = await this.#repo.transaction(async (repo) => {
          await this.#checkQuota(repo, projectId, 'networks');
          const vni = spec.segmentationId ?? (await this.#freeVni(repo));
          const taken = spec.segmentationId !== undefined && (await repo.segmentationIds());
          if (taken && taken.includes(vni)) {
            throw new StratusError(
              'conflict',
              `Segmentation id ${vni} is taken by another network.`,
              { resource: 'network', id: String(vni), reason: 'in_use' },
            );
          }
          const r: ProjectNetworkRow = {
            id: randomUUID(),
            projectId,
            name: text(spec.name, 'name'),
            description: text(spec.description, 'description'),
            adminStateUp: flag(spec.adminStateUp ?? true),
            shared: flag(spec.shared ?? false),
            external: flag(spec.external ?? false),
            mtu,
            segmentationId: vni,
            createdAt: at,
            updatedAt: at,
          };
          await repo.insertNetwork(r);
          return r;
        });
        return networkOf(row, []);
      } catch (err) {
        if (isClash(err) && spec.segmentationId === undefined) continue;
        if (isClash(err)) {
          throw new StratusError(
            'conflict',
            `Segmentation id ${spec.segmentationId} is taken by another network.`,
            { resource: 'network', reason: 'in_use', cause: err },
          );
        }
        throw err;
      }
    }
    throw new StratusError('unavailable', 'No segmentation id could be reserved; try again.', {
      resource: 'network',
    });
  }

  async updateNetwork(
    ctx: RequestContext,
    id: string,
    change: Pick<NetworkSpec, 'name' | 'description' | 'adminStateUp' | 'shared' | 'external'>,
  ): Promise<ProjectNetwork> {
    const network = await this.#ownNetwork(ctx, id);
    if (!isAdmin(ctx) && (change.shared !== undefined || change.external !== undefined)) {
      throw new StratusError('forbidden', 'Only an admin may change shared or router:external.', {
        resource: 'network',
        id,
      });
    }
    await this.#repo.updateNetwork(network.id, {
      ...(change.name !== undefined ? { name: text(change.name, 'name') } : {}),
      ...(change.description !== undefined
        ? { description: text(change.description, 'description') }
        : {}),
      ...(change.adminStateUp !== undefined ? { adminStateUp: flag(change.adminStateUp) } : {}),
      ...(change.shared !== undefined ? { shared: flag(change.shared) } : {}),
      ...(change.external !== undefined ? { external: flag(change.external) } : {}),
    });
    return this.getNetwork(ctx, id);
  }

  /** Deletes a network and its subnets; `conflict` while a port other than DHCP's is on it. */
  async deleteNetwork(ctx: RequestContext, id: string): Promise<void> {
    const network = await this.#ownNetwork(ctx, id);
    await this.#repo.transaction(async (repo) => {
      await repo.updateNetwork(network.id, {});
      const ports = (await repo.ports([network.id])).filter(
        (p) => p.deviceOwner !== 'network:dhcp',
      );
      if (ports.length > 0) {
        throw new StratusError(
          'conflict',
          `Unable to complete operation on network ${id}. There are one or more ports still in use on the network.`,
          { resource: 'network', id, reason: 'in_use' },
        );
      }
      for (const p of await repo.ports([network.id])) await repo.deletePort(p.id);
      await repo.deleteNetwork(network.id);
    });
    // A VPC's `default` group goes with its network, whichever API deletes it.
    const groups = new SecurityGroupRepo(this.#db);
    const own = await groups.findByName(network.projectId, DEFAULT_GROUP, network.id);
    if (own) await groups.delete(own.id);
  }

  // Subnets

  async listSubnets(ctx: RequestContext): Promise<ProjectSubnet[]> {
    const networks = await this.listNetworks(ctx);
    const flat = await this.#flat.list();
    const rows = await this.#repo.subnets(
      networks.filter((n) => n.origin === 'project').map((n) => n.id),
    );
    return [...flat.map((n) => providerSubnet(n)), ...rows.map(subnetOf)];
  }

  async getSubnet(ctx: RequestContext, id: string): Promise<ProjectSubnet> {
    const found = (await this.listSubnets(ctx)).find((s) => s.id === id);
    if (!found) throw notFound('subnet', id, `Subnet ${id} could not be found.`);
    return found;
  }

  async createSubnet(ctx: RequestContext, spec: SubnetSpec): Promise<ProjectSubnet> {
    const network = await this.#ownNetwork(ctx, spec.networkId);
    const cidr = subnetCidr(spec.cidr);
    const gateway =
      spec.gateway === null
        ? null
        : spec.gateway === undefined
          ? cidr.base + 1
          : addressIn(cidr, spec.gateway, 'gateway_ip');
    const pools = spec.allocationPools
      ? spec.allocationPools.map((p) => pool(cidr, p))
      : defaultPools(cidr, gateway);
    for (const [i, p] of pools.entries()) {
      if (gateway !== null && gateway >= p.first && gateway <= p.last) {
        throw invalid(
          `Gateway ip ${formatIpv4(gateway)} conflicts with allocation pool ${formatIpv4(p.first)}-${formatIpv4(p.last)}.`,
          { resource: 'parameter', id: 'allocation_pools' },
        );
      }
      for (const q of pools.slice(i + 1)) {
        if (p.first <= q.last && q.first <= p.last) {
          throw invalid('Allocation pools of a subnet may not overlap.', {
            resource: 'parameter',
            id: 'allocation_pools',
          });
        }
      }
    }
    const dns = (spec.dnsNameservers ?? []).map((d) => {
      if (parseIpv4(d) === undefined) {
        throw invalid(`'${d}' is not a valid nameserver.`, {
          resource: 'parameter',
          id: 'dns_nameservers',
        });
      }
      return d;
    });
    if (new Set(dns).size !== dns.length) {
      throw invalid('Duplicate nameserver in dns_nameservers.', {
        resource: 'parameter',
        id: 'dns_nameservers',
      });
    }
    const routes = (spec.hostRoutes ?? []).map((r) => {
      if (parseCidrAny(r.destination) === undefined || parseIpv4(r.nexthop) === undefined) {
        throw invalid(
          `The host route ${JSON.stringify(r)} needs a destination CIDR and a nexthop address.`,
          { resource: 'parameter', id: 'host_routes' },
        );
      }
      return { destination: r.destination, nexthop: r.nexthop };
    });
    const at = Date.now();
    const row = await this.#repo.transaction(async (repo) => {
      // Taking the network's row first makes subnet creations on one network wait in turn,
      // so two overlapping CIDRs cannot both pass the check.
      await repo.updateNetwork(network.id, {});
      await this.#checkQuota(repo, network.projectId, 'subnets');
      for (const other of await repo.subnets([network.id])) {
        const o = parseCidr(other.cidr, 0) as Cidr;
        if (o.base < cidr.base + cidr.size && cidr.base < o.base + o.size) {
          throw invalid(
            `Invalid input for operation: Requested subnet with cidr: ${spec.cidr} for network: ${network.id} overlaps with another subnet.`,
            { resource: 'subnet', id: other.id, reason: 'combination' },
          );
        }
      }
      const r: ProjectSubnetRow = {
        id: randomUUID(),
        networkId: network.id,
        projectId: network.projectId,
        name: text(spec.name, 'name'),
        description: text(spec.description, 'description'),
        cidr: spec.cidr,
        gateway: gateway === null ? null : formatIpv4(gateway),
        enableDhcp: flag(spec.enableDhcp ?? true),
        allocationPools: JSON.stringify(
          pools.map((p) => ({ start: formatIpv4(p.first), end: formatIpv4(p.last) })),
        ),
        dnsNameservers: JSON.stringify(dns),
        hostRoutes: JSON.stringify(routes),
        createdAt: at,
        updatedAt: at,
      };
      await repo.insertSubnet(r);
      return r;
    });
    return subnetOf(row);
  }

  async updateSubnet(
    ctx: RequestContext,
    id: string,
    change: Pick<
      SubnetSpec,
      'name' | 'description' | 'enableDhcp' | 'dnsNameservers' | 'hostRoutes'
    >,
  ): Promise<ProjectSubnet> {
    const subnet = await this.#ownSubnet(ctx, id);
    for (const d of change.dnsNameservers ?? []) {
      if (parseIpv4(d) === undefined) {
        throw invalid(`'${d}' is not a valid nameserver.`, {
          resource: 'parameter',
          id: 'dns_nameservers',
        });
      }
    }
    for (const r of change.hostRoutes ?? []) {
      if (parseCidrAny(r.destination) === undefined || parseIpv4(r.nexthop) === undefined) {
        throw invalid(`The host route ${JSON.stringify(r)} is not valid.`, {
          resource: 'parameter',
          id: 'host_routes',
        });
      }
    }
    await this.#repo.updateSubnet(subnet.id, {
      ...(change.name !== undefined ? { name: text(change.name, 'name') } : {}),
      ...(change.description !== undefined
        ? { description: text(change.description, 'description') }
        : {}),
      ...(change.enableDhcp !== undefined ? { enableDhcp: flag(change.enableDhcp) } : {}),
      ...(change.dnsNameservers ? { dnsNameservers: JSON.stringify(change.dnsNameservers) } : {}),
      ...(change.hostRoutes
        ? {
            hostRoutes: JSON.stringify(
              change.hostRoutes.map((r) => ({ destination: r.destination, nexthop: r.nexthop })),
            ),
          }
        : {}),
    });
    return this.getSubnet(ctx, id);
  }

  /** Deletes a subnet; `conflict` while a port holds one of its addresses. */
  async deleteSubnet(ctx: RequestContext, id: string): Promise<void> {
    const subnet = await this.#ownSubnet(ctx, id);
    await this.#repo.transaction(async (repo) => {
      await repo.updateNetwork(subnet.networkId, {});
      const held = await repo.heldCounts([subnet.id]);
      if ((held.get(subnet.id) ?? 0) > 0) {
        throw new StratusError(
          'conflict',
          `Unable to complete operation on subnet ${id}: one or more ports have an IP allocation from this subnet.`,
          { resource: 'subnet', id, reason: 'in_use' },
        );
      }
      await repo.deleteSubnet(subnet.id);
    });
  }

  // Ports

  async listPorts(ctx: RequestContext): Promise<ProjectPort[]> {
    const networks = await this.listNetworks(ctx);
    const own = networks.filter((n) => n.origin === 'project').map((n) => n.id);
    let rows = await this.#repo.ports(own);
    // On a shared network a project sees only its own ports.
    if (!isAdmin(ctx)) {
      const mine = new Set(networks.filter((n) => n.projectId === ctx.projectId).map((n) => n.id));
      rows = rows.filter((r) => r.projectId === ctx.projectId || mine.has(r.networkId));
    }
    const ips = groupBy(await this.#repo.portIps(rows.map((r) => r.id)), (r) => r.portId ?? '');
    return [
      ...(await this.#instancePorts(ctx)),
      ...rows.map((r) =>
        portOf(
          r,
          (ips.get(r.id) ?? []).map((i) => ({ subnetId: i.subnetId, ipAddress: i.address })),
        ),
      ),
    ];
  }

  async getPort(ctx: RequestContext, id: string): Promise<ProjectPort> {
    const found = (await this.listPorts(ctx)).find((p) => p.id === id);
    if (!found) throw notFound('port', id, `Port ${id} could not be found.`);
    return found;
  }

  async createPort(ctx: RequestContext, spec: PortSpec): Promise<ProjectPort> {
    const network = await this.getNetwork(ctx, spec.networkId);
    if (network.origin !== 'project') {
      throw new StratusError(
        'conflict',
        `Network ${network.id} is the cloud's ${network.origin === 'provider' ? 'flat provider network, whose ports are made by launching instances' : 'floating pool, whose addresses are floating IPs'}; a port cannot be made on it.`,
        { resource: 'network', id: network.id, reason: 'cannot_delete' },
      );
    }
    if (!isAdmin(ctx) && !network.shared && network.projectId !== ctx.projectId) {
      throw notFound('network', network.id, `Network ${network.id} could not be found.`);
    }
    const projectId = owner(ctx, spec.projectId);
    const mac = spec.macAddress === undefined ? randomMac() : macAddress(spec.macAddress);
    const pairs = (spec.allowedAddressPairs ?? []).map((p) => {
      if (parseCidrAny(p.ipAddress) === undefined && parseIpv4(p.ipAddress) === undefined) {
        throw invalid(`'${p.ipAddress}' is not an IP address or CIDR.`, {
          resource: 'parameter',
          id: 'allowed_address_pairs',
        });
      }
      return { ipAddress: p.ipAddress, macAddress: macAddress(p.macAddress ?? mac) };
    });
    const portSecurity = spec.portSecurityEnabled ?? true;
    if (!portSecurity && ((spec.securityGroups?.length ?? 0) > 0 || pairs.length > 0)) {
      throw new StratusError(
        'conflict',
        'Port security must be enabled to have security groups or allowed address pairs on a port.',
        { resource: 'port', reason: 'combination' },
      );
    }
    const groups = portSecurity
      ? await this.#groups(ctx, projectId, spec.securityGroups, spec.networkId)
      : [];
    const at = Date.now();
    const id = randomUUID();
    const row: ProjectPortRow = {
      id,
      networkId: network.id,
      projectId,
      name: text(spec.name, 'name'),
      description: text(spec.description, 'description'),
      macAddress: mac,
      adminStateUp: flag(spec.adminStateUp ?? true),
      deviceOwner: text(spec.deviceOwner, 'device_owner'),
      deviceId: text(spec.deviceId, 'device_id'),
      portSecurityEnabled: flag(portSecurity),
      securityGroups: JSON.stringify(groups),
      allowedAddressPairs: JSON.stringify(pairs),
      bindingHost: spec.bindingHost ?? null,
      deleteOnTermination: flag(spec.deleteOnTermination ?? false),
      createdAt: at,
      updatedAt: at,
    };
    try {
      const ips = await this.#repo.transaction(async (repo) => {
        await this.#checkQuota(repo, projectId, 'ports');
        await repo.insertPort(row);
        return this.#allocate(repo, network.id, id, spec.fixedIps, at, false);
      });
      return portOf(row, ips);
    } catch (err) {
      if (isClash(err)) {
        throw new StratusError(
          'conflict',
          `Unable to complete operation for network ${network.id}. The mac address ${mac} is in use.`,
          { resource: 'port', reason: 'address_in_use', cause: err },
        );
      }
      throw err;
    }
  }

  async updatePort(
    ctx: RequestContext,
    id: string,
    change: Omit<PortSpec, 'networkId' | 'macAddress' | 'projectId'>,
  ): Promise<ProjectPort> {
    const port = await this.#ownPort(ctx, id);
    const portSecurity = change.portSecurityEnabled ?? port.portSecurityEnabled;
    const groups =
      change.securityGroups !== undefined
        ? await this.#groups(ctx, port.projectId, change.securityGroups, port.networkId)
        : undefined;
    const pairs = change.allowedAddressPairs?.map((p) => ({
      ipAddress: p.ipAddress,
      macAddress: macAddress(p.macAddress ?? port.macAddress),
    }));
    if (
      !portSecurity &&
      ((groups ?? (change.portSecurityEnabled === false ? [] : port.securityGroups)).length > 0 ||
        (pairs ?? port.allowedAddressPairs).length > 0)
    ) {
      throw new StratusError(
        'conflict',
        'Port security must be enabled to have security groups or allowed address pairs on a port.',
        { resource: 'port', id },
      );
    }
    const at = Date.now();
    await this.#repo.transaction(async (repo) => {
      await repo.updatePort(port.id, {
        ...(change.name !== undefined ? { name: text(change.name, 'name') } : {}),
        ...(change.description !== undefined
          ? { description: text(change.description, 'description') }
          : {}),
        ...(change.adminStateUp !== undefined ? { adminStateUp: flag(change.adminStateUp) } : {}),
        ...(change.deviceOwner !== undefined
          ? { deviceOwner: text(change.deviceOwner, 'device_owner') }
          : {}),
        ...(change.deviceId !== undefined ? { deviceId: text(change.deviceId, 'device_id') } : {}),
        ...(change.portSecurityEnabled !== undefined
          ? { portSecurityEnabled: flag(change.portSecurityEnabled) }
          : {}),
        ...(groups !== undefined ? { securityGroups: JSON.stringify(groups) } : {}),
        ...(pairs !== undefined ? { allowedAddressPairs: JSON.stringify(pairs) } : {}),
        ...(change.bindingHost !== undefined ? { bindingHost: change.bindingHost } : {}),
      });
      if (change.fixedIps !== undefined) {
        // Addresses the port keeps stay its own; those it gives up rest as after a delete.
        const held = new Set(port.fixedIps.map((f) => f.ipAddress));
        const kept = change.fixedIps.filter(
          (f) => f.ipAddress !== undefined && held.has(f.ipAddress),
        );
        await repo.releaseAddresses(port.id, at + this.#restMs, {
          keep: kept.map((f) => f.ipAddress as string),
        });
        const asked = change.fixedIps.filter((f) => !kept.includes(f));
        await this.#allocate(repo, port.networkId, port.id, asked, at, false);
      }
    });
    return this.getPort(ctx, id);
  }

  /** Deletes a port; its addresses rest before another port may take them. */
  async deletePort(ctx: RequestContext, id: string): Promise<void> {
    const port = await this.#ownPort(ctx, id);
    if (port.deviceOwner === ROUTER_INTERFACE) {
      throw new StratusError(
        'conflict',
        `Port ${id} cannot be deleted directly via the port API: it has device owner ${ROUTER_INTERFACE}.`,
        { resource: 'port', id, reason: 'in_use' },
      );
    }
    await this.#repo.transaction(async (repo) => {
      await repo.releaseAddresses(port.id, Date.now() + this.#restMs);
      await repo.deletePort(port.id);
    });
  }

  // Routers

  async listRouters(ctx: RequestContext): Promise<ProjectRouter[]> {
    const rows = await this.#repo.routers(scope(ctx));
    const interfaces = groupBy(
      await this.#repo.interfaces(rows.map((r) => r.id)),
      (i) => i.routerId,
    );
    return rows.map((r) =>
      routerOf(
        r,
        (interfaces.get(r.id) ?? []).map((i) => ({ subnetId: i.subnetId, portId: i.portId })),
      ),
    );
  }

  async getRouter(ctx: RequestContext, id: string): Promise<ProjectRouter> {
    const found = (await this.listRouters(ctx)).find((r) => r.id === id);
    if (!found) throw notFound('router', id, `Router ${id} could not be found.`);
    return found;
  }

  async createRouter(ctx: RequestContext, spec: RouterSpec): Promise<ProjectRouter> {
    const projectId = owner(ctx, spec.projectId);
    const gateway = spec.externalGateway
      ? await this.#externalGateway(ctx, spec.externalGateway)
      : null;
    const at = Date.now();
    const row: ProjectRouterRow = {
      id: randomUUID(),
      projectId,
      name: text(spec.name, 'name'),
      description: text(spec.description, 'description'),
      adminStateUp: flag(spec.adminStateUp ?? true),
      externalNetworkId: gateway?.networkId ?? null,
      enableSnat: flag(gateway?.enableSnat ?? true),
      createdAt: at,
      updatedAt: at,
    };
    await this.#repo.transaction(async (repo) => {
      await this.#checkQuota(repo, projectId, 'routers');
      await repo.insertRouter(row);
    });
    return routerOf(row, []);
  }

  async updateRouter(
    ctx: RequestContext,
    id: string,
    change: Omit<RouterSpec, 'projectId'>,
  ): Promise<ProjectRouter> {
    const router = await this.getRouter(ctx, id);
    const gateway =
      change.externalGateway === undefined
        ? undefined
        : change.externalGateway === null
          ? null
          : await this.#externalGateway(ctx, change.externalGateway);
    await this.#repo.updateRouter(router.id, {
      ...(change.name !== undefined ? { name: text(change.name, 'name') } : {}),
      ...(change.description !== undefined
        ? { description: text(change.description, 'description') }
        : {}),
      ...(change.adminStateUp !== undefined ? { adminStateUp: flag(change.adminStateUp) } : {}),
      ...(gateway !== undefined
        ? {
            externalNetworkId: gateway?.networkId ?? null,
            enableSnat: flag(gateway?.enableSnat ?? true),
          }
        : {}),
    });
    return this.getRouter(ctx, id);
  }

  /** Deletes a router; `conflict` while it has interfaces. */
  async deleteRouter(ctx: RequestContext, id: string): Promise<void> {
    const router = await this.getRouter(ctx, id);
    if (router.interfaces.length > 0) {
      throw new StratusError(
        'conflict',
        `Router ${id} still has ports (interfaces on ${router.interfaces.length} subnet(s)); remove them first.`,
        { resource: 'router', id, reason: 'in_use' },
      );
    }
    await this.#repo.deleteRouter(router.id);
  }

  /**
   * Joins a subnet to the router, through a new port on the subnet's gateway address, or
   * through an existing port of the caller's (by `portId`). A subnet joins one router only.
   */
  async addInterface(
    ctx: RequestContext,
    routerId: string,
    what: { subnetId?: string | undefined; portId?: string | undefined },
  ): Promise<{ router: ProjectRouter; subnetId: string; portId: string }> {
    const router = await this.getRouter(ctx, routerId);
    if ((what.subnetId === undefined) === (what.portId === undefined)) {
      throw invalid('Either subnet_id or port_id must be specified, not both.', {
        resource: 'parameter',
        id: 'subnet_id',
        reason: 'combination',
      });
    }
    let subnet: ProjectSubnet;
    let existingPort: ProjectPort | undefined;
    if (what.portId !== undefined) {
      existingPort = await this.#ownPort(ctx, what.portId);
      if (existingPort.deviceId !== '' || existingPort.fixedIps.length !== 1) {
        throw new StratusError(
          'conflict',
          `Port ${what.portId} is in use or does not have exactly one fixed IP.`,
          { resource: 'port', id: what.portId, reason: 'in_use' },
        );
      }
      subnet = await this.#ownSubnet(ctx, (existingPort.fixedIps[0] as FixedIp).subnetId);
    } else {
      subnet = await this.#ownSubnet(ctx, what.subnetId as string);
    }
    if (router.interfaces.some((i) => i.subnetId === subnet.id)) {
      throw invalid(`Router ${routerId} already has a port on subnet ${subnet.id}.`, {
        resource: 'subnet',
        id: subnet.id,
        reason: 'combination',
      });
    }
    if (!existingPort && subnet.gateway === null) {
      throw invalid(`Subnet ${subnet.id} has no gateway address for a router interface.`, {
        resource: 'subnet',
        id: subnet.id,
      });
    }
    const at = Date.now();
    const portId = existingPort?.id ?? randomUUID();
    await this.#repo.transaction(async (repo) => {
      await repo.updateNetwork(subnet.networkId, {});
      if (existingPort) {
        await repo.updatePort(portId, { deviceOwner: ROUTER_INTERFACE, deviceId: router.id });
      } else {
        await repo.insertPort({
          id: portId,
          networkId: subnet.networkId,
          projectId: router.projectId,
          name: '',
          description: '',
          macAddress: randomMac(),
          adminStateUp: 1,
          deviceOwner: ROUTER_INTERFACE,
          deviceId: router.id,
          portSecurityEnabled: 0,
          securityGroups: '[]',
          allowedAddressPairs: '[]',
          bindingHost: null,
          deleteOnTermination: 0,
          createdAt: at,
          updatedAt: at,
        });
        await this.#allocate(
          repo,
          subnet.networkId,
          portId,
          [{ subnetId: subnet.id, ipAddress: subnet.gateway as string }],
          at,
          true,
        );
      }
      if (!(await repo.insertInterface({ subnetId: subnet.id, routerId: router.id, portId }))) {
        throw new StratusError(
          'conflict',
          `Subnet ${subnet.id} is already attached to another router.`,
          { resource: 'subnet', id: subnet.id, reason: 'in_use' },
        );
      }
    });
    return { router: await this.getRouter(ctx, routerId), subnetId: subnet.id, portId };
  }

  /** Takes a subnet off the router (by subnet or port); its interface port goes away. */
  async removeInterface(
    ctx: RequestContext,
    routerId: string,
    what: { subnetId?: string | undefined; portId?: string | undefined },
  ): Promise<{ router: ProjectRouter; subnetId: string; portId: string }> {
    const router = await this.getRouter(ctx, routerId);
    const found = router.interfaces.find(
      (i) =>
        (what.subnetId === undefined || i.subnetId === what.subnetId) &&
        (what.portId === undefined || i.portId === what.portId),
    );
    if (!found || (what.subnetId === undefined && what.portId === undefined)) {
      const which = what.subnetId ?? what.portId ?? '';
      throw notFound(
        'router',
        routerId,
        `Router ${routerId} does not have an interface with ${what.subnetId ? 'subnet' : 'port'} ${which}.`,
      );
    }
    await this.#repo.transaction(async (repo) => {
      await repo.deleteInterface(found.subnetId);
      // The gateway address may be taken again at once: no guest ever leased it.
      await repo.releaseAddresses(found.portId, 0);
      await repo.deletePort(found.portId);
    });
    return { router: await this.getRouter(ctx, routerId), ...found };
  }

  /**
   * Where a floating IP on port `portId` maps (Neutron's floating IP association; EC2's
   * AssociateAddress with a network interface): the port's instance and fixed IP (`fixedIp`
   * if given, else its first). The port must be an instance's. On a project network, its
   * subnet must be joined to a router whose external gateway is on `floatingNetworkId`
   * (else `not_found`, `no_external_gateway`), which carries the floating IP.
   */
  async floatingIpTarget(
    ctx: RequestContext,
    portId: string,
    fixedIp?: string | undefined,
  ): Promise<{ instanceId: string; fixedIp: string; routerId: string | null }> {
    const port = await this.getPort(ctx, portId);
    const chosen =
      fixedIp === undefined ? port.fixedIps[0] : port.fixedIps.find((f) => f.ipAddress === fixedIp);
    if (!chosen) {
      throw invalid(`Port ${portId} does not have fixed ip ${fixedIp ?? ''}.`, {
        resource: 'parameter',
        id: 'fixed_ip_address',
      });
    }
    if (!port.deviceId || !port.deviceOwner.startsWith('compute:')) {
      throw new StratusError(
        'conflict',
        `Port ${portId} is not an instance's port: floating IPs reach instances' ports here.`,
        { resource: 'port', id: portId, reason: 'in_use' },
      );
    }
    const row = await this.#repo.port(port.id);
    if (!row) return { instanceId: port.deviceId, fixedIp: chosen.ipAddress, routerId: null };
    const iface = (await this.#repo.interfaces()).find((i) => i.subnetId === chosen.subnetId);
    const router = iface && (await this.#repo.router(iface.routerId));
    if (!router || router.externalNetworkId !== this.floatingNetworkId) {
      throw new StratusError(
        'not_found',
        `External network ${this.floatingNetworkId} is not reachable from subnet ${chosen.subnetId}. Therefore, cannot associate Port ${portId} with a Floating IP.`,
        { resource: 'router', id: chosen.subnetId, reason: 'no_external_gateway' },
      );
    }
    return { instanceId: port.deviceId, fixedIp: chosen.ipAddress, routerId: router.id };
  }

  /** Per network the caller may see, per subnet: addresses to hand out and those held. */
  async ipAvailabilities(ctx: RequestContext): Promise<IpAvailability[]> {
    const networks = await this.listNetworks(ctx);
    const subnets = await this.listSubnets(ctx);
    const held = await this.#repo.heldCounts(subnets.map((s) => s.id));
    const flatCounts = await this.#flat.addressCounts();
    return networks
      .filter((n) => n.origin !== 'floating')
      .map((n) => ({
        network: n,
        subnets: subnets
          .filter((s) => s.networkId === n.id)
          .map((s) => {
            const total = s.allocationPools.reduce(
              (sum, p) => sum + (parseIpv4(p.end) as number) - (parseIpv4(p.start) as number) + 1,
              0,
            );
            const used =
              n.origin === 'provider' ? (flatCounts.get(n.id)?.held ?? 0) : (held.get(s.id) ?? 0);
            return { subnet: s, total, used };
          }),
      }));
  }

  /** What a project holds of each limited thing. */
  usage(projectId: string): Promise<ProjectNetworkQuota> {
    return usageIn(this.#repo, projectId);
  }

  // Helpers

  #floatingNetwork(): ProjectNetwork {
    return {
      id: this.floatingNetworkId,
      projectId: '',
      name: this.#pool,
      description: 'The floating IP pool',
      adminStateUp: true,
      shared: false,
      external: true,
      mtu: 1500,
      networkType: 'flat',
      segmentationId: null,
      physicalNetwork: 'public',
      subnetIds: [],
      origin: 'floating',
      createdAt: 0,
      updatedAt: 0,
    };
  }

  /** A network the caller owns (any, for admins) and made through the API. */
  async #ownNetwork(ctx: RequestContext, id: string): Promise<ProjectNetwork> {
    const network = await this.getNetwork(ctx, id);
    if (network.origin !== 'project') {
      throw new StratusError(
        'forbidden',
        `Network ${id} is offered by the cloud and cannot be changed through this API.`,
        { resource: 'network', id },
      );
    }
    if (!isAdmin(ctx) && network.projectId !== ctx.projectId) {
      throw new StratusError('forbidden', `Network ${id} belongs to another project.`, {
        resource: 'network',
        id,
      });
    }
    return network;
  }

  async #ownSubnet(ctx: RequestContext, id: string): Promise<ProjectSubnet> {
    const subnet = await this.getSubnet(ctx, id);
    await this.#ownNetwork(ctx, subnet.networkId);
    return subnet;
  }

  async #ownPort(ctx: RequestContext, id: string): Promise<ProjectPort> {
    const port = await this.getPort(ctx, id);
    const row = await this.#repo.port(id);
    if (!row) {
      throw new StratusError(
        'forbidden',
        `Port ${id} belongs to an instance on the flat network; it changes with the instance.`,
        { resource: 'port', id },
      );
    }
    return port;
  }

  async #externalGateway(
    ctx: RequestContext,
    gw: { networkId: string; enableSnat?: boolean | undefined },
  ): Promise<{ networkId: string; enableSnat: boolean }> {
    const network = await this.getNetwork(ctx, gw.networkId);
    if (!network.external) {
      throw invalid(
        `Network ${network.id} is not an external network: a router's gateway must be on one.`,
        { resource: 'network', id: network.id, reason: 'not_external' },
      );
    }
    return { networkId: network.id, enableSnat: gw.enableSnat ?? true };
  }

  /**
   * Security groups of the project by id; none asked: the `default` group of the port's network
   * when it is a VPC that has one (as EC2 gives an interface of that VPC), else the project's
   * `default` group (the default VPC's), if it has one.
   */
  async #groups(
    ctx: RequestContext,
    projectId: string,
    ids: readonly string[] | undefined,
    networkId: string,
  ): Promise<string[]> {
    if (ids === undefined) {
      const defaults = await this.#db
        .selectFrom('securityGroups')
        .select(['id', 'vpcId'])
        .where('projectId', '=', projectId)
        .where('name', '=', 'default')
        .where((eb) => eb.or([eb('vpcId', 'is', null), eb('vpcId', '=', networkId)]))
        .execute();
      const d = defaults.find((g) => g.vpcId === networkId) ?? defaults.find((g) => !g.vpcId);
      return d ? [d.id] : [];
    }
    if (ids.length === 0) return [];
    const rows = await this.#db
      .selectFrom('securityGroups')
      .select(['id', 'projectId'])
      .where('id', 'in', ids)
      .execute();
    for (const id of ids) {
      const r = rows.find((g) => g.id === id);
      if (!r || (!isAdmin(ctx) && r.projectId !== projectId)) {
        throw notFound('security_group', id, `Security group ${id} does not exist.`);
      }
    }
    return [...new Set(ids)];
  }

  /** Takes the addresses a port asks for (or one from the first subnet) inside `repo`'s transaction. */
  async #allocate(
    repo: ProjectNetworkRepo,
    networkId: string,
    portId: string,
    asked: PortSpec['fixedIps'],
    at: number,
    gatewayAllowed: boolean,
  ): Promise<FixedIp[]> {
    const subnets = (await repo.subnets([networkId])).map(subnetOf);
    const wanted =
      asked ?? (subnets.length > 0 ? [{ subnetId: (subnets[0] as ProjectSubnet).id }] : []);
    const out: FixedIp[] = [];
    for (const w of wanted) {
      let subnet: ProjectSubnet | undefined;
      if (w.subnetId !== undefined) {
        subnet = subnets.find((s) => s.id === w.subnetId);
        if (!subnet) {
          throw invalid(`Subnet ${w.subnetId} is not on network ${networkId}.`, {
            resource: 'subnet',
            id: w.subnetId,
          });
        }
      } else if (w.ipAddress !== undefined) {
        const ip = parseIpv4(w.ipAddress);
        subnet = subnets.find(
          (s) => ip !== undefined && cidrContains(parseCidr(s.cidr, 0) as Cidr, ip),
        );
        if (!subnet) {
          throw invalid(`IP address ${w.ipAddress} is not in a subnet of network ${networkId}.`, {
            resource: 'address',
            id: w.ipAddress,
          });
        }
      } else {
        throw invalid('A fixed IP needs a subnet_id or an ip_address.', {
          resource: 'parameter',
          id: 'fixed_ips',
        });
      }
      const cidr = parseCidr(subnet.cidr, 0) as Cidr;
      if (w.ipAddress !== undefined) {
        const ip = addressIn(cidr, w.ipAddress, 'ip_address');
        if (!gatewayAllowed && subnet.gateway === w.ipAddress) {
          throw new StratusError(
            'conflict',
            `IP address ${w.ipAddress} is the gateway of subnet ${subnet.id}.`,
            { resource: 'address', id: w.ipAddress, reason: 'address_in_use' },
          );
        }
        if (!(await repo.takeAddress(subnet.id, networkId, formatIpv4(ip), portId, at))) {
          throw new StratusError(
            'conflict',
            `Unable to complete operation for network ${networkId}. The IP address ${w.ipAddress} is in use.`,
            { resource: 'address', id: w.ipAddress, reason: 'address_in_use' },
          );
        }
        out.push({ subnetId: subnet.id, ipAddress: formatIpv4(ip) });
        continue;
      }
      const taken = await repo.unavailable(subnet.id, at);
      let got: string | undefined;
      for (const p of subnet.allocationPools) {
        for (let ip = parseIpv4(p.start) as number; ip <= (parseIpv4(p.end) as number); ip++) {
          const address = formatIpv4(ip);
          if (taken.has(address)) continue;
          // Another port's transaction may take it first: then the next address.
          if (await repo.takeAddress(subnet.id, networkId, address, portId, at)) {
            got = address;
            break;
          }
        }
        if (got) break;
      }
      if (!got) {
        throw new StratusError(
          'unavailable',
          `No more IP addresses available on network ${networkId} (subnet ${subnet.id}).`,
          { resource: 'subnet', id: subnet.id, reason: 'no_address' },
        );
      }
      out.push({ subnetId: subnet.id, ipAddress: got });
    }
    return out;
  }

  async #freeVni(repo: ProjectNetworkRepo): Promise<number> {
    let vni = this.#vni.min;
    for (const used of await repo.segmentationIds()) {
      if (used < vni) continue;
      if (used > vni) break;
      vni++;
    }
    if (vni > this.#vni.max) {
      throw new StratusError(
        'unavailable',
        `Every segmentation id from ${this.#vni.min} to ${this.#vni.max} is taken.`,
        { resource: 'network', reason: 'no_address' },
      );
    }
    return vni;
  }

  async #checkQuota(
    repo: ProjectNetworkRepo,
    projectId: string,
    what: keyof ProjectNetworkQuota,
  ): Promise<void> {
    const used = (await usageIn(repo, projectId))[what];
    const limit = (await this.limits(projectId, repo.db))[what];
    if (limit >= 0 && used >= limit) {
      throw new StratusError(
        'over_quota',
        `Quota exceeded for resources: ['${what.slice(0, -1)}'] (limit ${limit}).`,
        { resource: 'network' },
      );
    }
  }

  /** The flat network's instances as ports: one per fixed address held. */
  async #instancePorts(ctx: RequestContext): Promise<ProjectPort[]> {
    let q = this.#db
      .selectFrom('fixedIps')
      .innerJoin('instances', 'instances.id', 'fixedIps.instanceId')
      .select([
        'fixedIps.networkId as networkId',
        'fixedIps.address as address',
        'fixedIps.macAddress as mac',
        'fixedIps.allocatedAt as allocatedAt',
        'instances.id as instanceId',
        'instances.projectId as projectId',
        'instances.host as host',
        'instances.availabilityZone as zone',
      ]);
    if (!isAdmin(ctx)) q = q.where('instances.projectId', '=', ctx.projectId ?? '');
    const rows = await q.execute();
    const groups = groupBy(
      rows.length === 0
        ? []
        : await this.#db
            .selectFrom('instanceSecurityGroups')
            .selectAll()
            .where(
              'instanceId',
              'in',
              rows.map((r) => r.instanceId),
            )
            .execute(),
      (g) => g.instanceId,
    );
    return rows.map((r) => ({
      id: stableUuid(`port:${r.networkId}:${r.address}:${r.allocatedAt ?? 0}`),
      networkId: r.networkId,
      projectId: r.projectId,
      name: '',
      description: '',
      macAddress: r.mac ?? '',
      adminStateUp: true,
      deviceOwner: `compute:${r.zone || this.#zone}`,
      deviceId: r.instanceId,
      portSecurityEnabled: true,
      securityGroups: (groups.get(r.instanceId) ?? []).map((g) => g.groupId),
      allowedAddressPairs: [],
      bindingHost: r.host,
      deleteOnTermination: false,
      fixedIps: [{ subnetId: stableUuid(`subnet:${r.networkId}`), ipAddress: r.address }],
      status: r.host ? 'ACTIVE' : 'DOWN',
      createdAt: r.allocatedAt ?? 0,
      updatedAt: r.allocatedAt ?? 0,
    }));
  }
}

async function usageIn(repo: ProjectNetworkRepo, projectId: string): Promise<ProjectNetworkQuota> {
  const networks = (await repo.networks({ projectId })).filter((n) => n.projectId === projectId);
  const subnets = (await repo.subnets()).filter((s) => s.projectId === projectId);
  const ports = (await repo.ports()).filter((p) => p.projectId === projectId);
  const routers = await repo.routers({ projectId });
  return {
    networks: networks.length,
    subnets: subnets.length,
    ports: ports.length,
    routers: routers.length,
  };
}

/** A UUID that the same text always gives (for things the model shows but does not store). */
export function stableUuid(textIn: string): string {
  const h = createHash('sha256').update(textIn).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function providerNetwork(n: NetworkRow): ProjectNetwork {
  return {
    id: n.id,
    projectId: '',
    name: n.name,
    description: 'The flat network every project shares',
    adminStateUp: true,
    shared: true,
    external: false,
    mtu: 1500,
    networkType: 'flat',
    segmentationId: null,
    physicalNetwork: n.name,
    subnetIds: [stableUuid(`subnet:${n.id}`)],
    origin: 'provider',
    createdAt: n.createdAt,
    updatedAt: n.createdAt,
  };
}

function providerSubnet(n: NetworkRow): ProjectSubnet {
  return {
    id: stableUuid(`subnet:${n.id}`),
    networkId: n.id,
    projectId: '',
    name: n.name,
    description: '',
    cidr: n.cidr,
    gateway: n.gateway,
    enableDhcp: true,
    allocationPools: [{ start: n.dhcpStart, end: n.dhcpEnd }],
    dnsNameservers: n.dns ? [n.dns] : [],
    hostRoutes: [],
    createdAt: n.createdAt,
    updatedAt: n.createdAt,
  };
}

function networkOf(r: ProjectNetworkRow, subnetIds: string[]): ProjectNetwork {
  return {
    id: r.id,
    projectId: r.projectId,
    name: r.name,
    description: r.description,
    adminStateUp: r.adminStateUp === 1,
    shared: r.shared === 1,
    external: r.external === 1,
    mtu: r.mtu,
    networkType: 'vxlan',
    segmentationId: Number(r.segmentationId),
    physicalNetwork: null,
    subnetIds,
    origin: 'project',
    createdAt: Number(r.createdAt),
    updatedAt: Number(r.updatedAt),
  };
}

function subnetOf(r: ProjectSubnetRow): ProjectSubnet {
  return {
    id: r.id,
    networkId: r.networkId,
    projectId: r.projectId,
    name: r.name,
    description: r.description,
    cidr: r.cidr,
    gateway: r.gateway,
    enableDhcp: r.enableDhcp === 1,
    allocationPools: JSON.parse(r.allocationPools) as AllocationPool[],
    dnsNameservers: JSON.parse(r.dnsNameservers) as string[],
    hostRoutes: JSON.parse(r.hostRoutes) as HostRoute[],
    createdAt: Number(r.createdAt),
    updatedAt: Number(r.updatedAt),
  };
}

function portOf(r: ProjectPortRow, fixedIps: FixedIp[]): ProjectPort {
  return {
    id: r.id,
    networkId: r.networkId,
    projectId: r.projectId,
    name: r.name,
    description: r.description,
    macAddress: r.macAddress,
    adminStateUp: r.adminStateUp === 1,
    deviceOwner: r.deviceOwner,
    deviceId: r.deviceId,
    portSecurityEnabled: r.portSecurityEnabled === 1,
    securityGroups: JSON.parse(r.securityGroups) as string[],
    allowedAddressPairs: JSON.parse(r.allowedAddressPairs) as AddressPair[],
    bindingHost: r.bindingHost,
    deleteOnTermination: r.deleteOnTermination === 1,
    fixedIps,
    status: r.bindingHost || r.deviceOwner === ROUTER_INTERFACE ? 'ACTIVE' : 'DOWN',
    createdAt: Number(r.createdAt),
    updatedAt: Number(r.updatedAt),
  };
}

function routerOf(r: ProjectRouterRow, interfaces: RouterInterface[]): ProjectRouter {
  return {
    id: r.id,
    projectId: r.projectId,
    name: r.name,
    description: r.description,
    adminStateUp: r.adminStateUp === 1,
    externalGateway: r.externalNetworkId
      ? { networkId: r.externalNetworkId, enableSnat: r.enableSnat === 1 }
      : null,
    interfaces,
    createdAt: Number(r.createdAt),
    updatedAt: Number(r.updatedAt),
  };
}

function scope(ctx: RequestContext): { projectId?: string } {
  return isAdmin(ctx) ? {} : { projectId: ctx.projectId ?? '' };
}

/** The project a new thing belongs to: the caller's, or the one an admin names. */
function owner(ctx: RequestContext, asked: string | undefined): string {
  if (asked !== undefined && asked !== ctx.projectId) {
    if (!isAdmin(ctx)) {
      throw new StratusError('forbidden', 'Only an admin may make things for another project.', {
        resource: 'project',
        id: asked,
      });
    }
    return asked;
  }
  if (!ctx.projectId) throw new StratusError('forbidden', 'This request needs a project.');
  return ctx.projectId;
}

function flag(b: boolean): number {
  return b ? 1 : 0;
}

function text(value: string | undefined, key: string): string {
  if (value === undefined) return '';
  if (value.length > 255) {
    throw invalid(`'${key}' may have at most 255 characters.`, { resource: 'parameter', id: key });
  }
  return value;
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

/** A subnet's CIDR: well formed, no host bits, /8 to /30 (a /31 or /32 has no room for hosts). */
function subnetCidr(textIn: string): Cidr {
  const [addr, bits, extra] = textIn.split('/');
  const ip = addr === undefined ? undefined : parseIpv4(addr);
  if (
    ip === undefined ||
    bits === undefined ||
    extra !== undefined ||
    !/^\d{1,2}$/.test(bits) ||
    Number(bits) > 32
  ) {
    throw invalid(`Invalid input for cidr. Reason: '${textIn}' is not a valid IP subnet.`, {
      resource: 'parameter',
      id: 'cidr',
      reason: 'malformed',
    });
  }
  const prefix = Number(bits);
  if (prefix > 30 || prefix < 8) {
    throw invalid(
      `Invalid input for cidr: ${textIn} is too ${prefix > 30 ? 'small' : 'large'}; a subnet's prefix length is from 8 to 30.`,
      { resource: 'parameter', id: 'cidr', reason: 'too_large' },
    );
  }
  const cidr = parseCidr(textIn, 8);
  if (!cidr) {
    const size = 2 ** (32 - prefix);
    throw invalid(
      `Invalid input for cidr: '${textIn}' isn't a recognized IP subnet cidr, '${formatIpv4(ip - (ip % size))}/${prefix}' is recommended.`,
      { resource: 'parameter', id: 'cidr', reason: 'malformed' },
    );
  }
  return cidr;
}

function parseCidrAny(textIn: string): Cidr | undefined {
  const [addr, bits, extra] = textIn.split('/');
  if (addr === undefined || bits === undefined || extra !== undefined || !/^\d{1,2}$/.test(bits))
    return undefined;
  const ip = parseIpv4(addr);
  const prefix = Number(bits);
  if (ip === undefined || prefix > 32) return undefined;
  return { base: ip - (ip % 2 ** (32 - prefix)), prefix, size: 2 ** (32 - prefix) };
}

/** An address inside the block that is neither its network nor its broadcast address. */
function addressIn(cidr: Cidr, textIn: string, key: string): number {
  const ip = parseIpv4(textIn);
  if (
    ip === undefined ||
    !cidrContains(cidr, ip) ||
    ip === cidr.base ||
    ip === cidr.base + cidr.size - 1
  ) {
    throw invalid(
      `Invalid input for ${key}: ${textIn} is not a usable address of ${formatIpv4(cidr.base)}/${cidr.prefix}.`,
      { resource: 'parameter', id: key },
    );
  }
  return ip;
}

function pool(cidr: Cidr, p: AllocationPool): { first: number; last: number } {
  const first = addressIn(cidr, p.start, 'allocation_pools');
  const last = addressIn(cidr, p.end, 'allocation_pools');
  if (last < first) {
    throw invalid(`The allocation pool ${p.start}-${p.end} ends before it starts.`, {
      resource: 'parameter',
      id: 'allocation_pools',
    });
  }
  return { first, last };
}

/** Every usable address but the gateway, as one or two pools. */
function defaultPools(cidr: Cidr, gateway: number | null): { first: number; last: number }[] {
  const first = cidr.base + 1;
  const last = cidr.base + cidr.size - 2;
  if (gateway === null) return [{ first, last }];
  return [
    { first, last: gateway - 1 },
    { first: gateway + 1, last },
  ].filter((p) => p.first <= p.last);
}

function macAddress(textIn: string): string {
  const m = textIn.toLowerCase();
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(m) || (parseInt(m.slice(0, 2), 16) & 1) === 1) {
    throw invalid(`'${textIn}' is not a valid unicast MAC address.`, {
      resource: 'parameter',
      id: 'mac_address',
    });
  }
  return m;
}

/** A locally administered unicast MAC, as Neutron's default base fa:16:3e makes them. */
function randomMac(): string {
  return `fa:16:3e:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
}

function isClash(err: unknown): boolean {
  return isUniqueViolation(err);
}
