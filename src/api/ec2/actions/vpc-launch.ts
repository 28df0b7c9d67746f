// Where RunInstances puts each instance in the VPC model. Its interfaces come from
// `NetworkInterface.N` (DeviceIndex with SubnetId, or an existing NetworkInterfaceId), or from
// `SubnetId`/`PrivateIpAddress`/`SecurityGroupId.N`, or else the default subnet of its zone in
// the project's default VPC (made on first use). Ports in named subnets are made before the
// launch, so a taken address or a bad subnet refuses it before anything runs; each instance
// takes its ports as it is handed to its host, with a public address from the floating pool
// when its primary interface asks for one (AssociatePublicIpAddress, or the named subnet's
// MapPublicIpOnLaunch). The network service maps that address onto the instance as its build
// gives it its fixed address; TerminateInstances gives it back.
import type { RequestContext } from '../../../context.js';
import type { InstanceRow } from '../../../db/index.js';
import { invalid, StratusError } from '../../../errors.js';
import {
  cidrContains,
  parseCidr,
  parseIpv4,
  type NetworkInterface,
  type VpcSubnet,
} from '../../../network/index.js';
import { invalidValue, missingParameter, type Params } from '../params.js';
import { allocationEc2Id } from './addresses.js';
import type { Ec2Deps } from './deps.js';
import { findInterface, groupIds } from './network-interfaces.js';
import { findSubnet } from './vpc-common.js';
import { defaultVpc } from './vpcs.js';

export interface VpcLaunch {
  /** The zone of the named subnets or interfaces; undefined: the scheduler's choice. */
  zone: string | undefined;
  /**
   * The groups of the instance itself when its primary interface is in a named subnet: those
   * of that interface, resolved in the subnet's VPC (its `default` group when none is named).
   */
  instanceGroups: string[] | undefined;
  /** Gives an instance (in launch order) its interfaces as it is handed to its host. */
  prepare(instance: InstanceRow): Promise<() => Promise<void>>;
  /** Deletes the ports made for instances the launch did not make. */
  finish(launched: number): Promise<void>;
  /** Deletes the ports made for a launch that failed. */
  undo(): Promise<void>;
}

/** One `NetworkInterface.N`, or the instance-level parameters as device 0. */
interface InterfaceSpec {
  /** As the client numbered it, for messages. */
  name: string;
  deviceIndex: number;
  subnetShown: string | undefined;
  eniShown: string | undefined;
  privateIp: string | undefined;
  groupsShown: string[];
  /** RunInstances' `SecurityGroup.N` (instance level only): names in the subnet's VPC. */
  groupNames: string[];
  publicIp: boolean | undefined;
  deleteOnTermination: boolean | undefined;
  description: string | undefined;
}

/** Where a spec's interfaces come from, once checked. */
type Source =
  | { kind: 'subnet'; subnet: VpcSubnet; made: NetworkInterface[] }
  | { kind: 'existing'; eni: NetworkInterface }
  | { kind: 'default' };

function combination(message: string): StratusError {
  return new StratusError('invalid', message, { resource: 'parameter', reason: 'combination' });
}

function specsOf(params: Params): InterfaceSpec[] {
  const given = params.structs('NetworkInterface');
  const instanceLevel = {
    subnet: params.string('SubnetId', { max: 64 }),
    privateIp: params.string('PrivateIpAddress', { max: 64 }),
    groups: params.list('SecurityGroupId'),
  };
  if (given.length === 0) {
    return [
      {
        name: 'instance',
        deviceIndex: 0,
        subnetShown: instanceLevel.subnet || undefined,
        eniShown: undefined,
        privateIp: instanceLevel.privateIp,
        groupsShown: instanceLevel.groups,
        groupNames: params.list('SecurityGroup'),
        publicIp: undefined,
        deleteOnTermination: undefined,
        description: undefined,
      },
    ];
  }
  // EC2: network interfaces and instance-level subnet, address or groups do not go together.
  if (instanceLevel.subnet || instanceLevel.privateIp !== undefined) {
    throw combination(
      'Network interfaces and an instance-level subnet ID or private IP address may not be specified on the same request.',
    );
  }
  if (instanceLevel.groups.length > 0 || params.list('SecurityGroup').length > 0) {
    throw combination(
      'Network interfaces and an instance-level security groups may not be specified on the same request.',
    );
  }
  return given.map((p, i) => {
    const name = `NetworkInterface.${i + 1}`;
    const deviceIndex = p.int('DeviceIndex', { min: 0, max: 31 });
    if (deviceIndex === undefined) throw missingParameter(`${name}.DeviceIndex`);
    return {
      name,
      deviceIndex,
      subnetShown: p.string('SubnetId', { max: 64 }) || undefined,
      eniShown: p.string('NetworkInterfaceId', { max: 64 }) || undefined,
      privateIp: p.string('PrivateIpAddress', { max: 64 }),
      groupsShown: p.list('SecurityGroupId'),
      groupNames: [],
      publicIp: p.bool('AssociatePublicIpAddress'),
      deleteOnTermination: p.bool('DeleteOnTermination'),
      description: p.string('Description', { max: 255 }),
    };
  });
}

