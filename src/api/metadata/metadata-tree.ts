// The metadata tree of one instance: EC2's /latest/meta-data/ and /latest/user-data, and
// OpenStack's /openstack/latest/. `answer` serves one request (the data plane's metadata
// service); `metadataFiles` is the same tree as path -> body, for a driver that serves it to
// the guest itself (QEMU user mode). One builder, so both serve the same thing. The session
// tokens of IMDSv2 and the instance's metadata options are the server's (metadata-server.ts).
import type { InstanceMetadata } from './metadata-service.js';

export type Answer = {
  status: number;
  type: string;
  body: string | Buffer;
  headers?: Record<string, string>;
};

const text = (body: string): Answer => ({ status: 200, type: 'text/plain', body });
export const NOT_FOUND: Answer = { status: 404, type: 'text/plain', body: 'Not Found\n' };

/** A directory of the tree: names to files or directories; an undefined entry is left out. */
interface Dir {
  [name: string]: Node | undefined;
}
type Node = string | Dir;

/** The root device's name, as DescribeInstanceAttribute shows it (`rootDeviceName`). */
const ROOT_DEVICE = '/dev/vda';

/**
 * EC2's `/latest/meta-data/` tree (the categories of the EC2 user guide's "Instance metadata
 * categories" that mean something here). Leaves with no value are left out, as EC2 leaves out
 * `public-ipv4` for an instance without a public address.
 */
function metaData(md: InstanceMetadata): Dir {
  const mac = md.mac ?? undefined;
  const iface: Dir = {
    'device-number': '0',
    'local-hostname': md.hostname,
    'local-ipv4s': md.localIpv4 ?? undefined,
    mac,
    'owner-id': md.ownerId,
    'public-hostname': md.publicHostname ?? undefined,
    'public-ipv4s': md.publicIpv4 ?? undefined,
    ...(md.publicIpv4 && md.localIpv4
      ? { 'ipv4-associations': { [md.publicIpv4]: md.localIpv4 } }
      : {}),
    'security-group-ids': md.securityGroupIds.join('\n'),
    'security-groups': md.securityGroups.join('\n'),
  };
  // Tag keys become path names: those a path cannot carry are left out (EC2 refuses to turn
  // on tags in metadata for an instance with such a key; here the others are still served).
  const tags: Dir = {};
  for (const t of md.tags) if (tagKeyServable(t.key)) tags[t.key] = t.value;
  return {
    'ami-id': md.imageId,
    'ami-launch-index': String(md.instance.launchIndex),
    'block-device-mapping': { ami: ROOT_DEVICE, root: ROOT_DEVICE },
    hostname: md.hostname,
    'instance-action': 'none',
    'instance-id': md.instanceId,
    'instance-life-cycle': 'on-demand',
    'instance-type': md.instanceType,
    'kernel-id': md.kernelId ?? undefined,
    'local-hostname': md.hostname,
    'local-ipv4': md.localIpv4 ?? undefined,
    mac,
    network: mac ? { interfaces: { macs: { [mac]: iface } } } : undefined,
    placement: { 'availability-zone': md.instance.availabilityZone, region: md.region },
    'public-hostname': md.publicHostname ?? undefined,
    'public-ipv4': md.publicIpv4 ?? undefined,
    'public-keys': md.key ? { '0': { 'openssh-key': `${md.key.openssh}\n` } } : undefined,
    'ramdisk-id': md.ramdiskId ?? undefined,
    'reservation-id': md.reservationId,
    'security-groups': md.securityGroups.join('\n'),
    ...(md.instance.metadataTags === 'enabled' ? { tags: { instance: tags } } : {}),
  };
}

/** Whether a tag key can be a path name of the tree. */
function tagKeyServable(key: string): boolean {
  return key !== '' && key !== '.' && key !== '..' && !key.includes('/');
}

/** A directory's listing as EC2 prints it: one name a line, directories with a '/'. */
function listing(dir: Dir): string {
  return Object.keys(dir)
    .filter((n) => dir[n] !== undefined)
    .map((n) => (typeof dir[n] === 'string' ? n : `${n}/`))
    .join('\n');
}

/** Finds `segments` under `node`: the node, or undefined when there is none. */
function walk(node: Node | undefined, segments: readonly string[]): Node | undefined {
  let at = node;
  for (const s of segments) {
    if (at === undefined || typeof at === 'string' || !Object.hasOwn(at, s)) return undefined;
    at = at[s];
  }
  return at;
}

