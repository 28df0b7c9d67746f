// Capacity claims: what each placed instance holds on its host. The scheduler takes them, one
// atomic transaction per instance, so any number of scheduler processes can place instances
// without overfilling a host; whoever retires an instance gives its claim back.
import { sql } from 'kysely';
import type { ComputeNodeRow, Db } from '../schema.js';
import { ServerGroupRepo, type GroupPlacement } from './server-groups.js';

/** An amount of vCPUs, memory (MiB) and disk (GiB). */
export interface Resources {
  vcpus: number;
  memoryMb: number;
  diskGb: number;
}

export interface ClaimRequest extends Resources {
  instanceId: string;
  host: string;
}

/** A claim and, for a member of a server group, the group whose policy it must keep. */
export interface GroupClaimRequest extends ClaimRequest {
  group?: GroupPlacement | undefined;
}

/**
 * `claimed`: the instance now holds the resources on the host. `no_room`: the host's claims
 * leave too little. `unknown_host`: no compute node by that name. `not_building`: the instance
 * is gone or no longer being built (its launch was undone), so nothing is claimed for it.
 * `group_conflict`: the host breaks the instance's server group's hard policy, counting the
 * claims of the other members (another scheduler placed one since the hosts were read).
 */
export type ClaimOutcome =
  'claimed' | 'no_room' | 'unknown_host' | 'not_building' | 'group_conflict';

export class CapacityClaimRepo {
  constructor(private readonly db: Db) {}

  /**
   * Claims `req` on its host if the host's claims plus `req` stay within `limits(node)` (what
   * the host may hold in all: its capacity times the allocation ratios). One transaction that
   * first locks the host's compute-node row, so concurrent claims on one host are decided one
   * at a time on PostgreSQL (SQLite's BEGIN IMMEDIATE serialises every writer). An instance
   * claims on one host at a time: a claim it held elsewhere is replaced.
   *
   * A member of a group with a hard policy (affinity, anti-affinity) also takes the group's
   * row lock, after the host's and the instance's, and claims only if the other members'
   * claims allow the host: so two members are never placed against the policy, whichever
   * schedulers place them and on whichever hosts.
   */
  async claim(
    req: GroupClaimRequest,
    limits: (node: ComputeNodeRow) => Resources,
  ): Promise<ClaimOutcome> {
    return this.db.transaction().execute(async (trx) => {
      // Four statements between BEGIN and COMMIT: the claim is on every launch's path.
      const node = await trx
        .updateTable('computeNodes')
        .set({ host: req.host })
        .where('host', '=', req.host)
        .returningAll()
        .executeTakeFirst();
      if (!node) return 'unknown_host';
      // Locks the instance's row too: an undo that removes it waits for this claim, and then
      // takes it away with the row (the foreign key cascades).
      const building = await trx
        .updateTable('instances')
        .set({ vmState: 'building' })
        .where('id', '=', req.instanceId)
        .where('vmState', '=', 'building')
        .executeTakeFirst();
      if (Number(building.numUpdatedRows) === 0) return 'not_building';
      if (req.group && !(await keepsGroupPolicy(trx, req.group, req.instanceId, req.host))) {
        return 'group_conflict';
      }
      // A claim the instance held (here or elsewhere) is replaced, so it does not count.
      const used = (await usage(trx, req.host, req.instanceId)).get(req.host) ?? NONE;
      const limit = limits(node);
      if (
        used.vcpus + req.vcpus > limit.vcpus ||
        used.memoryMb + req.memoryMb > limit.memoryMb ||
        used.diskGb + req.diskGb > limit.diskGb
      ) {
        await trx.deleteFrom('capacityClaims').where('instanceId', '=', req.instanceId).execute();
        return 'no_room';
      }
      const claim = {
        host: req.host,
        vcpus: req.vcpus,
        memoryMb: req.memoryMb,
        diskGb: req.diskGb,
        createdAt: Date.now(),
      };
      await trx
        .insertInto('capacityClaims')
        .values({ instanceId: req.instanceId, ...claim })
        .onConflict((oc) => oc.column('instanceId').doUpdateSet(claim))
        .execute();
      return 'claimed';
    });
  }

  /**
   * Changes the resources an instance's claim holds on its host (a new flavor while it is
   * stopped), if the host's other claims plus the new amount stay within `limits(node)`. An
   * instance without a claim gets one. The same locking as `claim`.
   */
  async resize(
    req: ClaimRequest,
    limits: (node: ComputeNodeRow) => Resources,
  ): Promise<'claimed' | 'no_room' | 'unknown_host'> {
    return this.db.transaction().execute(async (trx) => {
      const node = await trx
        .updateTable('computeNodes')
        .set({ host: req.host })
        .where('host', '=', req.host)
        .returningAll()
        .executeTakeFirst();
      if (!node) return 'unknown_host';
      const used = (await usage(trx, req.host, req.instanceId)).get(req.host) ?? NONE;
      const limit = limits(node);
      if (
        used.vcpus + req.vcpus > limit.vcpus ||
        used.memoryMb + req.memoryMb > limit.memoryMb ||
        used.diskGb + req.diskGb > limit.diskGb
      ) {
        return 'no_room';
      }
      const claim = {
        host: req.host,
        vcpus: req.vcpus,
        memoryMb: req.memoryMb,
        diskGb: req.diskGb,
        createdAt: Date.now(),
      };
      await trx
        .insertInto('capacityClaims')
        .values({ instanceId: req.instanceId, ...claim })
        .onConflict((oc) => oc.column('instanceId').doUpdateSet(claim))
        .execute();
      return 'claimed';
    });
  }

