// Admission of launches: a project's new instances are counted against its quota under the
// project's row lock, so that concurrent launches never go over quota. Launches of one project
// that arrive while a few rounds of theirs are in the database wait for the next round, and
// each round admits all the waiting ones in one transaction. The records are written before the
// lock is taken, and the lock is held only for the count and the commit: launches of one
// project, which once went one at a time through the whole transaction under the lock, now
// overlap in everything but that (bench/multi-host-scale.ts).
import {
  InstanceRepo,
  QuotaRepo,
  ServerGroupRepo,
  ServerDetailsRepo,
  ServerMetadataRepo,
  TagRepo,
  type Db,
  type FlavorRow,
  type InstanceActionRow,
  type InstanceRow,
  type ServerDetailsRow,
  type ServerMetadataRow,
  type ServerTagRow,
  type TagRow,
} from '../db/index.js';
import { asStratusError, notFound, StratusError } from '../errors.js';
import { effectiveLimits, type QuotaLimits } from '../quota/index.js';

/** What one launch records when it is admitted with `count` instances. */
export interface LaunchRecords {
  instances: InstanceRow[];
  securityGroups: { instanceId: string; groupId: string }[];
  tags: TagRow[];
  /** The instances' server metadata (the Compute API's), if the launch gives them any. */
  metadata?: ServerMetadataRow[];
  /** The Compute API's details (description, hostname, admin password) and tags, if any. */
  serverDetails?: ServerDetailsRow[];
  serverTags?: ServerTagRow[];
  actions: Omit<InstanceActionRow, 'id' | 'finishedAt' | 'result' | 'message'>[];
  /**
   * The server group (of the launch's project) every instance joins, if any: it must exist
   * when the launch is admitted, and hold no more than its quota of members with them.
   */
  group?: string | undefined;
}

export interface LaunchRequest {
  projectId: string;
  clientToken: string | null;
  flavor: FlavorRow;
  minCount: number;
  maxCount: number;
  /**
   * The records of this launch with `count` instances (at most its max count; fewer than its
   * min when quota could never allow it, and then none is kept).
   */
  records(count: number): LaunchRecords;
}

/**
 * Rounds of one project that may be in the database at once from one process. The lock is
 * held only for the count and the commit, so rounds overlap in their writes; more than a few
 * would only take more of the process's database connections.
 */
const ROUNDS_AT_ONCE = 4;

interface Waiting {
  request: LaunchRequest;
  resolve(rows: InstanceRow[]): void;
  reject(err: unknown): void;
}

interface Usage {
  instances: number;
  cores: number;
  ramMb: number;
}

export class LaunchAdmission {
  readonly #db: Db;
  readonly #quota: QuotaLimits;
  /** Launches waiting for their project's next round, by project. */
  readonly #waiting = new Map<string, Waiting[]>();
  /** How many rounds of each project are in the database now (at most ROUNDS_AT_ONCE). */
  readonly #busy = new Map<string, number>();

  constructor(options: { db: Db; quota: QuotaLimits }) {
    this.#db = options.db;
    this.#quota = options.quota;
  }

