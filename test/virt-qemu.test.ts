// The QEMU driver booting the real guest image under TCG (KVM where the host has it): spawn,
// console, ssh over the user-mode forward with the key the driver served as metadata, soft and
// hard reboot, stop and start, adoption by a new driver over the same state dir, a VM killed
// behind the driver's back, destroy leaving nothing behind, and five guests at once. One guest
// is reused across the steps to keep the time down. Skipped when QEMU or the image is missing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { driverSuite } from '../src/virt/driver.suite.js';
import type { GuestSpec } from '../src/virt/index.js';
import { QemuDriver } from '../src/virt/index.js';
import { NbdExports } from '../src/volume/index.js';
import { needs } from './support/capabilities.js';
import { BANNER, count, eventually, GUEST, makeKey, sshUntil } from './support/guest.js';

const { skip } = needs('qemu', 'qemu-img', 'ssh', 'guest-image');

function spec(id: string, publicKey: string, token: string): GuestSpec {
  return {
    instanceId: id,
    name: `vm-${id.slice(0, 8)}`,
    vcpus: 1,
    memoryMb: 128,
    diskGb: 1,
    imageId: 'test-image',
    image: { path: GUEST.disk, format: 'qcow2' },
    kernel: { path: GUEST.kernel },
    ramdisk: { path: GUEST.ramdisk },
    network: { macAddress: '52:54:00:00:00:01', attachment: { kind: 'user' } },
    metadata: {
      '/latest/meta-data/instance-id': `i-${id.slice(0, 8)}`,
      '/latest/meta-data/local-hostname': `vm-${id.slice(0, 8)}.stratus.internal`,
      '/latest/meta-data/public-keys/0/openssh-key': `${publicKey}\n`,
      '/latest/user-data': `#!/bin/sh\necho "user data ran ${token}"\n`,
    },
  };
}

/** The pid qemu wrote for the VM, read from the driver's instance dir. */
function vmPid(stateDir: string, id: string): number {
  return Number(fs.readFileSync(path.join(stateDir, 'instances', id, 'pid'), 'utf8'));
}

/** Whether the process runs; a zombie waiting for its parent to reap it does not. */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

