// Instance actions: RunInstances, DescribeInstances, DescribeInstanceStatus, Terminate/Stop/
// Start/RebootInstances, GetConsoleOutput, GetConsoleScreenshot, DescribeInstanceTypes, Describe/Modify/Reset-
// InstanceAttribute, GetPasswordData, Monitor/UnmonitorInstances.
import type {
  CheckResult,
  HealthCheck,
  HealthStatus,
  InstanceHealth,
  StateChange,
} from '../../../compute/index.js';
import type { RequestContext } from '../../../context.js';
import {
  applyLaunchTemplate,
  SHUTDOWN_BEHAVIORS,
  type AttributeChange,
  type LaunchData,
} from '../../../compute/index.js';
import type {
  InstanceKey,
  InstanceRow,
  VolumeRow,
  ShutdownBehavior,
  TaskState,
  VmState,
} from '../../../db/index.js';
import { invalid, StratusError } from '../../../errors.js';
import { checkTags as checkTagText } from '../../../text-rules.js';
import type { Ec2ActionTable } from '../action.js';
import { applyFilters } from '../filters.js';
import { instanceConditions } from './instance-query.js';
import { ec2Id, parseEc2Id, privateDnsName, publicDnsName } from '../../../ids/index.js';
import { missingParameter, type Params } from '../params.js';
import { ec2Time, type XmlObject } from '../xml.js';
import type { Ec2Deps } from './deps.js';
import { keyToken, pageOffset, pageToken, tokenKey } from '../paging.js';
import {
  launchTagSpecifications,
  launchTemplateOf,
  launchTemplateTags,
} from './launch-templates.js';
import { prepareVpcLaunch, releaseLaunchAddresses } from './vpc-launch.js';
import { bothSteps } from '../../launch-steps.js';
import { interfaceView } from './network-interfaces.js';
import { interfaceEc2Id, subnetEc2Id, vpcEc2Id } from './vpc-common.js';
import type { NetworkInterface } from '../../../network/index.js';
import { findPlacementGroup, placementGroupEc2Id } from './placement-groups.js';
import { makeLaunchVolumes } from '../../launch-volumes.js';
import { blockDeviceMappingView, launchVolumes, rootDeviceView } from './block-devices.js';
import { metadataOptionsParams, metadataOptionsView } from './metadata-options.js';

export interface Ec2State {
  code: number;
  name:
    | 'pending'
    | 'running'
    | 'shutting-down'
    | 'terminated'
    | 'stopping'
    | 'stopped'
    | 'pause'
    | 'suspend'
    | 'rescue'
    | 'resize';
}

/**
 * EC2's view of the internal vm_state + task_state. States EC2 lacks are shown as Nova's EC2
 * API showed them: by their own name, with the code of the nearest EC2 state (paused and
 * suspended as stopped, 80; rescued and resized as running, 16).
 */
export function ec2State(vmState: VmState, taskState: TaskState | null): Ec2State {
  if (vmState === 'deleted' || vmState === 'error') return { code: 48, name: 'terminated' };
  if (taskState === 'deleting') return { code: 32, name: 'shutting-down' };
  if (vmState === 'building') return { code: 0, name: 'pending' };
  if (vmState === 'paused') return { code: 80, name: 'pause' };
  if (vmState === 'suspended') return { code: 80, name: 'suspend' };
  if (vmState === 'rescued') return { code: 16, name: 'rescue' };
  if (vmState === 'resized') return { code: 16, name: 'resize' };
  if (vmState === 'stopped')
    return taskState === 'powering-on'
      ? { code: 0, name: 'pending' }
      : { code: 80, name: 'stopped' };
  return taskState === 'powering-off'
    ? { code: 64, name: 'stopping' }
    : { code: 16, name: 'running' };
}

/** DescribeInstanceStatus's words for the domain's health statuses and check results. */
const EC2_HEALTH: Readonly<Record<HealthStatus, string>> = {
  ok: 'ok',
  impaired: 'impaired',
  initializing: 'initializing',
  unknown: 'insufficient-data',
  not_applicable: 'not-applicable',
};
const EC2_CHECK: Readonly<Record<CheckResult, string>> = {
  passed: 'passed',
  failed: 'failed',
  initializing: 'initializing',
  unknown: 'insufficient-data',
};
const ec2Check = (r: CheckResult | undefined) => (r ? EC2_CHECK[r] : undefined);

/** An `InstanceStatusSummary`: the status, and the reachability check behind it. */
function ec2Summary(check: HealthCheck): XmlObject {
  const details = check.reachability
    ? [{ name: 'reachability', status: EC2_CHECK[check.reachability] }]
    : [];
  return { status: EC2_HEALTH[check.status], details };
}

/** Extras of no instance: for checking filter names before anything is read. */
const NO_EXTRAS: Extras = {
  groups: new Map(),
  tags: new Map(),
  publicIps: new Map(),
  imageKinds: new Map(),
  placement: new Map(),
  interfaces: new Map(),
  volumes: new Map(),
};

function mergeExtras(a: Extras, b: Extras): Extras {
  if (a === NO_EXTRAS) return b;
  return {
    groups: new Map([...a.groups, ...b.groups]),
    tags: new Map([...a.tags, ...b.tags]),
    publicIps: new Map([...a.publicIps, ...b.publicIps]),
    volumes: new Map([...a.volumes, ...b.volumes]),
    imageKinds: new Map([...a.imageKinds, ...b.imageKinds]),
    placement: new Map([...a.placement, ...b.placement]),
    interfaces: new Map([...a.interfaces, ...b.interfaces]),
  };
}

