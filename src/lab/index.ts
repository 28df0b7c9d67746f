// Public surface of the lab: a cloud of several hosts on one machine.
export {
  labUp,
  labDown,
  labStatus,
  labClientAdd,
  labClientDel,
  type LabStatus,
  type Print,
} from './lab.js';
export {
  planLab,
  renderConfig,
  type LabOptions,
  type LabPlan,
  type LabStorage,
  type LabVirt,
} from './plan.js';
export { readState, type LabState, type LabClient } from './state.js';
export { livePid } from './processes.js';