  /** Gives back the claims of these instances; instances without one are left alone. */
  async release(instanceIds: readonly string[]): Promise<void> {
    if (instanceIds.length === 0) return;
    await this.db.deleteFrom('capacityClaims').where('instanceId', 'in', instanceIds).execute();
  }

  /** What the claims on each host add up to; hosts without claims are absent. */
  usageByHost(): Promise<Map<string, Resources>> {
    return usage(this.db);
  }

  /**
   * What the claims on each host add up to, and which instances hold a claim created at or
   * after `since` (milliseconds): one statement, so both come from the same moment. The
   * scheduler learns from the second which of its recent claims the first includes.
   */
  async usageWithRecent(
    since: number,
  ): Promise<{ usage: Map<string, Resources>; recent: Set<string> }> {
    const rows = await this.db
      .selectFrom('capacityClaims')
      .select((eb) => [
        'host',
        eb.fn.sum<number>('vcpus').as('vcpus'),
        eb.fn.sum<number>('memoryMb').as('memoryMb'),
        eb.fn.sum<number>('diskGb').as('diskGb'),
        sql<string | null>`null`.as('instanceId'),
      ])
      .groupBy('host')
      .unionAll((eb) =>
        eb
          .selectFrom('capacityClaims')
          .select(['host', 'vcpus', 'memoryMb', 'diskGb', 'instanceId'])
          .where('createdAt', '>=', since),
      )
      .execute();
    const usage = new Map<string, Resources>();
    const recent = new Set<string>();
    for (const r of rows) {
      if (r.instanceId !== null) recent.add(r.instanceId);
      else {
        usage.set(r.host, {
          vcpus: Number(r.vcpus),
          memoryMb: Number(r.memoryMb),
          diskGb: Number(r.diskGb),
        });
      }
    }
    return { usage, recent };
  }

  /** The claims of these instances (for operators and tests). */
  async ofInstances(instanceIds: readonly string[]): Promise<ClaimRequest[]> {
    if (instanceIds.length === 0) return [];
    return this.db
      .selectFrom('capacityClaims')
      .select(['instanceId', 'host', 'vcpus', 'memoryMb', 'diskGb'])
      .where('instanceId', 'in', instanceIds)
      .orderBy('instanceId')
      .execute();
  }
}

const NONE: Resources = { vcpus: 0, memoryMb: 0, diskGb: 0 };

/**
 * Under the group's row lock: whether `host` keeps the group's hard policy for `instanceId`,
 * given the claims of its other members. Soft policies and a group gone always pass.
 */
async function keepsGroupPolicy(
  trx: Db,
  group: GroupPlacement,
  instanceId: string,
  host: string,
): Promise<boolean> {
  if (group.policy !== 'affinity' && group.policy !== 'anti-affinity') return true;
  const groups = new ServerGroupRepo(trx);
  if (!(await groups.hold(group.id))) return true;
  const others = [...(await groups.memberHosts(group.id))].filter(([id]) => id !== instanceId);
  if (group.policy === 'affinity') return others.every(([, h]) => h === host);
  return others.filter(([, h]) => h === host).length < group.maxPerHost;
}

/** The claims' sums by host (or of one host), leaving out one instance's claim if told. */
async function usage(db: Db, host?: string, except?: string): Promise<Map<string, Resources>> {
  let q = db
    .selectFrom('capacityClaims')
    .select((eb) => [
      'host',
      eb.fn.coalesce(eb.fn.sum<number>('vcpus'), sql<number>`0`).as('vcpus'),
      eb.fn.coalesce(eb.fn.sum<number>('memoryMb'), sql<number>`0`).as('memoryMb'),
      eb.fn.coalesce(eb.fn.sum<number>('diskGb'), sql<number>`0`).as('diskGb'),
    ])
    .groupBy('host');
  if (host !== undefined) q = q.where('host', '=', host);
  if (except !== undefined) q = q.where('instanceId', '!=', except);
  const rows = await q.execute();
  return new Map(
    rows.map((r) => [
      r.host,
      { vcpus: Number(r.vcpus), memoryMb: Number(r.memoryMb), diskGb: Number(r.diskGb) },
    ]),
  );
}
