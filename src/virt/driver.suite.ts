// The virt driver conformance suite: the semantics every driver promises (driver.ts), run
// against each implementation (fake in its own test, qemu with the real guest image).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GuestSpec, VirtDriver, VolumeConnection } from './driver.js';

export interface DriverUnderTest {
  driver: VirtDriver;
  /** A spec the driver can boot, for the given instance id. */
  spec(instanceId: string): GuestSpec;
  /** Removes what the harness made (state dirs, ...). */
  cleanup?(): Promise<void>;
  /** Where a volume of this id can be reached (an NBD export the harness made). */
  volume(volumeId: string): Promise<VolumeConnection>;
}

const isError = (kind: string) => (err: unknown) => (err as { kind?: string }).kind === kind;

/** Registers the suite; `skip` (a reason) skips it where the driver cannot run. */
export function driverSuite(
  name: string,
  make: () => Promise<DriverUnderTest>,
  skip: string | false = false,
): void {
  describe(`virt driver conformance: ${name}`, { skip }, () => {
    let t: DriverUnderTest;
    const id = randomUUID();

    before(async () => {
      t = await make();
      await t.driver.init();
    });
    after(async () => {
      for (const g of await t.driver.list()) await t.driver.destroy(g.instanceId);
      await t.driver.close();
      await t.cleanup?.();
    });

    it('knows nothing of an instance it never spawned', async () => {
      const unknown = randomUUID();
      assert.equal(await t.driver.getState(unknown), 'nostate');
      assert.equal(await t.driver.consoleOutput(unknown, 1024), '');
      await t.driver.destroy(unknown);
      await assert.rejects(t.driver.powerOff(unknown, false), isError('not_found'));
      await assert.rejects(t.driver.reboot(unknown, true), isError('not_found'));
      await assert.rejects(t.driver.screenshot(unknown), isError('not_found'));
      await assert.rejects(t.driver.serialConsole(unknown), isError('not_found'));
      await assert.rejects(t.driver.pause(unknown), isError('not_found'));
      await assert.rejects(t.driver.suspend(unknown), isError('not_found'));
      await assert.rejects(t.driver.rescue(unknown, { imageId: 'x' }), isError('not_found'));
    });

    it('spawns a VM that runs and is listed', async () => {
      const info = await t.driver.spawn(t.spec(id));
      assert.equal(info.instanceId, id);
      assert.equal(info.powerState, 'running');
      assert.equal(await t.driver.getState(id), 'running');
      const listed = (await t.driver.list()).find((g) => g.instanceId === id);
      assert.equal(listed?.powerState, 'running');
    });

    it('keeps console output within the asked size', async () => {
      const all = await t.driver.consoleOutput(id, 1 << 20);
      assert.ok(all.length > 0);
      const tail = await t.driver.consoleOutput(id, 10);
      assert.ok(Buffer.byteLength(tail) <= 10);
      assert.ok(all.endsWith(tail));
    });

    it('takes a JPEG screenshot of a running VM, and refuses one of a VM that is off', async () => {
      const jpeg = await t.driver.screenshot(id, { wakeUp: true });
      assert.deepEqual([...jpeg.subarray(0, 3)], [0xff, 0xd8, 0xff]);
      await t.driver.powerOff(id, true);
      await assert.rejects(t.driver.screenshot(id), isError('conflict'));
      await t.driver.powerOn(id);
    });

    it('gives a running VM a serial port to connect to, and refuses one for a VM that is off', async () => {
      const { path } = await t.driver.serialConsole(id);
      const socket = net.connect(path);
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      socket.destroy();
      await t.driver.powerOff(id, true);
      await assert.rejects(t.driver.serialConsole(id), isError('conflict'));
      await t.driver.powerOn(id);
    });

    it('powers off and on; each is a no-op when already done', async () => {
      await t.driver.powerOff(id, false);
      assert.equal(await t.driver.getState(id), 'shutdown');
      await t.driver.powerOff(id, false);
      await t.driver.powerOn(id);
      assert.equal(await t.driver.getState(id), 'running');
      await t.driver.powerOn(id);
      assert.equal(await t.driver.getState(id), 'running');
    });

    it('powers off at once when forced, and on again', async () => {
      await t.driver.powerOff(id, true);
      assert.equal(await t.driver.getState(id), 'shutdown');
      await t.driver.powerOff(id, true);
      await t.driver.powerOn(id);
      assert.equal(await t.driver.getState(id), 'running');
    });

    it('pauses and unpauses, and refuses to pause a VM that is off', async () => {
      await t.driver.pause(id);
      assert.equal(await t.driver.getState(id), 'paused');
      assert.equal((await t.driver.list()).find((g) => g.instanceId === id)?.powerState, 'paused');
      await t.driver.unpause(id);
      assert.equal(await t.driver.getState(id), 'running');
      await t.driver.powerOff(id, true);
      await assert.rejects(t.driver.pause(id), isError('conflict'));
      await t.driver.powerOn(id);
    });

    it('suspends to its own storage and resumes; each is a no-op when already done', async () => {
      await t.driver.suspend(id);
      assert.equal(await t.driver.getState(id), 'suspended');
      await t.driver.suspend(id);
      await t.driver.resume(id);
      assert.equal(await t.driver.getState(id), 'running');
      await t.driver.resume(id);
      assert.equal(await t.driver.getState(id), 'running');
    });

    it('stays running through a hard reboot', async () => {
      await t.driver.reboot(id, true);
      assert.equal(await t.driver.getState(id), 'running');
    });

    it('copies the root disk, running or off, into a qcow2 without a backing file', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-disk-copy-'));
      try {
        for (const phase of ['running', 'off']) {
          if (phase === 'off') await t.driver.powerOff(id, true);
          const target = path.join(dir, `${phase}.qcow2`);
          await t.driver.snapshotRootDisk(id, target);
          const head = Buffer.alloc(16);
          const fd = fs.openSync(target, 'r');
          fs.readSync(fd, head, 0, 16, 0);
          fs.closeSync(fd);
          assert.equal(head.subarray(0, 4).toString('latin1'), 'QFI\xfb', `${phase}: qcow2`);
          assert.equal(head.readBigUInt64BE(8), 0n, `${phase}: no backing file`);
        }
        assert.equal(await t.driver.getState(id), 'shutdown');
        await t.driver.powerOn(id);
        await assert.rejects(
          t.driver.snapshotRootDisk(id, path.join(dir, 'q.qcow2'), { quiesce: true }),
          isError('invalid'),
        );
        await assert.rejects(
          t.driver.snapshotRootDisk(randomUUID(), path.join(dir, 'u.qcow2')),
          isError('not_found'),
        );
        assert.equal(fs.existsSync(path.join(dir, 'q.qcow2')), false);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('attaches a volume once, keeps it through a power cycle, and detaches it; detaching again succeeds', async () => {
      const volumeId = randomUUID();
      const attachment = { volumeId, device: '/dev/vdb', connection: await t.volume(volumeId) };
      await assert.rejects(t.driver.attachVolume(randomUUID(), attachment), isError('not_found'));
      await t.driver.attachVolume(id, attachment);
      await t.driver.attachVolume(id, attachment);
      assert.deepEqual(await t.driver.listVolumes(id), [attachment]);
      await t.driver.powerOff(id, true);
      await t.driver.powerOn(id);
      assert.deepEqual(await t.driver.listVolumes(id), [attachment]);
      // Forced: a real guest may still be booting after the power cycle, too early to answer
      // the unplug (the end-to-end tests detach from booted guests without force).
      await t.driver.detachVolume(id, volumeId, { force: true });
      assert.deepEqual(await t.driver.listVolumes(id), []);
      await t.driver.detachVolume(id, volumeId, { force: false });
      await t.driver.detachVolume(randomUUID(), volumeId, { force: true });
      assert.deepEqual(await t.driver.listVolumes(randomUUID()), []);
    });

    it('destroys the VM, and destroying again succeeds', async () => {
      await t.driver.destroy(id);
      assert.equal(await t.driver.getState(id), 'nostate');
      assert.equal(
        (await t.driver.list()).some((g) => g.instanceId === id),
        false,
      );
      await t.driver.destroy(id);
    });

    it('reports a capacity and the architecture of its guests', async () => {
      const c = await t.driver.capacity();
      assert.ok(c.vcpus > 0 && c.memoryMb > 0 && c.diskGb >= 0);
      assert.match(t.driver.capabilities.architecture, /^(x86_64|i386|arm64)$/);
    });
  });
}
