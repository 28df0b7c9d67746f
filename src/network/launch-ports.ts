// The project network ports of a launch, for both APIs (Compute's `networks` at server create,
// EC2's RunInstances into a VPC subnet): every port is made or checked before anything runs,
// so a taken address, a port in use or a bad network refuses the launch with nothing made;
// once the instances exist each gets its ports (device `compute:<zone>`), the ones left over
// are deleted. When an instance goes, the ports made for it go too and the ports it was given
// are unbound and stay.
import type { RequestContext } from '../context.js';
import { invalid, StratusError } from '../errors.js';
import type { ProjectNetworkService } from './project-networks.js';

/** One network interface each instance of a launch asks for. */
export type LaunchNic =
  | {
      /** A project network: a new port on it (on `subnetId`, with `fixedIp`, if given). */
      networkId: string;
      subnetId?: string | undefined;
      fixedIp?: string | undefined;
    }
  | {
      /** An existing port of the caller's, free (no device): it becomes the instance's. */
      portId: string;
    };

export interface LaunchPorts {
  /**
   * Gives the next instance of the launch (in launch order) its ports, once it has a host and
   * before the host is told to build it, bound to `host` (the host plugs them there); without
   * `host` they stay unbound.
   */
  prepare(instance: {
    id: string;
    availabilityZone: string | null;
    host?: string | null | undefined;
  }): Promise<void>;
  /**
   * Gives each instance (in launch order) that `prepare` has not seen its ports; ports made for
   * instances the launch did not make are deleted. The zone is the instance's, or the cloud's when it has none yet.
   */
  bind(instances: readonly { id: string; availabilityZone: string | null }[]): Promise<void>;
  /** Deletes the ports made for a launch that failed; ports passed in are left as they were. */
  undo(): Promise<void>;
}

/**
 * Makes (or checks) the ports of a launch of up to `count` instances, each with `nics`.
 * A port or a fixed IP can go to one instance only: with `count` > 1 they are refused
 * (`invalid`). A port in use is a `conflict` (`in_use`); an invisible one is not found.
 */
export async function prepareLaunchPorts(
  networks: ProjectNetworkService,
  ctx: RequestContext,
  spec: { nics: readonly LaunchNic[]; count: number; securityGroups?: string[] | undefined },
): Promise<LaunchPorts> {
  const { nics, count } = spec;
  if (count > 1 && nics.some((n) => 'portId' in n || n.fixedIp !== undefined)) {
    throw invalid(
      'A port or a fixed IP can be given to one instance only: launch one instance (count 1) with it.',
      { resource: 'parameter', reason: 'combination' },
    );
  }
  const given = nics.flatMap((n) => ('portId' in n ? [n.portId] : []));
  if (new Set(given).size !== given.length) {
    throw invalid('The same port is given more than once.', {
      resource: 'port',
      reason: 'combination',
    });
  }
  for (const id of given) {
    const port = await networks.getPort(ctx, id);
    if (port.deviceId !== '') {
      throw new StratusError('conflict', `Port ${id} is still in use by ${port.deviceId}.`, {
        resource: 'port',
        id,
        reason: 'in_use',
      });
    }
  }
  const made: string[] = [];
  const undo = async () => {
    for (const id of made) await networks.deletePort(ctx, id).catch(() => undefined);
  };
  const perInstance: string[][] = [];
  try {
    for (let i = 0; i < count; i++) {
      const ids: string[] = [];
      for (const nic of nics) {
        if ('portId' in nic) {
          ids.push(nic.portId);
          continue;
        }
        const port = await networks.createPort(ctx, {
          networkId: nic.networkId,
          ...(nic.subnetId !== undefined || nic.fixedIp !== undefined
            ? { fixedIps: [{ subnetId: nic.subnetId, ipAddress: nic.fixedIp }] }
            : {}),
          ...(spec.securityGroups !== undefined ? { securityGroups: spec.securityGroups } : {}),
          deleteOnTermination: true,
        });
        made.push(port.id);
        ids.push(port.id);
      }
      perInstance.push(ids);
    }
  } catch (err) {
    await undo();
    throw err;
  }
  let prepared = 0;
  const give = async (
    ids: readonly string[],
    inst: { id: string; availabilityZone: string | null; host?: string | null | undefined },
  ) => {
    for (const id of ids) {
      await networks.updatePort(ctx, id, {
        deviceOwner: `compute:${inst.availabilityZone || networks.zone}`,
        deviceId: inst.id,
        ...(inst.host !== undefined ? { bindingHost: inst.host } : {}),
      });
    }
  };
  return {
    async prepare(inst) {
      const ids = perInstance[prepared++];
      if (ids) await give(ids, inst);
    },
    async bind(instances) {
      for (const [i, ids] of perInstance.entries()) {
        if (i < prepared) continue;
        const inst = instances[i];
        for (const id of ids) {
          if (inst) {
            await give([id], inst);
          } else if (made.includes(id)) {
            await networks.deletePort(ctx, id).catch(() => undefined);
          }
        }
      }
    },
    undo,
  };
}

/**
 * After instances are gone: deletes the ports made for them and unbinds (device cleared) the
 * ports they were given. Ports already gone are no error.
 */
export async function releaseInstancePorts(
  networks: ProjectNetworkService,
  ctx: RequestContext,
  instanceIds: readonly string[],
): Promise<void> {
  if (instanceIds.length === 0) return;
  const wanted = new Set(instanceIds);
  const provider = new Set(
    (await networks.listNetworks(ctx)).filter((n) => n.origin !== 'project').map((n) => n.id),
  );
  for (const port of await networks.listPorts(ctx)) {
    if (!wanted.has(port.deviceId) || provider.has(port.networkId)) continue;
    if (!port.deviceOwner.startsWith('compute:')) continue;
    if (port.deleteOnTermination) {
      await networks.deletePort(ctx, port.id).catch(() => undefined);
    } else {
      await networks
        .updatePort(ctx, port.id, { deviceOwner: '', deviceId: '', bindingHost: null })
        .catch(() => undefined);
    }
  }
}
