// Every vm state and task state an instance may be in, so an edge can turn a state it shows
// (an EC2 state name, a Compute API status) into the stored states a listing query selects.
import type { StateMatch, TaskState, VmState } from '../db/index.js';

const VM_STATES: Readonly<Record<VmState, true>> = {
  building: true,
  active: true,
  stopped: true,
  paused: true,
  suspended: true,
  rescued: true,
  resized: true,
  deleted: true,
  error: true,
};
const TASK_STATES: Readonly<Record<TaskState, true>> = {
  scheduling: true,
  spawning: true,
  rebooting: true,
  'powering-off': true,
  'powering-on': true,
  deleting: true,
  rebuilding: true,
  resize_prep: true,
  resize_reverting: true,
  resize_confirming: true,
  pausing: true,
  unpausing: true,
  suspending: true,
  resuming: true,
  rescuing: true,
  unrescuing: true,
  image_snapshot: true,
  image_pending_upload: true,
  image_uploading: true,
};

/**
 * The stored states for which `shown` holds, as conditions for InstanceRepo.page: each names a
 * vm state and the task states it excludes, so a task state the code does not know of would be
 * selected rather than lost (callers check the rows again).
 */
export function statesWhere(
  shown: (vmState: VmState, taskState: TaskState | null) => boolean,
): StateMatch[] {
  const tasks: (TaskState | null)[] = [null, ...(Object.keys(TASK_STATES) as TaskState[])];
  return (Object.keys(VM_STATES) as VmState[]).flatMap((vmState) => {
    const other = tasks.filter((t) => !shown(vmState, t));
    return other.length === tasks.length ? [] : [{ vmState, exceptTaskStates: other }];
  });
}
