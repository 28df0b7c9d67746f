// Public surface of the virt layer.
export type {
  VirtDriver,
  GuestSpec,
  GuestInfo,
  GuestSize,
  GuestResize,
  RescueBoot,
  DiskSnapshotOptions,
  HostCapacity,
  PowerState,
  DriverCapabilities,
  GuestDisk,
  GuestFile,
  GuestNetworkSpec,
  NicAttachment,
  NicPlug,
  SshEndpoint,
  SerialEndpoint,
} from './driver.js';
export { FAKE_HOST_CAPACITY, FakeDriver, type FakeDriverOptions } from './fake/fake-driver.js';
export { QemuDriver, qemuStateDirProblem, type QemuDriverOptions } from './qemu/index.js';
export type { VolumeConnection, VolumeAttachment } from './driver.js';
// QMP and process checks, for the volume service's storage daemon (a QEMU process as well).
export { QmpClient, QmpError, qmpExecute, type QmpEvent } from './qemu/qmp.js';
export { isVmProcess as isQemuProcess } from './qemu/vm-process.js';