/** An instance's VPC, subnet and interfaces, when it has a VPC interface. */
function vpcView(
  enis: readonly NetworkInterface[] | undefined,
  groups: readonly { groupId: string; groupName: string }[],
  region: string,
  publicIp: string | undefined,
): XmlObject {
  const first = enis?.[0];
  if (!enis || !first) return {};
  return {
    vpcId: vpcEc2Id(first.vpcId),
    subnetId: subnetEc2Id(first.subnetId),
    sourceDestCheck: first.sourceDestCheck,
    // The instance's public address is shown on its primary interface.
    networkInterfaceSet: enis.map((e) =>
      interfaceView(
        e,
        groups,
        undefined,
        region,
        publicIp && e === first ? { publicIp, ipOwnerId: e.port.projectId } : undefined,
      ),
    ),
  };
}

/** Listing order (creation time, launch index, id): below 0 when `a` comes before `b`. */
function compareKeys(a: InstanceKey, b: InstanceKey): number {
  return (
    a.createdAt - b.createdAt ||
    a.launchIndex - b.launchIndex ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

const IMAGE_PREFIX = { machine: 'ami', kernel: 'aki', ramdisk: 'ari' } as const;
const MAX_PAGE = 1000;

/** An instance's placement group id on the wire, if it is in one. */
function placementOf(x: Extras, inst: InstanceRow): string | undefined {
  const g = x.placement.get(inst.id);
  return g ? placementGroupEc2Id(g.id) : undefined;
}

export function instanceEc2Id(id: string): string {
  return ec2Id('i', id);
}

/** Everything DescribeInstances shows beyond the instance row, fetched in a few batch queries. */
interface Extras {
  groups: Map<string, { groupId: string; groupName: string }[]>;
  tags: Map<string, { key: string; value: string }[]>;
  publicIps: Map<string, string>;
  imageKinds: Map<string, keyof typeof IMAGE_PREFIX>;
  /** The placement group (server group) of each instance in one. */
  placement: Map<string, { id: string; name: string }>;
  /** The VPC interfaces of each instance in a VPC. */
  interfaces: Map<string, NetworkInterface[]>;
  /** The volumes attached (or being attached) to each instance. */
  volumes: Map<string, VolumeRow[]>;
}

export function instanceActions(deps: Ec2Deps): Ec2ActionTable {
  const { instances: ops, images, addresses, securityGroups } = deps;

  const instanceRefs = (params: Params, name: string) =>
    params
      .list(name)
      .map((shown) => ({ ref: parseEc2Id(shown, ['i'], 'instance').uuidPrefix, shown }));

  const requiredInstances = async (ctx: RequestContext, params: Params): Promise<InstanceRow[]> => {
    const refs = instanceRefs(params, 'InstanceId');
    if (refs.length === 0) throw missingParameter('InstanceId');
    return ops.resolve(ctx, refs);
  };

  const extras = async (rows: readonly InstanceRow[]): Promise<Extras> => {
    const ids = rows.map((r) => r.id);
    const [groupLinks, tagRows, publicIps, placement, interfaces, volumes] = await Promise.all([
      ops.securityGroupsOf(ids),
      deps.tags.of(ids),
      addresses.floatingByInstance(ids),
      deps.serverGroups.ofInstances(ids),
      deps.vpcs.interfacesOf(ids),
      deps.volumes.ofInstances(ids),
    ]);
    const groupIds = [...new Set([...groupLinks.values()].flat())];
    const groupRows = new Map((await securityGroups.byIds(groupIds)).map((g) => [g.id, g]));
    const groups = new Map<string, { groupId: string; groupName: string }[]>();
    for (const [instanceId, gids] of groupLinks) {
      groups.set(
        instanceId,
        gids.flatMap((g) => {
          const row = groupRows.get(g);
          return row ? [{ groupId: ec2Id('sg', row.id), groupName: row.name }] : [];
        }),
      );
    }
    const tags = new Map(
      [...tagRows].map(([id, list]) => [id, list.map((t) => ({ key: t.key, value: t.value }))]),
    );
    const imageKinds = await images.kindsOf(
      rows.flatMap((r) => [r.imageId, r.kernelId, r.ramdiskId]).filter((x): x is string => !!x),
    );
    return { groups, tags, publicIps, imageKinds, placement, interfaces, volumes };
  };

  const imageEc2Id = (x: Extras, id: string | null): string | undefined =>
    id ? ec2Id(IMAGE_PREFIX[x.imageKinds.get(id) ?? 'machine'], id) : undefined;

  const view = (inst: InstanceRow, x: Extras): XmlObject => {
    const state = ec2State(inst.vmState, inst.taskState);
    const publicIp = x.publicIps.get(inst.id);
    const reason = ec2StateReason(inst);
    return {
      instanceId: instanceEc2Id(inst.id),
      imageId: imageEc2Id(x, inst.imageId),
      instanceState: { code: state.code, name: state.name },
      privateDnsName: inst.privateIp ? privateDnsName(inst.privateIp, deps.config.region) : '',
      dnsName: publicIp ? publicDnsName(publicIp, deps.config.region) : '',
      reason: reason?.message ?? '',
      keyName: inst.keyName,
      amiLaunchIndex: inst.launchIndex,
      productCodes: [],
      instanceType: flavorName(inst, flavorNames),
      launchTime: ec2Time(inst.launchedAt ?? inst.createdAt),
      placement: {
        availabilityZone: inst.availabilityZone,
        groupName: x.placement.get(inst.id)?.name ?? '',
        groupId: placementOf(x, inst),
        tenancy: 'default',
      },
      kernelId: imageEc2Id(x, inst.kernelId),
      ramdiskId: imageEc2Id(x, inst.ramdiskId),
      monitoring: { state: 'disabled' },
      privateIpAddress: inst.privateIp,
      ipAddress: publicIp,
      ...vpcView(
        x.interfaces.get(inst.id),
        x.groups.get(inst.id) ?? [],
        deps.config.region,
        publicIp,
      ),
      groupSet: x.groups.get(inst.id) ?? [],
      stateReason: reason ? { code: reason.code, message: reason.message } : undefined,
      architecture: 'x86_64',
      ...rootDeviceView(x.volumes.get(inst.id) ?? []),
      blockDeviceMapping: blockDeviceMappingView(x.volumes.get(inst.id) ?? []),
      virtualizationType: 'hvm',
      clientToken: inst.clientToken ?? '',
      tagSet: x.tags.get(inst.id) ?? [],
      hypervisor: 'xen',
      metadataOptions: metadataOptionsView(inst, 'applied'),
    };
  };

  let flavorNames = new Map<string, string>();
  // Read again for each request: admins create and delete flavors while the API runs.
  const loadFlavors = async () => {
    flavorNames = new Map((await ops.flavors()).map((f) => [f.id, f.name]));
  };

  const reservations = (rows: readonly InstanceRow[], x: Extras): XmlObject[] => {
    const byReservation = new Map<string, InstanceRow[]>();
    for (const r of rows)
      byReservation.set(r.reservationId, [...(byReservation.get(r.reservationId) ?? []), r]);
    return [...byReservation.values()].map((list) => {
      const first = list[0] as InstanceRow;
      return {
        reservationId: ec2Id('r', first.reservationId),
        ownerId: first.projectId,
        groupSet: [],
        instancesSet: list.map((inst) => view(inst, x)),
      };
    });
  };

  const filterGetters = (x: Extras) => ({
    'instance-id': (i: InstanceRow) => instanceEc2Id(i.id),
    'instance-state-name': (i: InstanceRow) => ec2State(i.vmState, i.taskState).name,
    'instance-state-code': (i: InstanceRow) => ec2State(i.vmState, i.taskState).code,
    'instance-type': (i: InstanceRow) => flavorName(i, flavorNames),
    'image-id': (i: InstanceRow) => imageEc2Id(x, i.imageId),
    'key-name': (i: InstanceRow) => i.keyName,
    'private-ip-address': (i: InstanceRow) => i.privateIp,
    'ip-address': (i: InstanceRow) => x.publicIps.get(i.id),
    'reservation-id': (i: InstanceRow) => ec2Id('r', i.reservationId),
    'availability-zone': (i: InstanceRow) => i.availabilityZone,
    'launch-index': (i: InstanceRow) => i.launchIndex,
    'owner-id': (i: InstanceRow) => i.projectId,
    'client-token': (i: InstanceRow) => i.clientToken,
    'group-id': (i: InstanceRow) => (x.groups.get(i.id) ?? []).map((g) => g.groupId),
    'group-name': (i: InstanceRow) => (x.groups.get(i.id) ?? []).map((g) => g.groupName),
    'instance.group-id': (i: InstanceRow) => (x.groups.get(i.id) ?? []).map((g) => g.groupId),
    'instance.group-name': (i: InstanceRow) => (x.groups.get(i.id) ?? []).map((g) => g.groupName),
    'placement-group-name': (i: InstanceRow) => x.placement.get(i.id)?.name,
    'kernel-id': (i: InstanceRow) => imageEc2Id(x, i.kernelId),
    'ramdisk-id': (i: InstanceRow) => imageEc2Id(x, i.ramdiskId),
    'vpc-id': (i: InstanceRow) => (x.interfaces.get(i.id) ?? []).map((e) => vpcEc2Id(e.vpcId)),
    'subnet-id': (i: InstanceRow) =>
      (x.interfaces.get(i.id) ?? []).map((e) => subnetEc2Id(e.subnetId)),
    'network-interface.network-interface-id': (i: InstanceRow) =>
      (x.interfaces.get(i.id) ?? []).map((e) => interfaceEc2Id(e.port.id)),
    'network-interface.addresses.private-ip-address': (i: InstanceRow) =>
      (x.interfaces.get(i.id) ?? []).map((e) => e.privateIp),
    architecture: () => 'x86_64',
    'root-device-type': (i: InstanceRow) =>
      rootDeviceView(x.volumes.get(i.id) ?? []).rootDeviceType,
    'root-device-name': (i: InstanceRow) =>
      rootDeviceView(x.volumes.get(i.id) ?? []).rootDeviceName,
    'block-device-mapping.volume-id': (i: InstanceRow) =>
      (x.volumes.get(i.id) ?? []).map((v) => ec2Id('vol', v.id)),
    'block-device-mapping.device-name': (i: InstanceRow) =>
      (x.volumes.get(i.id) ?? []).map((v) => v.device ?? ''),
    'virtualization-type': () => 'hvm',
  });
  const tagSource = (x: Extras) => ({ tags: (i: InstanceRow) => x.tags.get(i.id) ?? [] });

  const stateChanges = (changes: readonly StateChange[]) =>
    changes.map((c) => {
      const before = ec2State(c.before.vmState, c.before.taskState);
      const after = ec2State(c.after.vmState, c.after.taskState);
      return {
        instanceId: instanceEc2Id(c.id),
        currentState: { code: after.code, name: after.name },
        previousState: { code: before.code, name: before.name },
      };
    });

  return {
    RunInstances: async ({ params, context }) => {
      await loadFlavors();
      const minCount = params.int('MinCount', { min: 1, max: 1000 });
      const maxCount = params.int('MaxCount', { min: 1, max: 1000 });
      if (minCount === undefined) throw missingParameter('MinCount');
      if (maxCount === undefined) throw missingParameter('MaxCount');
      if (maxCount < minCount) {
        throw invalid(`MaxCount (${maxCount}) must not be less than MinCount (${minCount}).`, {
          resource: 'parameter',
          id: 'MaxCount',
        });
      }
      if (params.bool('Monitoring.Enabled')) throw noDetailedMonitoring();
      // What the request gives wins over its launch template's (LaunchTemplate.*), if it names one.
      const given = runParameters(params, deps.config.region);
      const template = await launchTemplateOf(deps, context, params);
      const data = template ? applyLaunchTemplate(template.data, given) : given;
      if (!data.imageRef) throw missingParameter('ImageId');
      // Only instances are made here: tags of volumes and network interfaces have nothing to go on.
      const tags = (data.tagSpecifications ?? [])
        .filter((s) => s.resourceType === 'instance')
        .flatMap((s) => s.tags);
      checkTags(tags);
      const placementName = params.string('Placement.GroupName', { max: 255 }) || undefined;
      const placementId = params.string('Placement.GroupId', { max: 64 }) || undefined;
      if (placementName !== undefined && placementId !== undefined) {
        throw new StratusError(
          'invalid',
          'Placement.GroupName and Placement.GroupId cannot be given together.',
          { resource: 'parameter', reason: 'combination' },
        );
      }
      const placementGroup =
        placementName !== undefined || placementId !== undefined
          ? await findPlacementGroup(deps, context, { name: placementName, id: placementId })
          : undefined;
      // Block device mappings are checked whole before anything is made; their volumes are
      // made per instance once it has a host.
      // A volume-backed image brings the mappings of its volumes, its root among them.
      // (An image not found is reported by the launch itself, as for any launch.)
      const image = await deps.images
        .find(context, data.imageRef, 'machine')
        .catch(() => undefined);
      const mappings = await launchVolumes(deps, context, params, image);
      // The VPC subnet and ports of the instances, ready before anything is launched.
      const vpc = await prepareVpcLaunch(deps, context, params, maxCount, data.availabilityZone);
      const launched = ops.run(context, {
        groupId: placementGroup?.id,
        imageRef: data.imageRef,
        flavorName: data.instanceType ?? 'm1.small',
        minCount,
        maxCount,
        keyName: data.keyName,
        // In a named subnet: the groups of its primary interface, as its VPC resolved them.
        ...(vpc?.instanceGroups && !template
          ? { securityGroupNames: [], securityGroupRefs: vpc.instanceGroups }
          : {
              securityGroupNames: data.securityGroupNames ?? [],
              securityGroupRefs: data.securityGroupRefs ?? [],
            }),
        userData: data.userData,
        availabilityZone: data.availabilityZone ?? vpc?.zone,
        clientToken: params.string('ClientToken', { max: 64 }),
        kernelRef: data.kernelRef,
        ramdiskRef: data.ramdiskRef,
        tags,
        systemTags: template ? launchTemplateTags(template) : undefined,
        disableApiTermination: data.disableApiTermination ?? false,
        disableApiStop: data.disableApiStop ?? false,
        shutdownBehavior: data.shutdownBehavior,
        metadataOptions: data.metadataOptions,
        // Its interfaces first (bound to its host, which plugs them), then its volumes.
        prepare: bothSteps(vpc?.prepare, makeLaunchVolumes(deps.volumes, context, mappings)),
        rootOnVolume: mappings.some((m) => m.imageId !== undefined),
      });
      const reservation = await launched.catch(async (err: unknown) => {
        await vpc?.undo();
        throw err;
      });
      await vpc?.finish(reservation.instances.length);
      const x = await extras(reservation.instances);
      return {
        reservationId: ec2Id('r', reservation.reservationId),
        ownerId: reservation.projectId,
        groupSet: [],
        instancesSet: reservation.instances.map((inst) => view(inst, x)),
      };
    },

    DescribeInstances: async ({ params, context }) => {
      await loadFlavors();
      const refs = instanceRefs(params, 'InstanceId');
      const maxResults = params.int('MaxResults', { min: 5, max: MAX_PAGE });
      if (maxResults !== undefined && refs.length > 0) {
        throw new StratusError(
          'invalid',
          'The parameter instancesSet cannot be used with the parameter maxResults.',
          {
            resource: 'parameter',
            reason: 'combination',
          },
        );
      }
      const after = tokenKey(params.string('NextToken', { max: 1024 }));
      const filters = params.filters();
      // An unknown filter is refused before anything is read.
      applyFilters([], filters, filterGetters(NO_EXTRAS), tagSource(NO_EXTRAS));
      // What the filter check fetched about rows serves their view too.
      let checked: Extras = NO_EXTRAS;
      const check =
        filters.length === 0
          ? undefined
          : async (rows: InstanceRow[]) => {
              const x = await extras(rows);
              checked = mergeExtras(checked, x);
              return applyFilters(rows, filters, filterGetters(x), tagSource(x));
            };
      let page: InstanceRow[];
      let more = false;
      if (refs.length > 0) {
        const rows = await ops.resolve(context, refs);
        page = check ? await check(rows) : rows;
        if (after) page = page.filter((r) => compareKeys(r, after) > 0);
      } else {
        // The query selects, orders and pages (oldest first, as EC2 lists them); the filters
        // are checked again on what it returns (see instance-query.ts).
        ({ rows: page, more } = await ops.page(
          context,
          {
            ...instanceConditions(filters, flavorNames, ec2State),
            order: 'oldest',
            after,
            limit: maxResults,
          },
          check,
        ));
      }
      const last = page[page.length - 1];
      const x = check ? checked : await extras(page);
      return {
        reservationSet: reservations(page, x),
        nextToken: more && last ? keyToken(last) : undefined,
      };
    },

    DescribeInstanceStatus: async ({ params, context }) => {
      const refs = instanceRefs(params, 'InstanceId');
      const includeAll = params.bool('IncludeAllInstances') ?? false;
      const maxResults = params.int('MaxResults', { min: 5, max: MAX_PAGE });
      if (maxResults !== undefined && refs.length > 0) {
        throw new StratusError(
          'invalid',
          'The parameter instancesSet cannot be used with the parameter maxResults.',
          { resource: 'parameter', reason: 'combination' },
        );
      }
      const offset = pageOffset(params.string('NextToken', { max: 1024 }));
      const rows = refs.length > 0 ? await ops.resolve(context, refs) : await ops.list(context);
      // Only running instances unless IncludeAllInstances, named or not (as EC2 does).
      const shown = rows.filter(
        (i) => includeAll || ec2State(i.vmState, i.taskState).name === 'running',
      );
      const health = await ops.health(shown, {
        downAfterMs: deps.config.service.downAfterSeconds * 1000,
        guestNetworkDeadlineMs: deps.config.compute.guestNetworkDeadlineSeconds * 1000,
      });
      const of = (i: InstanceRow) => health.get(i.id) as InstanceHealth;
      const list = applyFilters(shown, params.filters(), {
        'availability-zone': (i) => i.availabilityZone,
        'instance-state-name': (i) => ec2State(i.vmState, i.taskState).name,
        'instance-state-code': (i) => ec2State(i.vmState, i.taskState).code,
        'instance-status.status': (i) => EC2_HEALTH[of(i).instance.status],
        'instance-status.reachability': (i) => ec2Check(of(i).instance.reachability),
        'system-status.status': (i) => EC2_HEALTH[of(i).system.status],
        'system-status.reachability': (i) => ec2Check(of(i).system.reachability),
        // No scheduled events here: these filters match nothing.
        'event.code': () => undefined,
        'event.description': () => undefined,
        'event.instance-event-id': () => undefined,
        'event.not-after': () => undefined,
        'event.not-before': () => undefined,
      });
      const end = maxResults === undefined ? list.length : offset + maxResults;
      return {
        nextToken: end < list.length ? pageToken(end) : undefined,
        instanceStatusSet: list.slice(offset, end).map((i) => {
          const state = ec2State(i.vmState, i.taskState);
          return {
            instanceId: instanceEc2Id(i.id),
            availabilityZone: i.availabilityZone,
            instanceState: { code: state.code, name: state.name },
            systemStatus: ec2Summary(of(i).system),
            instanceStatus: ec2Summary(of(i).instance),
            eventsSet: [],
          };
        }),
      };
    },

    // Force and SkipOsShutdown are accepted and ignored (parameters/instances.ts): termination
    // powers the VM off at once and never waits for the guest's OS.
    TerminateInstances: async ({ params, context }) => {
      const rows = await requiredInstances(context, params);
      const changes = await ec2Protection(
        'terminated',
        'disableApiTermination',
        ops.terminate(context, rows),
      );
      // Their VPC interfaces go with them (deleteOnTermination), and their launch addresses.
      await deps.vpcs.releaseInstances(
        context,
        rows.map((r) => r.id),
      );
      await releaseLaunchAddresses(
        deps,
        context,
        rows.map((r) => r.id),
      );
      return { instancesSet: stateChanges(changes) };
    },

    StopInstances: async ({ params, context }) => {
      // Skipping the guest's OS shutdown is what forcing does here: the VM is powered off.
      const force = (params.bool('Force') ?? false) || (params.bool('SkipOsShutdown') ?? false);
      const rows = await requiredInstances(context, params);
      return {
        instancesSet: stateChanges(
          await ec2Protection('stopped', 'disableApiStop', ops.stop(context, rows, force)),
        ),
      };
    },

    StartInstances: async ({ params, context }) => ({
      instancesSet: stateChanges(
        await ops.start(context, await requiredInstances(context, params)),
      ),
    }),

    RebootInstances: async ({ params, context }) => {
      await ops.reboot(context, await requiredInstances(context, params));
      return { return: true };
    },

    // Latest is accepted and ignored (parameters/instances.ts): the answer is always the most
    // recent output the console log holds.
    GetConsoleOutput: async ({ params, context }) => {
      const shown = params.requireString('InstanceId', { max: 64 });
      const [inst] = await ops.resolve(context, [
        { ref: parseEc2Id(shown, ['i'], 'instance').uuidPrefix, shown },
      ]);
      const { output, at } = await ops.consoleOutput(context, inst as InstanceRow);
      return {
        instanceId: shown,
        timestamp: ec2Time(at),
        output: Buffer.from(output).toString('base64'),
      };
    },

    GetConsoleScreenshot: async ({ params, context }) => {
      const shown = params.requireString('InstanceId', { max: 64 });
      const wakeUp = params.bool('WakeUp') ?? false;
      const [inst] = await ops.resolve(context, [
        { ref: parseEc2Id(shown, ['i'], 'instance').uuidPrefix, shown },
      ]);
      const { jpegBase64 } = await ops.consoleScreenshot(context, inst as InstanceRow, wakeUp);
      return { instanceId: shown, imageData: jpegBase64 };
    },

    DescribeInstanceTypes: async ({ params, context }) => {
      // The flavors the caller may use: public ones, and private ones its project has access to.
      const flavors = await ops.flavors(context);
      const wanted = params.list('InstanceType');
      for (const name of wanted) {
        if (!flavors.some((f) => f.name === name)) {
          throw invalid(`The following supplied instance types do not exist: [${name}]`, {
            resource: 'parameter',
            id: 'InstanceType',
          });
        }
      }
      let list = wanted.length > 0 ? flavors.filter((f) => wanted.includes(f.name)) : flavors;
      list = applyFilters(list, params.filters(), {
        'instance-type': (f) => f.name,
        'vcpu-info.default-vcpus': (f) => f.vcpus,
        'memory-info.size-in-mib': (f) => f.memoryMb,
        'current-generation': () => true,
      });
      const maxResults = params.int('MaxResults', { min: 5, max: 100 });
      const offset = pageOffset(params.string('NextToken', { max: 1024 }));
      const end = maxResults === undefined ? list.length : offset + maxResults;
      return {
        nextToken: end < list.length ? pageToken(end) : undefined,
        instanceTypeSet: list.slice(offset, end).map((f) => ({
          instanceType: f.name,
          currentGeneration: true,
          freeTierEligible: f.name === 'm1.tiny',
          supportedUsageClasses: ['on-demand'],
          supportedRootDeviceTypes: ['instance-store'],
          supportedVirtualizationTypes: ['hvm'],
          bareMetal: false,
          hypervisor: 'xen',
          processorInfo: { supportedArchitectures: ['x86_64'] },
          vCpuInfo: { defaultVCpus: f.vcpus, defaultCores: f.vcpus, defaultThreadsPerCore: 1 },
          memoryInfo: { sizeInMiB: f.memoryMb },
          instanceStorageSupported: true,
          instanceStorageInfo: {
            totalSizeInGB: f.diskGb,
            disks: [{ sizeInGB: f.diskGb, count: 1, type: 'ssd' }],
          },
        })),
      };
    },

    DescribeInstanceAttribute: async ({ params, context }) => {
      await loadFlavors();
      const shown = params.requireString('InstanceId', { max: 64 });
      const attribute = params.requireString('Attribute', { max: 64 });
      const value = (v: string | boolean | undefined) => (v === undefined ? {} : { value: v });
      const attributes: Record<string, (i: InstanceRow, x: Extras) => XmlObject> = {
        instanceType: (i, _x) => ({ instanceType: value(flavorName(i, flavorNames)) }),
        kernel: (i, x) => ({ kernel: value(imageEc2Id(x, i.kernelId)) }),
        ramdisk: (i, x) => ({ ramdisk: value(imageEc2Id(x, i.ramdiskId)) }),
        userData: (i, _x) => ({ userData: value(i.userData ?? undefined) }),
        disableApiTermination: (i, _x) => ({
          disableApiTermination: value(i.disableApiTermination === 1),
        }),
        disableApiStop: (i, _x) => ({ disableApiStop: value(i.disableApiStop === 1) }),
        instanceInitiatedShutdownBehavior: (i, _x) => ({
          instanceInitiatedShutdownBehavior: value(i.shutdownBehavior),
        }),
        rootDeviceName: (i, x) => ({
          rootDeviceName: value(rootDeviceView(x.volumes.get(i.id) ?? []).rootDeviceName),
        }),
        blockDeviceMapping: (i, x) => ({
          blockDeviceMapping: blockDeviceMappingView(x.volumes.get(i.id) ?? []),
        }),
        groupSet: (i, x) => ({
          groupSet: (x.groups.get(i.id) ?? []).map((g) => ({ groupId: g.groupId })),
        }),
        sourceDestCheck: (i, _x) => ({ sourceDestCheck: value(i.sourceDestCheck === 1) }),
        ebsOptimized: (_i, _x) => ({ ebsOptimized: value(false) }),
        enaSupport: (_i, _x) => ({ enaSupport: value(false) }),
      };
      const get = Object.prototype.hasOwnProperty.call(attributes, attribute)
        ? attributes[attribute]
        : undefined;
      if (!get) {
        throw invalid(
          `Value (${attribute}) for parameter attribute is invalid. Unknown attribute.`,
          {
            resource: 'parameter',
            id: 'Attribute',
          },
        );
      }
      const [inst] = await ops.resolve(context, [
        { ref: parseEc2Id(shown, ['i'], 'instance').uuidPrefix, shown },
      ]);
      const i = inst as InstanceRow;
      return { instanceId: shown, ...get(i, await extras([i])) };
    },

    ModifyInstanceAttribute: async ({ params, context }) => {
      const inst = await oneInstance(context, params);
      await ops.modifyAttributes(context, inst, attributeChange(params));
      return { return: true };
    },

    ResetInstanceAttribute: async ({ params, context }) => {
      const attribute = params.requireString('Attribute', { max: 64 });
      const inst = await oneInstance(context, params);
      const resets: Record<string, AttributeChange> = {
        disableApiTermination: { disableApiTermination: false },
        disableApiStop: { disableApiStop: false },
        instanceInitiatedShutdownBehavior: { shutdownBehavior: 'stop' },
        sourceDestCheck: { sourceDestCheck: true },
        userData: { userData: null },
      };
      const change = Object.prototype.hasOwnProperty.call(resets, attribute)
        ? resets[attribute]
        : undefined;
      if (!change) {
        if (['kernel', 'ramdisk'].includes(attribute)) {
          throw invalid(
            `Resetting the ${attribute} is not supported here: an instance keeps the ${attribute} it was launched with.`,
            { resource: 'parameter', id: 'Attribute', reason: 'unsupported' },
          );
        }
        throw invalid(
          `Value (${attribute}) for parameter attribute is invalid. The attribute cannot be reset; the ones that can: ${[...Object.keys(resets)].join(', ')}.`,
          { resource: 'parameter', id: 'Attribute' },
        );
      }
      await ops.modifyAttributes(context, inst, change);
      return { return: true };
    },

    GetPasswordData: async ({ params, context }) => {
      const shown = params.requireString('InstanceId', { max: 64 });
      const inst = await oneInstance(context, params);
      // Linux guests post nothing: EC2 answers an empty PasswordData then, as here.
      const { data, at } = await ops.passwordData(inst);
      return { instanceId: shown, timestamp: ec2Time(at), passwordData: data ?? '' };
    },

    // There is no CloudWatch here: detailed monitoring cannot be turned on, and every instance
    // shows monitoring 'disabled'. Turning it off is answered, since that is what it is.
    MonitorInstances: async ({ params, context }) => {
      await requiredInstances(context, params);
      throw noDetailedMonitoring();
    },

    UnmonitorInstances: async ({ params, context }) => {
      const rows = await requiredInstances(context, params);
      return {
        instancesSet: rows.map((r) => ({
          instanceId: instanceEc2Id(r.id),
          monitoring: { state: 'disabled' },
        })),
      };
    },
  };

  async function oneInstance(ctx: RequestContext, params: Params): Promise<InstanceRow> {
    const shown = params.requireString('InstanceId', { max: 64 });
    const [inst] = await ops.resolve(ctx, [
      { ref: parseEc2Id(shown, ['i'], 'instance').uuidPrefix, shown },
    ]);
    return inst as InstanceRow;
  }
}

/** RunInstances' own launch parameters, each absent unless the request gives it. */
function runParameters(params: Params, region: string): LaunchData {
  const imageId = params.string('ImageId', { max: 64 });
  const kernelId = params.string('KernelId', { max: 64 });
  const ramdiskId = params.string('RamdiskId', { max: 64 });
  const groupNames = params.list('SecurityGroup');
  const groupRefs = params
    .list('SecurityGroupId')
    .map((g) => parseEc2Id(g, ['sg'], 'security_group').uuidPrefix);
  const data: LaunchData = {
    imageRef: imageId ? parseEc2Id(imageId, ['ami'], 'image').uuidPrefix : undefined,
    instanceType: params.string('InstanceType', { max: 64 }),
    keyName: params.string('KeyName', { max: 255 }),
    securityGroupNames: groupNames.length > 0 ? groupNames : undefined,
    securityGroupRefs: groupRefs.length > 0 ? groupRefs : undefined,
    userData: params.string('UserData', { max: 100_000 }),
    availabilityZone: placementZone(params, region),
    kernelRef: kernelId ? parseEc2Id(kernelId, ['aki'], 'image').uuidPrefix : undefined,
    ramdiskRef: ramdiskId ? parseEc2Id(ramdiskId, ['ari'], 'image').uuidPrefix : undefined,
    tagSpecifications: launchTagSpecifications(params),
    disableApiTermination: params.bool('DisableApiTermination'),
    disableApiStop: params.bool('DisableApiStop'),
    shutdownBehavior: params.enumOf('InstanceInitiatedShutdownBehavior', SHUTDOWN_BEHAVIORS),
    metadataOptions: metadataOptionsParams(params, 'MetadataOptions.'),
  };
  return Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined)) as LaunchData;
}

