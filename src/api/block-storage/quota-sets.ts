// Quotas in the Block Storage API: `os-quota-sets` (a project's limits, with `usage=true` each
// as `{limit, in_use, reserved, allocated}`; its defaults; an admin's update) over the same
// limits as everywhere else: `volumes`, `gigabytes` (volumes and snapshots, as Cinder counts)
// and `snapshots` are the project's quota of the volume service, the very numbers EC2's
// CreateVolume and CreateSnapshot are held to. Backups and groups do not exist here yet: they
// show a limit of 0 and cannot be changed; `per_volume_gigabytes` is -1 (no limit per volume).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RequestContext } from '../../context.js';
import { invalid } from '../../errors.js';
import type { QuotaLimits, QuotaUsage } from '../../quota/index.js';
import type { ApiServices } from '../services.js';

/** The quota set's keys backed by a limit here, and the ones fixed at a value. */
const BACKED = { volumes: 'volumes', gigabytes: 'gigabytes', snapshots: 'snapshots' } as const;
const FIXED: Readonly<Record<string, number>> = {
  backups: 0,
  backup_gigabytes: 0,
  groups: 0,
  per_volume_gigabytes: -1,
};

const shown = (n: number) => (Number.isFinite(n) ? n : -1);

function quotaSet(id: string, limits: QuotaLimits, used?: QuotaUsage) {
  const entry = (limit: number, inUse: number) =>
    used ? { limit: shown(limit), in_use: inUse, reserved: 0, allocated: 0 } : shown(limit);
  return {
    id,
    volumes: entry(limits.volumes, used?.volumes ?? 0),
    gigabytes: entry(limits.gigabytes, used?.gigabytes ?? 0),
    snapshots: entry(limits.snapshots, used?.snapshots ?? 0),
    ...Object.fromEntries(Object.entries(FIXED).map(([k, v]) => [k, entry(v, 0)])),
  };
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.toLowerCase());
}

/** `{"quota_set": {...}}` of an update: whole numbers, -1 unlimited; fixed keys unchanged. */
function parseUpdate(body: unknown): Partial<Record<keyof typeof BACKED, number>> {
  const top = body as { quota_set?: unknown } | null;
  const set = top?.quota_set;
  if (set === null || typeof set !== 'object' || Array.isArray(set)) {
    throw invalid("Missing required element 'quota_set' in request body.", {
      resource: 'request',
    });
  }
  const out: Partial<Record<keyof typeof BACKED, number>> = {};
  for (const [key, raw] of Object.entries(set as Record<string, unknown>)) {
    const n = typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < -1) {
      throw invalid(`Quota ${key} must be a whole number, or -1 for unlimited.`, {
        resource: 'limit',
        id: key,
      });
    }
    if (key in BACKED) out[key as keyof typeof BACKED] = n;
    else if (key in FIXED) {
      if (n !== FIXED[key]) {
        throw invalid(`The quota ${key} is fixed at ${FIXED[key]} here and cannot be changed.`, {
          resource: 'limit',
          id: key,
        });
      }
    } else {
      throw invalid(`Bad key(s) in quota set: ${key}`, { resource: 'limit', id: key });
    }
  }
  return out;
}

export function quotaSetRoutes(
  app: FastifyInstance,
  services: ApiServices,
  caller: (request: FastifyRequest) => Promise<RequestContext>,
): void {
  const quotas = services.quotaAdmin;
  type Params = { Params: { project: string } };

  app.get<Params>('/v3/os-quota-sets/:project/defaults', async (request) => {
    await caller(request);
    return { quota_set: quotaSet(request.params.project, await quotas.defaults()) };
  });
  app.get<Params>('/v3/os-quota-sets/:project', async (request) => {
    const ctx = await caller(request);
    const q = (request.query ?? {}) as Record<string, string | undefined>;
    const { limits, used } = await quotas.ofProject(ctx, request.params.project);
    return {
      quota_set: quotaSet(request.params.project, limits, truthy(q.usage) ? used : undefined),
    };
  });
  app.put<Params>('/v3/os-quota-sets/:project', async (request) => {
    const ctx = await caller(request);
    const changes = parseUpdate(request.body);
    // The Block Storage API refuses a limit below what is in use, as the Compute API does.
    const { limits } = await quotas.setProject(ctx, request.params.project, changes, false);
    const { id: _id, ...set } = quotaSet(request.params.project, limits);
    return { quota_set: set };
  });
}
