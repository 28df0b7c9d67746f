// The fake virt driver: VMs in memory, with configurable delays and failures. A first-class
// driver for fast tests and scale benchmarks. Given a state file, its VMs outlive the process
// (as QEMU's do) and the next start adopts them.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { StratusError } from '../../errors.js';
import { encodeJpeg } from '../jpeg.js';
import { writeEmptyQcow2 } from './empty-qcow2.js';
import { noGuestAgent } from '../driver.js';
import type {
  DiskSnapshotOptions,
  DriverCapabilities,
  GuestInfo,
  GuestResize,
  GuestSize,
  GuestSpec,
  HostCapacity,
  NicPlug,
  PowerState,
  RescueBoot,
  SerialEndpoint,
  VirtDriver,
  VolumeAttachment,
} from '../driver.js';

export interface FakeDriverOptions {
  capacity?: HostCapacity;
  /** Milliseconds each spawn takes. */
  spawnDelayMs?: number;
  /** Milliseconds each power operation takes. */
  powerDelayMs?: number;
  /** Spawns of images whose id is in this set fail, as a broken guest would. */
  failImageIds?: ReadonlySet<string>;
  /** Copies of the disks of VMs booted from images whose id is in this set fail. */
  failDiskCopyImageIds?: ReadonlySet<string>;
  /** The guest architecture it reports; 'x86_64' unless told. */
  architecture?: string;
  /**
   * Where the VMs are written after every change, so a restarted driver adopts them (a process
   * killed mid-spawn leaves no VM, as a QEMU that never started would). In memory only when absent.
   */
  stateFile?: string;
  /** Attaching a volume whose id is in this set fails, as an unreachable export would. */
  failVolumeIds?: ReadonlySet<string>;
  /** Detaching a volume whose id is in this set times out, as a guest that holds it on would. */
  stuckVolumeIds?: ReadonlySet<string>;
}

interface FakeVm {
  state: PowerState;
  console: string;
  /** The image its disk came from (changes with a rebuild). */
  imageId?: string;
  size?: GuestResize;
  /** The size before a resize that is not confirmed yet. */
  previousSize?: GuestResize;
  /** The rescue image it runs while rescued. */
  rescueImageId?: string;
  /** Attached volumes, in the order they were attached. */
  volumes?: VolumeAttachment[];
  /** Network cards plugged besides the first, in the order they were plugged. */
  nics?: NicPlug[];
}

const sleep = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

/** What a fake host reports unless told otherwise: room that tests rarely fill. */
export const FAKE_HOST_CAPACITY: HostCapacity = {
  vcpus: 1024,
  memoryMb: 4 * 1024 * 1024,
  diskGb: 100_000,
};

export class FakeDriver implements VirtDriver {
  readonly name = 'fake';
  readonly #serials = new Map<string, { path: string; server: net.Server }>();
  #serialDir: string | undefined;
  readonly capabilities: DriverCapabilities;
  readonly #vms = new Map<string, FakeVm>();
  readonly #opts: FakeDriverOptions;

  constructor(options: FakeDriverOptions = {}) {
    this.#opts = options;
    this.capabilities = {
      realGuests: false,
      accelerator: 'none',
      survivesRestart: options.stateFile !== undefined,
      architecture: options.architecture ?? 'x86_64',
    };
  }

  async init(): Promise<string[]> {
    const file = this.#opts.stateFile;
    if (!file || !fs.existsSync(file)) return [];
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, FakeVm>;
    for (const [id, vm] of Object.entries(saved)) this.#vms.set(id, vm);
    return Object.keys(saved);
  }

