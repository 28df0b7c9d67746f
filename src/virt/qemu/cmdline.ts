// The QEMU command line of one VM, as a pure function of its layout and settings, so that
// what Stratus runs can be read (and tested) in one place.
import type { NicAttachment, NicPlug } from '../driver.js';
import { nicArgs } from './nics.js';
import { volumeArgs, type VolumeRecord } from './volumes.js';

/** The guest's kernel command line for direct kernel boots (the guest image's own is the same). */
export const KERNEL_CMDLINE = 'console=ttyS0 quiet panic=-1';

/** The guest-side address of the metadata service under user-mode networking. */
export const METADATA_ADDRESS = '169.254.169.254';
/** The user-mode network each VM gets to itself (QEMU's DHCP hands out .15 and up). */
export const USER_NET = '169.254.169.0/24';

export interface VmCommand {
  name: string;
  accelerator: 'kvm' | 'tcg';
  memoryMb: number;
  vcpus: number;
  /** Overlay disk (qcow2); absent when the guest lives in its ramdisk alone. */
  disk?: string;
  /** A second disk (qcow2), never booted from: a rescued VM's own disk. */
  secondDisk?: string;
  /** Volumes attached to the VM, reached over NBD. */
  volumes?: readonly VolumeRecord[];
  /** Start from a saved state read from this migration URI (e.g. `exec:cat FILE`). */
  incoming?: string;
  kernel?: string;
  ramdisk?: string;
  consoleLog: string;
  /** The serial port's Unix socket (an interactive console); its output also goes to consoleLog. */
  serialSocket: string;
  qmpSocket: string;
  pidFile: string;
  macAddress: string;
  attachment: NicAttachment;
  /** Network cards plugged besides the first (ports attached while it ran). */
  nics?: readonly NicPlug[];
  /** User mode: the loopback port forwarded to the guest's port 22. */
  sshPort?: number;
  /** User mode: the command QEMU runs for each guest connection to the metadata address. */
  metadataCommand?: string;
  /** TCG translation cache in MiB (QEMU's default is large; a small one trims RSS). */
  tbSizeMb?: number;
}

/** QEMU option values escape a comma by doubling it. */
export function escapeOption(value: string): string {
  return value.replace(/,/g, ',,');
}

function nic(c: VmCommand): string[] {
  const a = c.attachment;
  let netdev: string;
  if (a.kind === 'user') {
    if (c.sshPort === undefined) throw new Error('User-mode networking needs an ssh port.');
    netdev =
      `user,id=n0,restrict=on,net=${USER_NET},hostfwd=tcp:127.0.0.1:${c.sshPort}-:22` +
      (c.metadataCommand
        ? `,guestfwd=tcp:${METADATA_ADDRESS}:80-cmd:${escapeOption(c.metadataCommand)}`
        : '');
  } else {
    netdev = `tap,id=n0,ifname=${escapeOption(a.ifname)},script=no,downscript=no`;
  }
  // romfile= skips the network boot ROM: nothing here boots from the network.
  return ['-netdev', netdev, '-device', `virtio-net-pci,netdev=n0,mac=${c.macAddress},romfile=`];
}

/** The argv (without the binary) that starts the VM detached (-daemonize). */
export function qemuArgs(c: VmCommand): string[] {
  const accel =
    c.accelerator === 'kvm'
      ? ['-accel', 'kvm', '-cpu', 'host']
      : ['-accel', c.tbSizeMb ? `tcg,tb-size=${c.tbSizeMb}` : 'tcg'];
  const args = [
    '-name',
    escapeOption(c.name),
    ...accel,
    '-machine',
    'pc',
    '-m',
    String(c.memoryMb),
    '-smp',
    String(c.vcpus),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    // A standard VGA card, so the console can be seen (GetConsoleScreenshot's screendump);
    // 4 MiB of video memory is plenty for a text console.
    '-device',
    'VGA,vgamem_mb=4',
    // Entropy at once: without it the guest's SSH host key generation waits for some.
    '-device',
    'virtio-rng-pci',
    // The serial port on a socket a console client may connect to, every byte the guest
    // writes also appended to the console log (GetConsoleOutput) whether or not one is.
    '-chardev',
    `socket,id=con,path=${escapeOption(c.serialSocket)},server=on,wait=off,logfile=${escapeOption(c.consoleLog)},logappend=on`,
    '-serial',
    'chardev:con',
    '-qmp',
    `unix:${escapeOption(c.qmpSocket)},server=on,wait=off`,
    '-pidfile',
    c.pidFile,
    '-daemonize',
  ];
  if (c.kernel) {
    args.push('-kernel', c.kernel, '-append', KERNEL_CMDLINE);
    if (c.ramdisk) args.push('-initrd', c.ramdisk);
  }
  if (c.disk) {
    args.push(
      '-drive',
      `file=${escapeOption(c.disk)},if=none,id=d0,format=qcow2,cache=writeback,discard=unmap`,
      '-device',
      // With -kernel the kernel loader owns boot index 0; the disk is then only a disk.
      c.kernel ? 'virtio-blk-pci,drive=d0' : 'virtio-blk-pci,drive=d0,bootindex=0',
    );
  }
  if (c.secondDisk) {
    args.push(
      '-drive',
      `file=${escapeOption(c.secondDisk)},if=none,id=d1,format=qcow2,cache=writeback,discard=unmap`,
      '-device',
      'virtio-blk-pci,drive=d1',
    );
  }
  for (const v of c.volumes ?? []) args.push(...volumeArgs(v));
  if (c.incoming) args.push('-incoming', c.incoming);
  args.push(...nic(c));
  for (const n of c.nics ?? []) args.push(...nicArgs(n));
  return args;
}

/** The full command: the binary and its argv, run inside the tap's namespace when it has one. */
export function qemuCommand(binary: string, c: VmCommand): { file: string; args: string[] } {
  const args = qemuArgs(c);
  if (c.attachment.kind === 'tap' && c.attachment.netns) {
    return { file: 'ip', args: ['netns', 'exec', c.attachment.netns, binary, ...args] };
  }
  return { file: binary, args };
}
