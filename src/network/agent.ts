// The host network agent: runs on each compute host and owns that host's data plane (see
// dataplane/). The compute manager plugs and unplugs its guests through it in-process (its
// `GuestNetworkPort`); the network service reaches it over the bus to move floating IPs
// (`network.<host>`) and to say which security groups changed (a fanout on
// `network-agent`). Lease events go the other way, to the network service, which alone
// writes the database.
//
// With `overlay` set, the host also carries project networks (dataplane/overlay.ts): the
// network service tells each host which networks, routers and peers to realise
// (`ensureProjectNetwork`, `ensureProjectRouter`, `setOverlayPeers`, ...), and an instance
// whose port the service names as a project network's (`projectPortOf`) is plugged there
// instead of into the flat network.
import { dispatch, type Bus, type ProtocolHandlers } from '../bus/index.js';
import { systemContext, type RequestContext } from '../context.js';
import type { Logger } from '../log.js';
import type { Service } from '../service/index.js';
import { StratusError } from '../errors.js';
import {
  HostDataPlane,
  OverlayHost,
  type GuestNetworkSpec,
  type GuestPortSpec,
  type KnownLease,
  type LeaseEvent,
  type OverlayHostOptions,
  type OverlayPeer,
  type ProjectNetworkSpec,
  type RouterSpec,
} from './dataplane/index.js';
import type { GuestNetworkPort, PlugArgs, PluggedPort, PortPlugArgs } from './guest-port.js';
import type { OverlayHostRegistration, OverlayPort } from './client.js';
import { randomUUID } from 'node:crypto';
import type { InstanceRuleSet, EffectiveRule, PortRuleSet } from './security-groups.js';

/** The topic of one host's agent (calls). */
export const networkHostTopic = (host: string): string => `network.${host}`;
/** The topic every agent serves for fanouts. */
export const NETWORK_AGENT_FANOUT = 'network-agent';

export type NetworkAgentProtocol = {
  securityGroupsChanged: { args: { groupIds: string[] }; result: null };
  associateFloatingIp: { args: { floating: string; fixed: string }; result: null };
  disassociateFloatingIp: { args: { floating: string }; result: null };
  ensureProjectNetwork: { args: { spec: ProjectNetworkSpec }; result: null };
  removeProjectNetwork: { args: { networkId: string }; result: null };
  ensureProjectRouter: { args: { spec: RouterSpec }; result: null };
  removeProjectRouter: { args: { routerId: string }; result: null };
  setOverlayPeers: { args: { peers: OverlayPeer[] }; result: null };
};

export type { OverlayPort } from './client.js';

/** What the agent needs from the network service (the NetworkClient, or a fake in tests). */
export interface NetworkServicePort {
  recordLeaseEvent(ctx: RequestContext, host: string, event: LeaseEvent): Promise<void>;
  knownLeases(ctx: RequestContext, host: string): Promise<KnownLease[]>;
  /** The security-group rule sets of these instances (SecurityGroupService.rulesForInstances). */
  rulesForInstances(
    ctx: RequestContext,
    instanceIds: readonly string[],
  ): Promise<InstanceRuleSet[]>;
  /**
   * The instance's port when it is on a project network, else undefined (it goes on the flat
   * network). Only asked on a host with an overlay; absent: every instance is flat.
   */
  projectPortOf?(ctx: RequestContext, instanceId: string): Promise<OverlayPort | undefined>;
  /** The security-group rule sets of these project network ports (rulesForPorts). */
  rulesForPorts?(ctx: RequestContext, portIds: readonly string[]): Promise<PortRuleSet[]>;
  /**
   * Tells the network service this host carries an overlay (at start and every
   * `overlayRegisterMs` after); it answers by sending the host its networks and peers.
   */
  overlayHostUp?(ctx: RequestContext, registration: OverlayHostRegistration): Promise<void>;
}

