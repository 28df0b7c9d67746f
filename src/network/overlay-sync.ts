// The control side of project networks on the wire (issue 16): the network service reads the
// model, plans what each overlay host needs (overlay-plan.ts) and sends it to the hosts'
// agents over the bus, converging: every ensure call is idempotent, and what a host was last
// sent is remembered so that only changes travel (all of it again when the agent restarts).
// It runs on every change the network service makes (a port bound or unbound, a floating IP
// mapped or unmapped), when an agent registers, and now and then, which also picks up what
// the API processes changed in the model (subnets, router interfaces and gateways).
import { systemContext, type RequestContext } from '../context.js';
import {
  FloatingIpRepo,
  OverlayHostRepo,
  ProjectNetworkRepo,
  VpcInterfaceRepo,
  type Db,
  type ProjectPortRow,
} from '../db/index.js';
import { asStratusError } from '../errors.js';
import type { Logger } from '../log.js';
import type { OverlayPeer, ProjectNetworkSpec, RouterSpec } from './dataplane/index.js';
import {
  dhcpAddress,
  planOverlay,
  networkSubnets,
  type OverlayHostInfo,
  type OverlayModel,
  type PlanPort,
  type PlanSubnet,
  type PlanVpc,
} from './overlay-plan.js';
import type { ProjectNetworkService } from './project-networks.js';

/** What the sync calls on the agents (NetworkAgentClient; a fake in tests). */
export interface OverlayAgents {
  setOverlayPeers(ctx: RequestContext, host: string, peers: OverlayPeer[]): Promise<void>;
  ensureProjectNetwork(ctx: RequestContext, host: string, spec: ProjectNetworkSpec): Promise<void>;
  removeProjectNetwork(ctx: RequestContext, host: string, networkId: string): Promise<void>;
  ensureProjectRouter(ctx: RequestContext, host: string, spec: RouterSpec): Promise<void>;
  removeProjectRouter(ctx: RequestContext, host: string, routerId: string): Promise<void>;
}

/** An instance's port on an overlay network, as the compute host plugs it. */
export interface InstanceOverlayPort {
  networkId: string;
  portId: string;
  mac: string;
  fixedIp: string;
  cidr: string;
  gateway: string | null;
  dns: string[];
}

export interface OverlaySyncOptions {
  db: Db;
  agents: OverlayAgents;
  /** The model, for the DHCP ports it makes. */
  model: ProjectNetworkService;
  /** The floating pool routers take their external address from. */
  pool: string;
  logger: Logger;
  /** A host not registered again for this long leaves the plan (default 2 minutes). */
  staleMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

/** Agents register every 10 s: a host silent for twelve of them has gone. */
const STALE_MS = 120_000;

export class OverlaySync {
  readonly #o: OverlaySyncOptions;
  readonly #repo: ProjectNetworkRepo;
  readonly #floating: FloatingIpRepo;
  readonly #hostRows: OverlayHostRepo;
  readonly #hosts = new Map<string, OverlayHostInfo & { bootId: string }>();
  /** host -> (what -> the JSON last sent and applied). */
  readonly #sent = new Map<string, Map<string, string>>();
  /** The last run asked for, and the one not started yet (callers share it). */
  #last: Promise<Map<string, Error>> | undefined;
  #queued: Promise<Map<string, Error>> | undefined;

  constructor(options: OverlaySyncOptions) {
    this.#o = options;
    this.#repo = new ProjectNetworkRepo(options.db);
    this.#floating = new FloatingIpRepo(options.db);
    this.#hostRows = new OverlayHostRepo(options.db);
  }

  /** Whether any host has registered an overlay. */
  get active(): boolean {
    return this.#hosts.size > 0;
  }

  /** The network host, once it has registered. */
  get networkHost(): string | undefined {
    return [...this.#hosts.values()].find((h) => h.networkHost)?.host;
  }

  /** Whether `host` carries project networks. */
  carries(host: string): boolean {
    return this.#hosts.has(host);
  }

  /**
   * An agent says its host carries an overlay: recorded in the database (a restarted network
   * service plans from there at once). A new host, or a restarted agent (a new boot id), is
   * sent everything again, and every host learns its peers.
   */
  async hostUp(info: OverlayHostInfo & { bootId: string }): Promise<boolean> {
    await this.#hostRows.upsert({
      host: info.host,
      underlayIp: info.underlayIp,
      networkHost: info.networkHost ? 1 : 0,
      publicAddress: info.publicAddress,
      bootId: info.bootId,
      lastSeen: this.#now(),
    });
    return this.#remember(info);
  }

