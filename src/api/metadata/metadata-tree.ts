// The metadata tree of one instance: EC2's /latest/meta-data/ and /latest/user-data, and
// OpenStack's /openstack/latest/. `answer` serves one request (the data plane's metadata
// service); `metadataFiles` is the same tree as path -> body, for a driver that serves it to
// the guest itself (QEMU user mode). One builder, so both serve the same thing.
import { randomBytes } from 'node:crypto';
import type { InstanceMetadata } from './metadata-service.js';

export type Answer = { status: number; type: string; body: string | Buffer };

const text = (body: string): Answer => ({ status: 200, type: 'text/plain', body });
export const NOT_FOUND: Answer = { status: 404, type: 'text/plain', body: 'Not Found\n' };

/** Answers one metadata request for a known instance. */
export function answer(method: string, url: string, md: InstanceMetadata): Answer {
  const p = url.split('?')[0]?.replace(/\/{2,}/g, '/') ?? '/';
  // IMDSv2: hand out a session token; the caller is already known by its address.
  if (method === 'PUT' && p === '/latest/api/token') return text(randomBytes(24).toString('hex'));
  if (method !== 'GET' && method !== 'HEAD') return { ...NOT_FOUND, status: 405 };
  const meta: Record<string, string | undefined> = {
    'ami-id': md.imageId,
    'ami-launch-index': String(md.instance.launchIndex),
    hostname: md.hostname,
    'instance-id': md.instanceId,
    'instance-type': md.instanceType,
    'local-hostname': md.hostname,
    'kernel-id': md.kernelId ?? undefined,
    'local-ipv4': md.localIpv4 ?? undefined,
    mac: md.mac ?? undefined,
    'public-ipv4': md.publicIpv4 ?? undefined,
    'ramdisk-id': md.ramdiskId ?? undefined,
    'reservation-id': md.reservationId,
    'security-groups': md.securityGroups.join('\n'),
  };
  const listing = (names: string[]) => text(names.join('\n'));
  switch (p) {
    case '/':
      return listing(['latest']);
    case '/latest':
    case '/latest/':
      return listing(['meta-data/', ...(md.userData ? ['user-data'] : [])]);
    case '/latest/meta-data':
    case '/latest/meta-data/':
      return listing([
        ...Object.keys(meta).filter((k) => meta[k] !== undefined),
        'placement/',
        ...(md.key ? ['public-keys/'] : []),
      ]);
    case '/latest/meta-data/placement':
    case '/latest/meta-data/placement/':
      return listing(['availability-zone']);
    case '/latest/meta-data/placement/availability-zone':
      return text(md.instance.availabilityZone);
    case '/latest/meta-data/public-keys':
    case '/latest/meta-data/public-keys/':
      return md.key ? listing([`0=${md.key.name}`]) : NOT_FOUND;
    case '/latest/meta-data/public-keys/0':
    case '/latest/meta-data/public-keys/0/':
      return md.key ? listing(['openssh-key']) : NOT_FOUND;
    case '/latest/meta-data/public-keys/0/openssh-key':
      return md.key ? text(`${md.key.openssh}\n`) : NOT_FOUND;
    case '/latest/user-data':
    case '/openstack/latest/user_data':
      return md.userData
        ? { status: 200, type: 'application/octet-stream', body: md.userData }
        : NOT_FOUND;
    case '/openstack':
    case '/openstack/':
      return listing(['latest']);
    case '/openstack/latest':
    case '/openstack/latest/':
      return listing(['meta_data.json', ...(md.userData ? ['user_data'] : [])]);
    case '/openstack/latest/meta_data.json':
      return {
        status: 200,
        type: 'application/json',
        body: JSON.stringify({
          uuid: md.instance.id,
          name: md.hostname,
          hostname: md.hostname,
          availability_zone: md.instance.availabilityZone,
          project_id: md.instance.projectId,
          launch_index: md.instance.launchIndex,
          public_keys: md.key ? { [md.key.name]: md.key.openssh } : {},
          keys: md.key ? [{ name: md.key.name, type: 'ssh', data: md.key.openssh }] : [],
          meta: md.serverMetadata,
        }),
      };
  }
  const prefix = '/latest/meta-data/';
  if (p.startsWith(prefix)) {
    const value = meta[p.slice(prefix.length)];
    if (value !== undefined) return text(value);
  }
  return NOT_FOUND;
}

/**
 * Every file of the tree, found the way a guest would: by reading the listings from
 * `/latest/` and `/openstack/latest/` down. A listed name ending in '/' or naming a key
 * (`0=name`) is a directory.
 */
export function metadataFiles(md: InstanceMetadata): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (dir: string): void => {
    const listing = answer('GET', dir, md);
    if (listing.status !== 200) return;
    for (const line of String(listing.body).split('\n')) {
      const name = line.split('=')[0] ?? '';
      if (name === '') continue;
      if (line.includes('=') || name.endsWith('/')) {
        walk(`${dir}${name.replace(/\/$/, '')}/`);
        continue;
      }
      const file = answer('GET', `${dir}${name}`, md);
      if (file.status === 200) files[`${dir}${name}`] = String(file.body);
    }
  };
  walk('/latest/');
  walk('/openstack/latest/');
  return files;
}
