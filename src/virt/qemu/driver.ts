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
  DriverCapabilities,
  GuestInfo,
  GuestSize,
  GuestSpec,
  HostCapacity,
  NicAttachment,
  PowerState,
  VirtDriver,
} from '../driver.js';
import { chooseAccelerator, type AcceleratorChoice, type AcceleratorMode } from './accel.js';
import { qemuCommand, type VmCommand } from './cmdline.js';
import { BaseImageCache } from './disk.js';
import { RESPONDER_SCRIPT, writeMetadataTree } from './metadata-files.js';
import { QmpClient, qmpExecute } from './qmp.js';
import { encodeJpeg, parsePpm } from '../jpeg.js';
import { isVmProcess, signalVm, waitGone } from './vm-process.js';

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
}

const FILES = {
  record: 'vm.json',
  disk: 'disk.qcow2',
  console: 'console.log',
  qmp: 'qmp.sock',
  qemuPid: 'qemu.pid',
  pid: 'pid',
  metadata: 'metadata',
  responder: 'metadata.sh',
  screen: 'screen.ppm',
} as const;

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
    if (!spec.image && !spec.kernel) {
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
      if (spec.image) {
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
        disk: spec.image !== undefined,
        ...(kernel ? { kernel } : {}),
        ...(ramdisk ? { ramdisk } : {}),
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
    return this.#livePid(instanceId) === undefined ? 'shutdown' : 'running';
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
      out.push(this.#info(rec, this.#livePid(id) === undefined ? 'shutdown' : 'running'));
    }
    return out;
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
  async #launch(rec: VmRecord): Promise<void> {
    const id = rec.instanceId;
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
        ...(rec.disk ? { disk: this.#file(id, 'disk') } : {}),
        ...(rec.kernel ? { kernel: rec.kernel } : {}),
        ...(rec.ramdisk ? { ramdisk: rec.ramdisk } : {}),
        consoleLog: this.#file(id, 'console'),
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
