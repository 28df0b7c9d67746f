// Copies of a VM's root disk for images made from instances: a self-contained qcow2 with the
// instance's overlay and the base image under it flattened into one file.
//
// A running (or paused) VM: QMP `blockdev-backup` with `sync: full` from the guest's disk
// (the `-drive` named d0) to a new qcow2 node opened on the target file. The backup job copies
// the disk as it was when the job started: a guest write to a block not copied yet first has
// the old block copied (copy-before-write), so the guest runs on at full speed and the copy is
// one instant of the disk, as after a power cut (crash consistent). The job reads through the
// backing chain, so the copy has no backing file. We chose it over `blockdev-snapshot-sync`
// plus `qemu-img convert` plus `block-commit` because nothing of the guest's own chain
// changes: a failure half way leaves the guest's disk as it was, with one file to remove.
//
// No filesystem freeze: that needs a guest agent (qemu-guest-agent over virtio-serial) and
// the project's guest image runs none. A clean file system is had instead by powering the
// guest off around the copy (EC2's CreateImage without NoReboot); see instance-images.ts.
//
// A VM that is off (or suspended: its disk is not in use): `qemu-img convert -O qcow2` of the
// overlay, which also reads through the chain.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { QmpClient, QmpError } from './qmp.js';

const run = promisify(execFile);

/** The node and job names of one copy, unique enough for one VM's QMP namespace. */
function names(): { node: string; job: string } {
  const tag = Math.random().toString(36).slice(2, 10);
  return { node: `stratus-copy-${tag}`, job: `stratus-copy-job-${tag}` };
}

/**
 * Copies the disk `device` of the running VM at `qmpSocket` to a new qcow2 file `target` of
 * `virtualSize` bytes, waiting for the backup job for at most `timeoutMs`. On a failure the
 * job is cancelled, the node removed and the file deleted.
 */
export async function backupRunningDisk(options: {
  qmpSocket: string;
  device: string;
  target: string;
  virtualSize: number;
  qemuImg: string;
  timeoutMs: number;
}): Promise<void> {
  const { qmpSocket, device, target, virtualSize, qemuImg, timeoutMs } = options;
  await run(qemuImg, ['create', '-q', '-f', 'qcow2', target, String(virtualSize)]);
  const { node, job } = names();
  let qmp: QmpClient | undefined;
  let added = false;
  try {
    qmp = await QmpClient.connect(qmpSocket, 30_000);
    await qmp.execute('blockdev-add', {
      driver: 'qcow2',
      'node-name': node,
      file: { driver: 'file', filename: target },
    });
    added = true;
    const done = qmp.waitEvent('BLOCK_JOB_COMPLETED', timeoutMs);
    const cancelled = qmp.waitEvent('BLOCK_JOB_CANCELLED', timeoutMs);
    await qmp.execute('blockdev-backup', {
      'job-id': job,
      device,
      target: node,
      sync: 'full',
      'auto-finalize': true,
      'auto-dismiss': true,
    });
    const event = await Promise.race([done, cancelled]);
    if (!event) {
      await qmp.execute('block-job-cancel', { device: job, force: true }).catch(() => undefined);
      throw new QmpError(`The copy of the disk did not finish within ${timeoutMs} ms.`);
    }
    if (event.event === 'BLOCK_JOB_CANCELLED') throw new QmpError('The disk copy was cancelled.');
    const error = event.data?.error;
    if (typeof error === 'string') throw new QmpError(`The disk copy failed: ${error}`);
  } catch (err) {
    await fs.promises.rm(target, { force: true });
    throw err;
  } finally {
    if (qmp) {
      if (added) await qmp.execute('blockdev-del', { 'node-name': node }).catch(() => undefined);
      qmp.close();
    }
  }
}

/** Copies the qcow2 chain ending in `source` (not in use) into one new qcow2 file `target`. */
export async function convertStoppedDisk(options: {
  source: string;
  target: string;
  qemuImg: string;
  timeoutMs: number;
}): Promise<void> {
  try {
    await run(
      options.qemuImg,
      ['convert', '-q', '-f', 'qcow2', '-O', 'qcow2', options.source, options.target],
      { timeout: options.timeoutMs },
    );
  } catch (err) {
    await fs.promises.rm(options.target, { force: true });
    throw err;
  }
}
