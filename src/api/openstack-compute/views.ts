// What the Compute API shows: version documents, flavors, servers, key pairs and limits, in
// the shapes OpenStack's clients read. Servers are the domain's instances; their status is
// the view of vm_state + task_state the Compute API defines.
import { createHash } from 'node:crypto';
import type {
  FlavorRow,
  InstanceRow,
  KeypairRow,
  ServerDetails,
  TaskState,
  VmState,
} from '../../db/index.js';
import {
  MAX_VERSION,
  MIN_VERSION,
  versionText,
  atLeast,
  type Microversion,
} from './microversion.js';

export type ServerStatus =
  | 'BUILD'
  | 'ACTIVE'
  | 'SHUTOFF'
  | 'REBOOT'
  | 'REBUILD'
  | 'RESIZE'
  | 'VERIFY_RESIZE'
  | 'REVERT_RESIZE'
  | 'PAUSED'
  | 'SUSPENDED'
  | 'RESCUE'
  | 'ERROR'
  | 'DELETED';

/**
 * The Compute API's status of an instance (its table of vm_state and task_state). An instance
 * being stopped is still ACTIVE (task_state says powering-off) and one being deleted keeps its
 * status until it is gone; reboots, rebuilds and resizes show while they run.
 */
export function serverStatus(vmState: VmState, taskState: TaskState | null): ServerStatus {
  switch (vmState) {
    case 'building':
      return 'BUILD';
    case 'stopped':
      if (taskState === 'rebuilding') return 'REBUILD';
      return taskState === 'resize_prep' ? 'RESIZE' : 'SHUTOFF';
    case 'error':
      return taskState === 'rebuilding' ? 'REBUILD' : 'ERROR';
    case 'deleted':
      return 'DELETED';
    case 'paused':
      return 'PAUSED';
    case 'suspended':
      return 'SUSPENDED';
    case 'rescued':
      return 'RESCUE';
    case 'resized':
      return taskState === 'resize_reverting' ? 'REVERT_RESIZE' : 'VERIFY_RESIZE';
    case 'active':
      if (taskState === 'rebooting') return 'REBOOT';
      if (taskState === 'rebuilding') return 'REBUILD';
      return taskState === 'resize_prep' ? 'RESIZE' : 'ACTIVE';
  }
}

/** The Compute API's numeric power states. */
const POWER_STATES: Readonly<Record<string, number>> = {
  nostate: 0,
  running: 1,
  paused: 3,
  shutdown: 4,
  crashed: 6,
};

/** The Compute API's time format: ISO 8601 to the second, in UTC. */
export const apiTime = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
/**
 * The format of the OS-SRV-USG launch and termination times and of the services' `updated_at`
 * in the zone details: microseconds, no zone.
 */
export const usageTime = (ms: number | null) =>
  ms === null ? null : new Date(ms).toISOString().replace(/Z$/, '000');

/** `self` and `bookmark` links of a resource under the API. */
export function resourceLinks(base: string, path: string) {
  return [
    { rel: 'self', href: `${base}/v2.1/${path}` },
    { rel: 'bookmark', href: `${base}/${path}` },
  ];
}

/**
 * The version v2.1 as the version list (`GET /`) shows it, or, with `document`, as its own
 * document (`GET /v2.1/`) does: with its media types and a link to the API's documentation.
 */