/** Answers one GET (or HEAD) of the tree for a known instance; 405 for other methods. */
export function answer(method: string, url: string, md: InstanceMetadata): Answer {
  if (method !== 'GET' && method !== 'HEAD') return { ...NOT_FOUND, status: 405 };
  const raw = url.split('?')[0]?.replace(/\/{2,}/g, '/') ?? '/';
  let p: string;
  try {
    p = decodeURIComponent(raw);
  } catch {
    return NOT_FOUND;
  }
  const userData = md.userData
    ? { status: 200, type: 'application/octet-stream', body: md.userData }
    : NOT_FOUND;
  switch (p) {
    case '/':
      return text('latest');
    case '/latest':
    case '/latest/':
      return text(['dynamic/', 'meta-data/', ...(md.userData ? ['user-data'] : [])].join('\n'));
    case '/latest/user-data':
    case '/openstack/latest/user_data':
      return userData;
    case '/openstack':
    case '/openstack/':
      return text('latest');
    case '/openstack/latest':
    case '/openstack/latest/':
      return text(['meta_data.json', ...(md.userData ? ['user_data'] : [])].join('\n'));
    case '/openstack/latest/meta_data.json':
      return { status: 200, type: 'application/json', body: openstackMetaData(md) };
    case '/latest/dynamic':
    case '/latest/dynamic/':
      return text('instance-identity/');
    case '/latest/dynamic/instance-identity':
    case '/latest/dynamic/instance-identity/':
      return text('document');
    case '/latest/dynamic/instance-identity/document':
      return { status: 200, type: 'application/json', body: identityDocument(md) };
  }
  const prefix = '/latest/meta-data';
  if (p !== prefix && !p.startsWith(`${prefix}/`)) return NOT_FOUND;
  const rest = p.slice(prefix.length);
  const isDir = rest === '' || rest.endsWith('/');
  const segments = rest.split('/').filter((s) => s !== '');
  const node = walk(metaData(md), segments);
  if (node === undefined) return NOT_FOUND;
  if (typeof node === 'string') return isDir ? NOT_FOUND : text(node);
  // EC2 lists the key pairs by index and name: `0=my-key`.
  if (md.key && segments.length === 1 && segments[0] === 'public-keys') {
    return text(`0=${md.key.name}`);
  }
  return text(listing(node));
}

/** OpenStack's meta_data.json (Nova's keys that cloud-init's OpenStack source reads). */
function openstackMetaData(md: InstanceMetadata): string {
  return JSON.stringify({
    uuid: md.instance.id,
    name: md.hostname,
    hostname: md.hostname,
    availability_zone: md.instance.availabilityZone,
    project_id: md.instance.projectId,
    launch_index: md.instance.launchIndex,
    public_keys: md.key ? { [md.key.name]: md.key.openssh } : {},
    keys: md.key ? [{ name: md.key.name, type: 'ssh', data: md.key.openssh }] : [],
    meta: md.serverMetadata,
    // Nova hands the guest the server's admin password this way (the key is left out when
    // there is none), for cloud-init or the guest's agent to set.
    ...(md.adminPass ? { admin_pass: md.adminPass } : {}),
  });
}

/** EC2's instance identity document (unsigned: there is no signing key to check it against). */
function identityDocument(md: InstanceMetadata): string {
  return JSON.stringify(
    {
      accountId: md.ownerId,
      architecture: 'x86_64',
      availabilityZone: md.instance.availabilityZone,
      imageId: md.imageId,
      instanceId: md.instanceId,
      instanceType: md.instanceType,
      kernelId: md.kernelId,
      pendingTime: new Date(md.instance.launchedAt ?? md.instance.createdAt).toISOString(),
      privateIp: md.localIpv4,
      ramdiskId: md.ramdiskId,
      region: md.region,
      version: '2017-09-30',
    },
    null,
    2,
  );
}

/** Path names the user-mode file tree can hold (see virt/qemu/metadata-files.ts). */
const FILE_PATH = /^\/(?:[A-Za-z0-9_.-]+\/)*[A-Za-z0-9_.-]*$/;

/**
 * Every file of the tree, found the way a guest would: by reading the listings from
 * `/latest/` and `/openstack/latest/` down. A listed name ending in '/' or naming a key
 * (`0=name`) is a directory. Paths a plain file tree cannot hold (a tag key with a space) are
 * left out. An instance whose metadata endpoint is disabled, or which requires IMDSv2 tokens
 * (a file tree cannot check them), gets no files at all.
 */
export function metadataFiles(md: InstanceMetadata): Record<string, string> {
  const files: Record<string, string> = {};
  if (
    md.instance.metadataHttpEndpoint === 'disabled' ||
    md.instance.metadataHttpTokens === 'required'
  ) {
    return files;
  }
  const visit = (dir: string): void => {
    const list = answer('GET', dir, md);
    if (list.status !== 200) return;
    for (const line of String(list.body).split('\n')) {
      const name = line.split('=')[0] ?? '';
      if (name === '' || !FILE_PATH.test(`${dir}${name}`)) continue;
      if (line.includes('=') || name.endsWith('/')) {
        visit(`${dir}${name.replace(/\/$/, '')}/`);
        continue;
      }
      const file = answer('GET', `${dir}${name}`, md);
      if (file.status === 200) files[`${dir}${name}`] = String(file.body);
    }
  };
  visit('/latest/');
  visit('/openstack/latest/');
  return files;
}
