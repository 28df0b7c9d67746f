// The QEMU virt driver: real guests, one detached qemu process per VM with everything it needs
// in its instance directory, controlled over QMP, adopted again when the compute service
// restarts. KVM where the host really has it, TCG otherwise.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StratusError } from '../../errors.js';
import { freePort } from '../../ports.js';
import type {
  DiskSnapshotOptions,
  DriverCapabilities,
  GuestInfo,
  GuestResize,
  GuestSize,
  GuestSpec,
  HostCapacity,
  NicAttachment,
  NicPlug,
  PowerState,
  RescueBoot,
  SerialEndpoint,
  VirtDriver,
  VolumeAttachment,
} from '../driver.js';
import { noGuestAgent } from '../driver.js';
import { chooseAccelerator, type AcceleratorChoice, type AcceleratorMode } from './accel.js';
import { qemuCommand, type VmCommand } from './cmdline.js';
import { BaseImageCache } from './disk.js';
import { backupRunningDisk, convertStoppedDisk } from './disk-snapshot.js';
import { RESPONDER_SCRIPT, writeMetadataTree } from './metadata-files.js';
import { QmpClient, qmpExecute } from './qmp.js';
import { encodeJpeg, parsePpm } from '../jpeg.js';
import { isVmProcess, signalVm, waitGone } from './vm-process.js';
import { plugNic, unplugNic } from './nics.js';
import { growVolume, plugVolume, unplugVolume, type VolumeRecord } from './volumes.js';

export interface QemuDriverOptions {
  /** The driver's own directory: `instances/<uuid>/` per VM and `base/` for cached images. */
  stateDir: string;
  /** Default: qemu-system-x86_64 from PATH. */
  qemuBinary?: string;
  /** Default: qemu-img from PATH. */
  qemuImgBinary?: string;
  /** 'auto' (default): KVM where kvm_intel/kvm_amd is loaded, TCG otherwise. */
  accelerator?: AcceleratorMode;
  /** How long a guest has to power off after the ACPI power button before it is ended, ms. */
  powerOffTimeoutMs?: number;
  /** How long a guest has to reboot after Ctrl-Alt-Del before it is reset, ms. */
  rebootTimeoutMs?: number;
  /** TCG translation cache size in MiB; smaller saves memory per VM. */
  tbSizeMb?: number;
  /** How long a guest has to release a volume's disk on detach before it is refused, ms. */
  volumeDetachTimeoutMs?: number;
  logger?: DriverLogger;
}

/** The little the driver logs; any pino logger fits. */
export interface DriverLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** What the instance dir's vm.json keeps: enough to boot the VM again, or adopt it. */
interface VmRecord {
  version: 1;
  instanceId: string;
  name: string;
  vcpus: number;
  memoryMb: number;
  macAddress: string;
  attachment: NicAttachment;
  disk: boolean;
  kernel?: string;
  ramdisk?: string;
  sshPort?: number;
  /** Its vCPUs are stopped (QMP stop), memory kept; cleared when it is started again. */
  paused?: boolean;
  /** A resize waiting to be confirmed: the size before it (the old disk is `resizeBackup`). */
  resize?: GuestSize;
  /** Rescued: what it boots instead (a rescue disk is `rescueDisk`), its own disk second. */
  rescue?: { disk: boolean; kernel?: string; ramdisk?: string };
  /** Attached volumes; every boot plugs them. */
  volumes?: VolumeRecord[];
  /** Network cards besides the first (ports attached while it ran); every boot plugs them. */
  nics?: NicPlug[];
}

const FILES = {
  record: 'vm.json',
  disk: 'disk.qcow2',
  console: 'console.log',
  qmp: 'qmp.sock',
  serial: 'serial.sock',
  qemuPid: 'qemu.pid',
  pid: 'pid',
  metadata: 'metadata',
  responder: 'metadata.sh',
  screen: 'screen.ppm',
  /** The guest's saved state while suspended (QEMU's migration stream). */
  saved: 'suspended.state',
  /** The disk as it was before a resize, until it is confirmed or reverted. */
  resizeBackup: 'disk.pre-resize.qcow2',
  /** The overlay of the rescue image while rescued. */
  rescueDisk: 'rescue.qcow2',
} as const;

/** How long a forced detach lets the guest release the disk before it is taken anyway, ms. */
const FORCED_DETACH_WAIT_MS = 5000;

/** Unix socket paths are limited to 107 bytes on Linux. */
const MAX_SOCKET_PATH = 107;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Why VMs cannot run under the qemu state dir `stateDir`, or undefined when they can: each VM's
 * control socket (`<stateDir>/instances/<uuid>/qmp.sock`) must fit a Unix socket path, and
 * the metadata command QEMU runs is split on white space.
 */
