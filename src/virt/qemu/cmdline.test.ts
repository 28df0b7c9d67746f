// The QEMU command line and the accelerator choice: pure functions, checked without QEMU.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseAccelerator } from './accel.js';
import { qemuArgs, qemuCommand, type VmCommand } from './cmdline.js';
import { isSafeMetadataPath } from './metadata-files.js';

const base: VmCommand = {
  name: 'stratus-x',
  accelerator: 'tcg',
  memoryMb: 128,
  vcpus: 1,
  disk: '/s/i/disk.qcow2',
  kernel: '/s/b/k',
  ramdisk: '/s/b/r',
  consoleLog: '/s/i/console.log',
  serialSocket: '/s/i/serial.sock',
  qmpSocket: '/s/i/qmp.sock',
  pidFile: '/s/i/qemu.pid',
  macAddress: 'fa:16:3e:00:00:01',
  attachment: { kind: 'user' },
  sshPort: 2222,
  metadataCommand: '/bin/sh /s/i/metadata.sh /s/i/metadata',
  tbSizeMb: 64,
};

const after = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

describe('qemu command line', () => {
  it('boots the kernel directly, detached, with the serial port on a socket that appends to the console log', () => {
    const a = qemuArgs(base);
    assert.equal(after(a, '-accel'), 'tcg,tb-size=64');
    assert.equal(after(a, '-m'), '128');
    assert.equal(after(a, '-kernel'), '/s/b/k');
    assert.equal(after(a, '-initrd'), '/s/b/r');
    assert.match(after(a, '-append') ?? '', /console=ttyS0/);
    assert.equal(
      after(a, '-chardev'),
      'socket,id=con,path=/s/i/serial.sock,server=on,wait=off,logfile=/s/i/console.log,logappend=on',
    );
    assert.equal(after(a, '-qmp'), 'unix:/s/i/qmp.sock,server=on,wait=off');
    assert.ok(a.includes('-daemonize'));
    // The kernel loader has boot index 0; the disk must not claim it too.
    assert.ok(a.includes('virtio-blk-pci,drive=d0'));
  });

  it('forwards ssh on loopback only and serves metadata through guestfwd', () => {
    const netdev = after(qemuArgs(base), '-netdev') ?? '';
    assert.match(netdev, /^user,id=n0,restrict=on,/);
    assert.match(netdev, /hostfwd=tcp:127\.0\.0\.1:2222-:22/);
    assert.match(netdev, /guestfwd=tcp:169\.254\.169\.254:80-cmd:\/bin\/sh \/s\/i\/metadata\.sh/);
  });

  it('boots a disk through the BIOS when there is no kernel, and escapes commas', () => {
    const a = qemuArgs({ ...base, kernel: undefined, ramdisk: undefined, disk: '/s/a,b.qcow2' });
    assert.equal(a.includes('-kernel'), false);
    assert.ok(a.includes('virtio-blk-pci,drive=d0,bootindex=0'));
    assert.match(after(a, '-drive') ?? '', /^file=\/s\/a,,b\.qcow2,/);
  });

  it('uses KVM with the host CPU, and a tap inside its namespace', () => {
    const c = qemuCommand('/usr/bin/qemu-system-x86_64', {
      ...base,
      accelerator: 'kvm',
      attachment: { kind: 'tap', ifname: 'tap1', netns: 'stratus' },
    });
    assert.equal(c.file, 'ip');
    assert.deepEqual(c.args.slice(0, 4), [
      'netns',
      'exec',
      'stratus',
      '/usr/bin/qemu-system-x86_64',
    ]);
    assert.equal(after(c.args, '-accel'), 'kvm');
    assert.equal(after(c.args, '-cpu'), 'host');
    assert.equal(after(c.args, '-netdev'), 'tap,id=n0,ifname=tap1,script=no,downscript=no');
  });
});

describe('accelerator choice', () => {
  const host = (paths: string[], kvmOpens: boolean) => ({
    exists: (p: string) => paths.includes(p),
    accessible: (p: string) => p === '/dev/kvm' && kvmOpens,
  });

  it('is not fooled by an openable /dev/kvm without kvm_intel or kvm_amd', () => {
    const c = chooseAccelerator(
      'auto',
      host(['/dev/kvm', '/sys/module/kvm', '/sys/module/kvm_pvm'], true),
    );
    assert.equal(c.accelerator, 'tcg');
    assert.match(c.reason, /neither kvm_intel nor kvm_amd/);
  });

  it('uses KVM where kvm_intel is loaded and /dev/kvm opens', () => {
    assert.equal(
      chooseAccelerator('auto', host(['/sys/module/kvm_intel'], true)).accelerator,
      'kvm',
    );
    assert.equal(
      chooseAccelerator('tcg', host(['/sys/module/kvm_intel'], true)).accelerator,
      'tcg',
    );
  });

  it('refuses KVM where it was asked for but is missing', () => {
    assert.throws(() => chooseAccelerator('kvm', host([], true)), /KVM was configured/);
  });
});

describe('metadata paths', () => {
  it('accepts plain paths and refuses climbing out of the tree', () => {
    assert.ok(isSafeMetadataPath('/latest/meta-data/public-keys/0/openssh-key'));
    assert.equal(isSafeMetadataPath('/latest/../etc/passwd'), false);
    assert.equal(isSafeMetadataPath('latest'), false);
    assert.equal(isSafeMetadataPath('/a b'), false);
  });
});
