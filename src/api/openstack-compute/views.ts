// What the Compute API shows: version documents, flavors, servers, key pairs and limits, in
// the shapes OpenStack's clients read. Servers are the domain's instances; their status is
// the view of vm_state + task_state the Compute API defines.
import { createHash } from 'node:crypto';
import type { InstanceRow, KeypairRow, TaskState, VmState } from '../../db/index.js';
import {
  MAX_VERSION,
  MIN_VERSION,
  versionText,
  atLeast,
  type Microversion,
} from './microversion.js';

export type ServerStatus = 'BUILD' | 'ACTIVE' | 'SHUTOFF' | 'REBOOT' | 'ERROR' | 'DELETED';

/**
 * The Compute API's status of an instance. As in that API, a task in progress shows only for
 * reboots; an instance being stopped is still ACTIVE (task_state says powering-off) and one
 * being deleted keeps its status until it is gone.
 */
export function serverStatus(vmState: VmState, taskState: TaskState | null): ServerStatus {
  switch (vmState) {
    case 'building':
      return 'BUILD';
    case 'stopped':
      return 'SHUTOFF';
    case 'error':
      return 'ERROR';
    case 'deleted':
      return 'DELETED';
    case 'active':
      return taskState === 'rebooting' ? 'REBOOT' : 'ACTIVE';
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

export function versionView(base: string) {
  return {
    id: 'v2.1',
    status: 'CURRENT',
    version: versionText(MAX_VERSION),
    min_version: versionText(MIN_VERSION),
    updated: '2013-07-23T11:33:21Z',
    links: [{ rel: 'self', href: `${base}/v2.1/` }],
    'media-types': [
      { base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' },
    ],
  };
}

/**
 * The compatibility API v2.0 as the version list shows it: no microversions (empty `version`
 * and `min_version`), SUPPORTED. Its document answers at `/v2/`; its resources are v2.1's.
 */
export function legacyVersionView(base: string) {
  return {
    id: 'v2.0',
    status: 'SUPPORTED',
    version: '',
    min_version: '',
    updated: '2011-01-21T11:33:21Z',
    links: [{ rel: 'self', href: `${base}/v2/` }],
    'media-types': [
      { base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2' },
    ],
  };
}

/** What a server's view shows beyond its instance row. */
export interface ServerExtras {
  name: string;
  securityGroups: string[];
  /** The fixed address's network and MAC, if it has one. */
  fixed: { network: string; address: string; mac: string | null } | undefined;
  floating: string | undefined;
  /** The server's metadata items. */
  metadata: Record<string, string>;
}

export function serverSummary(base: string, inst: InstanceRow, name: string) {
  return { id: inst.id, name, links: resourceLinks(base, `servers/${inst.id}`) };
}

export function serverView(base: string, inst: InstanceRow, x: ServerExtras, admin: boolean) {
  const addresses: Record<string, unknown[]> = {};
  if (x.fixed) {
    const mac = x.fixed.mac ?? inst.macAddress;
    const entry = (addr: string, type: 'fixed' | 'floating') => ({
      version: 4,
      addr,
      'OS-EXT-IPS:type': type,
      'OS-EXT-IPS-MAC:mac_addr': mac,
    });
    addresses[x.fixed.network] = [
      entry(x.fixed.address, 'fixed'),
      ...(x.floating ? [entry(x.floating, 'floating')] : []),
    ];
  }
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
    flavor: {
      id: inst.flavorId,
      links: resourceLinks(base, `flavors/${inst.flavorId}`).slice(1),
    },
    created: apiTime(inst.createdAt),
    updated: apiTime(inst.updatedAt),
    addresses,
    accessIPv4: inst.accessIpv4 ?? '',
    accessIPv6: inst.accessIpv6 ?? '',
    'OS-DCF:diskConfig': 'MANUAL',
    progress: 0,
    'OS-EXT-AZ:availability_zone': inst.availabilityZone,
    config_drive: '',
    key_name: inst.keyName,
    'OS-SRV-USG:launched_at': usageTime(inst.launchedAt),
    'OS-SRV-USG:terminated_at': usageTime(inst.terminatedAt),
    security_groups: x.securityGroups.map((name) => ({ name })),
    'OS-EXT-STS:task_state': inst.taskState,
    'OS-EXT-STS:vm_state': inst.vmState,
    'OS-EXT-STS:power_state': POWER_STATES[inst.powerState] ?? 0,
    'os-extended-volumes:volumes_attached': [],
    ...(inst.vmState === 'error' && inst.stateReason === 'build_failed'
      ? {
          fault: {
            code: 500,
            message: inst.stateMessage ?? 'The server could not be built.',
            created: apiTime(inst.updatedAt),
          },
        }
      : {}),
    ...(admin
      ? {
          'OS-EXT-SRV-ATTR:host': inst.host,
          'OS-EXT-SRV-ATTR:hypervisor_hostname': inst.host,
          'OS-EXT-SRV-ATTR:instance_name': `instance-${inst.id.slice(0, 8)}`,
        }
      : {}),
  };
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