export function qemuStateDirProblem(stateDir: string): string | undefined {
  const dir = path.resolve(stateDir);
  if (/\s/.test(dir)) return `The qemu state dir '${dir}' must not contain white space.`;
  const socket = path.join(dir, 'instances', '00000000-0000-0000-0000-000000000000', FILES.qmp);
  if (socket.length > MAX_SOCKET_PATH) {
    return `The qemu state dir ${dir} is too long for the VMs' control sockets (${socket.length} of at most ${MAX_SOCKET_PATH} bytes); use a shorter one.`;
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const silent: DriverLogger = { info: () => undefined, warn: () => undefined };

function runFile(
  file: string,
  args: string[],
  timeoutMs: number,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr: String(stderr) }));
      else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

export class QemuDriver implements VirtDriver {
  readonly name = 'qemu';
  readonly capabilities: DriverCapabilities;
  /** The accelerator and why it was chosen. */
  readonly acceleration: AcceleratorChoice;
  readonly #opts: Required<Omit<QemuDriverOptions, 'logger'>>;
  readonly #log: DriverLogger;
  readonly #instancesDir: string;
  readonly #cache: BaseImageCache;

  constructor(options: QemuDriverOptions) {
    this.#opts = {
      stateDir: path.resolve(options.stateDir),
      qemuBinary: options.qemuBinary ?? 'qemu-system-x86_64',
      qemuImgBinary: options.qemuImgBinary ?? 'qemu-img',
      accelerator: options.accelerator ?? 'auto',
      powerOffTimeoutMs: options.powerOffTimeoutMs ?? 30_000,
      rebootTimeoutMs: options.rebootTimeoutMs ?? 60_000,
      tbSizeMb: options.tbSizeMb ?? 64,
      volumeDetachTimeoutMs: options.volumeDetachTimeoutMs ?? 60_000,
    };
    this.#log = options.logger ?? silent;
    this.acceleration = chooseAccelerator(this.#opts.accelerator);
    this.capabilities = {
      realGuests: true,
      accelerator: this.acceleration.accelerator,
      survivesRestart: true,
      // The driver runs qemu-system-x86_64.
      architecture: 'x86_64',
    };
    this.#instancesDir = path.join(this.#opts.stateDir, 'instances');
    this.#cache = new BaseImageCache(
      path.join(this.#opts.stateDir, 'base'),
      this.#opts.qemuImgBinary,
    );
  }

  async init(): Promise<string[]> {
    fs.mkdirSync(this.#instancesDir, { recursive: true, mode: 0o700 });
    this.#cache.sweep();
    const adopted: string[] = [];
    for (const id of this.#ids()) {
      const pid = this.#livePid(id);
      if (pid === undefined) continue;
      try {
        await qmpExecute(this.#file(id, 'qmp'), 'query-status', undefined, 3000);
        adopted.push(id);
      } catch (err) {
        this.#log.warn({ instanceId: id, pid, err }, 'VM process runs but QMP does not answer');
      }
    }
    this.#log.info(
      { accelerator: this.acceleration.accelerator, reason: this.acceleration.reason, adopted },
      'qemu driver ready',
    );
    return adopted;
  }

  async spawn(spec: GuestSpec): Promise<GuestInfo> {
    if (!UUID.test(spec.instanceId)) {
      throw new StratusError('invalid', `'${spec.instanceId}' is not an instance uuid.`, {
        resource: 'instance',
        id: spec.instanceId,
      });
    }
    const dir = this.#dir(spec.instanceId);
    if (fs.existsSync(dir)) {
      throw new StratusError(
        'already_exists',
        `The VM of instance ${spec.instanceId} already exists.`,
        {
          resource: 'instance',
          id: spec.instanceId,
        },
      );
    }
    if (!spec.image && !spec.kernel && !spec.rootVolume) {
      throw new StratusError(
        'invalid',
        `Instance ${spec.instanceId} has neither a disk image nor a kernel to boot.`,
        { resource: 'image', id: spec.imageId },
      );
    }
    for (const [what, id, file] of [
      ['kernel', spec.kernelId, spec.kernel],
      ['ramdisk', spec.ramdiskId, spec.ramdisk],
    ] as const) {
      if (id && !file) {
        throw new StratusError('invalid', `The ${what} image '${id}' has no stored file to boot.`, {
          resource: 'image',
          id,
        });
      }
    }
    const attachment = spec.network?.attachment ?? { kind: 'user' };
    const problem = qemuStateDirProblem(this.#opts.stateDir);
    if (problem) throw new StratusError('invalid', problem, { resource: 'config', id: 'stateDir' });
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      const [kernel, ramdisk] = await Promise.all([
        spec.kernel ? this.#cache.ensure(spec.kernel.path, 'kernel') : undefined,
        spec.ramdisk ? this.#cache.ensure(spec.ramdisk.path, 'ramdisk') : undefined,
      ]);
      // A VM that boots from a volume has no disk of its own.
      if (spec.image && !spec.rootVolume) {
        const base = await this.#cache.ensure(spec.image.path, 'disk');
        await this.#cache.createOverlay(
          base,
          spec.image.format,
          this.#file(spec.instanceId, 'disk'),
          spec.diskGb,
        );
      }
      if (attachment.kind === 'user') {
        writeMetadataTree(this.#file(spec.instanceId, 'metadata'), spec.metadata ?? {});
        fs.writeFileSync(this.#file(spec.instanceId, 'responder'), RESPONDER_SCRIPT, {
          mode: 0o755,
        });
      }
      const rec: VmRecord = {
        version: 1,
        instanceId: spec.instanceId,
        name: spec.name,
        vcpus: spec.vcpus,
        memoryMb: spec.memoryMb,
        macAddress: spec.network?.macAddress ?? '52:54:00:12:34:56',
        attachment,
        disk: spec.image !== undefined && !spec.rootVolume,
        ...(kernel ? { kernel } : {}),
        ...(ramdisk ? { ramdisk } : {}),
        ...(spec.rootVolume
          ? { volumes: [{ ...spec.rootVolume, generation: 0, root: true, bootable: !kernel }] }
          : {}),
      };
      this.#save(rec);
      await this.#launch(rec);
      return this.#info(rec, 'running');
    } catch (err) {
      await this.destroy(spec.instanceId).catch(() => undefined);
      if (err instanceof StratusError) throw err;
      throw new StratusError(
        'internal',
        `QEMU could not start instance ${spec.instanceId}: ${(err as Error).message}`,
        { resource: 'instance', id: spec.instanceId, cause: err },
      );
    }
  }

