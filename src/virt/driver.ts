// The virt driver interface: what the compute manager needs from a hypervisor. Drivers stay
// plain; locking, timeouts and records live in the compute manager around them.

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
  capacity(): Promise<HostCapacity>;
  /** Releases driver resources; VMs that survive restarts keep running. */
  close(): Promise<void>;
}
