// The network manager: IP address management and security groups. It owns the networks, the
// floating pool and the security groups with their rules; hands fixed addresses to instances
// and takes them back, resting each returned address for a DHCP lease time plus a margin
// before it is handed out again; and tells every host's data plane when rules change.
import type { QuotaLimits } from '../quota/index.js';
import { randomBytes } from 'node:crypto';
import type { RequestContext } from '../context.js';
import { dispatch, type ProtocolHandlers } from '../bus/index.js';
import {
  NetworkRepo,
  now,
  ProjectNetworkRepo,
  VpcInterfaceRepo,
  type Db,
  type NetworkRow,
} from '../db/index.js';
import { notFound, StratusError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Service } from '../service/index.js';
import { addressRange, formatIpv4, hostRange, parseCidr } from './ipv4.js';
import { VERSION } from '../version.js';
import {
  NETWORK_TOPIC,
  type GuestNetwork,
  type InterfacePort,
  type NetworkProtocol,
  type OverlayHostRegistration,
  type OverlayPort,
} from './client.js';
import { FloatingIpService, type FloatingIpHook } from './floating-ips.js';

type Args<M extends keyof NetworkProtocol> = NetworkProtocol[M]['args'];
import type { KnownLease, LeaseEvent } from './dataplane/index.js';
import { LEASE_MARGIN_MS, LeaseBook } from './leases.js';
import { SecurityGroupService } from './security-groups.js';
import { OverlaySync, type OverlayAgents } from './overlay-sync.js';
import type { ProjectNetworkService } from './project-networks.js';

export const DEFAULT_NETWORK = 'default';
export const DEFAULT_FLOATING_POOL = 'public';

export interface NetworkOptions {
  db: Db;
  host: string;
  logger: Logger;
  fixedRange: string;
  floatingRange: string;
  leaseSeconds: number;
  quota: QuotaLimits;
  /** Where floating-address mappings are announced to the data plane (see FloatingIpHook). */
  onFloatingIpChange?: FloatingIpHook | undefined;
  /**
   * Where changed security groups are announced to every host's data plane (a fanout to the
   * network agents); awaited before the change's call returns, a failure is logged.
   */
  onSecurityGroupsChanged?: ((groupIds: readonly string[]) => Promise<void>) | undefined;
  /**
   * Project networks on the wire: the hosts' agents to send the model to, and the model.
   * Absent: instances are always plugged into the flat network.
   */
  overlay?: { agents: OverlayAgents; model: ProjectNetworkService } | undefined;
}

/** How often the overlay hosts are brought to the model without a change to say so. */
const OVERLAY_RESYNC_MS = 5_000;

export class NetworkManager implements ProtocolHandlers<NetworkProtocol> {
  readonly #startedAt = now();
  readonly #opts: NetworkOptions;
  readonly #networks: NetworkRepo;
  readonly #floating: FloatingIpService;
  readonly #groups: SecurityGroupService;
  readonly #overlay: OverlaySync | undefined;
  #default: NetworkRow | undefined;
  #leases: LeaseBook | undefined;