/**
 * EC2's words for a protected instance (TerminateInstances, StopInstances): the instance by its
 * EC2 id, and the attribute to change.
 */
async function ec2Protection<T>(
  verb: 'terminated' | 'stopped',
  attribute: 'disableApiTermination' | 'disableApiStop',
  work: Promise<T>,
): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof StratusError && err.reason === 'protected' && err.id) {
      throw new StratusError(
        'conflict',
        `The instance '${instanceEc2Id(err.id)}' may not be ${verb}. Modify its '${attribute}' instance attribute and try again.`,
        { resource: 'instance', id: err.id, reason: 'protected' },
      );
    }
    throw err;
  }
}

function noDetailedMonitoring(): StratusError {
  return invalid(
    'Detailed monitoring is not offered by this cloud (there is no CloudWatch): monitoring stays disabled.',
    { resource: 'parameter', id: 'Monitoring', reason: 'unsupported' },
  );
}

/**
 * What one ModifyInstanceAttribute asks: an attribute in its own structure (`DisableApiTermination.Value`,
 * `GroupId.N`, ...) or, as older clients send it, `Attribute` with `Value`. One per request, as EC2.
 */
function attributeChange(params: Params): AttributeChange {
  const changes: AttributeChange[] = [];
  const legacy = params.string('Attribute', { max: 64 });
  const flag = (name: string) => params.bool(name);
  const boolValue = (name: string): boolean | undefined =>
    params.has(name) ? (flag(`${name}.Value`) ?? flag(name)) : undefined;
  const text = (name: string): string | undefined =>
    params.has(name)
      ? (params.string(`${name}.Value`, { max: 100_000 }) ?? params.string(name, { max: 100_000 }))
      : undefined;

  const read: Record<string, (v?: string) => AttributeChange | undefined> = {
    disableApiTermination: (v) => {
      const b = v !== undefined ? parseBool('Value', v) : boolValue('DisableApiTermination');
      return b === undefined ? undefined : { disableApiTermination: b };
    },
    disableApiStop: (v) => {
      const b = v !== undefined ? parseBool('Value', v) : boolValue('DisableApiStop');
      return b === undefined ? undefined : { disableApiStop: b };
    },
    sourceDestCheck: (v) => {
      const b = v !== undefined ? parseBool('Value', v) : boolValue('SourceDestCheck');
      return b === undefined ? undefined : { sourceDestCheck: b };
    },
    instanceInitiatedShutdownBehavior: (v) => {
      const b = v ?? text('InstanceInitiatedShutdownBehavior');
      if (b === undefined) return undefined;
      if (!(SHUTDOWN_BEHAVIORS as readonly string[]).includes(b)) {
        throw invalid(
          `Value (${b}) for parameter instanceInitiatedShutdownBehavior is invalid. It must be stop or terminate.`,
          { resource: 'parameter', id: 'InstanceInitiatedShutdownBehavior' },
        );
      }
      return { shutdownBehavior: b as ShutdownBehavior };
    },
    instanceType: (v) => {
      const t = v ?? text('InstanceType');
      return t === undefined ? undefined : { flavorName: t };
    },
    userData: (v) => {
      const d = v ?? text('UserData');
      return d === undefined ? undefined : { userData: d };
    },
    groupSet: () => {
      const ids = params.list('GroupId');
      if (ids.length === 0) return undefined;
      return {
        securityGroupRefs: ids.map((g) => parseEc2Id(g, ['sg'], 'security_group').uuidPrefix),
      };
    },
  };
  if (legacy !== undefined) {
    const fn = Object.prototype.hasOwnProperty.call(read, legacy) ? read[legacy] : undefined;
    if (!fn || legacy === 'groupSet') {
      throw unsupportedAttribute(legacy);
    }
    const value = params.string('Value', { max: 100_000 });
    if (value === undefined) throw missingParameter('Value');
    const c = fn(value);
    if (c) changes.push(c);
  }
  for (const [, fn] of Object.entries(read)) {
    const c = fn();
    if (c) changes.push(c);
  }
  // Attributes EC2 has that mean nothing here: refused by name, never ignored.
  for (const name of [
    'Kernel',
    'Ramdisk',
    'BlockDeviceMapping',
    'EbsOptimized',
    'EnaSupport',
    'SriovNetSupport',
  ]) {
    if (params.has(name)) throw unsupportedAttribute(name.charAt(0).toLowerCase() + name.slice(1));
  }
  if (changes.length === 0) {
    throw missingParameter('Attribute');
  }
  if (changes.length > 1) {
    throw new StratusError('invalid', 'Only one attribute can be changed per request.', {
      resource: 'parameter',
      reason: 'combination',
    });
  }
  return changes[0] as AttributeChange;
}