  /** Writes the VMs to the state file (whole, renamed into place), if there is one. */
  #save(): void {
    const file = this.#opts.stateFile;
    if (!file) return;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(Object.fromEntries(this.#vms)));
    fs.renameSync(`${file}.tmp`, file);
  }

  async spawn(spec: GuestSpec): Promise<GuestInfo> {
    await sleep(this.#opts.spawnDelayMs ?? 0);
    if (this.#opts.failImageIds?.has(spec.imageId)) {
      throw new StratusError(
        'internal',
        `The fake driver was told to fail spawning image '${spec.imageId}'.`,
        {
          resource: 'instance',
          id: spec.instanceId,
        },
      );
    }
    this.#vms.set(spec.instanceId, {
      state: 'running',
      console: `Stratus fake guest ${spec.name}\nbooted ${spec.instanceId}\n`,
      imageId: spec.imageId,
      size: { vcpus: spec.vcpus, memoryMb: spec.memoryMb, diskGb: spec.diskGb },
      ...(spec.rootVolume ? { volumes: [spec.rootVolume] } : {}),
    });
    this.#save();
    return { instanceId: spec.instanceId, powerState: 'running' };
  }

  async destroy(instanceId: string): Promise<void> {
    await this.#closeSerial(instanceId);
    if (this.#vms.delete(instanceId)) this.#save();
  }

  async reboot(instanceId: string, hard: boolean): Promise<void> {
    const vm = this.#get(instanceId);
    await sleep(this.#opts.powerDelayMs ?? 0);
    vm.state = 'running';
    vm.console += hard ? 'hard reset\n' : 'reboot\n';
    this.#save();
  }

  async powerOff(instanceId: string, force: boolean): Promise<void> {
    const vm = this.#get(instanceId);
    if (vm.state === 'shutdown') return;
    // A forced power off does not wait for the guest.
    if (!force) await sleep(this.#opts.powerDelayMs ?? 0);
    vm.state = 'shutdown';
    vm.console += force ? 'power off (forced)\n' : 'power off\n';
    this.#save();
  }

  async powerOn(instanceId: string, size?: GuestSize): Promise<void> {
    const vm = this.#get(instanceId);
    await sleep(this.#opts.powerDelayMs ?? 0);
    vm.state = 'running';
    vm.console += size ? `power on (${size.vcpus} vCPUs, ${size.memoryMb} MiB)\n` : 'power on\n';
    this.#save();
  }

  async pause(instanceId: string): Promise<void> {
    const vm = this.#get(instanceId);
    if (vm.state === 'paused') return;
    this.#expect(instanceId, vm, 'running');
    vm.state = 'paused';
    vm.console += 'paused\n';
    this.#save();
  }

  async unpause(instanceId: string): Promise<void> {
    const vm = this.#get(instanceId);
    if (vm.state === 'running') return;
    this.#expect(instanceId, vm, 'paused');
    vm.state = 'running';
    vm.console += 'unpaused\n';
    this.#save();
  }

  async suspend(instanceId: string): Promise<void> {
    const vm = this.#get(instanceId);
    if (vm.state === 'suspended') return;
    if (vm.state !== 'paused') this.#expect(instanceId, vm, 'running');
    await sleep(this.#opts.powerDelayMs ?? 0);
    vm.state = 'suspended';
    vm.console += 'state saved (suspended)\n';
    this.#save();
  }

  async resume(instanceId: string): Promise<void> {
    const vm = this.#get(instanceId);
    if (vm.state === 'running') return;
    this.#expect(instanceId, vm, 'suspended');
    await sleep(this.#opts.powerDelayMs ?? 0);
    vm.state = 'running';
    vm.console += 'state restored (resumed)\n';
    this.#save();
  }

  async rebuild(spec: GuestSpec): Promise<GuestInfo> {
    const vm = this.#get(spec.instanceId);
    await sleep(this.#opts.spawnDelayMs ?? 0);
    if (this.#opts.failImageIds?.has(spec.imageId)) {
      throw new StratusError(
        'internal',
        `The fake driver was told to fail rebuilding with image '${spec.imageId}'.`,
        { resource: 'instance', id: spec.instanceId },
      );
    }
    vm.state = 'running';
    vm.imageId = spec.imageId;
    vm.size = { vcpus: spec.vcpus, memoryMb: spec.memoryMb, diskGb: spec.diskGb };
    vm.console += `rebuilt from image ${spec.imageId}\n`;
    this.#save();
    return { instanceId: spec.instanceId, powerState: 'running' };
  }

  async resize(
    instanceId: string,
    size: GuestResize,
    options: { powerOn: boolean },
  ): Promise<void> {
    const vm = this.#get(instanceId);
    await sleep(this.#opts.powerDelayMs ?? 0);
    vm.previousSize ??= vm.size ?? size;
    vm.size = { ...size, diskGb: Math.max(size.diskGb, vm.previousSize.diskGb) };
    vm.state = options.powerOn ? 'running' : 'shutdown';
    vm.console += `resized to ${size.vcpus} vCPUs, ${size.memoryMb} MiB, ${size.diskGb} GiB\n`;
    this.#save();
  }

  async confirmResize(instanceId: string): Promise<void> {
    const vm = this.#get(instanceId);
    delete vm.previousSize;
    this.#save();
  }

  async revertResize(
    instanceId: string,
    old: GuestSize,
    options: { powerOn: boolean },
  ): Promise<void> {
    const vm = this.#get(instanceId);
    if (!vm.previousSize) return;
    await sleep(this.#opts.powerDelayMs ?? 0);
    vm.size = { ...vm.previousSize, vcpus: old.vcpus, memoryMb: old.memoryMb };
    delete vm.previousSize;
    vm.state = options.powerOn ? 'running' : 'shutdown';
    vm.console += `resize reverted to ${old.vcpus} vCPUs, ${old.memoryMb} MiB\n`;
    this.#save();
  }

  async rescue(instanceId: string, boot: RescueBoot): Promise<void> {
    const vm = this.#get(instanceId);
    await sleep(this.#opts.powerDelayMs ?? 0);
    vm.rescueImageId = boot.imageId;
    vm.state = 'running';
    vm.console += `rescue boot from image ${boot.imageId}; own disk attached second\n`;
    this.#save();
  }

  async unrescue(instanceId: string): Promise<void> {
    const vm = this.#get(instanceId);
    if (vm.rescueImageId === undefined) return;
    await sleep(this.#opts.powerDelayMs ?? 0);
    delete vm.rescueImageId;
    vm.state = 'running';
    vm.console += 'booted from own disk again\n';
    this.#save();
  }

  /**
   * The copy of a fake VM's disk is an empty qcow2 image of its disk's size (the fake keeps
   * no guest data). Like the qemu driver it has no guest agent to quiesce file systems.
   */
  async snapshotRootDisk(
    instanceId: string,
    target: string,
    options: DiskSnapshotOptions = {},
  ): Promise<void> {
    const vm = this.#get(instanceId);
    if (options.quiesce) throw noGuestAgent(instanceId);
    if (vm.rescueImageId !== undefined) {
      throw new StratusError('conflict', `The fake VM '${instanceId}' is rescued.`, {
        resource: 'instance',
        id: instanceId,
        reason: 'instance_state',
      });
    }
    await sleep(this.#opts.powerDelayMs ?? 0);
    if (vm.imageId !== undefined && this.#opts.failDiskCopyImageIds?.has(vm.imageId)) {
      throw new StratusError(
        'internal',
        `The fake driver was told to fail copying disks of image '${vm.imageId}'.`,
        { resource: 'instance', id: instanceId },
      );
    }
    await writeEmptyQcow2(target, Math.max(1, vm.size?.diskGb ?? 1) * 1024 ** 3);
    vm.console += `disk copied to ${target}\n`;
    this.#save();
  }

  /** What the fake VM is now: its image, size and rescue image, for tests. */
  describe(instanceId: string): Readonly<FakeVm> | undefined {
    return this.#vms.get(instanceId);
  }

  #expect(instanceId: string, vm: FakeVm, state: PowerState): void {
    if (vm.state === state) return;
    throw new StratusError(
      'conflict',
      `The fake VM '${instanceId}' is ${vm.state}, not ${state}.`,
      { resource: 'instance', id: instanceId, reason: 'instance_state' },
    );
  }

  /**
   * What a guest that runs `poweroff` does: the VM goes off by itself, without the cloud
   * asking. For tests of what the cloud makes of it.
   */
  guestPowerOff(instanceId: string): void {
    const vm = this.#get(instanceId);
    vm.state = 'shutdown';
    vm.console += 'reboot: Power down\n';
    this.#save();
  }

  async getState(instanceId: string): Promise<PowerState> {
    return this.#vms.get(instanceId)?.state ?? 'nostate';
  }

  async consoleOutput(instanceId: string, maxBytes: number): Promise<string> {
    const text = this.#vms.get(instanceId)?.console ?? '';
    const buf = Buffer.from(text);
    return buf.length <= maxBytes ? text : buf.subarray(buf.length - maxBytes).toString();
  }

  /** A small picture: a dark screen with a light bar per line of console output (at most 12). */
  async screenshot(instanceId: string): Promise<Buffer> {
    const vm = this.#get(instanceId);
    if (vm.state !== 'running') {
      throw new StratusError('conflict', `The fake VM '${instanceId}' is not running.`, {
        resource: 'instance',
        id: instanceId,
        reason: 'instance_state',
      });
    }
    const width = 160;
    const height = 100;
    const rgb = Buffer.alloc(width * height * 3, 16);
    const lines = vm.console
      .split('\n')
      .filter((l) => l.length > 0)
      .slice(-12);
    lines.forEach((line, i) => {
      const length = Math.min(width - 8, line.length * 3);
      for (let y = 4 + i * 8; y < 8 + i * 8; y++) {
        for (let x = 4; x < 4 + length; x++)
          rgb.fill(200, (y * width + x) * 3, (y * width + x) * 3 + 3);
      }
    });
    return encodeJpeg({ width, height, rgb });
  }

  async list(): Promise<GuestInfo[]> {
    return [...this.#vms.entries()].map(([instanceId, vm]) => ({
      instanceId,
      powerState: vm.state,
    }));
  }

  async attachVolume(instanceId: string, attachment: VolumeAttachment): Promise<void> {
    const vm = this.#get(instanceId);
    const volumes = (vm.volumes ??= []);
    if (volumes.some((v) => v.volumeId === attachment.volumeId)) return;
    await sleep(this.#opts.powerDelayMs ?? 0);
    if (this.#opts.failVolumeIds?.has(attachment.volumeId)) {
      throw new StratusError(
        'unavailable',
        `The fake driver was told to fail attaching volume '${attachment.volumeId}'.`,
        { resource: 'volume', id: attachment.volumeId },
      );
    }
    volumes.push(attachment);
    vm.console += `volume ${attachment.volumeId} attached\n`;
    this.#save();
  }

  async detachVolume(
    instanceId: string,
    volumeId: string,
    options: { force: boolean },
  ): Promise<void> {
    const vm = this.#vms.get(instanceId);
    if (!vm?.volumes?.some((v) => v.volumeId === volumeId)) return;
    await sleep(this.#opts.powerDelayMs ?? 0);
    if (vm.state === 'running' && !options.force && this.#opts.stuckVolumeIds?.has(volumeId)) {
      throw new StratusError(
        'conflict',
        `The guest of fake VM '${instanceId}' did not release volume '${volumeId}'.`,
        { resource: 'volume', id: volumeId },
      );
    }
    vm.volumes = vm.volumes.filter((v) => v.volumeId !== volumeId);
    vm.console += `volume ${volumeId} detached${options.force ? ' (forced)' : ''}\n`;
    this.#save();
  }

  async extendVolume(instanceId: string, volumeId: string, sizeBytes: number): Promise<void> {
    const vm = this.#get(instanceId);
    if (!vm.volumes?.some((v) => v.volumeId === volumeId)) {
      throw new StratusError(
        'not_found',
        `The fake VM '${instanceId}' has no volume '${volumeId}'.`,
        { resource: 'volume', id: volumeId },
      );
    }
    vm.console += `volume ${volumeId} is ${sizeBytes} bytes now\n`;
    this.#save();
  }

  async listVolumes(instanceId: string): Promise<VolumeAttachment[]> {
    return [...(this.#vms.get(instanceId)?.volumes ?? [])];
  }

  async attachInterface(instanceId: string, nic: NicPlug): Promise<void> {
    const vm = this.#get(instanceId);
    const nics = (vm.nics ??= []);
    if (nics.some((n) => n.portId === nic.portId)) return;
    await sleep(this.#opts.powerDelayMs ?? 0);
    nics.push(nic);
    vm.console += `network card ${nic.macAddress} (port ${nic.portId}) plugged\n`;
    this.#save();
  }

  async detachInterface(instanceId: string, portId: string): Promise<void> {
    const vm = this.#vms.get(instanceId);
    if (!vm?.nics?.some((n) => n.portId === portId)) return;
    await sleep(this.#opts.powerDelayMs ?? 0);
    vm.nics = vm.nics.filter((n) => n.portId !== portId);
    vm.console += `network card of port ${portId} removed\n`;
    this.#save();
  }

  async listInterfaces(instanceId: string): Promise<NicPlug[]> {
    return [...(this.#vms.get(instanceId)?.nics ?? [])];
  }

  async capacity(): Promise<HostCapacity> {
    return this.#opts.capacity ?? FAKE_HOST_CAPACITY;
  }

  /**
   * A serial port that echoes what it is sent, prefixed with the VM's prompt, on a Unix socket
   * made the first time it is asked for (in a temp dir of this driver's own).
   */
  async serialConsole(instanceId: string): Promise<SerialEndpoint> {
    const vm = this.#get(instanceId);
    if (vm.state !== 'running') {
      throw new StratusError('conflict', `The fake VM '${instanceId}' is not running.`, {
        resource: 'instance',
        id: instanceId,
        reason: 'instance_state',
      });
    }
    const open = this.#serials.get(instanceId);
    if (open) return { path: open.path };
    this.#serialDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-fake-serial-'));
    const file = path.join(this.#serialDir, `${instanceId.slice(0, 8)}-${this.#serials.size}.sock`);
    const server = net.createServer((socket) => {
      socket.write(`fake guest ${instanceId} serial console\r\n# `);
      socket.on('data', (d) => {
        // A terminal sends a carriage return for Enter; answer as a shell's line discipline
        // would: echo the keys, and a new prompt after each line.
        const text = d.toString().replace(/\r/g, '\r\n# ');
        socket.write(text);
        vm.console += d.toString().replace(/\r/g, '\n');
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(file, () => resolve());
    });
    this.#serials.set(instanceId, { path: file, server });
    return { path: file };
  }

  async close(): Promise<void> {
    for (const id of [...this.#serials.keys()]) await this.#closeSerial(id);
    if (this.#serialDir) fs.rmSync(this.#serialDir, { recursive: true, force: true });
    this.#serialDir = undefined;
  }

  async #closeSerial(instanceId: string): Promise<void> {
    const open = this.#serials.get(instanceId);
    if (!open) return;
    this.#serials.delete(instanceId);
    await new Promise((r) => open.server.close(r));
  }

  #get(instanceId: string): FakeVm {
    const vm = this.#vms.get(instanceId);
    if (!vm)
      throw new StratusError('not_found', `The fake driver has no VM '${instanceId}'.`, {
        resource: 'instance',
        id: instanceId,
      });
    return vm;
  }
}