export function versionView(base: string, document = false) {
  return {
    id: 'v2.1',
    status: 'CURRENT',
    version: versionText(MAX_VERSION),
    min_version: versionText(MIN_VERSION),
    updated: '2013-07-23T11:33:21Z',
    links: [
      { rel: 'self', href: `${base}/v2.1/` },
      ...(document
        ? [{ rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' }]
        : []),
    ],
    ...(document
      ? {
          'media-types': [
            {
              base: 'application/json',
              type: 'application/vnd.openstack.compute+json;version=2.1',
            },
          ],
        }
      : {}),
  };
}

/**
 * The compatibility API v2.0 as the version list shows it: no microversions (empty `version`
 * and `min_version`), SUPPORTED. Its document answers at `/v2/`; its resources are v2.1's.
 */
export function legacyVersionView(base: string, document = false) {
  return {
    id: 'v2.0',
    status: 'SUPPORTED',
    version: '',
    min_version: '',
    updated: '2011-01-21T11:33:21Z',
    links: [
      { rel: 'self', href: `${base}/v2/` },
      ...(document
        ? [{ rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' }]
        : []),
    ],
    ...(document
      ? {
          'media-types': [
            { base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2' },
          ],
        }
      : {}),
  };
}

/** What a server's view shows beyond its instance row. */
export interface ServerExtras {
  name: string;
  securityGroups: string[];
  /** The volumes attached to it, and whether each goes with it (os-extended-volumes). */
  volumes?: { id: string; deleteOnTermination: boolean }[] | undefined;
  /** The fixed address's network and MAC, if it has one. */
  fixed: { network: string; address: string; mac: string | null } | undefined;
  floating: string | undefined;
  /** The server's metadata items. */
  metadata: Record<string, string>;
  /** Its addresses on project networks (ports bound to it), each under the network's name. */
  ports?: { network: string; address: string; mac: string }[] | undefined;
  /** Description, hostname and tags (2.19, 2.90, 2.26); none when absent. */
  details?: ServerDetails | undefined;
  /** The server's flavor, embedded in the view from 2.47 (its id only when absent). */
  flavor?: FlavorRow | undefined;
  /** The ids of the server groups it belongs to (2.71, show and update only). */
  serverGroups?: string[] | undefined;
  /** The state of its host (2.16, admins): UP, DOWN, MAINTENANCE, UNKNOWN, or '' without one. */
  hostStatus?: string | undefined;
}

/** Which parts a server view shows, besides what the microversion decides. */
export interface ServerViewOptions {
  /** The caller is an admin: the OS-EXT-SRV-ATTR fields and host_status. */
  admin: boolean;
  v?: Microversion;
  /**
   * The answer of an update before 2.75: the core fields only (no extended attributes,
   * zone, key, usage, groups or volumes, and addresses without type and MAC).
   */
  core?: boolean;
  /** Show the server groups (2.71: show and update, not the listing). */
  serverGroups?: boolean;
}

export function serverSummary(base: string, inst: InstanceRow, name: string) {
  return { id: inst.id, name, links: resourceLinks(base, `servers/${inst.id}`) };
}

/** The root device of every server here (the disk it boots from is its first virtio disk). */
const ROOT_DEVICE_NAME = '/dev/vda';

/** The hostname a server has: the one it was given (2.90), or one made from its name. */
export function serverHostname(name: string, given: string | null | undefined): string {
  if (given) return given;
  const made = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return made || 'server';
}

/**
 * A server as show and the detailed listing answer it at microversion `options.v` (2.1 when
 * absent), with the shape changes the Compute API reference documents: the extended
 * attributes of 2.3, `locked` (2.9), `host_status` (2.16), `description` (2.19), `tags`
 * (2.26), the embedded flavor (2.47), `trusted_image_certificates` (2.63), `server_groups`
 * (2.71), `locked_reason` (2.73) and the hostname for every caller (2.90).
 */
export function serverView(
  base: string,
  inst: InstanceRow,
  x: ServerExtras,
  adminOrOptions: boolean | ServerViewOptions,
) {
  const o: ServerViewOptions =
    typeof adminOrOptions === 'boolean' ? { admin: adminOrOptions } : adminOrOptions;
  const v = o.v ?? MIN_VERSION;
  const admin = o.admin;
  const core = o.core === true;
  const addresses: Record<string, unknown[]> = {};
  if (x.fixed) {
    const mac = x.fixed.mac ?? inst.macAddress;
    const entry = (addr: string, type: 'fixed' | 'floating') =>
      core
        ? { version: 4, addr }
        : { version: 4, addr, 'OS-EXT-IPS:type': type, 'OS-EXT-IPS-MAC:mac_addr': mac };
    addresses[x.fixed.network] = [
      entry(x.fixed.address, 'fixed'),
      ...(x.floating ? [entry(x.floating, 'floating')] : []),
    ];
  }
  for (const p of x.ports ?? []) {
    addresses[p.network] = [
      ...(addresses[p.network] ?? []),
      core
        ? { version: 4, addr: p.address }
        : {
            version: 4,
            addr: p.address,
            'OS-EXT-IPS:type': 'fixed',
            'OS-EXT-IPS-MAC:mac_addr': p.mac,
          },
    ];
  }
  const details = x.details;
  const hostname = serverHostname(x.name, details?.hostname);
  // From 2.47 the flavor is embedded as the server got it (its size when it was built or
  // resized), with the flavor's name, instead of a link to a flavor that may have changed.
  const flavor = atLeast(v, 47)
    ? {
        vcpus: inst.vcpus,
        ram: inst.memoryMb,
        disk: inst.diskGb,
        ephemeral: 0,
        swap: 0,
        original_name: x.flavor?.name ?? inst.flavorId,
        extra_specs: {},
      }
    : { id: inst.flavorId, links: resourceLinks(base, `flavors/${inst.flavorId}`).slice(1) };
  const extended =
    admin && !core
      ? {
          'OS-EXT-SRV-ATTR:host': inst.host,
          'OS-EXT-SRV-ATTR:hypervisor_hostname': inst.host,
          'OS-EXT-SRV-ATTR:instance_name': `instance-${inst.id.slice(0, 8)}`,
          ...(atLeast(v, 3)
            ? {
                'OS-EXT-SRV-ATTR:reservation_id': reservationText(inst.reservationId),
                'OS-EXT-SRV-ATTR:launch_index': inst.launchIndex,
                'OS-EXT-SRV-ATTR:kernel_id': inst.kernelId ?? '',
                'OS-EXT-SRV-ATTR:ramdisk_id': inst.ramdiskId ?? '',
                'OS-EXT-SRV-ATTR:hostname': hostname,
                'OS-EXT-SRV-ATTR:root_device_name': ROOT_DEVICE_NAME,
                'OS-EXT-SRV-ATTR:user_data': inst.userData,
              }
            : {}),
        }
      : // From 2.90 every caller sees the hostname (it may set it).
        !core && atLeast(v, 90)
        ? { 'OS-EXT-SRV-ATTR:hostname': hostname }
        : {};
  return {
    ...serverSummary(base, inst, x.name),
    status: serverStatus(inst.vmState, inst.taskState),
    tenant_id: inst.projectId,
    user_id: inst.userId,
    metadata: x.metadata,
    // An opaque id of the host, the same for one project's servers on one host.
    hostId: inst.host
      ? createHash('sha224').update(`${inst.projectId}${inst.host}`).digest('hex')
      : '',
    image: {
      id: inst.imageId,
      links: [{ rel: 'bookmark', href: `${base}/images/${inst.imageId}` }],
    },
    flavor,
    created: apiTime(inst.createdAt),
    updated: apiTime(inst.updatedAt),
    addresses,
    accessIPv4: inst.accessIpv4 ?? '',
    accessIPv6: inst.accessIpv6 ?? '',
    'OS-DCF:diskConfig': 'MANUAL',
    progress: 0,
    ...(core
      ? {}
      : {
          'OS-EXT-AZ:availability_zone': inst.availabilityZone,
          config_drive: '',
          key_name: inst.keyName,
          'OS-SRV-USG:launched_at': usageTime(inst.launchedAt),
          'OS-SRV-USG:terminated_at': usageTime(inst.terminatedAt),
          security_groups: x.securityGroups.map((name) => ({ name })),
          'OS-EXT-STS:task_state': inst.taskState,
          'OS-EXT-STS:vm_state': inst.vmState,
          'OS-EXT-STS:power_state': POWER_STATES[inst.powerState] ?? 0,
          'os-extended-volumes:volumes_attached': (x.volumes ?? []).map((vol) => ({
            id: vol.id,
            ...(atLeast(v, 3) ? { delete_on_termination: vol.deleteOnTermination } : {}),
          })),
        }),
    ...(inst.vmState === 'error' && inst.stateReason === 'build_failed'
      ? {
          fault: {
            code: 500,
            message: inst.stateMessage ?? 'The server could not be built.',
            created: apiTime(inst.updatedAt),
          },
        }
      : {}),
    ...extended,
    ...(atLeast(v, 9) ? { locked: inst.lockedBy !== null } : {}),
    ...(atLeast(v, 16) && admin && !core
      ? { host_status: x.hostStatus ?? (inst.host ? 'UNKNOWN' : '') }
      : {}),
    ...(atLeast(v, 19) ? { description: details?.description ?? null } : {}),
    ...(atLeast(v, 26) ? { tags: details?.tags ?? [] } : {}),
    ...(atLeast(v, 63) ? { trusted_image_certificates: null } : {}),
    ...(atLeast(v, 71) && o.serverGroups ? { server_groups: x.serverGroups ?? [] } : {}),
    ...(atLeast(v, 73) ? { locked_reason: inst.lockedReason } : {}),
  };
}

/** A reservation as the Compute API names it: `r-` and 8 hex digits of the launch's id. */
export function reservationText(reservationId: string): string {
  return `r-${reservationId.replace(/-/g, '').slice(0, 8)}`;
}

/**
 * A key pair as the Compute API's listings show it: name, public key and fingerprint, and from
 * 2.2 on its type (every key pair here is an ssh one).
 */
export function keypairSummary(k: KeypairRow, v: Microversion) {
  return {
    name: k.name,
    public_key: k.publicKey,
    fingerprint: k.fingerprint,
    ...(atLeast(v, 2) ? { type: 'ssh' } : {}),
  };
}

/** A key pair as its create answers it: the summary and its user (and the new private key). */
export function keypairView(k: KeypairRow, v: Microversion, privateKey?: string) {
  return {
    ...keypairSummary(k, v),
    user_id: k.userId,
    ...(privateKey !== undefined ? { private_key: privateKey } : {}),
  };
}

/**
 * The Compute API's key pair `id` is an integer (a database row number in that API; names
 * identify key pairs everywhere else). Ours is a UUID: its first 52 bits, as a number, are
 * the same every time and unique in practice.
 */
export function keypairNumber(id: string): number {
  const hex = id.replace(/-/g, '').slice(0, 13);
  return /^[0-9a-f]{13}$/i.test(hex) ? Number.parseInt(hex, 16) : 0;
}

/** A key pair as its show answers it: with its id, user and times. */
export function keypairDetail(k: KeypairRow, v: Microversion) {
  return {
    ...keypairView(k, v),
    id: keypairNumber(k.id),
    created_at: usageTime(k.createdAt),
    updated_at: null,
    deleted: false,
    deleted_at: null,
  };
}
