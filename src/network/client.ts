// The network service's bus protocol and its typed client.
import type { Bus } from '../bus/index.js';
import type { RequestContext } from '../context.js';
import type { FloatingIpDomain, FloatingIpRow, SecurityGroupRow } from '../db/index.js';
import type { ServiceStatus } from '../service/index.js';
import type { AssociationRef, FloatingIpRef, InstanceRef } from './floating-ips.js';
import type { GuestNetworkSpec, KnownLease, LeaseEvent } from './dataplane/index.js';
import type {
  GroupRef,
  InstanceRuleSet,
  PermissionSpec,
  PortRuleSet,
  RuleChange,
  RuleRef,
} from './security-groups.js';

export const NETWORK_TOPIC = 'network';

/** An instance's port on a project network (overlay), as its host plugs it. */
export interface OverlayPort {
  networkId: string;
  portId: string;
  mac: string;
  fixedIp: string;
}

/** A port attached to a running instance, as its host plugs it: on the overlay or not. */
export interface InterfacePort extends OverlayPort {
  /** On a project network this host carries on its overlay (else the host has no tap for it). */
  overlay: boolean;
}

/** What a host with an overlay tells the network service about itself. */
export interface OverlayHostRegistration {
  host: string;
  /** Its underlay address, without the prefix. */
  underlayIp: string;
  /** Whether it is the network host (DHCP, metadata and routers of project networks). */
  networkHost: boolean;
  /** The network host's address on the public segment, `A.B.C.D/N`; null elsewhere. */
  publicAddress: string | null;
  /** Drawn when the agent started: a new one means its host has to be sent everything again. */
  bootId: string;
}

/** What a guest needs to know about its place on the network. */
export interface GuestNetwork {
  networkId: string;
  networkName: string;
  address: string;
  macAddress: string;
  cidr: string;
  gateway: string;
  dns: string;
}

export type NetworkProtocol = {
  status: { args: Record<string, never>; result: ServiceStatus };
  allocateForInstance: { args: { instanceId: string; host: string }; result: GuestNetwork };
  deallocateForInstance: { args: { instanceId: string; host: string | null }; result: null };
  allocateFloatingIp: { args: { domain: FloatingIpDomain }; result: FloatingIpRow };
  associateFloatingIp: {
    args: {
      ref: FloatingIpRef;
      instance: InstanceRef;
      allowReassociation: boolean | null;
      fixedAddress: string | null;
    };
    result: FloatingIpRow;
  };
  disassociateFloatingIp: { args: { ref: AssociationRef }; result: FloatingIpRow };
  releaseFloatingIp: { args: { ref: FloatingIpRef }; result: null };
  recordLeaseEvent: { args: { host: string; event: LeaseEvent }; result: null };
  knownLeases: { args: { host: string }; result: KnownLease[] };
  hostNetwork: { args: { host: string }; result: GuestNetworkSpec & { networkId: string } };
  rulesForInstances: { args: { instanceIds: string[] }; result: InstanceRuleSet[] };
  rulesForPorts: { args: { portIds: string[] }; result: PortRuleSet[] };
  metadataOptionsChanged: { args: { instanceId: string }; result: null };
  projectPortOf: { args: { instanceId: string }; result: OverlayPort | null };
  bindInterface: { args: { portId: string; host: string | null }; result: InterfacePort };
  overlayCarries: { args: { host: string; subnetId: string }; result: boolean };
  overlayHostUp: { args: OverlayHostRegistration; result: null };
  ensureDefaultSecurityGroup: { args: Record<string, never>; result: SecurityGroupRow };
  setInstanceSecurityGroups: { args: { instanceId: string; refs: GroupRef[] }; result: string[] };
  createSecurityGroup: {
    args: {
      name: string;
      description: string;
      tags: { key: string; value: string }[];
      vpcId?: string | null;
    };
    result: SecurityGroupRow;
  };
  updateSecurityGroup: {
    args: { ref: GroupRef; name: string; description: string };
    result: SecurityGroupRow;
  };
  deleteSecurityGroup: { args: { ref: GroupRef }; result: SecurityGroupRow };
  authorizeSecurityGroupIngress: {
    args: { ref: GroupRef; permissions: PermissionSpec[] };
    result: RuleChange;
  };
  revokeSecurityGroupIngress: {
    args: { ref: GroupRef; permissions: PermissionSpec[]; ruleRefs: RuleRef[] };
    result: RuleChange;
  };
  authorizeSecurityGroupEgress: {
    args: { ref: GroupRef; permissions: PermissionSpec[] };
    result: RuleChange;
  };
  revokeSecurityGroupEgress: {
    args: { ref: GroupRef; permissions: PermissionSpec[]; ruleRefs: RuleRef[] };
    result: RuleChange;
  };
};

