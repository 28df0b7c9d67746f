// The virt driver interface: what the compute manager needs from a hypervisor. Drivers stay
// plain; locking, timeouts and records live in the compute manager around them.

export type PowerState = 'running' | 'paused' | 'shutdown' | 'crashed' | 'nostate';

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
  /** Network settings given by the network service, opaque to the compute manager. */
  network?: Record<string, unknown>;
}

export interface GuestInfo {
  instanceId: string;
  powerState: PowerState;
}

export interface VirtDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  /** Prepares the driver; returns the instance ids of VMs it found running (adopted). */
  init(): Promise<string[]>;
  /** Creates and boots a VM. Rejects if it could not be started; nothing is left behind then. */
  spawn(spec: GuestSpec): Promise<void>;
  /** Removes the VM and everything it kept on disk. Succeeds when the VM is already gone. */
  destroy(instanceId: string): Promise<void>;
  /** Soft reboot (guest's own), or hard reset when `hard`. */
  reboot(instanceId: string, hard: boolean): Promise<void>;
  powerOff(instanceId: string): Promise<void>;
  powerOn(instanceId: string): Promise<void>;
  /** The VM's power state; 'nostate' when the driver has no such VM. */
  getState(instanceId: string): Promise<PowerState>;
  /** The latest console output, at most `maxBytes` from its end; '' when there is none. */
  consoleOutput(instanceId: string, maxBytes: number): Promise<string>;
  list(): Promise<GuestInfo[]>;
  capacity(): Promise<HostCapacity>;
  /** Releases driver resources; VMs that survive restarts keep running. */
  close(): Promise<void>;
}