/**
 * The zone RunInstances asks for: `Placement.AvailabilityZone` by name, or
 * `Placement.AvailabilityZoneId` by the id DescribeAvailabilityZones shows (`<region>-<zone>`).
 */
function placementZone(params: Params, region: string): string | undefined {
  const name = params.string('Placement.AvailabilityZone', { max: 255 }) || undefined;
  const id = params.string('Placement.AvailabilityZoneId', { max: 255 }) || undefined;
  if (id === undefined) return name;
  const prefix = `${region.toLowerCase()}-`;
  if (!id.startsWith(prefix) || id.length === prefix.length) {
    throw invalid(`The zone ID '${id}' does not exist.`, { resource: 'zone', id });
  }
  const byId = id.slice(prefix.length);
  if (name !== undefined && name !== byId) {
    throw new StratusError(
      'invalid',
      'Placement.AvailabilityZone and Placement.AvailabilityZoneId name different zones.',
      { resource: 'parameter', reason: 'combination' },
    );
  }
  return byId;
}

function parseBool(name: string, value: string): boolean {
  const v = value.toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw invalid(`Value (${value}) for parameter ${name} is invalid. It must be true or false.`, {
    resource: 'parameter',
    id: name,
  });
}

function unsupportedAttribute(name: string): StratusError {
  return invalid(
    `The attribute '${name}' cannot be changed here: this cloud keeps it as the instance was launched.`,
    { resource: 'parameter', id: 'Attribute', reason: 'unsupported' },
  );
}

function flavorName(inst: InstanceRow, names: Map<string, string>): string {
  return names.get(inst.flavorId) ?? inst.flavorId;
}

/** EC2's state reason (code and message) for the domain's. */
function ec2StateReason(inst: InstanceRow): { code: string; message: string } | undefined {
  switch (inst.stateReason) {
    case null:
      return undefined;
    case 'build_failed':
      return {
        code: 'Server.InternalError',
        message: `Server.InternalError: ${inst.stateMessage ?? 'Internal error on launch'}`,
      };
    case 'user_stopped':
      return {
        code: 'Client.UserInitiatedShutdown',
        message: 'Client.UserInitiatedShutdown: User initiated shutdown',
      };
    case 'guest_shutdown':
      return {
        code: 'Client.InstanceInitiatedShutdown',
        message: 'Client.InstanceInitiatedShutdown: Instance initiated shutdown',
      };
  }
}

/** EC2's rules for tags given with a request (characters and lengths: text-rules.ts). */
export function checkTags(tags: readonly { key: string; value: string }[]): void {
  if (tags.length > 50)
    throw invalid('A resource can have at most 50 tags.', { resource: 'parameter', id: 'Tag' });
  checkTagText(tags);
}
