// Public surface of the virt layer.
export type {
  VirtDriver,
  GuestSpec,
  GuestInfo,
  GuestSize,
  GuestResize,
  RescueBoot,
  HostCapacity,
  PowerState,
  DriverCapabilities,
  GuestDisk,
  GuestFile,
  GuestNetworkSpec,
  NicAttachment,
  SshEndpoint,
  SerialEndpoint,
} from './driver.js';
export { FAKE_HOST_CAPACITY, FakeDriver, type FakeDriverOptions } from './fake/fake-driver.js';
export { QemuDriver, qemuStateDirProblem, type QemuDriverOptions } from './qemu/index.js';