  /**
   * Records the launch's instances, as many as quota allows between its min and max count, or
   * refuses it with `over_quota`. A launch whose ClientToken is already recorded (in the
   * database or earlier in the same round) gets those instances back instead, and records
   * nothing.
   */
  admit(request: LaunchRequest): Promise<InstanceRow[]> {
    return new Promise((resolve, reject) => {
      const queue = this.#waiting.get(request.projectId) ?? [];
      queue.push({ request, resolve, reject });
      this.#waiting.set(request.projectId, queue);
      if ((this.#busy.get(request.projectId) ?? 0) < ROUNDS_AT_ONCE) {
        void this.#rounds(request.projectId);
      }
    });
  }

  /** Runs rounds for the project until nobody of it waits. */
  async #rounds(projectId: string): Promise<void> {
    this.#busy.set(projectId, (this.#busy.get(projectId) ?? 0) + 1);
    try {
      for (;;) {
        const batch = this.#waiting.get(projectId) ?? [];
        this.#waiting.delete(projectId);
        if (batch.length === 0) return;
        try {
          const outcomes = await this.#round(projectId, batch);
          for (const [i, w] of batch.entries()) {
            const outcome = outcomes[i];
            if (outcome instanceof Error) w.reject(outcome);
            else w.resolve(outcome as InstanceRow[]);
          }
        } catch (err) {
          // An unreachable database fails every launch of the round alike, at once.
          if (batch.length === 1 || asStratusError(err).kind === 'unavailable') {
            for (const w of batch) w.reject(err);
            continue;
          }
          // One launch may be what failed the round (its records could not be made, or the
          // database refused one of its rows): each launch of the round is tried again on its
          // own, so that only its own error reaches it.
          for (const w of batch) {
            try {
              const [outcome] = await this.#round(projectId, [w]);
              if (outcome instanceof Error) w.reject(outcome);
              else w.resolve(outcome as InstanceRow[]);
            } catch (e) {
              w.reject(e);
            }
          }
        }
      }
    } finally {
      const left = (this.#busy.get(projectId) ?? 1) - 1;
      if (left === 0) this.#busy.delete(projectId);
      else this.#busy.set(projectId, left);
    }
  }

  /**
   * One transaction. Every launch's records go in first, as many instances as its max count
   * (or as the limits could ever allow); then the project's row lock; then the count, which
   * sees those records and the committed ones of every launch that held the lock before; then
   * each launch in turn keeps what quota leaves it, and the records it may not keep go. The
   * lock is held only for the count and the commit, not for the writes.
   */
  #round(projectId: string, batch: readonly Waiting[]): Promise<(InstanceRow[] | Error)[]> {
    return this.#db.transaction().execute(async (trx) => {
      const repo = new InstanceRepo(trx);
      const limits = effectiveLimits(this.#quota, await new QuotaRepo(trx).overrides(projectId));
      const planned = batch.map(({ request }) => {
        const most = Math.min(
          request.maxCount,
          limits.instances,
          Math.floor(limits.cores / Math.max(1, request.flavor.vcpus)),
          Math.floor(limits.ramMb / Math.max(1, request.flavor.memoryMb)),
        );
        return request.records(Math.max(0, Math.min(most, request.maxCount)));
      });
      await repo.insert(
        planned.flatMap((r) => r.instances),
        planned.flatMap((r) => r.securityGroups),
      );
      const tags = planned.flatMap((r) => r.tags);
      if (tags.length > 0) await new TagRepo(trx).put(tags);
      await new ServerMetadataRepo(trx).insert(planned.flatMap((r) => r.metadata ?? []));
      await new ServerDetailsRepo(trx).insert(
        planned.flatMap((r) => r.serverDetails ?? []),
        planned.flatMap((r) => r.serverTags ?? []),
      );
      await repo.startActions(planned.flatMap((r) => r.actions));

      // The project's row lock: launches of one project are counted one round at a time
      // (PostgreSQL); SQLite's BEGIN IMMEDIATE already serialises writers. The count is a
      // statement of its own after it, so that it sees what the last holder committed.
      await trx
        .updateTable('projects')
        .set({ id: projectId })
        .where('id', '=', projectId)
        .execute();
      const ours = new Set(planned.flatMap((r) => r.instances.map((i) => i.id)));
      const counted = await repo.usage(projectId);
      const used: Usage = { ...counted };
      for (const r of planned) {
        for (const inst of r.instances) {
          used.instances -= 1;
          used.cores -= inst.vcpus;
          used.ramMb -= inst.memoryMb;
        }
      }
      const byToken = new Map<string, InstanceRow[]>();
      const dropped: string[] = [];
      const outcomes: (InstanceRow[] | Error)[] = [];
      for (const [i, { request }] of batch.entries()) {
        const mine = (planned[i] as LaunchRecords).instances;
        const token = request.clientToken;
        if (token) {
          const earlier =
            byToken.get(token) ??
            (await repo.findByClientToken(projectId, token)).filter((r) => !ours.has(r.id));
          if (earlier.length > 0) {
            outcomes.push(earlier);
            dropped.push(...mine.map((r) => r.id));
            continue;
          }
        }
        let count: number;
        try {
          count = roomWithinQuota(limits, used, request);
        } catch (err) {
          outcomes.push(err as Error);
          dropped.push(...mine.map((r) => r.id));
          continue;
        }
        const group = (planned[i] as LaunchRecords).group;
        if (group !== undefined) {
          try {
            count = await joinGroup(trx, projectId, group, limits, count, request.minCount);
          } catch (err) {
            outcomes.push(err as Error);
            dropped.push(...mine.map((r) => r.id));
            continue;
          }
        }
        const kept = mine.slice(0, count);
        dropped.push(...mine.slice(count).map((r) => r.id));
        if (group !== undefined && count > 0) {
          await new ServerGroupRepo(trx).addMembers(
            kept.map((inst) => ({ instanceId: inst.id, groupId: group })),
          );
        }
        used.instances += count;
        used.cores += count * request.flavor.vcpus;
        used.ramMb += count * request.flavor.memoryMb;
        if (token) byToken.set(token, kept);
        outcomes.push(kept);
      }
      for (let i = 0; i < dropped.length; i += 1000) {
        const ids = dropped.slice(i, i + 1000);
        await trx.deleteFrom('tags').where('resourceId', 'in', ids).execute();
        await repo.deleteMany(ids);
      }
      return outcomes;
    });
  }
}

