// Where RunInstances puts each instance in the VPC model: into `SubnetId`, or the default
// subnet of its zone in the project's default VPC (made on first use). A port per instance is
// made before the launch (with `PrivateIpAddress`, if given, and the groups of
// `SecurityGroupId.N`) by the network's launch ports, which the Compute API's `networks` uses
// too: a taken address or a bad subnet refuses the launch before anything runs; each port
// becomes its instance's, bound to its host, once the instance has one and before it is handed
// to it (so the host plugs it there), and unused ones go away.
import type { RequestContext } from '../../../context.js';
import { StratusError } from '../../../errors.js';
import {
  cidrContains,
  parseCidr,
  parseIpv4,
  prepareLaunchPorts,
  type VpcSubnet,
} from '../../../network/index.js';
import { invalidValue, type Params } from '../params.js';
import type { Ec2Deps } from './deps.js';
import { groupIds } from './network-interfaces.js';
import { findSubnet } from './vpc-common.js';
import { defaultVpc } from './vpcs.js';

export interface VpcLaunch {
  /** The zone of the subnet, the instances' zone; undefined: the scheduler's choice. */
  zone: string | undefined;
  /**
   * Gives an instance its port, bound to its host; called for each instance in launch order
   * once it has a host, before the host is told to build it.
   */
  prepare(instance: {
    id: string;
    availabilityZone: string | null;
    host: string | null;
  }): Promise<void>;
  /** After the launch: the ports no instance took are deleted. */
  bind(instances: readonly { id: string; availabilityZone: string | null }[]): Promise<void>;
  /** Deletes the ports made for a launch that failed. */
  undo(): Promise<void>;
}

export async function prepareVpcLaunch(
  deps: Ec2Deps,
  ctx: RequestContext,
  params: Params,
  count: number,
  zone: string | undefined,
): Promise<VpcLaunch | undefined> {
  if (!ctx.projectId) return undefined;
  const shownSubnet = params.string('SubnetId', { max: 64 });
  const privateIp = params.string('PrivateIpAddress', { max: 64 });
  if (privateIp !== undefined && count > 1) {
    throw new StratusError(
      'invalid',
      'PrivateIpAddress may be given only when launching one instance (MaxCount=1).',
      { resource: 'parameter', reason: 'combination' },
    );
  }
  let subnet: VpcSubnet | undefined;
  if (shownSubnet) {
    subnet = await findSubnet(deps, ctx, shownSubnet);
    if (zone !== undefined && zone !== subnet.availabilityZone) {
      throw new StratusError(
        'invalid',
        `Subnet ${shownSubnet} is in zone ${subnet.availabilityZone}, not ${zone}.`,
        { resource: 'parameter', reason: 'combination' },
      );
    }
  }
  // The named groups must be of the subnet's VPC: the default VPC's when no subnet is named.
  const vpc = subnet ? await deps.vpcs.getVpc(ctx, subnet.vpcId) : await defaultVpc(deps, ctx);
  const groups = await groupIds(deps, ctx, params.list('SecurityGroupId'), {
    vpc,
    shown: shownSubnet || 'of the default VPC',
  });
  let defaults: VpcSubnet[] = [];
  if (!subnet) {
    defaults = (await deps.vpcs.listSubnets(ctx)).filter(
      (s) => s.vpcId === vpc.id && s.defaultForAz,
    );
    const ip = privateIp === undefined ? undefined : parseIpv4(privateIp);
    if (privateIp !== undefined) {
      subnet = defaults.find((s) => {
        const c = parseCidr(s.cidr, 0);
        return ip !== undefined && c !== undefined && cidrContains(c, ip);
      });
      if (!subnet) {
        throw invalidValue(
          'PrivateIpAddress',
          privateIp,
          'It is in no default subnet of the default VPC; give a SubnetId.',
        );
      }
    } else if (zone !== undefined) {
      subnet = defaults.find((s) => s.availabilityZone === zone);
    }
    if (!subnet) {
      // The scheduler picks the zone: each instance gets a port in its zone's default subnet
      // once it has one.
      return {
        zone: undefined,
        async prepare(inst) {
          const s =
            defaults.find((d) => d.availabilityZone === inst.availabilityZone) ?? defaults[0];
          if (!s) return;
          await deps.vpcs.createInterface(ctx, {
            subnetId: s.id,
            securityGroups: groups,
            // The default VPC's instances are on the flat network: their ports are not plugged.
            instance: { id: inst.id, zone: s.availabilityZone },
          });
        },
        async bind() {},
        async undo() {},
      };
    }
  }
  const chosen: VpcSubnet = subnet;
  const ports = await prepareLaunchPorts(deps.projectNetworks, ctx, {
    nics: [{ networkId: chosen.vpcId, subnetId: chosen.id, fixedIp: privateIp }],
    count,
    securityGroups: groups,
  });
  const zoneOfSubnet = chosen.availabilityZone;
  // The default VPC's instances are on the flat network: their ports are not plugged.
  const flat = vpc.isDefault;
  return {
    zone: zoneOfSubnet,
    prepare: (inst) =>
      ports.prepare({
        id: inst.id,
        availabilityZone: zoneOfSubnet,
        ...(flat ? {} : { host: inst.host }),
      }),
    bind: (instances) =>
      ports.bind(instances.map((inst) => ({ id: inst.id, availabilityZone: zoneOfSubnet }))),
    undo: () => ports.undo(),
  };
}
