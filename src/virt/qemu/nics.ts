// Network cards plugged into a QEMU VM besides its first (ports attached while it runs): each
// is a netdev (the port's tap, or a user-mode network) under a virtio-net-pci device named
// after the port. Hot-plugged over QMP into a running VM, on the command line at every boot.
import { StratusError } from '../../errors.js';
import type { NicPlug } from '../driver.js';
import { escapeOption } from './cmdline.js';
import { QmpClient, QmpError } from './qmp.js';

/** QEMU ids are at most 31 characters and start with a letter. */
function hex(portId: string): string {
  return portId.replace(/[^0-9a-zA-Z]/g, '').slice(0, 24);
}

export function nicNetdevId(portId: string): string {
  return `p${hex(portId)}`;
}

export function nicDeviceId(portId: string): string {
  return `nic-${hex(portId)}`;
}

/** The netdev's options as QMP's netdev_add takes them. */
function netdevOptions(n: NicPlug): Record<string, unknown> {
  const id = nicNetdevId(n.portId);
  if (n.attachment.kind === 'user') return { type: 'user', id, restrict: true };
  return { type: 'tap', id, ifname: n.attachment.ifname, script: 'no', downscript: 'no' };
}

function deviceOptions(n: NicPlug): Record<string, string> {
  return {
    driver: 'virtio-net-pci',
    id: nicDeviceId(n.portId),
    netdev: nicNetdevId(n.portId),
    mac: n.macAddress,
    // No network boot ROM: nothing here boots from the network.
    romfile: '',
  };
}

/** The command-line arguments that boot a VM with the card plugged. */
export function nicArgs(n: NicPlug): string[] {
  const id = nicNetdevId(n.portId);
  const netdev =
    n.attachment.kind === 'user'
      ? `user,id=${id},restrict=on`
      : `tap,id=${id},ifname=${escapeOption(n.attachment.ifname)},script=no,downscript=no`;
  const d = deviceOptions(n);
  return [
    '-netdev',
    netdev,
    '-device',
    `${d.driver},netdev=${d.netdev},id=${d.id},mac=${d.mac},romfile=`,
  ];
}

async function plugged(qmp: QmpClient, portId: string): Promise<boolean> {
  const list = await qmp.execute<{ name: string }[]>('qom-list', {
    path: '/machine/peripheral',
  });
  return list.some((p) => p.name === nicDeviceId(portId));
}

/** Deletes the card's netdev if it is there. */
async function dropNetdev(qmp: QmpClient, portId: string): Promise<void> {
  await qmp.execute('netdev_del', { id: nicNetdevId(portId) }).catch(() => undefined);
}

/** Hot-plugs the card into the running VM behind `socket`; a no-op when it is plugged. */
export async function plugNic(socket: string, n: NicPlug): Promise<void> {
  const qmp = await QmpClient.connect(socket);
  try {
    if (await plugged(qmp, n.portId)) return;
    try {
      // A netdev left by an earlier try cut short.
      await dropNetdev(qmp, n.portId);
      await qmp.execute('netdev_add', netdevOptions(n));
      await qmp.execute('device_add', deviceOptions(n));
    } catch (err) {
      await dropNetdev(qmp, n.portId);
      throw new StratusError(
        'unavailable',
        `The VM could not take a network card for port '${n.portId}': ${(err as Error).message}`,
        { resource: 'port', id: n.portId, cause: err },
      );
    }
  } finally {
    qmp.close();
  }
}

/**
 * Asks the guest to release the card (PCI hot-unplug) and waits up to `timeoutMs` for QEMU to
 * report it gone; its netdev is deleted either way, so the port's traffic ends. True when the
 * card is gone; false when the guest did not answer in time (it goes with the next boot).
 */
export async function unplugNic(
  socket: string,
  portId: string,
  timeoutMs: number,
): Promise<boolean> {
  const qmp = await QmpClient.connect(socket);
  try {
    let gone = true;
    if (await plugged(qmp, portId)) {
      const id = nicDeviceId(portId);
      try {
        await qmp.execute('device_del', { id });
      } catch (err) {
        if (!(err instanceof QmpError && err.errorClass === 'DeviceNotFound')) throw err;
      }
      const deleted = await qmp.waitEventWhere(
        'DEVICE_DELETED',
        (e) => e.data?.device === id,
        timeoutMs,
      );
      gone = deleted !== undefined || !(await plugged(qmp, portId));
    }
    await dropNetdev(qmp, portId);
    return gone;
  } finally {
    qmp.close();
  }
}
