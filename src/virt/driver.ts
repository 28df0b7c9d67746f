// The virt driver interface: what the compute manager needs from a hypervisor. Drivers stay
// plain; locking, timeouts and records live in the compute manager around them.
import { StratusError } from '../errors.js';

/** `suspended`: the VM's state is saved to disk and no process runs it until it is resumed. */
export type PowerState = 'running' | 'paused' | 'shutdown' | 'crashed' | 'suspended' | 'nostate';

/** The vCPUs and memory (MiB) a VM gets. */
export interface GuestSize {
  vcpus: number;
  memoryMb: number;
}

/** A new size for a VM: its vCPUs, memory and disk (GiB; a disk only grows). */
export interface GuestResize extends GuestSize {
  diskGb: number;
}

/** What a rescued VM boots from: a rescue image (as a disk, or a kernel and ramdisk). */
export interface RescueBoot {
  imageId: string;
  image?: GuestDisk;
  kernel?: GuestFile;
  ramdisk?: GuestFile;
}

export interface HostCapacity {
  vcpus: number;
  memoryMb: number;
  diskGb: number;
}

export interface DriverCapabilities {
  /** The driver boots real guests (false for fake). */
  realGuests: boolean;
  /** Hardware acceleration in use ('kvm') or software emulation ('tcg'); 'none' for fake. */
  accelerator: 'kvm' | 'tcg' | 'none';
  /** VMs keep running when the compute service stops, and are adopted when it starts. */
  survivesRestart: boolean;
  /** The guest architecture the driver runs, as images name it ('x86_64', 'arm64'). */
  architecture: string;
}

/** A file the VM boots from, as the image store keeps it (the driver caches its own copy). */
export interface GuestFile {
  /** Absolute path on this host. */
  path: string;
}

/** The machine image's disk: the base of the instance's copy-on-write overlay. */
export interface GuestDisk extends GuestFile {
  /** 'qcow2' or 'raw'; anything else is probed. */
  format: string;
}

/**
 * How the VM's network card reaches the network. `user`: QEMU's own user-mode network (a
 * private 169.254.169.0/24 per VM, ssh forwarded from a loopback port, the metadata the spec
 * carries served at 169.254.169.254) — the fallback until the data plane provides taps.
 * `tap`: an existing tap device, in a network namespace when `netns` is set.
 */
export type NicAttachment = { kind: 'user' } | { kind: 'tap'; ifname: string; netns?: string };

/** Network settings given by the network service. */
export interface GuestNetworkSpec {
  macAddress: string;
  /** The fixed address the network service gave the instance. */
  address?: string;
  /** User-mode networking when absent. */
  attachment?: NicAttachment;
}

/**
 * A network card plugged into a VM besides the one it was made with (a port attached while
 * it runs): the port names it, and the guest sees a new virtio NIC with the port's MAC.
 */
export interface NicPlug {
  portId: string;
  macAddress: string;
  attachment: NicAttachment;
}

export interface GuestSpec {
  /** The instance's uuid; the driver's handle for the VM. */
  instanceId: string;
  name: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  imageId: string;
  kernelId?: string | null;
  ramdiskId?: string | null;
  userData?: string | null;
  /** The machine image's file; absent for kernel-only images (the guest lives in the ramdisk). */
  image?: GuestDisk;
  /**
   * The volume the VM boots from instead of a disk of its own made from `image` (which is
   * then absent): its first disk, reached over the network like any attached volume, kept
   * with the VM (`listVolumes` lists it first) for every later boot. Detaching it is the
   * caller's to refuse.
   */
  rootVolume?: VolumeAttachment;
  /** Direct kernel boot: the kernel (aki) and initial ramdisk (ari) files. */
  kernel?: GuestFile;
  ramdisk?: GuestFile;
  network?: GuestNetworkSpec;
  /**
   * What the guest may fetch from http://169.254.169.254 (request path -> body, e.g.
   * '/latest/meta-data/instance-id'), for drivers that provide the network themselves (user
   * mode). With a real data plane the metadata service answers instead.
   */
  metadata?: Readonly<Record<string, string>>;
}

/** Where a VM's SSH server is reachable from this host (user-mode networking forwards it). */
export interface SshEndpoint {
  host: string;
  port: number;
}

/** Where a VM's serial port can be connected to on this host: a Unix socket, one client at a time. */
export interface SerialEndpoint {
  path: string;
}

