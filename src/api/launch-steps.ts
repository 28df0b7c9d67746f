// A launch's per-instance step, run once an instance has a host and before the host is told to
// build it, the same for both APIs: its project network ports first (bound to that host, which
// plugs them), then its volumes (whose undo the launch calls if the instance fails).
import type { InstanceRow } from '../db/index.js';

export type LaunchStep = (inst: InstanceRow) => Promise<(() => Promise<void>) | undefined>;

export function withLaunchPorts(
  ports: { prepare(inst: InstanceRow): Promise<void> } | undefined,
  volumes: LaunchStep | undefined,
): LaunchStep | undefined {
  if (!ports) return volumes;
  return async (inst) => {
    await ports.prepare(inst);
    return volumes?.(inst);
  };
}