export class NetworkClient {
  constructor(private readonly bus: Bus) {}

  status(ctx: RequestContext): Promise<ServiceStatus> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'status', {});
  }

  /** Call: gives the instance a fixed address on the default network (the same one again if it has one). */
  allocateForInstance(
    ctx: RequestContext,
    instanceId: string,
    host: string,
  ): Promise<GuestNetwork> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'allocateForInstance', { instanceId, host });
  }

  /**
   * Call: binds a port attached to a running instance to `host` (null: unbinds it), and
   * brings that host and the network host to it on the overlay; what the host plugs.
   */
  bindInterface(ctx: RequestContext, portId: string, host: string | null): Promise<InterfacePort> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'bindInterface', { portId, host });
  }

  /** Call: takes back the instance's fixed addresses and detaches its Elastic IPs. */
  async deallocateForInstance(
    ctx: RequestContext,
    instanceId: string,
    host: string | null,
  ): Promise<void> {
    await this.bus.call(ctx, NETWORK_TOPIC, 'deallocateForInstance', { instanceId, host });
  }

  /**
   * Call: puts an instance in exactly these groups of its project (by id or leading
   * characters of it); every host's firewall follows. Returns the groups' ids.
   */
  setInstanceSecurityGroups(
    ctx: RequestContext,
    instanceId: string,
    groupRefs: readonly string[],
  ): Promise<string[]> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'setInstanceSecurityGroups', {
      instanceId,
      refs: groupRefs.map((idPrefix) => ({ idPrefix })),
    });
  }

  /** Call: allocates the lowest free floating address to the caller's project, within its quota. */
  allocateFloatingIp(ctx: RequestContext, domain: FloatingIpDomain): Promise<FloatingIpRow> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'allocateFloatingIp', { domain });
  }

  /**
   * Call: associates a floating address with a running or stopped instance of its project
   * (see `FloatingIpService.associate`), onto `fixedAddress` if given (it must be the
   * instance's); returns the address with its new association.
   */
  associateFloatingIp(
    ctx: RequestContext,
    ref: FloatingIpRef,
    instance: InstanceRef,
    options: { allowReassociation: boolean | null; fixedAddress: string | null },
  ): Promise<FloatingIpRow> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'associateFloatingIp', {
      ref,
      instance,
      ...options,
    });
  }

  /** Call: ends an association; by address, one that is not associated is left as it is. */
  disassociateFloatingIp(ctx: RequestContext, ref: AssociationRef): Promise<FloatingIpRow> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'disassociateFloatingIp', { ref });
  }

  /** Call: gives a floating address back to the pool (refused for an associated 'vpc' one). */
  async releaseFloatingIp(ctx: RequestContext, ref: FloatingIpRef): Promise<void> {
    await this.bus.call(ctx, NETWORK_TOPIC, 'releaseFloatingIp', { ref });
  }
  /**
   * Call: records a dnsmasq lease event from a host's data plane (add, old, del). The agent
   * waits for it, so dnsmasq's script queue never runs ahead of the bookkeeping.
   */
  async recordLeaseEvent(ctx: RequestContext, host: string, event: LeaseEvent): Promise<void> {
    await this.bus.call(ctx, NETWORK_TOPIC, 'recordLeaseEvent', { host, event });
  }

  /** Call: the live leases of the host's network, for a (re)starting dnsmasq. */
  knownLeases(ctx: RequestContext, host: string): Promise<KnownLease[]> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'knownLeases', { host });
  }

  /** Call: the network a host's data plane serves (CIDR, gateway, DHCP range, DNS). */
  hostNetwork(
    ctx: RequestContext,
    host: string,
  ): Promise<GuestNetworkSpec & { networkId: string }> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'hostNetwork', { host });
  }

  /** Call: the security-group rule sets a host's data plane enforces for these instances. */
  rulesForInstances(
    ctx: RequestContext,
    instanceIds: readonly string[],
  ): Promise<InstanceRuleSet[]> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'rulesForInstances', {
      instanceIds: [...instanceIds],
    });
  }

  /**
   * Call: the security groups of these project network ports as the overlay data plane
   * enforces them (OverlayHost.setPortSecurity); unknown ports are left out.
   */
  rulesForPorts(ctx: RequestContext, portIds: readonly string[]): Promise<PortRuleSet[]> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'rulesForPorts', { portIds: [...portIds] });
  }

  /**
   * Call: an instance's metadata options changed (its hop limit): every host's agent re-reads
   * its guests' settings, so the host of the instance sets the TTL of its metadata replies.
   */
  async metadataOptionsChanged(ctx: RequestContext, instanceId: string): Promise<void> {
    await this.bus.call(ctx, NETWORK_TOPIC, 'metadataOptionsChanged', { instanceId });
  }

  /** Call: the caller's project's `default` group, created if it has none yet. */
  ensureDefaultSecurityGroup(ctx: RequestContext): Promise<SecurityGroupRow> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'ensureDefaultSecurityGroup', {});
  }

  /**
   * Call: creates a security group (no rules) in the caller's project, with these tags, within
   * its quota; `already_exists` for a name the project uses (see SecurityGroupService.create).
   */
  createSecurityGroup(
    ctx: RequestContext,
    args: {
      name: string;
      description: string;
      tags?: readonly { key: string; value: string }[];
      /** The network of one of the caller's VPCs, checked by the caller; absent: the default. */
      vpcId?: string | null;
    },
  ): Promise<SecurityGroupRow> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'createSecurityGroup', {
      name: args.name,
      description: args.description,
      tags: [...(args.tags ?? [])],
      ...(args.vpcId ? { vpcId: args.vpcId } : {}),
    });
  }

  /**
   * Call: renames one of the caller's groups and sets its description (`default` keeps its
   * name; a name the project uses is `already_exists`).
   */
  updateSecurityGroup(
    ctx: RequestContext,
    ref: GroupRef,
    args: { name: string; description: string },
  ): Promise<SecurityGroupRow> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'updateSecurityGroup', { ref, ...args });
  }

  /** Call: deletes one of the caller's groups unless it is `default` or still in use. */
  deleteSecurityGroup(ctx: RequestContext, ref: GroupRef): Promise<SecurityGroupRow> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'deleteSecurityGroup', { ref });
  }

  /**
   * Call: adds ingress rules to one of the caller's groups, all or none. Every host's data
   * plane has the change when this returns (the network service fans it out).
   */
  authorizeSecurityGroupIngress(
    ctx: RequestContext,
    ref: GroupRef,
    permissions: readonly PermissionSpec[],
  ): Promise<RuleChange> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'authorizeSecurityGroupIngress', {
      ref,
      permissions: [...permissions],
    });
  }

  /**
   * Call: removes ingress rules (as permissions or by rule id) from one of the caller's groups,
   * all or none; a rule the group does not have is `not_found`. Fanned out as authorize is.
   */
  revokeSecurityGroupIngress(
    ctx: RequestContext,
    ref: GroupRef,
    what: { permissions?: readonly PermissionSpec[]; ruleRefs?: readonly RuleRef[] },
  ): Promise<RuleChange> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'revokeSecurityGroupIngress', {
      ref,
      permissions: [...(what.permissions ?? [])],
      ruleRefs: [...(what.ruleRefs ?? [])],
    });
  }

  /**
   * Call: adds egress rules (where the group's members may send to) to one of the caller's
   * groups, all or none; fanned out to every host's data plane as ingress rules are.
   */
  authorizeSecurityGroupEgress(
    ctx: RequestContext,
    ref: GroupRef,
    permissions: readonly PermissionSpec[],
  ): Promise<RuleChange> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'authorizeSecurityGroupEgress', {
      ref,
      permissions: [...permissions],
    });
  }

  /**
   * Call: removes egress rules (as permissions or by rule id) from one of the caller's groups,
   * all or none; a rule the group does not have is `not_found`. Removing the allow-all egress
   * rule closes the group's egress.
   */
  revokeSecurityGroupEgress(
    ctx: RequestContext,
    ref: GroupRef,
    what: { permissions?: readonly PermissionSpec[]; ruleRefs?: readonly RuleRef[] },
  ): Promise<RuleChange> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'revokeSecurityGroupEgress', {
      ref,
      permissions: [...(what.permissions ?? [])],
      ruleRefs: [...(what.ruleRefs ?? [])],
    });
  }

  /**
   * Call: the instance's port when it is on a project network carried on the overlay; null:
   * the instance is on the flat network.
   */
  async projectPortOf(ctx: RequestContext, instanceId: string): Promise<OverlayPort | undefined> {
    return (await this.bus.call(ctx, NETWORK_TOPIC, 'projectPortOf', { instanceId })) ?? undefined;
  }

  /**
   * Call: whether a port on this project subnet, bound to `host`, is plugged into the overlay
   * there (the host carries an overlay and the subnet is carried on it); false: an instance
   * of that host is on the flat network.
   */
  async overlayCarries(ctx: RequestContext, host: string, subnetId: string): Promise<boolean> {
    return this.bus.call(ctx, NETWORK_TOPIC, 'overlayCarries', { host, subnetId });
  }

  /**
   * Call: a host's agent says it carries an overlay (at its start and now and then after);
   * the network service brings the host's project networks, routers and peers to the model.
   */
  async overlayHostUp(ctx: RequestContext, registration: OverlayHostRegistration): Promise<void> {
    await this.bus.call(ctx, NETWORK_TOPIC, 'overlayHostUp', registration);
  }
}