  constructor(options: NetworkOptions) {
    this.#opts = options;
    this.#networks = new NetworkRepo(options.db);
    this.#overlay = options.overlay
      ? new OverlaySync({
          db: options.db,
          agents: options.overlay.agents,
          model: options.overlay.model,
          pool: DEFAULT_FLOATING_POOL,
          logger: options.logger,
        })
      : undefined;
    const flatHook = options.onFloatingIpChange;
    this.#floating = new FloatingIpService({
      db: options.db,
      pool: DEFAULT_FLOATING_POOL,
      quota: options.quota,
      logger: options.logger,
      // A floating IP of an instance on a project network is its router's NAT on the network
      // host; any other is NAT on the instance's host.
      onChange: async (change) => {
        if (this.#overlay && (await this.#overlay.instancePort(change.instanceId))) {
          const failed = await this.#overlay.converge();
          const err = failed.get(this.#overlay.networkHost ?? '');
          if (change.kind === 'mapped' && err) throw err;
          return;
        }
        await flatHook?.(change);
      },
    });
    this.#groups = new SecurityGroupService({
      db: options.db,
      quota: options.quota,
      logger: options.logger,
      onRulesChanged: options.onSecurityGroupsChanged,
    });
  }

  service(): Service {
    return {
      binary: 'network',
      topics: [
        {
          topic: NETWORK_TOPIC,
          handler: dispatch<NetworkProtocol>(NETWORK_TOPIC, {
            status: () => this.status(),
            allocateForInstance: (a) => this.allocateForInstance(a),
            deallocateForInstance: (a) => this.deallocateForInstance(a),
            allocateFloatingIp: (a, c) => this.allocateFloatingIp(a, c),
            associateFloatingIp: (a, c) => this.associateFloatingIp(a, c),
            disassociateFloatingIp: (a, c) => this.disassociateFloatingIp(a, c),
            releaseFloatingIp: (a, c) => this.releaseFloatingIp(a, c),
            recordLeaseEvent: (a) => this.recordLeaseEvent(a),
            knownLeases: (a) => this.knownLeases(a),
            hostNetwork: (a) => this.hostNetwork(a),
            rulesForInstances: (a) => this.rulesForInstances(a),
            rulesForPorts: (a) => this.rulesForPorts(a),
            metadataOptionsChanged: (a) => this.metadataOptionsChanged(a),
            ensureDefaultSecurityGroup: (a, c) => this.ensureDefaultSecurityGroup(a, c),
            setInstanceSecurityGroups: (a) => this.setInstanceSecurityGroups(a),
            createSecurityGroup: (a, c) => this.createSecurityGroup(a, c),
            updateSecurityGroup: (a, c) => this.updateSecurityGroup(a, c),
            deleteSecurityGroup: (a, c) => this.deleteSecurityGroup(a, c),
            authorizeSecurityGroupIngress: (a, c) => this.authorizeSecurityGroupIngress(a, c),
            revokeSecurityGroupIngress: (a, c) => this.revokeSecurityGroupIngress(a, c),
            authorizeSecurityGroupEgress: (a, c) => this.authorizeSecurityGroupEgress(a, c),
            revokeSecurityGroupEgress: (a, c) => this.revokeSecurityGroupEgress(a, c),
            projectPortOf: (a) => this.projectPortOf(a),
            bindInterface: (a) => this.bindInterface(a),
            overlayCarries: (a) => this.overlayCarries(a),
            overlayHostUp: (a) => this.overlayHostUp(a),
          }),
        },
      ],
      periodicTasks: this.#overlay
        ? [
            {
              name: 'overlay-resync',
              intervalMs: OVERLAY_RESYNC_MS,
              run: async () => {
                await this.#overlay?.converge();
              },
            },
          ]
        : [],
      start: async () => {
        await this.#ensureNetworks();
        // The overlay hosts recorded before a restart: planned for at once.
        if (this.#overlay) {
          await this.#overlay.loadHosts();
          void this.#overlay
            .converge()
            .catch((err: unknown) =>
              this.#opts.logger.warn({ err }, 'bringing the overlay hosts to the model failed'),
            );
        }
      },
    };
  }

  async status(): Promise<NetworkProtocol['status']['result']> {
    return {
      binary: 'network',
      host: this.#opts.host,
      startedAt: this.#startedAt,
      version: VERSION,
      details: { defaultNetwork: this.#opts.fixedRange, floatingRange: this.#opts.floatingRange },
    };
  }

  async allocateForInstance(args: { instanceId: string; host: string }): Promise<GuestNetwork> {
    // An instance with a port on a project network takes the port's address, on a host that
    // carries the overlay; its host and the network host get the network before it plugs.
    const port = this.#overlay?.carries(args.host)
      ? await this.#overlay.instancePort(args.instanceId)
      : undefined;
    if (this.#overlay && port) {
      await this.#overlay.bindPort(port.portId, args.host);
      const failed = await this.#overlay.converge();
      const err = failed.get(args.host) ?? failed.get(this.#overlay.networkHost ?? '');
      if (err) throw err;
      // A public address its launch asked for maps onto the port's address at its router.
      await this.#associateLaunchAddresses(args.instanceId, port.fixedIp, args.host);
      return {
        networkId: port.networkId,
        networkName: port.networkId,
        address: port.fixedIp,
        macAddress: port.mac,
        cidr: port.cidr,
        gateway: port.gateway ?? '',
        dns: port.dns.join(','),
      };
    }
    const network = this.#default ?? (await this.#ensureNetworks());
    const mac = `fa:16:3e:${randomBytes(3).toString('hex').match(/../g)?.join(':')}`;
    const ip = await this.#networks.allocateFixedIp(network.id, args.instanceId, mac, now());
    if (!ip) {
      throw new StratusError(
        'unavailable',
        `The network '${network.name}' has no free address left.`,
        {
          resource: 'network',
          id: network.name,
          reason: 'no_address',
        },
      );
    }
    // Group-to-group rules on every host learn the new member's address.
    await this.#groups.membershipChanged(args.instanceId);
    // A public address its VPC launch asked for maps onto it from now on.
    await this.#associateLaunchAddresses(args.instanceId, ip.address, args.host);
    return {
      networkId: network.id,
      networkName: network.name,
      address: ip.address,
      macAddress: ip.macAddress ?? mac,
      cidr: network.cidr,
      gateway: network.gateway,
      dns: network.dns,
    };
  }

  /** Maps the public addresses an instance's launch reserved onto its fixed address. */
  async #associateLaunchAddresses(instanceId: string, fixedAddress: string, host: string) {
    const reserved = await new VpcInterfaceRepo(this.#opts.db).launchAddresses([instanceId]);
    if (reserved.length === 0) return;
    await this.#floating.associateAtBuild({
      instanceId,
      fixedAddress,
      host,
      allocationIds: reserved.map((r) => r.allocationId),
    });
  }

  async deallocateForInstance(args: { instanceId: string; host: string | null }): Promise<null> {
    const port = await this.#overlay?.instancePort(args.instanceId);
    if (this.#overlay && port) {
      // Its floating IP leaves its router first; a flat address it may have held (allocated
      // while its host's overlay was not known) goes below as any instance's.
      await this.#floating.disassociateInstance(args.instanceId, args.host);
      await this.#overlay.bindPort(port.portId, null);
      await this.#overlay.converge();
    }
    const at = now();
    const released = await this.#networks.releaseFixedIps(
      args.instanceId,
      at,
      at + this.#opts.leaseSeconds * 1000 + LEASE_MARGIN_MS,
    );
    // dnsmasq may have reported the lease gone before the instance gave the address back.
    await (await this.#leaseBook()).settleReleased(released, at);
    await this.#floating.disassociateInstance(args.instanceId, args.host);
    // ... and forget the address of a member that is gone.
    if (released.length > 0) await this.#groups.membershipChanged(args.instanceId);
    if (released.length > 0)
      this.#opts.logger.debug(
        { instanceId: args.instanceId, released },
        'fixed addresses released',
      );
    return null;
  }

  // Floating IPs: the work is FloatingIpService's (src/network/floating-ips.ts).
  allocateFloatingIp(a: Args<'allocateFloatingIp'>, ctx: RequestContext) {
    return this.#floating.allocate(ctx, a.domain);
  }

  associateFloatingIp(a: Args<'associateFloatingIp'>, ctx: RequestContext) {
    return this.#floating.associate(ctx, a);
  }

  disassociateFloatingIp(a: Args<'disassociateFloatingIp'>, ctx: RequestContext) {
    return this.#floating.disassociate(ctx, a.ref);
  }

  async releaseFloatingIp(a: Args<'releaseFloatingIp'>, ctx: RequestContext): Promise<null> {
    await this.#floating.release(ctx, a.ref);
    return null;
  }

  // Security groups: the work is SecurityGroupService's (src/network/security-groups.ts).
  ensureDefaultSecurityGroup(_a: Args<'ensureDefaultSecurityGroup'>, ctx: RequestContext) {
    return this.#groups.ensureDefault(ctx);
  }

  setInstanceSecurityGroups(a: Args<'setInstanceSecurityGroups'>) {
    return this.#groups.setInstanceGroups(a.instanceId, a.refs);
  }

  createSecurityGroup(a: Args<'createSecurityGroup'>, ctx: RequestContext) {
    return this.#groups.create(ctx, a);
  }

  updateSecurityGroup(a: Args<'updateSecurityGroup'>, ctx: RequestContext) {
    return this.#groups.update(ctx, a.ref, { name: a.name, description: a.description });
  }

  deleteSecurityGroup(a: Args<'deleteSecurityGroup'>, ctx: RequestContext) {
    return this.#groups.delete(ctx, a.ref);
  }

  authorizeSecurityGroupIngress(a: Args<'authorizeSecurityGroupIngress'>, ctx: RequestContext) {
    return this.#groups.authorizeIngress(ctx, a.ref, a.permissions);
  }

  revokeSecurityGroupIngress(a: Args<'revokeSecurityGroupIngress'>, ctx: RequestContext) {
    return this.#groups.revokeIngress(ctx, a.ref, {
      permissions: a.permissions,
      ruleRefs: a.ruleRefs,
    });
  }

  authorizeSecurityGroupEgress(a: Args<'authorizeSecurityGroupEgress'>, ctx: RequestContext) {
    return this.#groups.authorize(ctx, 'egress', a.ref, a.permissions);
  }

  revokeSecurityGroupEgress(a: Args<'revokeSecurityGroupEgress'>, ctx: RequestContext) {
    return this.#groups.revoke(ctx, 'egress', a.ref, {
      permissions: a.permissions,
      ruleRefs: a.ruleRefs,
    });
  }

  /** The floating-address service, for the data plane's resync (`mappingsOnHost`). */
  get floatingIps(): FloatingIpService {
    return this.#floating;
  }

  /**
   * Records a lease event from a host's dnsmasq (all hosts serve the default network); an
   * event about an address an instance on another host holds is ignored.
   */
  async recordLeaseEvent(args: { host: string; event: LeaseEvent }): Promise<null> {
    await (await this.#leaseBook()).record(args.event, args.host);
    return null;
  }

  /** The live leases of the instances on `host`, for its restarting dnsmasq. */
  async knownLeases(args: { host: string }): Promise<KnownLease[]> {
    return (await this.#leaseBook()).knownLeases(args.host);
  }

  /** Every host serves the default network for now. */
  async hostNetwork(_args: { host: string }): Promise<NetworkProtocol['hostNetwork']['result']> {
    const n = this.#default ?? (await this.#ensureNetworks());
    return {
      networkId: n.id,
      cidr: n.cidr,
      gateway: n.gateway,
      dhcpStart: n.dhcpStart,
      dhcpEnd: n.dhcpEnd,
      dns: n.dns,
    };
  }

  /** The security groups of project network ports, for the overlay data plane. */
  rulesForPorts(args: Args<'rulesForPorts'>) {
    return this.#groups.rulesForPorts(args.portIds);
  }

  async rulesForInstances(args: {
    instanceIds: string[];
  }): Promise<NetworkProtocol['rulesForInstances']['result']> {
    return this.#groups.rulesForInstances(args.instanceIds);
  }

  /**
   * An instance's metadata hop limit changed: the agents re-read their guests' settings (the
   * same fanout as a security-group change; only the chain of the instance's guest changes).
   * A lost fanout is made up by each agent's periodic re-read.
   */
  async metadataOptionsChanged(args: { instanceId: string }): Promise<null> {
    try {
      await this.#opts.onSecurityGroupsChanged?.([]);
    } catch (err) {
      this.#opts.logger.warn(
        { err, instanceId: args.instanceId },
        "telling the data plane of an instance's metadata options failed",
      );
    }
    return null;
  }

  /** The instance's port on a project network carried on the overlay; null: it is flat. */
  async projectPortOf(args: { instanceId: string }): Promise<OverlayPort | null> {
    const port = await this.#overlay?.instancePort(args.instanceId);
    return port
      ? { networkId: port.networkId, portId: port.portId, mac: port.mac, fixedIp: port.fixedIp }
      : null;
  }

  /** Whether a port on this subnet, bound to `host`, goes into the overlay there. */
  async overlayCarries(args: { host: string; subnetId: string }): Promise<boolean> {
    if (!this.#overlay?.carries(args.host)) return false;
    return this.#overlay.carriesSubnet(args.subnetId);
  }

  /**
   * Binds a port attached to a running instance to its host (null: unbinds it); on a project
   * network that host carries, the host and the network host are brought to it first (its
   * DHCP answers it when this resolves). `not_found` when there is no such port.
   */
  async bindInterface(args: { portId: string; host: string | null }): Promise<InterfacePort> {
    const port = await new ProjectNetworkRepo(this.#opts.db).port(args.portId);
    if (!port) throw notFound('port', args.portId);
    const [ip] = await new ProjectNetworkRepo(this.#opts.db).portIps([port.id]);
    const overlay =
      this.#overlay && (args.host === null || this.#overlay.carries(args.host))
        ? await this.#overlay.attachedPort(args.portId)
        : undefined;
    if (this.#overlay && overlay) {
      await this.#overlay.bindPort(args.portId, args.host);
      const failed = await this.#overlay.converge();
      const err =
        (args.host ? failed.get(args.host) : undefined) ??
        failed.get(this.#overlay.networkHost ?? '');
      if (err && args.host !== null) throw err;
      return {
        networkId: overlay.networkId,
        portId: overlay.portId,
        mac: overlay.mac,
        fixedIp: overlay.fixedIp,
        overlay: true,
      };
    }
    return {
      networkId: port.networkId,
      portId: port.id,
      mac: port.macAddress,
      fixedIp: ip?.address ?? '',
      overlay: false,
    };
  }

  /**
   * A host's agent carries an overlay: recorded, then (not awaited: the agent may not serve
   * its topic yet) every host is brought to the model, this one with everything.
   */
  async overlayHostUp(args: OverlayHostRegistration): Promise<null> {
    if (!this.#overlay) return null;
    await this.#overlay.hostUp(args);
    void this.#overlay
      .converge()
      .catch((err: unknown) =>
        this.#opts.logger.warn({ err }, 'bringing the overlay hosts to the model failed'),
      );
    return null;
  }

  async #leaseBook(): Promise<LeaseBook> {
    if (!this.#leases) {
      const network = this.#default ?? (await this.#ensureNetworks());
      this.#leases = new LeaseBook({
        db: this.#opts.db,
        networkId: network.id,
        leaseSeconds: this.#opts.leaseSeconds,
        logger: this.#opts.logger,
      });
    }
    return this.#leases;
  }

  async #ensureNetworks(): Promise<NetworkRow> {
    const fixed = parseCidr(this.#opts.fixedRange, 16);
    const floating = parseCidr(this.#opts.floatingRange, 16);
    if (!fixed || !floating)
      throw new StratusError('invalid', 'The configured network ranges are not valid CIDRs.');
    const range = hostRange(fixed);
    this.#default = await this.#networks.ensure(
      {
        name: DEFAULT_NETWORK,
        cidr: this.#opts.fixedRange,
        gateway: formatIpv4(range.gateway),
        dhcpStart: formatIpv4(range.first),
        dhcpEnd: formatIpv4(range.last),
        dns: '',
      },
      addressRange(range.first, range.last),
    );
    const pool = hostRange(floating);
    await this.#networks.ensureFloatingPool(
      DEFAULT_FLOATING_POOL,
      addressRange(pool.first, pool.last).map((address, i) => ({ address, seq: i + 2 })),
    );
    return this.#default;
  }
}
