// Volumes in a QEMU VM: each is an NBD client node under a raw node, plugged as a virtio disk
// whose serial is the volume id. The raw node stays for the attachment's life; the NBD node
// under it is replaced (blockdev-reopen) when the volume grows, since QEMU cannot grow an NBD
// node in place, and the raw node's block_resize then tells the guest the new size.
import { StratusError } from '../../errors.js';
import type { VolumeAttachment } from '../driver.js';
import { QmpClient, QmpError } from './qmp.js';

/** An attachment as a VM's record keeps it: `generation` names its current NBD node. */
export interface VolumeRecord extends VolumeAttachment {
  generation: number;
  /** The VM's root disk (GuestSpec.rootVolume): plugged first at every boot. */
  root?: boolean;
  /** The firmware boots from it (a root volume of an image without a kernel). */
  bootable?: boolean;
}

/** How long an NBD node waits for its server to come back before I/O fails, in seconds. */
export const NBD_RECONNECT_SECONDS = 30;

/** virtio-blk serials are at most 20 bytes. */
export function volumeSerial(volumeId: string): string {
  return volumeId.slice(0, 20);
}

/** QEMU node names are at most 31 characters and start with a letter. */
function hex(volumeId: string): string {
  return volumeId.replace(/[^0-9a-zA-Z]/g, '').slice(0, 24);
}

export function rawNode(volumeId: string): string {
  return `r${hex(volumeId)}`;
}

export function nbdNode(volumeId: string, generation: number): string {
  return `n${hex(volumeId)}g${generation}`;
}

export function volumeDeviceId(volumeId: string): string {
  return `vol-${volumeId}`;
}

function nbdOptions(v: VolumeRecord): Record<string, unknown> {
  return {
    driver: 'nbd',
    'node-name': nbdNode(v.volumeId, v.generation),
    server: { type: 'inet', host: v.connection.host, port: String(v.connection.port) },
    export: v.connection.exportName,
    'reconnect-delay': NBD_RECONNECT_SECONDS,
  };
}

function rawOptions(v: VolumeRecord): Record<string, unknown> {
  return {
    driver: 'raw',
    'node-name': rawNode(v.volumeId),
    file: nbdNode(v.volumeId, v.generation),
  };
}

function deviceOptions(v: VolumeRecord): Record<string, string> {
  return {
    driver: 'virtio-blk-pci',
    id: volumeDeviceId(v.volumeId),
    drive: rawNode(v.volumeId),
    serial: volumeSerial(v.volumeId),
  };
}

/** The command-line arguments that boot a VM with the volume attached. */
export function volumeArgs(v: VolumeRecord): string[] {
  const d = deviceOptions(v);
  return [
    '-blockdev',
    JSON.stringify(nbdOptions(v)),
    '-blockdev',
    JSON.stringify(rawOptions(v)),
    '-device',
    `${d.driver},id=${d.id},drive=${d.drive},serial=${d.serial}${v.bootable ? ',bootindex=0' : ''}`,
  ];
}

/** Whether the VM has the volume's disk plugged now. */
async function plugged(qmp: QmpClient, volumeId: string): Promise<boolean> {
  const list = await qmp.execute<{ name: string }[]>('qom-list', {
    path: '/machine/peripheral',
  });
  return list.some((p) => p.name === volumeDeviceId(volumeId));
}

async function nodeNames(qmp: QmpClient): Promise<Set<string>> {
  const nodes = await qmp.execute<{ 'node-name': string }[]>('query-named-block-nodes', {
    flat: true,
  });
  return new Set(nodes.map((n) => n['node-name']));
}

/** Deletes the nodes of an attachment that are there; deleting missing ones is fine. */
async function dropNodes(qmp: QmpClient, v: VolumeRecord): Promise<void> {
  const have = await nodeNames(qmp);
  for (const node of [rawNode(v.volumeId), nbdNode(v.volumeId, v.generation)]) {
    if (have.has(node)) await qmp.execute('blockdev-del', { 'node-name': node });
  }
}

/** Hot-plugs the volume into the running VM behind `socket`; a no-op when it is plugged. */
export async function plugVolume(socket: string, v: VolumeRecord): Promise<void> {
  const qmp = await QmpClient.connect(socket);
  try {
    if (await plugged(qmp, v.volumeId)) return;
    try {
      // Nodes left by an earlier try cut short.
      await dropNodes(qmp, v);
      await qmp.execute('blockdev-add', nbdOptions(v));
      await qmp.execute('blockdev-add', rawOptions(v));
      await qmp.execute('device_add', deviceOptions(v));
    } catch (err) {
      await dropNodes(qmp, v).catch(() => undefined);
      throw new StratusError(
        'unavailable',
        `The VM could not attach volume '${v.volumeId}' from ${v.connection.host}:${v.connection.port}: ${(err as Error).message}`,
        { resource: 'volume', id: v.volumeId, cause: err },
      );
    }
  } finally {
    qmp.close();
  }
}

/**
 * Asks the guest to release the volume's disk (PCI hot-unplug) and waits up to `timeoutMs`
 * for QEMU to report it gone, then deletes its nodes. True when it is gone; false when the
 * guest did not answer in time (the unplug request stays: a guest that answers later still
 * releases it).
 */
export async function unplugVolume(
  socket: string,
  v: VolumeRecord,
  timeoutMs: number,
): Promise<boolean> {
  const qmp = await QmpClient.connect(socket);
  try {
    const id = volumeDeviceId(v.volumeId);
    if (await plugged(qmp, v.volumeId)) {
      try {
        await qmp.execute('device_del', { id });
      } catch (err) {
        // Removed meanwhile: it is gone, which is what was asked.
        if (!(err instanceof QmpError && err.errorClass === 'DeviceNotFound')) throw err;
      }
      const gone = await qmp.waitEventWhere(
        'DEVICE_DELETED',
        (e) => e.data?.device === id,
        timeoutMs,
      );
      if (!gone && (await plugged(qmp, v.volumeId))) return false;
    }
    await dropNodes(qmp, v);
    return true;
  } finally {
    qmp.close();
  }
}

/**
 * Gives the plugged volume a new NBD connection (the volume host exports the grown volume
 * again) and resizes its raw node to `sizeBytes`, which tells the guest. Returns the record
 * with its new generation.
 */
export async function growVolume(
  socket: string,
  v: VolumeRecord,
  sizeBytes: number,
): Promise<VolumeRecord> {
  const next: VolumeRecord = { ...v, generation: v.generation + 1 };
  const qmp = await QmpClient.connect(socket);
  try {
    const have = await nodeNames(qmp);
    if (have.has(nbdNode(next.volumeId, next.generation))) {
      await qmp.execute('blockdev-del', { 'node-name': nbdNode(next.volumeId, next.generation) });
    }
    await qmp.execute('blockdev-add', nbdOptions(next));
    await qmp.execute('blockdev-reopen', { options: [rawOptions(next)] });
    await qmp.execute('block_resize', { 'node-name': rawNode(v.volumeId), size: sizeBytes });
    await qmp
      .execute('blockdev-del', { 'node-name': nbdNode(v.volumeId, v.generation) })
      .catch(() => undefined);
    return next;
  } catch (err) {
    throw new StratusError(
      'unavailable',
      `The VM could not take the new size of volume '${v.volumeId}': ${(err as Error).message}`,
      { resource: 'volume', id: v.volumeId, cause: err },
    );
  } finally {
    qmp.close();
  }
}