  async destroy(instanceId: string): Promise<void> {
    if (!UUID.test(instanceId)) return;
    const dir = this.#dir(instanceId);
    if (!fs.existsSync(dir)) return;
    const pid = this.#livePid(instanceId);
    if (pid !== undefined) {
      const marker = this.#file(instanceId, 'qmp');
      signalVm(pid, marker, 'SIGKILL');
      if (!(await waitGone(pid, marker, 10_000))) {
        throw new StratusError(
          'internal',
          `The qemu process ${pid} of ${instanceId} did not end.`,
          {
            resource: 'instance',
            id: instanceId,
          },
        );
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }

  async reboot(instanceId: string, hard: boolean): Promise<void> {
    const rec = this.#record(instanceId);
    const pid = this.#livePid(instanceId);
    if (pid === undefined) {
      // Nothing runs to reboot: booting it is what a reboot of a dead VM means.
      await this.#launch(rec);
      return;
    }
    const socket = this.#file(instanceId, 'qmp');
    if (hard) {
      await qmpExecute(socket, 'system_reset');
      return;
    }
    const qmp = await QmpClient.connect(socket);
    try {
      // The guest's own reboot: Ctrl-Alt-Del, as a person at the console would press it.
      await qmp.execute('send-key', {
        keys: ['ctrl', 'alt', 'delete'].map((k) => ({ type: 'qcode', data: k })),
      });
      const reset = await qmp.waitEvent('RESET', this.#opts.rebootTimeoutMs);
      if (reset) return;
      if (isVmProcess(pid, socket)) {
        this.#log.warn({ instanceId }, 'guest did not reboot in time; resetting it');
        await qmp.execute('system_reset');
        return;
      }
    } finally {
      qmp.close();
    }
    // The guest powered off instead of rebooting: start it again.
    await this.#launch(rec);
  }

  async powerOff(instanceId: string, force: boolean): Promise<void> {
    this.#record(instanceId);
    const pid = this.#livePid(instanceId);
    if (pid === undefined) return;
    const socket = this.#file(instanceId, 'qmp');
    if (!force) {
      try {
        await qmpExecute(socket, 'system_powerdown');
      } catch {
        // QMP gone: the process is ended below.
      }
      if (await waitGone(pid, socket, this.#opts.powerOffTimeoutMs)) return;
      this.#log.warn({ instanceId }, 'guest did not power off in time; ending it');
    }
    try {
      await qmpExecute(socket, 'quit');
    } catch {
      // Ended below.
    }
    if (await waitGone(pid, socket, 5000)) return;
    signalVm(pid, socket, 'SIGKILL');
    await waitGone(pid, socket, 5000);
  }

  async powerOn(instanceId: string, size?: GuestSize): Promise<void> {
    let rec = this.#record(instanceId);
    if (this.#livePid(instanceId) !== undefined) return;
    if (size && (size.vcpus !== rec.vcpus || size.memoryMb !== rec.memoryMb)) {
      rec = { ...rec, vcpus: size.vcpus, memoryMb: size.memoryMb };
      this.#save(rec);
    }
    await this.#launch(rec);
  }

  async getState(instanceId: string): Promise<PowerState> {
    if (!UUID.test(instanceId) || !fs.existsSync(this.#file(instanceId, 'record')))
      return 'nostate';
    return this.#powerState(this.#record(instanceId));
  }

  /** QMP stop: the vCPUs stop, memory and devices stay as they are. */
  async pause(instanceId: string): Promise<void> {
    const rec = this.#record(instanceId);
    this.#running(rec);
    await qmpExecute(this.#file(instanceId, 'qmp'), 'stop');
    this.#save({ ...rec, paused: true });
  }

  async unpause(instanceId: string): Promise<void> {
    const rec = this.#record(instanceId);
    this.#running(rec);
    await qmpExecute(this.#file(instanceId, 'qmp'), 'cont');
    this.#save({ ...rec, paused: false });
  }

  /**
   * Saves the guest's state with QEMU's own migration stream, written to a file in the
   * instance dir (`migrate` to `exec:cat > FILE`, the vCPUs stopped first so the state and
   * the disk agree), then ends the process; `resume` starts qemu with `-incoming` from that
   * file and lets the vCPUs run. The VM gives back its host memory meanwhile, as a suspended
   * guest should; the disk overlay is not touched, so nothing else needs saving.
   */
  async suspend(instanceId: string): Promise<void> {
    const rec = this.#record(instanceId);
    const pid = this.#livePid(instanceId);
    if (pid === undefined && fs.existsSync(this.#file(instanceId, 'saved'))) return;
    this.#running(rec);
    const socket = this.#file(instanceId, 'qmp');
    const saved = this.#file(instanceId, 'saved');
    const partial = `${saved}.tmp`;
    fs.rmSync(partial, { force: true });
    const qmp = await QmpClient.connect(socket);
    try {
      await qmp.execute('stop');
      await qmp.execute('migrate', { uri: `exec:cat > ${partial}` });
      const deadline = Date.now() + 120_000;
      for (;;) {
        const m = await qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
        if (m.status === 'completed') break;
        if (m.status === 'failed' || m.status === 'cancelled' || Date.now() > deadline) {
          await qmp.execute('cont').catch(() => undefined);
          throw new StratusError(
            'internal',
            `QEMU could not save the state of instance ${instanceId}: ${m['error-desc'] ?? m.status ?? 'timed out'}.`,
            { resource: 'instance', id: instanceId },
          );
        }
        await sleep(100);
      }
      fs.renameSync(partial, saved);
      await qmp.execute('quit').catch(() => undefined);
    } finally {
      qmp.close();
    }
    if (pid !== undefined && !(await waitGone(pid, socket, 10_000))) {
      signalVm(pid, socket, 'SIGKILL');
      await waitGone(pid, socket, 5000);
    }
    this.#save({ ...rec, paused: false });
  }

  async resume(instanceId: string): Promise<void> {
    const rec = this.#record(instanceId);
    const saved = this.#file(instanceId, 'saved');
    if (this.#livePid(instanceId) !== undefined) return;
    if (!fs.existsSync(saved)) {
      throw new StratusError(
        'conflict',
        `The VM of instance '${instanceId}' has no saved state to resume from.`,
        { resource: 'instance', id: instanceId, reason: 'instance_state' },
      );
    }
    await this.#launch(rec, { incoming: `exec:cat ${saved}` });
    const socket = this.#file(instanceId, 'qmp');
    const deadline = Date.now() + 120_000;
    for (;;) {
      const { status } = await qmpExecute<{ status: string }>(socket, 'query-status');
      if (status !== 'inmigrate') break;
      if (Date.now() > deadline) {
        throw new StratusError(
          'internal',
          `QEMU did not restore the state of instance ${instanceId} in time.`,
          { resource: 'instance', id: instanceId },
        );
      }
      await sleep(100);
    }
    // The state was saved with the vCPUs stopped, so it arrives stopped: let them run.
    await qmpExecute(socket, 'cont');
    fs.rmSync(saved, { force: true });
  }

  /**
   * A new disk from the spec's image, kernel and ramdisk; the network card, the console log
   * and the ssh forward stay. The old VM is ended at once (its disk is thrown away anyway).
   */
  async rebuild(spec: GuestSpec): Promise<GuestInfo> {
    const id = spec.instanceId;
    const old = this.#record(id);
    await this.powerOff(id, true);
    for (const f of ['disk', 'saved', 'resizeBackup', 'rescueDisk'] as const)
      fs.rmSync(this.#file(id, f), { force: true });
    const [kernel, ramdisk] = await Promise.all([
      spec.kernel ? this.#cache.ensure(spec.kernel.path, 'kernel') : undefined,
      spec.ramdisk ? this.#cache.ensure(spec.ramdisk.path, 'ramdisk') : undefined,
    ]);
    if (spec.image) {
      const base = await this.#cache.ensure(spec.image.path, 'disk');
      await this.#cache.createOverlay(base, spec.image.format, this.#file(id, 'disk'), spec.diskGb);
    }
    if (old.attachment.kind === 'user' && spec.metadata) {
      fs.rmSync(this.#file(id, 'metadata'), { recursive: true, force: true });
      writeMetadataTree(this.#file(id, 'metadata'), spec.metadata);
    }
    const { kernel: _k, ramdisk: _r, resize: _z, rescue: _s, paused: _p, ...kept } = old;
    const rec: VmRecord = {
      ...kept,
      vcpus: spec.vcpus,
      memoryMb: spec.memoryMb,
      disk: spec.image !== undefined,
      ...(kernel ? { kernel } : {}),
      ...(ramdisk ? { ramdisk } : {}),
    };
    this.#save(rec);
    await this.#launch(rec);
    return this.#info(rec, 'running');
  }

  /**
   * Same-host resize: the guest is powered off (asked first), its disk copied aside for a
   * revert, grown with qemu-img, and the VM booted with the new vCPUs and memory.
   */
  async resize(
    instanceId: string,
    size: GuestResize,
    options: { powerOn: boolean },
  ): Promise<void> {
    let rec = this.#record(instanceId);
    await this.powerOff(instanceId, false);
    const disk = this.#file(instanceId, 'disk');
    const backup = this.#file(instanceId, 'resizeBackup');
    if (!rec.resize) {
      if (rec.disk) {
        await fs.promises.copyFile(disk, `${backup}.tmp`);
        await fs.promises.rename(`${backup}.tmp`, backup);
      }
      rec = { ...rec, resize: { vcpus: rec.vcpus, memoryMb: rec.memoryMb } };
      this.#save(rec);
    }
    if (rec.disk) await this.#cache.grow(disk, size.diskGb);
    rec = { ...rec, vcpus: size.vcpus, memoryMb: size.memoryMb };
    this.#save(rec);
    if (options.powerOn) await this.#launch(rec);
  }

  async confirmResize(instanceId: string): Promise<void> {
    const { resize: _z, ...rec } = this.#record(instanceId);
    fs.rmSync(this.#file(instanceId, 'resizeBackup'), { force: true });
    this.#save(rec);
  }

  /** The resized VM is ended (it is discarded), the old disk put back and booted at its old size. */
  async revertResize(
    instanceId: string,
    old: GuestSize,
    options: { powerOn: boolean },
  ): Promise<void> {
    const { resize, ...rec } = this.#record(instanceId);
    if (!resize) return;
    await this.powerOff(instanceId, true);
    const backup = this.#file(instanceId, 'resizeBackup');
    if (rec.disk && fs.existsSync(backup)) fs.renameSync(backup, this.#file(instanceId, 'disk'));
    const back: VmRecord = { ...rec, vcpus: old.vcpus, memoryMb: old.memoryMb };
    this.#save(back);
    if (options.powerOn) await this.#launch(back);
  }

  /**
   * The guest is powered off (asked first, so its disk is consistent) and the VM booted from
   * an overlay of the rescue image (or its kernel and ramdisk), its own disk attached second.
   */
  async rescue(instanceId: string, boot: RescueBoot): Promise<void> {
    let rec = this.#record(instanceId);
    await this.powerOff(instanceId, false);
    const rescueDisk = this.#file(instanceId, 'rescueDisk');
    fs.rmSync(rescueDisk, { force: true });
    const [kernel, ramdisk] = await Promise.all([
      boot.kernel ? this.#cache.ensure(boot.kernel.path, 'kernel') : undefined,
      boot.ramdisk ? this.#cache.ensure(boot.ramdisk.path, 'ramdisk') : undefined,
    ]);
    if (boot.image) {
      const base = await this.#cache.ensure(boot.image.path, 'disk');
      await this.#cache.createOverlay(base, boot.image.format, rescueDisk, 0);
    }
    rec = {
      ...rec,
      rescue: {
        disk: boot.image !== undefined,
        ...(kernel ? { kernel } : {}),
        ...(ramdisk ? { ramdisk } : {}),
      },
    };
    this.#save(rec);
    await this.#launch(rec);
  }

  /** The rescue VM is ended (nothing of it is kept) and the VM booted from its own disk. */
  async unrescue(instanceId: string): Promise<void> {
    const { rescue, ...rec } = this.#record(instanceId);
    if (!rescue) return;
    await this.powerOff(instanceId, true);
    fs.rmSync(this.#file(instanceId, 'rescueDisk'), { force: true });
    this.#save(rec);
    await this.#launch(rec);
  }

  /**
   * A flattened qcow2 copy of the VM's disk (disk-snapshot.ts): a backup job over QMP while
   * its qemu runs, `qemu-img convert` of the overlay when it does not. No guest agent: a
   * quiesced copy is refused.
   */
  async snapshotRootDisk(
    instanceId: string,
    target: string,
    options: DiskSnapshotOptions = {},
  ): Promise<void> {
    const rec = this.#record(instanceId);
    if (options.quiesce) throw noGuestAgent(instanceId);
    if (!rec.disk || rec.rescue) {
      throw new StratusError(
        'conflict',
        rec.rescue
          ? `The VM of instance '${instanceId}' is rescued; its own disk is not its root disk now.`
          : `The VM of instance '${instanceId}' has no disk to copy (it runs from its ramdisk).`,
        { resource: 'instance', id: instanceId, reason: 'instance_state' },
      );
    }
    if (fs.existsSync(target)) {
      throw new StratusError('already_exists', `The file ${target} exists already.`, {
        resource: 'image_file',
        id: target,
      });
    }
    const disk = this.#file(instanceId, 'disk');
    const timeoutMs = 30 * 60_000;
    try {
      if (this.#livePid(instanceId) !== undefined) {
        const { virtualSize } = await this.#cache.info(disk);
        await backupRunningDisk({
          qmpSocket: this.#file(instanceId, 'qmp'),
          device: 'd0',
          target,
          virtualSize,
          qemuImg: this.#opts.qemuImgBinary,
          timeoutMs,
        });
      } else {
        await convertStoppedDisk({
          source: disk,
          target,
          qemuImg: this.#opts.qemuImgBinary,
          timeoutMs,
        });
      }
    } catch (err) {
      throw new StratusError(
        'internal',
        `QEMU could not copy the disk of instance ${instanceId}: ${(err as Error).message}`,
        { resource: 'instance', id: instanceId, cause: err },
      );
    }
    this.#log.info({ instanceId, target }, 'disk copied');
  }

  #powerState(rec: VmRecord): PowerState {
    if (this.#livePid(rec.instanceId) !== undefined) return rec.paused ? 'paused' : 'running';
    return fs.existsSync(this.#file(rec.instanceId, 'saved')) ? 'suspended' : 'shutdown';
  }

  /** Refuses (conflict) when the VM's process is not running. */
  #running(rec: VmRecord): void {
    if (this.#livePid(rec.instanceId) !== undefined) return;
    throw new StratusError('conflict', `The VM of instance '${rec.instanceId}' is not running.`, {
      resource: 'instance',
      id: rec.instanceId,
      reason: 'instance_state',
    });
  }

  async consoleOutput(instanceId: string, maxBytes: number): Promise<string> {
    if (!UUID.test(instanceId)) return '';
    let fd: fs.promises.FileHandle;
    try {
      fd = await fs.promises.open(this.#file(instanceId, 'console'), 'r');
    } catch {
      return '';
    }
    try {
      const { size } = await fd.stat();
      const length = Math.min(size, Math.max(0, maxBytes));
      const buf = Buffer.alloc(length);
      await fd.read(buf, 0, length, size - length);
      return buf.toString('utf8');
    } finally {
      await fd.close();
    }
  }

  async serialConsole(instanceId: string): Promise<SerialEndpoint> {
    this.#record(instanceId);
    if (this.#livePid(instanceId) === undefined) {
      throw new StratusError('conflict', `The VM of instance '${instanceId}' is not running.`, {
        resource: 'instance',
        id: instanceId,
        reason: 'instance_state',
      });
    }
    return { path: this.#file(instanceId, 'serial') };
  }

  async screenshot(instanceId: string, options: { wakeUp?: boolean } = {}): Promise<Buffer> {
    this.#record(instanceId);
    if (this.#livePid(instanceId) === undefined) {
      throw new StratusError('conflict', `The VM of instance '${instanceId}' is not running.`, {
        resource: 'instance',
        id: instanceId,
        reason: 'instance_state',
      });
    }
    const socket = this.#file(instanceId, 'qmp');
    const file = this.#file(instanceId, 'screen');
    const qmp = await QmpClient.connect(socket);
    try {
      if (options.wakeUp) {
        // Shift wakes a blanked console and types nothing.
        await qmp.execute('send-key', { keys: [{ type: 'qcode', data: 'shift' }] });
      }
      // PPM, QEMU's own format: every QEMU writes it (PNG needs a build with libpng).
      await qmp.execute('screendump', { filename: file });
    } catch (err) {
      throw new StratusError(
        'unavailable',
        `QEMU could not take a screenshot of instance '${instanceId}': ${(err as Error).message}`,
        { resource: 'instance', id: instanceId, cause: err },
      );
    } finally {
      qmp.close();
    }
    try {
      return encodeJpeg(parsePpm(await fs.promises.readFile(file)));
    } finally {
      await fs.promises.rm(file, { force: true });
    }
  }

  async list(): Promise<GuestInfo[]> {
    const out: GuestInfo[] = [];
    for (const id of this.#ids()) {
      let rec: VmRecord;
      try {
        rec = this.#record(id);
      } catch {
        continue;
      }
      out.push(this.#info(rec, this.#powerState(rec)));
    }
    return out;
  }

  async attachVolume(instanceId: string, attachment: VolumeAttachment): Promise<void> {
    const rec = this.#record(instanceId);
    const known = rec.volumes?.find((v) => v.volumeId === attachment.volumeId);
    const v: VolumeRecord = known ?? { ...attachment, generation: 0 };
    if (this.#livePid(instanceId) !== undefined) {
      await plugVolume(this.#file(instanceId, 'qmp'), v);
    }
    if (!known) this.#save({ ...rec, volumes: [...(rec.volumes ?? []), v] });
    this.#log.info({ instanceId, volumeId: v.volumeId }, 'volume attached');
  }

  async detachVolume(
    instanceId: string,
    volumeId: string,
    options: { force: boolean },
  ): Promise<void> {
    if (!UUID.test(instanceId) || !fs.existsSync(this.#file(instanceId, 'record'))) return;
    const rec = this.#record(instanceId);
    const v = rec.volumes?.find((x) => x.volumeId === volumeId);
    if (!v) return;
    if (this.#livePid(instanceId) !== undefined) {
      let gone = false;
      try {
        // Forced: the guest still gets a moment to release the disk cleanly, not the full wait.
        const wait = this.#opts.volumeDetachTimeoutMs;
        gone = await unplugVolume(
          this.#file(instanceId, 'qmp'),
          v,
          options.force ? Math.min(wait, FORCED_DETACH_WAIT_MS) : wait,
        );
      } catch (err) {
        if (!options.force) throw err;
      }
      if (!gone && !options.force) {
        throw new StratusError(
          'conflict',
          `The guest of instance '${instanceId}' did not release volume '${volumeId}' in time.`,
          { resource: 'volume', id: volumeId },
        );
      }
      if (!gone) this.#log.warn({ instanceId, volumeId }, 'volume detached by force');
    }
    const now = this.#record(instanceId);
    this.#save({ ...now, volumes: (now.volumes ?? []).filter((x) => x.volumeId !== volumeId) });
    this.#log.info({ instanceId, volumeId }, 'volume detached');
  }

  async extendVolume(instanceId: string, volumeId: string, sizeBytes: number): Promise<void> {
    const rec = this.#record(instanceId);
    const v = rec.volumes?.find((x) => x.volumeId === volumeId);
    if (!v) {
      throw new StratusError(
        'not_found',
        `The VM of instance '${instanceId}' has no volume '${volumeId}'.`,
        { resource: 'volume', id: volumeId },
      );
    }
    if (this.#livePid(instanceId) === undefined) return;
    const next = await growVolume(this.#file(instanceId, 'qmp'), v, sizeBytes);
    const now = this.#record(instanceId);
    this.#save({
      ...now,
      volumes: (now.volumes ?? []).map((x) => (x.volumeId === volumeId ? next : x)),
    });
  }

  async listVolumes(instanceId: string): Promise<VolumeAttachment[]> {
    if (!UUID.test(instanceId) || !fs.existsSync(this.#file(instanceId, 'record'))) return [];
    return (this.#record(instanceId).volumes ?? []).map(({ volumeId, device, connection }) => ({
      volumeId,
      device,
      connection,
    }));
  }

  async attachInterface(instanceId: string, nic: NicPlug): Promise<void> {
    const rec = this.#record(instanceId);
    if (rec.nics?.some((n) => n.portId === nic.portId)) return;
    const first = rec.attachment;
    const a = nic.attachment;
    // QEMU opens a tap by name in its own namespace, which is its first card's.
    const reachable =
      a.kind === 'user' ||
      (first.kind === 'tap' && (first.netns ?? '') === (a.netns ?? '')) ||
      (first.kind === 'user' && a.netns === undefined);
    if (!reachable) {
      throw new StratusError(
        'conflict',
        `The VM of instance '${instanceId}' runs in another network namespace than the tap of port '${nic.portId}'.`,
        { resource: 'port', id: nic.portId },
      );
    }
    if (this.#livePid(instanceId) !== undefined) {
      await plugNic(this.#file(instanceId, 'qmp'), nic);
    }
    const now = this.#record(instanceId);
    this.#save({ ...now, nics: [...(now.nics ?? []), nic] });
    this.#log.info({ instanceId, portId: nic.portId }, 'network card attached');
  }

  async detachInterface(instanceId: string, portId: string): Promise<void> {
    if (!UUID.test(instanceId) || !fs.existsSync(this.#file(instanceId, 'record'))) return;
    const rec = this.#record(instanceId);
    if (!rec.nics?.some((n) => n.portId === portId)) return;
    if (this.#livePid(instanceId) !== undefined) {
      const gone = await unplugNic(
        this.#file(instanceId, 'qmp'),
        portId,
        this.#opts.volumeDetachTimeoutMs,
      );
      if (!gone) {
        this.#log.warn(
          { instanceId, portId },
          'the guest did not release the network card; its tap is cut, the card goes at the next boot',
        );
      }
    }
    const now = this.#record(instanceId);
    this.#save({ ...now, nics: (now.nics ?? []).filter((n) => n.portId !== portId) });
    this.#log.info({ instanceId, portId }, 'network card detached');
  }

  async listInterfaces(instanceId: string): Promise<NicPlug[]> {
    if (!UUID.test(instanceId) || !fs.existsSync(this.#file(instanceId, 'record'))) return [];
    return [...(this.#record(instanceId).nics ?? [])];
  }

  async capacity(): Promise<HostCapacity> {
    const fsStat = await fs.promises.statfs(
      fs.existsSync(this.#opts.stateDir) ? this.#opts.stateDir : path.dirname(this.#opts.stateDir),
    );
    return {
      vcpus: os.cpus().length,
      memoryMb: Math.floor(os.totalmem() / 1024 ** 2),
      diskGb: Math.floor((fsStat.bavail * fsStat.bsize) / 1024 ** 3),
    };
  }

  async close(): Promise<void> {
    // The VMs run on: they are adopted by the next init().
  }

  /** Starts the VM's qemu detached; user mode picks a new ssh port if the old one is taken. */
  async #launch(rec: VmRecord, options: { incoming?: string } = {}): Promise<void> {
    const id = rec.instanceId;
    rec.paused = false;
    // Rescued: the rescue image boots, the VM's own disk is attached after it.
    const boot = rec.rescue ?? rec;
    const disks = [
      ...(rec.rescue?.disk ? [this.#file(id, 'rescueDisk')] : []),
      ...(rec.disk ? [this.#file(id, 'disk')] : []),
    ];
    const lockDeadline = Date.now() + 10_000;
    for (let attempt = 0; ; attempt++) {
      const sshPort =
        rec.attachment.kind === 'user'
          ? attempt === 0 && rec.sshPort !== undefined
            ? rec.sshPort
            : await freePort()
          : undefined;
      for (const f of ['qmp', 'qemuPid', 'pid'] as const)
        fs.rmSync(this.#file(id, f), { force: true });
      const cmd: VmCommand = {
        name: `stratus-${id}`,
        accelerator: this.acceleration.accelerator,
        memoryMb: rec.memoryMb,
        vcpus: rec.vcpus,
        ...(disks[0] ? { disk: disks[0] } : {}),
        ...(disks[1] ? { secondDisk: disks[1] } : {}),
        ...(boot.kernel ? { kernel: boot.kernel } : {}),
        ...(boot.ramdisk ? { ramdisk: boot.ramdisk } : {}),
        ...(options.incoming ? { incoming: options.incoming } : {}),
        ...(rec.volumes?.length ? { volumes: rec.volumes } : {}),
        ...(rec.nics?.length ? { nics: rec.nics } : {}),
        consoleLog: this.#file(id, 'console'),
        serialSocket: this.#file(id, 'serial'),
        qmpSocket: this.#file(id, 'qmp'),
        pidFile: this.#file(id, 'qemuPid'),
        macAddress: rec.macAddress,
        attachment: rec.attachment,
        ...(sshPort !== undefined ? { sshPort } : {}),
        ...(rec.attachment.kind === 'user'
          ? {
              metadataCommand: `/bin/sh ${this.#file(id, 'responder')} ${this.#file(id, 'metadata')}`,
            }
          : {}),
        tbSizeMb: this.#opts.tbSizeMb,
      };
      const note =
        sshPort !== undefined ? `; ssh to the guest is forwarded from 127.0.0.1:${sshPort}` : '';
      fs.appendFileSync(
        this.#file(id, 'console'),
        `[stratus] ${new Date().toISOString()} starting ${rec.name} (${this.acceleration.accelerator})${note}\n`,
      );
      const { file, args } = qemuCommand(this.#opts.qemuBinary, cmd);
      try {
        // With -daemonize, qemu returns once the VM is set up (or failed to be).
        await runFile(file, args, 60_000);
      } catch (err) {
        const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
        if (sshPort !== undefined && attempt < 3 && /host forwarding|hostfwd/i.test(stderr)) {
          continue;
        }
        // The VM's previous qemu, killed or just powered off, holds its disks' locks until its
        // last thread has exited, a moment after it is gone as a process.
        if (/Failed to get "write" lock/.test(stderr) && Date.now() < lockDeadline) {
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        throw new Error(stderr || (err as Error).message);
      }
      const pid = Number(fs.readFileSync(this.#file(id, 'qemuPid'), 'utf8').trim());
      fs.writeFileSync(this.#file(id, 'pid'), `${pid}\n`);
      if (sshPort !== undefined) rec.sshPort = sshPort;
      this.#save(rec);
      this.#log.info({ instanceId: id, pid, sshPort }, 'VM started');
      return;
    }
  }

  #info(rec: VmRecord, powerState: PowerState): GuestInfo {
    return {
      instanceId: rec.instanceId,
      powerState,
      ...(rec.sshPort !== undefined ? { ssh: { host: '127.0.0.1', port: rec.sshPort } } : {}),
    };
  }

  /** The pid of the VM's qemu if it runs. */
  #livePid(instanceId: string): number | undefined {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(this.#file(instanceId, 'pid'), 'utf8').trim());
    } catch {
      return undefined;
    }
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    return isVmProcess(pid, this.#file(instanceId, 'qmp')) ? pid : undefined;
  }

  #ids(): string[] {
    if (!fs.existsSync(this.#instancesDir)) return [];
    return fs.readdirSync(this.#instancesDir).filter((d) => UUID.test(d));
  }

  #record(instanceId: string): VmRecord {
    try {
      if (!UUID.test(instanceId)) throw new Error('not a uuid');
      return JSON.parse(fs.readFileSync(this.#file(instanceId, 'record'), 'utf8')) as VmRecord;
    } catch {
      throw new StratusError(
        'not_found',
        `The qemu driver has no VM for instance '${instanceId}'.`,
        {
          resource: 'instance',
          id: instanceId,
        },
      );
    }
  }

  #save(rec: VmRecord): void {
    const file = this.#file(rec.instanceId, 'record');
    fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(rec, null, 2)}\n`);
    fs.renameSync(`${file}.tmp`, file);
  }

  #dir(instanceId: string): string {
    return path.join(this.#instancesDir, instanceId);
  }

  #file(instanceId: string, which: keyof typeof FILES): string {
    return path.join(this.#instancesDir, instanceId, FILES[which]);
  }
}