/** EC2's checks of a launch's interfaces that need nothing looked up. */
function checkSpecs(specs: readonly InterfaceSpec[], count: number): void {
  const indexes = new Set<number>();
  for (const s of specs) {
    if (indexes.has(s.deviceIndex)) {
      throw invalidValue(
        `${s.name}.DeviceIndex`,
        String(s.deviceIndex),
        'Each network interface needs its own device index.',
      );
    }
    indexes.add(s.deviceIndex);
    if (
      s.eniShown &&
      (s.subnetShown ||
        s.privateIp !== undefined ||
        s.groupsShown.length > 0 ||
        s.publicIp !== undefined)
    ) {
      throw combination(
        `${s.name}: a network interface ID cannot be specified with a subnet, private IP address, security groups or AssociatePublicIpAddress.`,
      );
    }
    if ((s.eniShown || s.privateIp !== undefined) && count > 1) {
      throw combination(
        `${s.name}: an existing network interface or a private IP address may be given only when launching one instance (MaxCount=1).`,
      );
    }
    if (s.publicIp !== undefined && (s.deviceIndex !== 0 || specs.length > 1)) {
      throw combination(
        'The associatePublicIPAddress parameter can only be specified for the network interface with DeviceIndex 0, and not with multiple network interfaces.',
      );
    }
    if (s.deviceIndex !== 0 && !s.eniShown && !s.subnetShown) {
      throw missingParameter(`${s.name}.SubnetId`);
    }
  }
  if (!indexes.has(0)) {
    throw invalidValue(
      'NetworkInterface.N.DeviceIndex',
      [...indexes].join(','),
      'When network interfaces are given, one must be at device index 0.',
    );
  }
}