export interface NetworkAgentOptions {
  host: string;
  network: GuestNetworkSpec;
  service: NetworkServicePort;
  /** The namespace to own; `stratus-<host>` unless told. */
  namespace?: string;
  /** `br100` unless told. */
  bridge?: string;
  uplink?: string;
  /** The interface joining the bridge to the other hosts (`--flat-interface`); none alone. */
  flatInterface?: string | undefined;
  /** The interface floating IPs go on (`--public-interface`), with `publicAddress`. */
  publicInterface?: string | undefined;
  /** This host's address on the public segment, `A.B.C.D/N` (`--public-address`). */
  publicAddress?: string | undefined;
  leaseSeconds: number;
  stateDir: string;
  metadataSocket?: string;
  logger?: Logger;
  /**
   * TEST-ONLY: the port to give a guest instead of a tap (a veth into a namespace that stands
   * in for a VM, in tests without QEMU). Production never sets it.
   */
  portFor?: (args: PlugArgs) => GuestPortSpec;
  /**
   * The host's overlay data plane for project networks (host, lease time and error handler
   * are the agent's); none: the host carries the flat network only.
   */
  overlay?: Omit<OverlayHostOptions, 'host' | 'leaseSeconds' | 'onError'> | undefined;
}

export class NetworkAgent implements ProtocolHandlers<NetworkAgentProtocol>, GuestNetworkPort {
  readonly dataPlane: HostDataPlane;
  readonly overlay: OverlayHost | undefined;
  readonly #o: NetworkAgentOptions;
  /** instance -> its port on a project network, for the instances plugged there. */
  readonly #projectPorts = new Map<string, string>();
  /** port -> instance, for the ports attached to running instances (cards of their own). */
  readonly #attachedPorts = new Map<string, string>();
  /** The rules in force per plugged instance, to skip rewriting unchanged chains. */
  readonly #applied = new Map<string, string>();
  /** What is in force on each plugged project network port (its rule set, as JSON). */
  readonly #appliedPorts = new Map<string, string>();
  /** Drawn at construction: the network service resends everything when it changes. */
  readonly #bootId = randomUUID();

  constructor(options: NetworkAgentOptions) {
    this.#o = options;
    const ctx = () => systemContext();
    this.dataPlane = new HostDataPlane({
      namespace: options.namespace ?? `stratus-${options.host}`.slice(0, 64),
      bridge: options.bridge ?? 'br100',
      network: options.network,
      leaseSeconds: options.leaseSeconds,
      stateDir: options.stateDir,
      uplink: options.uplink,
      flatInterface: options.flatInterface,
      publicInterface: options.publicInterface,
      publicAddress: options.publicAddress,
      metadataSocket: options.metadataSocket,
      leases: {
        onEvent: (event) => options.service.recordLeaseEvent(ctx(), options.host, event),
        knownLeases: () => options.service.knownLeases(ctx(), options.host),
      },
      onError: (err) =>
        options.logger?.warn(
          { err },
          'a background data plane task failed (recording a lease event, announcing a floating IP)',
        ),
    });
    this.overlay = options.overlay
      ? new OverlayHost({
          ...options.overlay,
          host: options.host,
          leaseSeconds: options.leaseSeconds,
          onError: (err) =>
            options.logger?.warn({ err }, 'a background overlay task failed (a gratuitous ARP)'),
        })
      : undefined;
  }

