// The simulated physical network of a qemu lab, made of namespaces the lab owns: a guest
// (flat) segment and a public segment, each a bridge in a namespace of its own, with one veth
// per host whose far end is made directly inside the host's data-plane namespace (flat0,
// pub0), as a real host's NICs would be there; a storage segment joins the compute hosts (st0)
// to the storage host's namespace. Client namespaces on the public segment play "another
// machine". Nothing is ever made in the root namespace.
import { Namespace } from '../network/index.js';
import {
  FIRST_CLIENT,
  PUBLIC_GATEWAY,
  type LabHost,
  type LabSegments,
  type LabStorage,
} from './plan.js';

const BRIDGE = 'br0';
/** A host's port on the storage segment, in its namespace. */
export const STORAGE_INTERFACE = 'st0';

async function segment(name: string, address?: string): Promise<Namespace> {
  const ns = new Namespace(name);
  await ns.create();
  await ns.ip(['link', 'add', BRIDGE, 'type', 'bridge']).catch(async (err: unknown) => {
    // Already made by an earlier, interrupted `up`.
    if (
      !(await ns.ip(['link', 'show', BRIDGE]).then(
        () => true,
        () => false,
      ))
    )
      throw err;
  });
  if (address) await ns.ip(['addr', 'replace', address, 'dev', BRIDGE]);
  await ns.ip(['link', 'set', BRIDGE, 'up']);
  return ns;
}

/**
 * Plugs `target` namespace into the segment: a veth `port` on the segment's bridge whose
 * other end, `inside`, is made in `target`.
 */
async function plug(
  seg: Namespace,
  port: string,
  target: string,
  inside: string,
  address?: string,
): Promise<void> {
  await seg.ip(['link', 'add', port, 'type', 'veth', 'peer', 'name', inside, 'netns', target]);
  await seg.ip(['link', 'set', port, 'master', BRIDGE, 'up']);
  const t = new Namespace(target);
  if (address) await t.ip(['addr', 'replace', address, 'dev', inside]);
  await t.ip(['link', 'set', inside, 'up']);
}

/**
 * Makes both segments and plugs each host in. The hosts' data-plane namespaces are made
 * here first, so that flat0 and pub0 are there when the compute service starts. `made`
 * is told each namespace as it is made, so a failed `up` can take them away.
 */
export async function buildSegments(
  segments: LabSegments,
  hosts: readonly LabHost[],
  made: (namespace: string) => void,
): Promise<void> {
  made(segments.flat);
  const flat = await segment(segments.flat);
  made(segments.public);
  const pub = await segment(segments.public, PUBLIC_GATEWAY);
  for (const [i, host] of hosts.entries()) {
    made(host.namespace);
    await new Namespace(host.namespace).create();
    // The compute service gives pub0 its public address (--public-address); the flat port
    // carries no host address of its own until the data plane bridges it.
    await plug(flat, `h${i + 1}`, host.namespace, 'flat0');
    await plug(pub, `h${i + 1}`, host.namespace, 'pub0');
  }
  if (segments.underlay === undefined) return;
  // Project networks: the underlay, and each host's overlay namespace made here with its
  // underlay port (the compute service gives it --underlay-address) and, on the network
  // host, a second port on the public segment for the routers.
  made(segments.underlay);
  const underlay = await segment(segments.underlay);
  for (const [i, host] of hosts.entries()) {
    if (!host.overlay) continue;
    made(host.overlay.namespace);
    await new Namespace(host.overlay.namespace).create();
    await plug(underlay, `h${i + 1}`, host.overlay.namespace, 'ul0');
    if (host.overlay.networkHost) await plug(pub, `r${i + 1}`, host.overlay.namespace, 'pub1');
  }
}

/**
 * Makes the storage segment: the storage host's namespace plugged in with its address (its
 * storage daemon's NBD server listens there), and each compute host's namespace with its own
 * (st0), so that the qemu running in a host's namespace reaches the exports. The hosts'
 * namespaces exist already (buildSegments). `made` is told each namespace as it is made.
 */
export async function buildStorageSegment(
  name: string,
  storage: LabStorage,
  hosts: readonly LabHost[],
  made: (namespace: string) => void,
): Promise<void> {
  made(name);
  const seg = await segment(name);
  made(storage.namespace);
  await new Namespace(storage.namespace).create();
  await plug(seg, 's1', storage.namespace, STORAGE_INTERFACE, storage.address);
  for (const [i, host] of hosts.entries()) {
    if (!host.storageAddress) continue;
    await plug(seg, `h${i + 1}`, host.namespace, STORAGE_INTERFACE, host.storageAddress);
  }
}

export function clientNamespace(segments: LabSegments, client: string): string {
  return `${segments.public}-client-${client}`;
}

/** Adds a client namespace on the public segment; returns its address. */
export async function addClient(
  segments: LabSegments,
  client: string,
  taken: readonly number[],
): Promise<{ namespace: string; address: string; index: number }> {
  let index = FIRST_CLIENT;
  while (taken.includes(index)) index++;
  if (index > 254) throw new Error('the public segment has no free client address left');
  const namespace = clientNamespace(segments, client);
  const ns = new Namespace(namespace);
  if (ns.exists()) throw new Error(`the client namespace ${namespace} already exists`);
  await ns.create();
  try {
    const address = `172.24.4.${index}/24`;
    await plug(new Namespace(segments.public), `c${index}`, namespace, 'eth0', address);
    return { namespace, address, index };
  } catch (err) {
    await ns.destroy();
    throw err;
  }
}

/** Removes a client namespace (its veth goes with it). Succeeds when it is gone. */
export async function removeClient(segments: LabSegments, client: string): Promise<void> {
  await new Namespace(clientNamespace(segments, client)).destroy();
}
