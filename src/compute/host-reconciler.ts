// The compute host's half of "no launch left behind" (issue 13): finds the in-flight work on
// this host that nobody is doing any more (its process died, or its message was lost) and
// resumes it. A build is built again (every step of it may be repeated), a termination
// terminated again, a power change given up (the power-state sync then shows what the VM
// does), and an ended instance that still holds a fixed address gives it back.
import { systemContext, type RequestContext } from '../context.js';
import { InstanceRepo, now, type Db, type InstanceRow } from '../db/index.js';
import type { Logger } from '../log.js';
import { resizeSourceOf } from './server-lifecycle.js';

export interface HostReconcilerOptions {
  db: Db;
  host: string;
  logger: Logger;
  /** Work whose instance has not changed for this long is taken over (milliseconds). */
  deadlineMs: number;
  /** Whether this process is working on the instance right now (its per-instance lock). */
  busy(instanceId: string): boolean;
  build(instanceId: string, ctx: RequestContext): Promise<unknown>;
  terminate(instanceId: string, ctx: RequestContext): Promise<unknown>;
  /** Gives back the fixed address (and data-plane port) of an instance that ended. */
  releaseAddresses(instanceId: string, ctx: RequestContext): Promise<unknown>;
}

export type ReconcileStep = 'build' | 'terminate' | 'settle-task' | 'release-addresses';

export class HostReconciler {
  readonly #opts: HostReconcilerOptions;
  readonly #instances: InstanceRepo;

  constructor(options: HostReconcilerOptions) {
    this.#opts = options;
    this.#instances = new InstanceRepo(options.db);
  }

  /**
   * One pass. With `all` (the host's service just started, so nothing of this host is being
   * worked on) every in-flight instance is taken over at once, not only those past the
   * deadline. Resolves when the work it resumed is done; returns what it did, by instance.
   */
  async run(options: { all?: boolean } = {}): Promise<Map<string, ReconcileStep>> {
    const { host, logger } = this.#opts;
    const done = new Map<string, ReconcileStep>();
    const ctx = systemContext();
    const stale = await this.#instances.inFlight({
      host,
      ...(options.all ? {} : { updatedBefore: now() - this.#opts.deadlineMs }),
    });
    const work: Promise<unknown>[] = [];
    for (const inst of stale) {
      if (this.#opts.busy(inst.id)) continue;
      const step = stepFor(inst);
      logger.warn(
        { instanceId: inst.id, vmState: inst.vmState, taskState: inst.taskState, step },
        'taking over in-flight work nobody is doing',
      );
      done.set(inst.id, step);
      if (step === 'build') work.push(this.#opts.build(inst.id, ctx));
      else if (step === 'terminate') work.push(this.#opts.terminate(inst.id, ctx));
      else work.push(this.#settleTask(inst));
    }
    for (const id of await this.#instances.endedHoldingAddresses(host)) {
      if (this.#opts.busy(id) || done.has(id)) continue;
      logger.warn({ instanceId: id }, 'giving back the address of an instance that ended');
      done.set(id, 'release-addresses');
      work.push(this.#opts.releaseAddresses(id, ctx));
    }
    for (const r of await Promise.allSettled(work)) {
      if (r.status === 'rejected')
        logger.error({ err: r.reason }, 'resuming in-flight work failed');
    }
    return done;
  }

  /**
   * A power change or another action nobody finishes: the task is cleared (a resize that never
   * got going gives back its old flavor), the power-state sync does the rest.
   */
  async #settleTask(inst: InstanceRow): Promise<void> {
    const source = inst.taskState === 'resize_prep' ? resizeSourceOf(inst) : undefined;
    await this.#instances.transition(
      inst.id,
      { taskStates: [inst.taskState], updatedAt: inst.updatedAt },
      {
        taskState: null,
        ...(source
          ? {
              flavorId: source.flavorId,
              vcpus: source.vcpus,
              memoryMb: source.memoryMb,
              diskGb: source.diskGb,
              resizeSource: null,
            }
          : {}),
      },
    );
  }
}

function stepFor(inst: InstanceRow): ReconcileStep {
  if (inst.taskState === 'deleting') return 'terminate';
  if (inst.vmState === 'building') return 'build';
  return 'settle-task';
}