  /**
   * The compute host's service with this agent joined to it: the agent's topics are served
   * with the host's, and its data plane starts first (VMs adopted at start-up keep their
   * taps, which it adopts too) and lets go last.
   */
  hostService(compute: Service): Service {
    return {
      ...compute,
      topics: [...compute.topics, ...this.topics()],
      // A fanout is not persistent: one sent while this host's bus was reconnecting (a broker
      // restart) never arrives. Re-reading the rule sets now and then makes up for it.
      periodicTasks: [
        ...(compute.periodicTasks ?? []),
        { name: 'security-rules-refresh', intervalMs: 30_000, run: () => this.#refresh() },
        ...(this.overlay
          ? [{ name: 'overlay-register', intervalMs: 10_000, run: () => this.#register() }]
          : []),
      ],
      start: async () => {
        await this.start();
        await compute.start?.();
      },
      stop: async () => {
        try {
          await compute.stop?.();
        } finally {
          await this.stop();
        }
      },
    };
  }

  /** Bus topics for the compute host's service: its own calls, and the agents' fanout. */
  topics(): Service['topics'] {
    const handler = dispatch<NetworkAgentProtocol>(networkHostTopic(this.#o.host), {
      securityGroupsChanged: (a) => this.securityGroupsChanged(a),
      associateFloatingIp: (a) => this.associateFloatingIp(a),
      disassociateFloatingIp: (a) => this.disassociateFloatingIp(a),
      ensureProjectNetwork: (a) => this.ensureProjectNetwork(a),
      removeProjectNetwork: (a) => this.removeProjectNetwork(a),
      ensureProjectRouter: (a) => this.ensureProjectRouter(a),
      removeProjectRouter: (a) => this.removeProjectRouter(a),
      setOverlayPeers: (a) => this.setOverlayPeers(a),
    });
    return [
      { topic: networkHostTopic(this.#o.host), handler },
      { topic: NETWORK_AGENT_FANOUT, handler, fanout: true },
    ];
  }

  async start(): Promise<void> {
    await this.dataPlane.start();
    await this.overlay?.start();
    // The network service may not answer yet; the periodic registration makes up for it.
    await this.#register().catch((err: unknown) =>
      this.#o.logger?.warn({ err }, 'registering the overlay with the network service failed'),
    );
  }

  /** Tells the network service this host carries an overlay (see NetworkServicePort). */
  async #register(): Promise<void> {
    const o = this.#o.overlay;
    if (!o || !this.#o.service.overlayHostUp) return;
    await this.#o.service.overlayHostUp(systemContext(), {
      host: this.#o.host,
      underlayIp: o.underlayAddress.split('/')[0] as string,
      networkHost: o.serveNetworks,
      publicAddress: o.serveNetworks ? (this.#o.publicAddress ?? null) : null,
      bootId: this.#bootId,
    });
  }

  /** Stops following the data plane; running guests keep their network (see `detach`). */
  stop(): Promise<void> {
    return this.dataPlane.detach();
  }

  /** Removes the host's data plane altogether (the host leaves the cloud). */
  async teardown(): Promise<void> {
    await this.overlay?.teardown();
    await this.dataPlane.teardown();
  }

  /**
   * Plugs an instance in with its security groups in force from the first packet; resolves
   * when dnsmasq will answer its DHCP. Other guests' group-to-group rules learn its address.
   * Called in-process by the compute manager on the same host.
   */
  async plugInstance(args: PlugArgs): Promise<PluggedPort> {
    const project = this.overlay
      ? await this.#o.service.projectPortOf?.(systemContext(), args.instanceId)
      : undefined;
    if (this.overlay && project) {
      // The port's groups are in force from its first frame, as on the flat network.
      const [set] =
        (await this.#o.service.rulesForPorts?.(systemContext(), [project.portId])) ?? [];
      const plugged = await this.overlay.plugPort({
        ...project,
        security: set?.security,
        ...(this.#o.portFor ? { port: this.#o.portFor(args) } : {}),
      });
      this.#projectPorts.set(args.instanceId, project.portId);
      this.#appliedPorts.set(project.portId, JSON.stringify(set?.security ?? null));
      return { namespace: plugged.namespace, bridge: plugged.bridge, ifname: plugged.ifname };
    }
    const [set] = await this.#o.service.rulesForInstances(systemContext(), [args.instanceId]);
    const rules = set?.ingress ?? [];
    const egress = set?.egress ?? [];
    const { ifname } = await this.dataPlane.plugGuest({
      ...args,
      rules,
      egress,
      metadataHops: set?.metadataHopLimit,
      ...(this.#o.portFor ? { port: this.#o.portFor(args) } : {}),
    });
    this.#applied.set(args.instanceId, key(rules, egress, set?.metadataHopLimit));
    await this.#refresh();
    return { namespace: this.dataPlane.namespace, bridge: this.dataPlane.bridge, ifname };
  }

  /** Unplugs an instance (its VM is gone): dnsmasq drops its lease. No-op when not plugged. */
  async unplugInstance(args: { instanceId: string }): Promise<void> {
    // After a restart of the agent, the service still knows the instance's project port.
    const portId =
      this.#projectPorts.get(args.instanceId) ??
      (this.overlay
        ? (await this.#o.service.projectPortOf?.(systemContext(), args.instanceId))?.portId
        : undefined);
    if (portId !== undefined) {
      await this.overlay?.unplugPort(portId);
      this.#projectPorts.delete(args.instanceId);
      this.#appliedPorts.delete(portId);
      return;
    }
    await this.dataPlane.unplugGuest(args.instanceId, { releaseLease: true });
    this.#applied.delete(args.instanceId);
    await this.#refresh();
  }

  /**
   * Plugs a port attached to a running instance on its project network: a tap of its own on
   * the network's bridge, with its security groups in force from the first frame.
   */
  async plugPort(args: PortPlugArgs): Promise<PluggedPort> {
    const overlay = this.#overlay();
    const [set] = (await this.#o.service.rulesForPorts?.(systemContext(), [args.portId])) ?? [];
    const plugged = await overlay.plugPort({
      networkId: args.networkId,
      portId: args.portId,
      mac: args.mac,
      fixedIp: args.fixedIp,
      security: set?.security,
      ...(this.#o.portFor
        ? {
            port: this.#o.portFor({
              instanceId: args.instanceId,
              mac: args.mac,
              fixedIp: args.fixedIp,
              hostname: '',
            }),
          }
        : {}),
    });
    this.#attachedPorts.set(args.portId, args.instanceId);
    this.#appliedPorts.set(args.portId, JSON.stringify(set?.security ?? null));
    return { namespace: plugged.namespace, bridge: plugged.bridge, ifname: plugged.ifname };
  }

  /** Unplugs a port attached to a running instance; no-op when it is not plugged. */
  async unplugPort(args: { portId: string }): Promise<void> {
    await this.overlay?.unplugPort(args.portId);
    this.#attachedPorts.delete(args.portId);
    this.#appliedPorts.delete(args.portId);
  }

  /**
   * Re-reads the rule sets (and metadata hop limits) of the plugged instances and rewrites the
   * chains that changed.
   */
  async securityGroupsChanged(_args: { groupIds: string[] }): Promise<null> {
    await this.#refresh();
    return null;
  }

  async associateFloatingIp(args: { floating: string; fixed: string }): Promise<null> {
    await this.dataPlane.associate(args.floating, args.fixed);
    return null;
  }

  async disassociateFloatingIp(args: { floating: string }): Promise<null> {
    await this.dataPlane.disassociate(args.floating);
    return null;
  }

  /** Makes project network `spec` present on this host (see OverlayHost.ensureNetwork). */
  async ensureProjectNetwork(args: { spec: ProjectNetworkSpec }): Promise<null> {
    await this.#overlay().ensureNetwork(args.spec);
    return null;
  }

  async removeProjectNetwork(args: { networkId: string }): Promise<null> {
    await this.#overlay().removeNetwork(args.networkId);
    return null;
  }

  /** Makes router `spec` present on this (network) host (see OverlayHost.ensureRouter). */
  async ensureProjectRouter(args: { spec: RouterSpec }): Promise<null> {
    await this.#overlay().ensureRouter(args.spec);
    return null;
  }

  async removeProjectRouter(args: { routerId: string }): Promise<null> {
    await this.#overlay().removeRouter(args.routerId);
    return null;
  }

  async setOverlayPeers(args: { peers: OverlayPeer[] }): Promise<null> {
    await this.#overlay().setPeers(args.peers);
    return null;
  }

  #overlay(): OverlayHost {
    if (!this.overlay) {
      throw new StratusError(
        'invalid',
        `Host ${this.#o.host} carries no project networks (its overlay is not configured).`,
        { resource: 'host', id: this.#o.host },
      );
    }
    return this.overlay;
  }

  async #refresh(): Promise<void> {
    await this.#refreshPorts();
    const ids = this.dataPlane.guests();
    if (ids.length === 0) return;
    const sets = await this.#o.service.rulesForInstances(systemContext(), ids);
    for (const set of sets) {
      const k = key(set.ingress, set.egress, set.metadataHopLimit);
      if (this.#applied.get(set.instanceId) === k) continue;
      await this.dataPlane.setSecurityRules(
        set.instanceId,
        set.ingress,
        set.metadataHopLimit,
        set.egress,
      );
      this.#applied.set(set.instanceId, k);
    }
  }

  /** The same for the plugged project network ports, on the overlay. */
  async #refreshPorts(): Promise<void> {
    const portIds = [...this.#projectPorts.values(), ...this.#attachedPorts.keys()];
    if (!this.overlay || portIds.length === 0 || !this.#o.service.rulesForPorts) return;
    const sets = await this.#o.service.rulesForPorts(systemContext(), portIds);
    for (const set of sets) {
      const k = JSON.stringify(set.security ?? null);
      if (this.#appliedPorts.get(set.portId) === k) continue;
      await this.overlay.setPortSecurity(set.portId, set.security);
      this.#appliedPorts.set(set.portId, k);
    }
  }
}

function key(
  ingress: readonly EffectiveRule[],
  egress: readonly EffectiveRule[],
  metadataHops: number | undefined,
): string {
  const rules = (list: readonly EffectiveRule[]) =>
    list.map((r) => [r.protocol, r.fromPort, r.toPort, [...r.sources].sort()]).sort();
  return JSON.stringify([metadataHops ?? null, rules(ingress), rules(egress)]);
}

/** What the network service (or anyone) calls on the agents. */
export class NetworkAgentClient {
  constructor(private readonly bus: Bus) {}

  /** Fanout: every agent re-reads its guests' rule sets (after authorize/revoke). */
  securityGroupsChanged(ctx: RequestContext, groupIds: readonly string[]): Promise<void> {
    return this.bus.fanout(ctx, NETWORK_AGENT_FANOUT, 'securityGroupsChanged', {
      groupIds: [...groupIds],
    });
  }

  /** Call: makes `fixed` on `host` reachable at `floating`. */
  async associateFloatingIp(
    ctx: RequestContext,
    host: string,
    floating: string,
    fixed: string,
  ): Promise<void> {
    await this.bus.call(ctx, networkHostTopic(host), 'associateFloatingIp', { floating, fixed });
  }

  /** Call: makes project network `spec` present on `host` (idempotent). */
  async ensureProjectNetwork(
    ctx: RequestContext,
    host: string,
    spec: ProjectNetworkSpec,
  ): Promise<void> {
    await this.bus.call(ctx, networkHostTopic(host), 'ensureProjectNetwork', { spec });
  }

  /** Call: removes a project network from `host`; succeeds when it is not there. */
  async removeProjectNetwork(ctx: RequestContext, host: string, networkId: string): Promise<void> {
    await this.bus.call(ctx, networkHostTopic(host), 'removeProjectNetwork', { networkId });
  }

  /** Call: makes router `spec` present on the network host `host` (idempotent). */
  async ensureProjectRouter(ctx: RequestContext, host: string, spec: RouterSpec): Promise<void> {
    await this.bus.call(ctx, networkHostTopic(host), 'ensureProjectRouter', { spec });
  }

  /** Call: removes a router from `host`; succeeds when it is not there. */
  async removeProjectRouter(ctx: RequestContext, host: string, routerId: string): Promise<void> {
    await this.bus.call(ctx, networkHostTopic(host), 'removeProjectRouter', { routerId });
  }

  /** Call: the overlay peers of `host` (every host's underlay address; its own is skipped). */
  async setOverlayPeers(ctx: RequestContext, host: string, peers: OverlayPeer[]): Promise<void> {
    await this.bus.call(ctx, networkHostTopic(host), 'setOverlayPeers', { peers });
  }

  /** Call: removes `floating`'s NAT from `host`; succeeds when it is not associated there. */
  async disassociateFloatingIp(ctx: RequestContext, host: string, floating: string): Promise<void> {
    await this.bus.call(ctx, networkHostTopic(host), 'disassociateFloatingIp', { floating });
  }
}