describe('qemu driver with the real guest image', { skip }, () => {
  let stateDir: string;
  let keyDir: string;
  let keyFile: string;
  let publicKey: string;
  let driver: QemuDriver;
  const id = randomUUID();
  const token = randomUUID().slice(0, 8);
  const console = () => driver.consoleOutput(id, 64 * 1024);
  const banners = async () => count(await console(), BANNER);
  const port = async () => {
    const g = (await driver.list()).find((x) => x.instanceId === id);
    assert.ok(g?.ssh, 'the driver reports an ssh forward');
    return g.ssh.port;
  };

  before(async () => {
    // Short: QMP socket paths under it must fit in 107 bytes.
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sq-'));
    keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sq-key-'));
    ({ keyFile, publicKey } = makeKey(keyDir, `virt-test-${token}`));
    driver = new QemuDriver({ stateDir, powerOffTimeoutMs: 20_000, rebootTimeoutMs: 20_000 });
    assert.deepEqual(await driver.init(), []);
  });

  after(async () => {
    for (const g of await driver.list()) await driver.destroy(g.instanceId);
    fs.rmSync(stateDir, { recursive: true, force: true });
    fs.rmSync(keyDir, { recursive: true, force: true });
  });

  it('reports real guests, its accelerator and the host capacity', async () => {
    assert.equal(driver.capabilities.realGuests, true);
    assert.equal(driver.capabilities.survivesRestart, true);
    const kvm = ['kvm_intel', 'kvm_amd'].some((m) => fs.existsSync(`/sys/module/${m}`));
    assert.equal(driver.capabilities.accelerator, kvm ? 'kvm' : 'tcg');
    const c = await driver.capacity();
    assert.equal(c.vcpus, os.cpus().length);
    assert.equal(c.memoryMb, Math.floor(os.totalmem() / 1024 ** 2));
    assert.ok(c.diskGb > 0);
  });

  it('spawns a VM that runs, on an overlay over the cached base image', async () => {
    const info = await driver.spawn(spec(id, publicKey, token));
    assert.equal(info.powerState, 'running');
    assert.equal(info.ssh?.host, '127.0.0.1');
    assert.equal(await driver.getState(id), 'running');
    const disk = JSON.parse(
      execFileSync('/usr/bin/qemu-img', [
        'info',
        '-U',
        '--output=json',
        path.join(stateDir, 'instances', id, 'disk.qcow2'),
      ]).toString(),
    ) as { format: string; 'backing-filename': string; 'virtual-size': number };
    assert.equal(disk.format, 'qcow2');
    assert.equal(path.dirname(disk['backing-filename']), path.join(stateDir, 'base'));
    assert.equal(disk['virtual-size'], 1024 ** 3);
  });

  it('shows the banner and the ssh forward on the console', async () => {
    await eventually(
      async () => (/stratus-guest \S+ \(kernel /.test(await console()) ? true : undefined),
      90_000,
      'banner and version',
    );
    const text = await console();
    assert.equal(count(text, BANNER), 1);
    assert.match(
      text,
      new RegExp(`ssh to the guest is forwarded from 127\\.0\\.0\\.1:${await port()}`),
    );
  });

  it('lets ssh in with the key served as metadata, and ran the user data', async () => {
    const out = await sshUntil(await port(), keyFile, 'hostname; cat /proc/cmdline', 120_000);
    assert.match(out, new RegExp(`^vm-${id.slice(0, 8)}\\n`));
    assert.match(out, /console=ttyS0/);
    await eventually(
      async () => ((await console()).includes(`user data ran ${token}`) ? true : undefined),
      30_000,
      'user data output',
    );
  });

  it('reboots softly: the guest itself reboots (Ctrl-Alt-Del) and comes back', async () => {
    const before = await banners();
    await driver.reboot(id, false);
    await eventually(
      async () => ((await banners()) > before ? true : undefined),
      90_000,
      'banner after reboot',
    );
    assert.match(await console(), /rebooting \(ctrl-alt-del\)/);
    assert.equal(await driver.getState(id), 'running');
    assert.match(await sshUntil(await port(), keyFile, 'echo back', 120_000), /^back$/m);
  });

  it('stops through the ACPI power button and starts again', async () => {
    const pid = vmPid(stateDir, id);
    await driver.powerOff(id, false);
    assert.equal(await driver.getState(id), 'shutdown');
    assert.equal(alive(pid), false, 'qemu has exited');
    assert.match(await console(), /powering off \(ACPI power button\)/);
    const before = await banners();
    await driver.powerOn(id);
    assert.equal(await driver.getState(id), 'running');
    await eventually(async () => ((await banners()) > before ? true : undefined), 90_000, 'banner');
    assert.match(await sshUntil(await port(), keyFile, 'echo started', 120_000), /^started$/m);
  });

  it('is adopted by a new driver over the same state dir', async () => {
    const pid = vmPid(stateDir, id);
    await driver.close();
    driver = new QemuDriver({ stateDir, powerOffTimeoutMs: 20_000, rebootTimeoutMs: 20_000 });
    assert.deepEqual(await driver.init(), [id]);
    assert.equal(await driver.getState(id), 'running');
    assert.equal(vmPid(stateDir, id), pid, 'the same qemu process');
    assert.ok((await banners()) >= 1);
  });

  it('resets hard', async () => {
    const before = await banners();
    await driver.reboot(id, true);
    await eventually(async () => ((await banners()) > before ? true : undefined), 90_000, 'banner');
    assert.equal(await driver.getState(id), 'running');
  });

  it('shows a VM whose qemu was killed with SIGKILL as not running', async () => {
    const pid = vmPid(stateDir, id);
    process.kill(pid, 'SIGKILL');
    await eventually(async () => (alive(pid) ? undefined : true), 10_000, 'qemu to die');
    assert.equal(await driver.getState(id), 'shutdown');
    const listed = (await driver.list()).find((g) => g.instanceId === id);
    assert.equal(listed?.powerState, 'shutdown');
  });

  it('destroys the VM: no process, no files; destroying again succeeds', async () => {
    await driver.powerOn(id);
    const pid = vmPid(stateDir, id);
    assert.ok(alive(pid));
    await driver.destroy(id);
    assert.equal(alive(pid), false);
    assert.equal(fs.existsSync(path.join(stateDir, 'instances', id)), false);
    assert.equal(await driver.getState(id), 'nostate');
    assert.deepEqual(await driver.list(), []);
    await driver.destroy(id);
    // The cached base images stay for the next VM.
    assert.ok(fs.readdirSync(path.join(stateDir, 'base')).length >= 3);
  });

  it('refuses a spawn with nothing to boot and leaves nothing behind', async () => {
    const bad = randomUUID();
    const s = spec(bad, publicKey, token);
    delete s.image;
    delete s.kernel;
    await assert.rejects(driver.spawn(s), /neither a disk image nor a kernel/);
    const missing = randomUUID();
    await assert.rejects(
      driver.spawn({
        ...spec(missing, publicKey, token),
        kernel: { path: '/nonexistent/vmlinux' },
      }),
      /cannot be read/,
    );
    assert.equal(fs.existsSync(path.join(stateDir, 'instances', missing)), false);
  });

  it('runs five guests at once, each reachable over ssh', async () => {
    const ids = Array.from({ length: 5 }, () => randomUUID());
    try {
      const infos = await Promise.all(ids.map((i) => driver.spawn(spec(i, publicKey, token))));
      const ports = infos.map((g) => g.ssh?.port);
      assert.equal(new Set(ports).size, 5, 'five distinct ssh forwards');
      const names = await Promise.all(
        infos.map((g) => sshUntil(g.ssh?.port ?? 0, keyFile, 'hostname', 180_000)),
      );
      assert.deepEqual(
        names.map((n) => n.trim()),
        ids.map((i) => `vm-${i.slice(0, 8)}`),
      );
    } finally {
      await Promise.all(ids.map((i) => driver.destroy(i)));
    }
    assert.deepEqual(await driver.list(), []);
  });
});

// The shared driver semantics, on a VM of its own; a short power-off timeout, since the guest
// is still booting (and deaf to the power button) when the suite presses it.
driverSuite(
  'qemu',
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sqs-'));
    const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sqs-key-'));
    const { publicKey } = makeKey(keyDir, 'suite');
    // Volumes for the volume case: qcow2 files exported by a storage daemon of the test's own.
    const nbd = new NbdExports({ directory: path.join(dir, 'nbd'), address: '127.0.0.1', port: 0 });
    return {
      driver: new QemuDriver({ stateDir: dir, powerOffTimeoutMs: 3000 }),
      spec: (instanceId) => spec(instanceId, publicKey, 'suite'),
      volume: async (volumeId) => {
        const file = path.join(dir, `${volumeId}.qcow2`);
        execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '64M']);
        return { kind: 'nbd', ...(await nbd.export(volumeId, file)) };
      },
      cleanup: async () => {
        await nbd.stop();
        fs.rmSync(dir, { recursive: true, force: true });
        fs.rmSync(keyDir, { recursive: true, force: true });
      },
    };
  },
  skip,
);