/**
 * Under the project's row lock: takes the group's row lock and answers how many of `count`
 * instances may join it (at least `min`), or refuses: the group is not the project's
 * (`not_found`), or its members quota leaves fewer than `min` (`over_quota`).
 */
async function joinGroup(
  trx: Db,
  projectId: string,
  groupId: string,
  limits: QuotaLimits,
  count: number,
  min: number,
): Promise<number> {
  const groups = new ServerGroupRepo(trx);
  if (!(await groups.hold(groupId, projectId))) {
    throw notFound('server_group', groupId, `The server group '${groupId}' does not exist.`);
  }
  const members = (await groups.members([groupId])).get(groupId)?.length ?? 0;
  const room = limits.serverGroupMembers - members;
  if (room < min) {
    throw new StratusError(
      'over_quota',
      `Quota exceeded for server_group_members: the server group '${groupId}' may have at most ${limits.serverGroupMembers} members, and has ${members}.`,
      { resource: 'server_group_members', reason: 'server_group_members' },
    );
  }
  return Math.min(count, room);
}

/**
 * How many of the launch's instances fit in what quota leaves (at most its max count), or
 * `over_quota` naming the first limit that leaves fewer than its min count.
 */
export function roomWithinQuota(
  limits: QuotaLimits,
  used: Usage,
  request: Pick<LaunchRequest, 'flavor' | 'minCount' | 'maxCount'>,
): number {
  const { flavor, minCount: min, maxCount: max } = request;
  const room = Math.min(
    limits.instances - used.instances,
    Math.floor((limits.cores - used.cores) / Math.max(1, flavor.vcpus)),
    Math.floor((limits.ramMb - used.ramMb) / Math.max(1, flavor.memoryMb)),
  );
  if (room >= min) return Math.min(room, max);
  const which =
    limits.instances - used.instances < min
      ? 'instances'
      : limits.cores - used.cores < min * flavor.vcpus
        ? 'cores'
        : 'ram';
  const text = {
    instances: `launching ${min} more would exceed the project's limit of ${limits.instances} instances (${used.instances} in use)`,
    cores: `launching ${min} more would exceed the project's limit of ${limits.cores} vCPUs (${used.cores} in use)`,
    ram: `launching ${min} more would exceed the project's limit of ${limits.ramMb} MiB of memory (${used.ramMb} MiB in use)`,
  }[which];
  throw new StratusError('over_quota', `Your quota does not allow this: ${text}.`, {
    resource: which,
    reason: which,
  });
}