export async function prepareVpcLaunch(
  deps: Ec2Deps,
  ctx: RequestContext,
  params: Params,
  count: number,
  zone: string | undefined,
): Promise<VpcLaunch | undefined> {
  if (!ctx.projectId) return undefined;
  const specs = specsOf(params).sort((a, b) => a.deviceIndex - b.deviceIndex);
  checkSpecs(specs, count);

  // Look everything up before anything is made.
  const sources = new Map<InterfaceSpec, Source>();
  const groups = new Map<InterfaceSpec, string[] | undefined>();
  let launchZone = zone;
  const sameZone = (z: string, what: string) => {
    if (launchZone !== undefined && launchZone !== z) {
      throw combination(`${what} is in zone ${z}, not ${launchZone}.`);
    }
    launchZone = z;
  };
  for (const s of specs) {
    if (s.eniShown) {
      const eni = await findInterface(deps, ctx, s.eniShown);
      if (eni.port.deviceId !== '') {
        throw new StratusError('conflict', `Interface: [${s.eniShown}] in use.`, {
          resource: 'port',
          id: s.eniShown,
          reason: 'in_use',
        });
      }
      sameZone(eni.availabilityZone, `Network interface ${s.eniShown}`);
      sources.set(s, { kind: 'existing', eni });
    } else if (s.subnetShown) {
      const subnet = await findSubnet(deps, ctx, s.subnetShown);
      sameZone(subnet.availabilityZone, `Subnet ${s.subnetShown}`);
      sources.set(s, { kind: 'subnet', subnet, made: [] });
    }
    if (!s.eniShown) {
      // The named groups must be of the subnet's VPC: the default VPC's when none is named.
      const src = sources.get(s);
      const vpc =
        src?.kind === 'subnet'
          ? await deps.vpcs.getVpc(ctx, src.subnet.vpcId)
          : await defaultVpc(deps, ctx);
      const shown = s.subnetShown ?? 'of the default VPC';
      groups.set(s, await groupIds(deps, ctx, s.groupsShown, { vpc, shown }, s.groupNames));
    }
  }
  const primary = specs[0] as InterfaceSpec;
  if (!sources.has(primary)) {
    // The default VPC's subnet: the one holding the address asked for, or the zone's.
    const vpc = await defaultVpc(deps, ctx);
    const defaults = (await deps.vpcs.listSubnets(ctx)).filter(
      (s) => s.vpcId === vpc.id && s.defaultForAz,
    );
    let subnet: VpcSubnet | undefined;
    if (primary.privateIp !== undefined) {
      const ip = parseIpv4(primary.privateIp);
      subnet = defaults.find((s) => {
        const c = parseCidr(s.cidr, 0);
        return ip !== undefined && c !== undefined && cidrContains(c, ip);
      });
      if (!subnet) {
        throw invalidValue(
          'PrivateIpAddress',
          primary.privateIp,
          'It is in no default subnet of the default VPC; give a SubnetId.',
        );
      }
      sameZone(subnet.availabilityZone, `Private IP address ${primary.privateIp}`);
    } else if (launchZone !== undefined) {
      subnet = defaults.find((s) => s.availabilityZone === launchZone);
    }
    sources.set(primary, subnet ? { kind: 'subnet', subnet, made: [] } : { kind: 'default' });
    // A subnet only defaulted to maps no public address: only a named one's attribute counts.
    primary.publicIp ??= false;
  }
  const primarySource = sources.get(primary) as Source;
  const wantsPublicIp =
    primary.publicIp ?? (primarySource.kind === 'subnet' && primarySource.subnet.mapPublicIp);

  const made: NetworkInterface[] = [];
  const bound: NetworkInterface[] = [];
  const undo = async () => {
    for (const eni of made) {
      await deps.projectNetworks.deletePort(ctx, eni.port.id).catch(() => undefined);
    }
    for (const eni of bound) {
      await deps.projectNetworks
        .updatePort(ctx, eni.port.id, { deviceOwner: '', deviceId: '' })
        .catch(() => undefined);
    }
  };
  try {
    for (const s of specs) {
      const src = sources.get(s) as Source;
      if (src.kind !== 'subnet') continue;
      for (let i = 0; i < count; i++) {
        const eni = await deps.vpcs.createInterface(
          ctx,
          {
            subnetId: src.subnet.id,
            privateIp: s.privateIp,
            securityGroups: groups.get(s),
            description: s.description,
          },
          s.subnetShown,
        );
        made.push(eni);
        src.made.push(eni);
      }
    }
  } catch (err) {
    await undo();
    throw err;
  }

  // Interfaces are bound to the instance's host as it is handed to it, and the host plugs the
  // primary one into its network's overlay. The default VPC is on the wire only where the
  // overlay carries it (the host has one, and the zone's subnet is the network's first): there
  // its guests are like any VPC's. Elsewhere its guests are on the flat network, the provider
  // network that stands for the default VPC there, and get no interface: their address is
  // the flat network's, which DescribeInstances shows, and nothing shows a 172.31 address
  // they do not have.
  const defaults = new Set<string>();
  for (const src of sources.values()) {
    const vpcId =
      src.kind === 'subnet' ? src.subnet.vpcId : src.kind === 'existing' ? src.eni.vpcId : null;
    if (vpcId !== null && (await deps.vpcs.getVpc(ctx, vpcId)).isDefault) defaults.add(vpcId);
    if (src.kind === 'default') defaults.add((await defaultVpc(deps, ctx)).id);
  }
  const onWire = async (inst: InstanceRow, vpcId: string, subnetId: string) =>
    !defaults.has(vpcId) ||
    (inst.host !== null && (await deps.network.overlayCarries(ctx, inst.host, subnetId)));
  const flatDefault = (shown: string) =>
    invalid(
      `${shown}: the instance's host has the default VPC on its flat network, where a guest takes the flat network's address and no other interface; give a SubnetId of another VPC, or launch without it.`,
      { resource: 'parameter', reason: 'unsupported' },
    );

  let next = 0;
  return {
    zone: launchZone,
    instanceGroups:
      primarySource.kind === 'subnet' && primary.subnetShown ? groups.get(primary) : undefined,
    async prepare(inst) {
      const i = next++;
      const zoneOf = inst.availabilityZone ?? launchZone ?? deps.vpcs.defaultZone;
      const mine: { eni: NetworkInterface; made: boolean }[] = [];
      let allocationId: string | undefined;
      const undoOne = async () => {
        if (allocationId) {
          await deps.network
            .releaseFloatingIp(ctx, {
              allocationPrefix: allocationId,
              shown: allocationEc2Id(allocationId),
            })
            .catch(() => undefined);
          await deps.vpcs.interfaces.forgetLaunchAddress(allocationId).catch(() => undefined);
        }
        for (const m of mine) {
          if (m.made) {
            await deps.projectNetworks.deletePort(ctx, m.eni.port.id).catch(() => undefined);
          } else {
            await deps.projectNetworks
              .updatePort(ctx, m.eni.port.id, { deviceOwner: '', deviceId: '' })
              .catch(() => undefined);
          }
        }
      };
      // A default-VPC interface with no groups of its own takes the instance's groups.
      const instanceGroups = async () =>
        (await deps.instances.securityGroupsOf([inst.id])).get(inst.id);
      const binding = { id: inst.id, zone: zoneOf, host: inst.host };
      let flat = false;
      try {
        for (const s of specs) {
          const src = sources.get(s) as Source;
          let eni: NetworkInterface;
          if (src.kind === 'subnet') {
            eni = src.made[i] as NetworkInterface;
            if (!(await onWire(inst, eni.vpcId, eni.subnetId))) {
              // Its port is not the guest's: it goes, and the guest is on the flat network.
              await deps.projectNetworks.deletePort(ctx, eni.port.id).catch(() => undefined);
              if (s.privateIp !== undefined) throw flatDefault('PrivateIpAddress');
              flat = true;
              continue;
            }
            mine.push({ eni, made: true });
            await deps.vpcs.bindInterface(ctx, eni.port.id, binding);
            if (defaults.has(eni.vpcId) && groups.get(s) === undefined) {
              const own = await instanceGroups();
              if (own && own.length > 0) {
                await deps.projectNetworks.updatePort(ctx, eni.port.id, { securityGroups: own });
              }
            }
          } else if (src.kind === 'existing') {
            eni = src.eni;
            if (!(await onWire(inst, eni.vpcId, eni.subnetId))) {
              throw flatDefault(s.eniShown ?? s.name);
            }
            await deps.vpcs.bindInterface(ctx, eni.port.id, binding);
            bound.push(eni);
            mine.push({ eni, made: false });
          } else {
            const subnets = (await deps.vpcs.listSubnets(ctx)).filter((d) => d.defaultForAz);
            const subnet = subnets.find((d) => d.availabilityZone === zoneOf) ?? subnets[0];
            if (!subnet) continue;
            if (!(await onWire(inst, subnet.vpcId, subnet.id))) {
              flat = true;
              continue;
            }
            eni = await deps.vpcs.createInterface(ctx, {
              subnetId: subnet.id,
              securityGroups: groups.get(s) ?? (await instanceGroups()),
              description: s.description,
              instance: { id: inst.id, zone: subnet.availabilityZone, host: inst.host },
            });
            mine.push({ eni, made: true });
          }
          await deps.vpcs.interfaces.recordLaunchAttachment(
            eni.port.id,
            s.deviceIndex,
            s.deleteOnTermination ?? src.kind !== 'existing',
          );
        }
        if (flat && specs.length > 1) throw flatDefault('NetworkInterface');
        const first = mine[0];
        if (wantsPublicIp && (first || flat)) {
          const row = await deps.network.allocateFloatingIp(ctx, 'standard');
          allocationId = row.allocationId as string;
          // On the flat network the address maps onto the instance itself (no interface).
          await deps.vpcs.interfaces.recordLaunchAddress(
            allocationId,
            inst.id,
            first?.eni.port.id ?? '',
          );
        }
      } catch (err) {
        await undoOne();
        throw err;
      }
      return undoOne;
    },
    async finish(launched) {
      for (const src of sources.values()) {
        if (src.kind !== 'subnet') continue;
        for (const eni of src.made.slice(launched)) {
          await deps.projectNetworks.deletePort(ctx, eni.port.id).catch(() => undefined);
        }
      }
    },
    undo,
  };
}

/** Gives back the public addresses these instances got at launch (they are terminated). */
export async function releaseLaunchAddresses(
  deps: Ec2Deps,
  ctx: RequestContext,
  instanceIds: readonly string[],
): Promise<void> {
  for (const allocationId of (await deps.vpcs.interfaces.launchAddresses(instanceIds)).keys()) {
    // A 'standard' address is disassociated on release; one already gone is no error.
    await deps.network
      .releaseFloatingIp(ctx, {
        allocationPrefix: allocationId,
        shown: allocationEc2Id(allocationId),
      })
      .catch(() => undefined);
    await deps.vpcs.interfaces.forgetLaunchAddress(allocationId);
  }
}