export interface GuestInfo {
  instanceId: string;
  powerState: PowerState;
  /** Set when the driver forwards the guest's port 22 (user-mode networking). */
  ssh?: SshEndpoint;
}

/**
 * How a VM reaches a volume's blocks: an NBD export of the volume host (the same path on one
 * machine and across hosts).
 */
export interface VolumeConnection {
  kind: 'nbd';
  host: string;
  port: number;
  exportName: string;
}

/** A volume attached to a VM: its id, the device name the cloud shows, and where it is. */
export interface VolumeAttachment {
  volumeId: string;
  /** The device name the cloud records (e.g. '/dev/sdf' or 'vdb'); the guest names it itself. */
  device: string;
  connection: VolumeConnection;
}

/** How a copy of a VM's root disk is taken (see `VirtDriver.snapshotRootDisk`). */
export interface DiskSnapshotOptions {
  /**
   * Ask the guest to freeze its file systems around the copy (a guest agent does this). No
   * driver here has a guest-agent channel, and the project's guest image runs no agent: a
   * driver without one refuses the option (`invalid`) rather than pretend.
   */
  quiesce?: boolean;
}

export interface VirtDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  /** Prepares the driver; returns the instance ids of VMs it found running (adopted). */
  init(): Promise<string[]>;
  /**
   * Creates and boots a VM; resolves with what it became (with its ssh forward, if any).
   * Rejects if it could not be started; nothing is left behind then.
   */
  spawn(spec: GuestSpec): Promise<GuestInfo>;
  /** Removes the VM and everything it kept on disk. Succeeds when the VM is already gone. */
  destroy(instanceId: string): Promise<void>;
  /** Soft reboot (guest's own), or hard reset when `hard`. */
  reboot(instanceId: string, hard: boolean): Promise<void>;
  /**
   * Asks the guest to power off (ACPI) and ends the VM after a timeout; with `force`, ends it
   * at once without asking (a pulled plug). No-op when off.
   */
  powerOff(instanceId: string, force: boolean): Promise<void>;
  /**
   * Boots a powered-off VM again from the same disk; with `size`, with that many vCPUs and
   * that much memory from now on (its instance type was changed while it was off). No-op
   * when running.
   */
  powerOn(instanceId: string, size?: GuestSize): Promise<void>;
  /**
   * Stops the VM's vCPUs with its memory kept (power state 'paused'); `unpause` lets them run
   * on. A VM that is not running (or not paused, for unpause) is a `conflict` with reason
   * 'instance_state'; both are no-ops when already done.
   */
  pause(instanceId: string): Promise<void>;
  unpause(instanceId: string): Promise<void>;
  /**
   * Saves the running (or paused) VM's whole state to its own storage and ends its process
   * (power state 'suspended'); `resume` starts it again from the saved state, as it was.
   * No-ops when already done.
   */
  suspend(instanceId: string): Promise<void>;
  resume(instanceId: string): Promise<void>;
  /**
   * Gives the VM a new disk from `spec`'s image (and its kernel and ramdisk) and boots it,
   * keeping its network card (the same MAC, tap and address) and console log. The old disk is
   * gone. Resolves with what it became.
   */
  rebuild(spec: GuestSpec): Promise<GuestInfo>;
  /**
   * Gives the VM a new size: ends it (the guest is asked first), keeps a copy of its disk for a
   * revert, grows the disk to `size.diskGb` and boots it with the new vCPUs and memory when
   * `powerOn`. `confirmResize` drops the kept copy; `revertResize` ends the VM, puts the copy
   * back with the old size and boots it when `powerOn`. Both are no-ops without a pending resize.
   */
  resize(instanceId: string, size: GuestResize, options: { powerOn: boolean }): Promise<void>;
  confirmResize(instanceId: string): Promise<void>;
  revertResize(instanceId: string, old: GuestSize, options: { powerOn: boolean }): Promise<void>;
  /**
   * Ends the VM and boots `boot`'s image instead, with the VM's own disk attached as the
   * second disk; `unrescue` ends that and boots the VM from its own disk again.
   */
  rescue(instanceId: string, boot: RescueBoot): Promise<void>;
  unrescue(instanceId: string): Promise<void>;
  /**
   * Writes a self-contained qcow2 copy of the VM's root disk (everything the guest sees on
   * it, with no backing file) to `target`, a new file on this host. A running or paused VM
   * keeps running: the copy is the disk at one instant, as after a power cut (crash
   * consistent); a VM that is off (or suspended) is copied as it was left. No such VM:
   * `not_found`; a VM without a disk (it lives in its ramdisk) or a rescued one: `conflict`
   * with reason 'instance_state'. On a failure nothing is left at `target`.
   */
  snapshotRootDisk(
    instanceId: string,
    target: string,
    options?: DiskSnapshotOptions,
  ): Promise<void>;
  /** The VM's power state; 'nostate' when the driver has no such VM. */
  getState(instanceId: string): Promise<PowerState>;
  /**
   * The VM's interactive serial port (what its console log records). No such VM: `not_found`;
   * a VM that is not running: `conflict` with reason 'instance_state'.
   */
  serialConsole(instanceId: string): Promise<SerialEndpoint>;
  /** The latest console output, at most `maxBytes` from its end; '' when there is none. */
  consoleOutput(instanceId: string, maxBytes: number): Promise<string>;
  /**
   * A picture of the VM's display now, as JPEG bytes. With `wakeUp`, a key press first (as a
   * person would to end screen blanking). No such VM: `not_found`; a VM that is not running:
   * `conflict` with reason 'instance_state'.
   */
  screenshot(instanceId: string, options?: { wakeUp?: boolean }): Promise<Buffer>;
  list(): Promise<GuestInfo[]>;
  /**
   * Attaches a volume as a new virtio disk whose serial is the volume id's first 20 characters
   * (the guest sees /dev/disk/by-id/virtio-<serial>): hot-plugged into a running VM, and kept
   * with the VM so every later boot (power on, reboot, a restart of the compute service) has
   * it. Attaching a volume the VM has already is a no-op. No such VM: `not_found`; the volume
   * cannot be reached or plugged: `unavailable`, with nothing left attached.
   */
  attachVolume(instanceId: string, attachment: VolumeAttachment): Promise<void>;
  /**
   * Detaches a volume: a running guest is asked to release the disk and given a timeout;
   * when it does not, `conflict` and the volume stays attached, unless
   * `force`, which removes it from the VM's record whatever the guest does (the disk goes away
   * at the latest with the next boot; its connection is cut by the volume host). Detaching a
   * volume the VM does not have, or from a VM that is gone, succeeds.
   */
  detachVolume(instanceId: string, volumeId: string, options: { force: boolean }): Promise<void>;
  /**
   * Tells a running VM that an attached volume now has `sizeBytes` (the volume host grew it
   * and exports it again), so the guest sees the new size at once. No-op for a VM that is off.
   */
  extendVolume(instanceId: string, volumeId: string, sizeBytes: number): Promise<void>;
  /** The volumes attached to a VM, as attached; [] when there is no such VM. */
  listVolumes(instanceId: string): Promise<VolumeAttachment[]>;
  /**
   * Adds a network card for a port: hot-plugged into a running VM (a new virtio-net-pci the
   * guest sees at once), and kept with the VM so every later boot has it. A port the VM has
   * already is a no-op. No such VM: `not_found`; a tap the VM cannot reach (in another
   * namespace than its first card's): `conflict`; the card cannot be plugged: `unavailable`,
   * with nothing left plugged.
   */
  attachInterface(instanceId: string, nic: NicPlug): Promise<void>;
  /**
   * Removes a port's network card: a running guest is asked to release it and given a
   * timeout, after which the card is taken out anyway (a NIC holds no data). Removing one the
   * VM does not have, or from a VM that is gone, succeeds.
   */
  detachInterface(instanceId: string, portId: string): Promise<void>;
  /** The cards plugged besides the first, as plugged; [] when there is no such VM. */
  listInterfaces(instanceId: string): Promise<NicPlug[]>;
  capacity(): Promise<HostCapacity>;
  /** Releases driver resources; VMs that survive restarts keep running. */
  close(): Promise<void>;
}

/** The refusal of a quiesced disk copy by a driver without a guest-agent channel. */
export function noGuestAgent(instanceId: string): StratusError {
  return new StratusError(
    'invalid',
    `The disk of instance '${instanceId}' cannot be copied with its file systems frozen: the driver has no guest agent to ask.`,
    { resource: 'instance', id: instanceId, reason: 'unsupported' },
  );
}
