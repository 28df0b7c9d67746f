// A launch's per-instance steps, run once an instance has a host and before the host is told to
// build it, the same for both APIs: its project network ports (bound to that host, which plugs
// them), then its volumes. Each step may answer how to undo it, which the launch calls if the
// instance fails.
import type { InstanceRow } from '../db/index.js';

export type LaunchStep = (inst: InstanceRow) => Promise<(() => Promise<void>) | undefined>;

/**
 * `first` then `second` for each instance: when `second` fails, `first` is undone; the undo of
 * both undoes `second`, then `first`.
 */
export function bothSteps(
  first: LaunchStep | undefined,
  second: LaunchStep | undefined,
): LaunchStep | undefined {
  if (!first || !second) return first ?? second;
  return async (inst) => {
    const undoFirst = await first(inst);
    let undoSecond: (() => Promise<void>) | undefined;
    try {
      undoSecond = await second(inst);
    } catch (err) {
      await undoFirst?.();
      throw err;
    }
    return async () => {
      await undoSecond?.();
      await undoFirst?.();
    };
  };
}

/** The step of a launch's ports that have no undo of their own (the launch undoes them all). */
export function portsStep(
  ports: { prepare(inst: InstanceRow): Promise<void> } | undefined,
): LaunchStep | undefined {
  if (!ports) return undefined;
  return async (inst) => {
    await ports.prepare(inst);
    return undefined;
  };
}
