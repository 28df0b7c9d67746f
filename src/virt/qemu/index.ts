// Public surface of the QEMU driver.
export {
  QemuDriver,
  qemuStateDirProblem,
  type QemuDriverOptions,
  type DriverLogger,
} from './driver.js';
export { chooseAccelerator, type AcceleratorMode, type AcceleratorChoice } from './accel.js';