  /**
   * Reads the hosts from the database: those other network service processes (or this one
   * before a restart) recorded join, those not seen for a while are forgotten (their rows
   * too). Runs before each convergence; call it once on start.
   */
  async loadHosts(): Promise<void> {
    const gone = await this.#hostRows.forgetBefore(this.#now() - (this.#o.staleMs ?? STALE_MS));
    for (const host of gone) {
      this.#o.logger.warn({ host }, 'an overlay host stopped registering; it leaves the overlay');
    }
    const rows = await this.#hostRows.list();
    for (const host of [...this.#hosts.keys()]) {
      if (rows.some((r) => r.host === host)) continue;
      this.#hosts.delete(host);
      this.#sent.delete(host);
    }
    for (const r of rows) {
      this.#remember({
        host: r.host,
        underlayIp: r.underlayIp,
        networkHost: r.networkHost === 1,
        publicAddress: r.publicAddress,
        bootId: r.bootId,
      });
    }
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  #remember(info: OverlayHostInfo & { bootId: string }): boolean {
    const known = this.#hosts.get(info.host);
    const changed =
      !known ||
      known.bootId !== info.bootId ||
      known.underlayIp !== info.underlayIp ||
      known.networkHost !== info.networkHost ||
      known.publicAddress !== info.publicAddress;
    this.#hosts.set(info.host, info);
    if (known?.bootId !== info.bootId) this.#sent.delete(info.host);
    return changed;
  }

  /**
   * The instance's port on a project network carried on the overlay, or undefined: the
   * instance is on the flat network. It is its first port: one attached later (a device index
   * above 0) is a card of its own (`attachedPort`). A default VPC's port counts once it is
   * bound to a host (a launch binds it only where the overlay carries it; unbound ones were
   * recorded for guests on the flat network before default VPCs went on the wire).
   */
  async instancePort(instanceId: string): Promise<InstanceOverlayPort | undefined> {
    const ports = (await this.#repo.portsOfDevice(instanceId)).filter((p) =>
      p.deviceOwner.startsWith('compute:'),
    );
    const later = await new VpcInterfaceRepo(this.#o.db).attachedLater(ports.map((p) => p.id));
    const port = ports.find((p) => !later.has(p.id));
    return port ? this.#overlayPort(port) : undefined;
  }

  /** A port by id as its host plugs it, if it is on a network carried on the overlay. */
  async attachedPort(portId: string): Promise<InstanceOverlayPort | undefined> {
    const port = await this.#repo.port(portId);
    return port ? this.#overlayPort(port) : undefined;
  }

  async #overlayPort(port: ProjectPortRow): Promise<InstanceOverlayPort | undefined> {
    const { carried, defaults } = await this.#overlayNetworks();
    if (!carried.has(port.networkId)) return undefined;
    if (defaults.has(port.networkId) && port.bindingHost === null) return undefined;
    const subnets = networkSubnets(
      (await this.#repo.subnets([port.networkId])).map(planSubnet),
      port.networkId,
    );
    // The port's address on the oldest subnet it has one on (the one DHCP hands it).
    const ips = await this.#repo.portIps([port.id]);
    const subnet = subnets.find((s) => ips.some((i) => i.subnetId === s.id));
    const ip = ips.find((i) => i.subnetId === subnet?.id);
    if (!subnet || !ip) return undefined;
    return {
      networkId: port.networkId,
      portId: port.id,
      mac: port.macAddress,
      fixedIp: ip.address,
      cidr: subnet.cidr,
      gateway: subnet.gateway,
      dns: [...subnet.dns],
    };
  }

  /** Records the host a port is plugged on (null: unplugged). */
  async bindPort(portId: string, host: string | null): Promise<void> {
    await this.#repo.updatePort(portId, { bindingHost: host });
  }

  /**
   * Brings every registered host to what the model says. Calls made while a run is under way
   * share the next run, so each caller's change is in what it awaits. Resolves with the hosts
   * that failed (they are sent everything again on the next run).
   */
  converge(): Promise<Map<string, Error>> {
    if (this.#queued) return this.#queued;
    const previous = this.#last ?? Promise.resolve(new Map<string, Error>());
    const next: Promise<Map<string, Error>> = previous
      .catch(() => undefined)
      .then(() => {
        // From here on, a new call needs a run after this one: this one may have read the
        // model before the caller's change.
        if (this.#queued === next) this.#queued = undefined;
        return this.#run();
      });
    this.#queued = next;
    this.#last = next;
    return next;
  }

  async #run(): Promise<Map<string, Error>> {
    const failed = new Map<string, Error>();
    await this.#loadHostsLogged();
    if (this.#hosts.size === 0) return failed;
    const model = await this.#model();
    const plan = planOverlay(model);
    for (const [id, why] of plan.skipped) {
      this.#o.logger.debug({ id }, `a project network or router is not carried: ${why}`);
    }
    const ctx = systemContext();
    const agents = this.#o.agents;
    await Promise.all(
      [...this.#hosts.values()].map(async (h) => {
        const sent = this.#sent.get(h.host) ?? new Map<string, string>();
        this.#sent.set(h.host, sent);
        const send = async (key: string, value: unknown, fn: () => Promise<void>) => {
          const json = JSON.stringify(value);
          if (sent.get(key) === json) return;
          sent.delete(key);
          await fn();
          sent.set(key, json);
        };
        try {
          await send('peers', plan.peers, () => agents.setOverlayPeers(ctx, h.host, plan.peers));
          const nets = plan.networks.get(h.host) ?? [];
          const routers = h.host === plan.networkHost ? plan.routers : [];
          // What the model no longer has goes first: a new network may have the VNI of one
          // deleted since the last run (and its router the leg names of the old one's router).
          for (const key of [...sent.keys()]) {
            if (key.startsWith('router:') && !routers.some((r) => `router:${r.routerId}` === key)) {
              await agents.removeProjectRouter(ctx, h.host, key.slice('router:'.length));
              sent.delete(key);
            }
          }
          for (const key of [...sent.keys()]) {
            if (key.startsWith('net:') && !nets.some((n) => `net:${n.networkId}` === key)) {
              await agents.removeProjectNetwork(ctx, h.host, key.slice('net:'.length));
              sent.delete(key);
            }
          }
          for (const spec of nets) {
            await send(`net:${spec.networkId}`, spec, () =>
              agents.ensureProjectNetwork(ctx, h.host, spec),
            );
          }
          for (const spec of routers) {
            await send(`router:${spec.routerId}`, spec, () =>
              agents.ensureProjectRouter(ctx, h.host, spec),
            );
          }
        } catch (err) {
          failed.set(h.host, asStratusError(err));
          this.#o.logger.warn(
            { err, host: h.host },
            "bringing a host's project networks to the model failed; retried on the next run",
          );
        }
      }),
    );
    return failed;
  }

  async #loadHostsLogged(): Promise<void> {
    try {
      await this.loadHosts();
    } catch (err) {
      // The hosts in memory serve until the database answers again.
      this.#o.logger.warn({ err }, 'reading the overlay hosts failed');
    }
  }

  /** Whether a port on this subnet is plugged into the overlay: its network is carried. */
  async carriesSubnet(subnetId: string): Promise<boolean> {
    const row = await this.#repo.subnet(subnetId);
    return row !== undefined && (await this.#overlayNetworkIds()).has(row.networkId);
  }

  /** The overlay's networks: VXLAN project networks that are not external (default VPCs too). */
  async #overlayNetworkIds(): Promise<Set<string>> {
    return (await this.#overlayNetworks()).carried;
  }

  /** The overlay's networks, and which of them are default VPCs. */
  async #overlayNetworks(): Promise<{ carried: Set<string>; defaults: Set<string> }> {
    const defaults = await this.#o.db
      .selectFrom('vpcs')
      .select('networkId')
      .where('isDefault', '=', 1)
      .execute();
    return {
      carried: new Set(
        (await this.#repo.networks({})).filter((n) => n.external === 0).map((n) => n.id),
      ),
      defaults: new Set(defaults.map((d) => d.networkId)),
    };
  }

  /** Reads the model; gives routers their external addresses and networks their DHCP ports. */
  async #model(): Promise<OverlayModel> {
    const overlay = await this.#overlayNetworkIds();
    const networks = (await this.#repo.networks({})).filter((n) => overlay.has(n.id));
    const subnets = (await this.#repo.subnets(networks.map((n) => n.id))).map(planSubnet);
    let ports = await this.#ports(networks.map((n) => n.id));
    for (const n of networks) {
      // A DHCP address on each subnet: the first subnet's port is `dhcp<network>`, a further
      // subnet's `dhcp<network>:<subnet>`.
      for (const [i, subnet] of networkSubnets(subnets, n.id).entries()) {
        if (dhcpAddress(subnet, ports) !== undefined) continue;
        try {
          await this.#o.model.createPort(systemContext(), {
            networkId: n.id,
            projectId: n.projectId,
            deviceOwner: 'network:dhcp',
            deviceId: i === 0 ? `dhcp${n.id}` : `dhcp${n.id}:${subnet.id}`,
            portSecurityEnabled: false,
            fixedIps: [{ subnetId: subnet.id }],
          });
          ports = await this.#ports(networks.map((n) => n.id));
        } catch (err) {
          this.#o.logger.warn(
            { err, networkId: n.id, subnetId: subnet.id },
            'no DHCP port could be made for a subnet',
          );
        }
      }
    }
    const routerRows = await this.#repo.routers({});
    const interfaces = await this.#repo.interfaces(routerRows.map((r) => r.id));
    const held = await this.#floating.routerAddresses();
    const external = new Map<string, string>();
    for (const r of routerRows) {
      const row = held.get(r.id);
      if (r.externalNetworkId === null) continue;
      if (row) {
        external.set(r.id, row.address);
        continue;
      }
      const taken = await this.#floating.takeForRouter(this.#o.pool, r.id, Date.now());
      if (taken) external.set(r.id, taken.address);
      else this.#o.logger.warn({ routerId: r.id }, 'the floating pool has no address for a router');
    }
    // Addresses of routers that are gone or lost their gateway go back to the pool.
    for (const [routerId, row] of held) {
      if (!external.has(routerId) && row.allocationId) {
        await this.#floating.release(row.id, row.allocationId);
      }
    }
    const floatingIps = (await this.#floating.list({}))
      .filter((f) => f.instanceId !== null && f.fixedAddress !== null && f.associationId !== null)
      .map((f) => ({
        address: f.address,
        fixedAddress: f.fixedAddress as string,
        instanceId: f.instanceId as string,
      }));
    return {
      hosts: [...this.#hosts.values()].map(({ bootId: _b, ...h }) => h),
      networks: networks.map((n) => ({ id: n.id, vni: n.segmentationId, mtu: n.mtu })),
      subnets,
      ports,
      routers: routerRows.map((r) => ({
        id: r.id,
        externalIp: external.get(r.id) ?? null,
        interfaces: interfaces
          .filter((i) => i.routerId === r.id)
          .map((i) => ({ subnetId: i.subnetId, portId: i.portId })),
      })),
      floatingIps,
      vpcs: await this.#vpcs(networks.map((n) => n.id)),
    };
  }

  /** The route tables of the VPCs among these networks. */
  async #vpcs(networkIds: readonly string[]): Promise<PlanVpc[]> {
    if (networkIds.length === 0) return [];
    const db = this.#o.db;
    const vpcs = await db
      .selectFrom('vpcs')
      .select(['networkId', 'routerId'])
      .where('networkId', 'in', networkIds)
      .execute();
    if (vpcs.length === 0) return [];
    const ids = vpcs.map((v) => v.networkId);
    const [gateways, made, associations] = await Promise.all([
      db
        .selectFrom('internetGateways')
        .select(['id', 'networkId'])
        .where('networkId', 'in', ids)
        .execute(),
      db
        .selectFrom('vpcRouteTables')
        .select(['id', 'networkId'])
        .where('networkId', 'in', ids)
        .execute(),
      db
        .selectFrom('vpcRouteTableAssociations')
        .select(['routeTableId', 'networkId', 'subnetId', 'mainOf'])
        .where('networkId', 'in', ids)
        .execute(),
    ]);
    const tables = [...vpcs.map((v) => v.routerId), ...made.map((t) => t.id)];
    const routes = await db
      .selectFrom('vpcRoutes')
      .select(['routerId', 'destination', 'gatewayId'])
      .where('routerId', 'in', tables)
      .execute();
    return vpcs.map((v) => {
      const own = new Set([
        v.routerId,
        ...made.filter((t) => t.networkId === v.networkId).map((t) => t.id),
      ]);
      const mine = associations.filter((a) => a.networkId === v.networkId);
      return {
        networkId: v.networkId,
        routerId: v.routerId,
        gatewayId: gateways.find((g) => g.networkId === v.networkId)?.id ?? null,
        mainTable: mine.find((a) => a.mainOf === v.networkId)?.routeTableId ?? v.routerId,
        associations: Object.fromEntries(
          mine.flatMap((a) => (a.subnetId === null ? [] : [[a.subnetId, a.routeTableId]])),
        ),
        routes: routes
          .filter((r) => own.has(r.routerId))
          .map((r) => ({ table: r.routerId, destination: r.destination, gatewayId: r.gatewayId })),
      };
    });
  }

  async #ports(networkIds: readonly string[]): Promise<PlanPort[]> {
    if (networkIds.length === 0) return [];
    const rows = await this.#repo.ports(networkIds);
    const ips = await this.#repo.portIps(rows.map((r) => r.id));
    return rows.map((r) => ({
      id: r.id,
      networkId: r.networkId,
      mac: r.macAddress,
      deviceOwner: r.deviceOwner,
      deviceId: r.deviceId,
      bindingHost: r.bindingHost,
      ips: ips
        .filter((i) => i.portId === r.id)
        .map((i) => ({ subnetId: i.subnetId, address: i.address })),
    }));
  }
}

function planSubnet(r: {
  id: string;
  networkId: string;
  cidr: string;
  gateway: string | null;
  allocationPools: string;
  dnsNameservers: string;
  createdAt: number;
}): PlanSubnet {
  return {
    id: r.id,
    networkId: r.networkId,
    cidr: r.cidr,
    gateway: r.gateway,
    pools: JSON.parse(r.allocationPools) as { start: string; end: string }[],
    dns: JSON.parse(r.dnsNameservers) as string[],
    createdAt: Number(r.createdAt),
  };
}
