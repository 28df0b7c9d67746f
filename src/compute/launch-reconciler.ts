// The request side's half of "no launch left behind" (issue 13): launches recorded but never
// handed to a host (the api process died while the scheduler was choosing, or before the
// host was recorded) are placed again and handed over, or end in error when no host can
// take them. Instances that have a host are that host's to resume (host-reconciler.ts).
import { systemContext, type RequestContext } from '../context.js';
import {
  CapacityClaimRepo,
  ImageRepo,
  InstanceRepo,
  now,
  ServerGroupRepo,
  type Db,
  type InstanceRow,
} from '../db/index.js';
import { asStratusError } from '../errors.js';
import type { Logger } from '../log.js';
import type { SchedulerClient } from '../scheduler/index.js';
import type { ComputeClient } from './client.js';

export interface LaunchReconcilerOptions {
  db: Db;
  scheduler: Pick<SchedulerClient, 'selectDestinations'>;
  compute: Pick<ComputeClient, 'buildInstance'>;
  logger: Logger;
  /**
   * A launch not placed this long after its last change is taken over (milliseconds). It must
   * exceed the bus call timeout: until then the api process that made it may still be waiting
   * for the scheduler's answer.
   */
  deadlineMs: number;
}

/** How many unplaced launches one pass takes over at a time. */
const PARALLEL = 8;

/** What one pass did with each instance it took over. */
export type UnplacedOutcome = 'handed-over' | 'failed' | 'retired' | 'waiting';

export class LaunchReconciler {
  readonly #opts: LaunchReconcilerOptions;
  readonly #instances: InstanceRepo;

  constructor(options: LaunchReconcilerOptions) {
    this.#opts = options;
    this.#instances = new InstanceRepo(options.db);
  }

  /**
   * One pass over the unplaced launches past the deadline (only `ids` among them when given).
   * Several processes may run it at once: each instance is taken over by one of them, by a
   * compare-and-set on its last change.
   */
  async run(
    ctx: RequestContext = systemContext(),
    options: { ids?: readonly string[] } = {},
  ): Promise<Map<string, UnplacedOutcome>> {
    const out = new Map<string, UnplacedOutcome>();
    const stale = await this.#instances.inFlight({
      host: null,
      updatedBefore: now() - this.#opts.deadlineMs,
    });
    const todo = stale.filter(
      (inst) => inst.vmState === 'building' && (!options.ids || options.ids.includes(inst.id)),
    );
    // A few at a time: a burst cut short leaves many, each a scheduler call and a cast.
    const next = async (): Promise<void> => {
      for (let inst = todo.shift(); inst; inst = todo.shift()) {
        const took = await this.#instances.transition(
          inst.id,
          { vmStates: ['building'], taskStates: [inst.taskState], updatedAt: inst.updatedAt },
          {},
        );
        if (!took) continue;
        this.#opts.logger.warn(
          { instanceId: inst.id, taskState: inst.taskState },
          'taking over a launch that was never handed to a host',
        );
        out.set(inst.id, await this.#resume(ctx, inst));
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, next));
    return out;
  }

  async #resume(ctx: RequestContext, inst: InstanceRow): Promise<UnplacedOutcome> {
    if (inst.taskState === 'deleting') {
      // Terminated before it had a host: the record is retired, its claim given back.
      await this.#end(inst.id, { vmState: 'deleted' });
      return 'retired';
    }
    const image = await new ImageRepo(this.#opts.db).find(inst.imageId);
    const group = (await new ServerGroupRepo(this.#opts.db).ofInstances([inst.id])).get(inst.id);
    let host: string;
    try {
      const { hosts } = await this.#opts.scheduler.selectDestinations(ctx, {
        instanceIds: [inst.id],
        availabilityZone: null,
        architecture: image?.architecture ?? null,
        vcpus: inst.vcpus,
        memoryMb: inst.memoryMb,
        diskGb: inst.diskGb,
        group: group?.id ?? null,
      });
      host = hosts[0] as string;
    } catch (err) {
      const e = asStratusError(err);
      if (e.kind === 'unavailable' && e.reason !== 'no_valid_host') {
        // No scheduler answered: the next pass after the deadline tries again.
        this.#opts.logger.warn({ err, instanceId: inst.id }, 'no scheduler to place a launch');
        return 'waiting';
      }
      await this.#end(inst.id, {
        vmState: 'error',
        stateReason: 'build_failed',
        stateMessage: `Its launch was interrupted and it could not be placed again: ${e.message}`,
      });
      return 'failed';
    }
    const recorded = await this.#instances.transition(
      inst.id,
      { vmStates: ['building'], taskStates: ['scheduling'] },
      { host, taskState: null },
    );
    // Terminated meanwhile: the terminate gave back the claim with the record.
    if (!recorded) return 'retired';
    try {
      await this.#opts.compute.buildInstance(ctx, host, inst.id);
    } catch (err) {
      // The host's own reconciler builds it after the deadline.
      this.#opts.logger.warn({ err, instanceId: inst.id, host }, 'could not hand a launch over');
    }
    return 'handed-over';
  }

  async #end(
    instanceId: string,
    set: Pick<InstanceRow, 'vmState'> & Partial<InstanceRow>,
  ): Promise<void> {
    const at = now();
    await this.#opts.db.transaction().execute(async (trx) => {
      await new InstanceRepo(trx).update(instanceId, {
        taskState: null,
        powerState: 'nostate',
        terminatedAt: at,
        ...set,
      });
      await new CapacityClaimRepo(trx).release([instanceId]);
    });
  }
}
