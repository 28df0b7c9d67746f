// Quota limits: the configured defaults, overridden per project, and what a project uses.
import { InstanceRepo, QuotaRepo, SnapshotRepo, VolumeRepo, type Db } from '../db/index.js';

/** The most a project may hold of each resource; `Infinity` when unlimited. */
export interface QuotaLimits {
  instances: number;
  cores: number;
  ramMb: number;
  addresses: number;
  securityGroups: number;
  securityGroupRules: number;
  keypairs: number;
  /** Server groups (EC2 placement groups) a project may have. */
  serverGroups: number;
  /** Members one server group may have. */
  serverGroupMembers: number;
  /** Volumes a project may have. */
  volumes: number;
  /** The total size of a project's volumes and snapshots, in GiB (Cinder counts both). */
  gigabytes: number;
  /** Volume snapshots a project may have. */
  snapshots: number;
}

export const QUOTA_RESOURCES = [
  'instances',
  'cores',
  'ramMb',
  'addresses',
  'securityGroups',
  'securityGroupRules',
  'keypairs',
  'serverGroups',
  'serverGroupMembers',
  'volumes',
  'gigabytes',
  'snapshots',
] as const satisfies readonly (keyof QuotaLimits)[];

/**
 * The limits that hold: the configured defaults, each replaced by an override where there is
 * one. A stored limit below zero (the APIs' -1) is unlimited: `Infinity`.
 */
export function effectiveLimits(
  defaults: QuotaLimits,
  overrides: Record<string, number>,
): QuotaLimits {
  const out = { ...defaults };
  for (const r of QUOTA_RESOURCES) {
    const v = overrides[r];
    if (v !== undefined) out[r] = v;
    if (out[r] < 0) out[r] = Infinity;
  }
  return out;
}

export type QuotaUsage = Record<(typeof QUOTA_RESOURCES)[number], number>;

/** Quota as the API edges read it: a project's limits and what it uses. */
export class QuotaReader {
  constructor(
    private readonly db: Db,
    private readonly defaults: QuotaLimits,
  ) {}

  /** The project's limits and what it holds of each resource now. */
  ofProject(projectId: string): Promise<{ limits: QuotaLimits; used: QuotaUsage }> {
    return projectQuota(this.db, this.defaults, projectId);
  }
}

/** A project's limits and what it holds of each resource now. */
async function projectQuota(
  db: Db,
  defaults: QuotaLimits,
  projectId: string,
): Promise<{ limits: QuotaLimits; used: QuotaUsage }> {
  const limits = effectiveLimits(defaults, await new QuotaRepo(db).overrides(projectId));
  const count = async (table: 'keypairs' | 'securityGroups' | 'floatingIps' | 'serverGroups') =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('projectId', '=', projectId)
          .executeTakeFirstOrThrow()
      ).n,
    );
  const instances = await new InstanceRepo(db).usage(projectId);
  const volumes = await new VolumeRepo(db).usage(projectId);
  const snapshots = await new SnapshotRepo(db).usage(projectId);
  const groupIds = db.selectFrom('securityGroups').select('id').where('projectId', '=', projectId);
  const rules = await db
    .selectFrom('securityGroupRules')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('groupId', 'in', groupIds)
    .executeTakeFirstOrThrow();
  return {
    limits,
    used: {
      instances: instances.instances,
      cores: instances.cores,
      ramMb: instances.ramMb,
      addresses: await count('floatingIps'),
      securityGroups: await count('securityGroups'),
      securityGroupRules: Number(rules.n),
      keypairs: await count('keypairs'),
      serverGroups: await count('serverGroups'),
      // Members are counted per group: no one figure for the project.
      serverGroupMembers: 0,
      volumes: volumes.volumes,
      gigabytes: volumes.gigabytes + snapshots.gigabytes,
      snapshots: snapshots.snapshots,
    },
  };
}
