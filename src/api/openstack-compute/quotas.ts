// Quotas in the Compute API: `os-quota-sets` (a project's limits: show, detail with in_use,
// defaults, update and delete = back to the defaults; admins change them), `os-quota-class-sets`
// (the class `default`: every project's default limits) and `os-simple-tenant-usage` (instance
// hours, memory, disk and cores in a period). -1 is unlimited. 2.36 drops the network
// quotas, 2.57 the injected files; 2.50 reshapes the class sets the same way.
import type { RequestContext } from '../../context.js';
import type { QuotaLimits, QuotaResource, QuotaUsage } from '../../quota/index.js';
import { badRequest, flag, member, onlyKeys, wholeNumber } from './admin-input.js';
import { atLeast, type Microversion } from './microversion.js';
import { queryOf, type RouteDeps } from './routes.js';
import { usageTime } from './views.js';

/** The Compute API's quota names that are Stratus quotas, and whether a microversion has them. */
const BACKED: readonly {
  key: string;
  resource: QuotaResource;
  shown: (v: Microversion) => boolean;
}[] = [
  { key: 'instances', resource: 'instances', shown: () => true },
  { key: 'cores', resource: 'cores', shown: () => true },
  { key: 'ram', resource: 'ramMb', shown: () => true },
  { key: 'key_pairs', resource: 'keypairs', shown: () => true },
  { key: 'server_groups', resource: 'serverGroups', shown: () => true },
  { key: 'server_group_members', resource: 'serverGroupMembers', shown: () => true },
  { key: 'floating_ips', resource: 'addresses', shown: (v) => !atLeast(v, 36) },
  { key: 'security_groups', resource: 'securityGroups', shown: (v) => !atLeast(v, 36) },
  { key: 'security_group_rules', resource: 'securityGroupRules', shown: (v) => !atLeast(v, 36) },
];

/**
 * Quotas the Compute API names that Stratus keeps fixed: metadata items (the most an instance
 * may have), and the injected-file and fixed-IP limits it does not count. Shown, not changed.
 */
const FIXED: readonly { key: string; limit: number; shown: (v: Microversion) => boolean }[] = [
  { key: 'metadata_items', limit: 128, shown: () => true },
  { key: 'fixed_ips', limit: -1, shown: (v) => !atLeast(v, 36) },
  { key: 'injected_files', limit: 5, shown: (v) => !atLeast(v, 57) },
  { key: 'injected_file_content_bytes', limit: 10240, shown: (v) => !atLeast(v, 57) },
  { key: 'injected_file_path_bytes', limit: 255, shown: (v) => !atLeast(v, 57) },
];

/** The class sets' keys: before 2.50 the network ones and no server groups; after, the reverse. */
const classShown = (key: string, v: Microversion): boolean => {
  if (['server_groups', 'server_group_members'].includes(key)) return atLeast(v, 50);
  if (['floating_ips', 'security_groups', 'security_group_rules', 'fixed_ips'].includes(key)) {
    return !atLeast(v, 50);
  }
  if (key.startsWith('injected_')) return !atLeast(v, 57);
  return true;
};

/** A limit as the API shows it: -1 for unlimited. */
const shownLimit = (n: number) => (Number.isFinite(n) ? n : -1);

function quotaSet(
  limits: QuotaLimits,
  v: Microversion,
  shown: (key: string, v: Microversion) => boolean,
  used?: QuotaUsage,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const b of BACKED) {
    if (!shown(b.key, v)) continue;
    const limit = shownLimit(limits[b.resource]);
    out[b.key] = used ? { in_use: used[b.resource], limit, reserved: 0 } : limit;
  }
  for (const f of FIXED) {
    if (!shown(f.key, v)) continue;
    out[f.key] = used ? { in_use: 0, limit: f.limit, reserved: 0 } : f.limit;
  }
  return out;
}

const setShown = (key: string, v: Microversion) =>
  (BACKED.find((b) => b.key === key) ?? FIXED.find((f) => f.key === key))?.shown(v) ?? false;

/** The limits a quota-set or class-set update asks for, by Stratus resource. */
function parseLimits(
  body: Record<string, unknown>,
  v: Microversion,
  shown: (key: string, v: Microversion) => boolean,
  extra: readonly string[],
  what: string,
): Partial<Record<QuotaResource, number>> {
  const keys = [...BACKED, ...FIXED].map((q) => q.key).filter((k) => shown(k, v));
  onlyKeys(body, [...keys, ...extra], what);
  const out: Partial<Record<QuotaResource, number>> = {};
  for (const [key, value] of Object.entries(body)) {
    if (extra.includes(key)) continue;
    const limit = wholeNumber(value, key, -1, 2147483647);
    const backed = BACKED.find((b) => b.key === key);
    if (!backed) {
      const fixed = FIXED.find((f) => f.key === key);
      if (fixed && fixed.limit === limit) continue;
      throw badRequest(`The quota ${key} is fixed at ${fixed?.limit} here and cannot be changed.`);
    }
    out[backed.resource] = limit;
  }
  return out;
}

export function quotaRoutes({ app, services, caller, base }: RouteDeps): void {
  const quotas = services.quotaAdmin;

  app.get<{ Params: { project: string } }>(
    '/v2.1/os-quota-sets/:project/defaults',
    async (request) => {
      await caller(request);
      const v = request.microversion;
      return {
        quota_set: {
          id: request.params.project,
          ...quotaSet(await quotas.defaults(), v, setShown),
        },
      };
    },
  );
  app.get<{ Params: { project: string } }>(
    '/v2.1/os-quota-sets/:project/detail',
    async (request) => {
      const ctx = await caller(request);
      const { limits, used } = await quotas.ofProject(ctx, request.params.project);
      return {
        quota_set: {
          id: request.params.project,
          ...quotaSet(limits, request.microversion, setShown, used),
        },
      };
    },
  );
  app.get<{ Params: { project: string } }>('/v2.1/os-quota-sets/:project', async (request) => {
    const ctx = await caller(request);
    const { limits } = await quotas.ofProject(ctx, request.params.project);
    return {
      quota_set: {
        id: request.params.project,
        ...quotaSet(limits, request.microversion, setShown),
      },
    };
  });
  app.put<{ Params: { project: string } }>('/v2.1/os-quota-sets/:project', async (request) => {
    const ctx = await caller(request);
    const v = request.microversion;
    const body = member(request.body, 'quota_set');
    const changes = parseLimits(body, v, setShown, ['force'], 'quota_set');
    const force = body.force === undefined ? false : flag(body.force, 'force');
    const { limits } = await quotas.setProject(ctx, request.params.project, changes, force);
    return { quota_set: quotaSet(limits, v, setShown) };
  });
  app.delete<{ Params: { project: string } }>(
    '/v2.1/os-quota-sets/:project',
    async (request, reply) => {
      const ctx = await caller(request);
      await quotas.resetProject(ctx, request.params.project);
      return reply.code(202).send();
    },
  );

  // Quota classes: only `default` means anything here (every project's defaults); any other
  // class shows them too, as the Compute API does for a class without limits of its own.
  app.get<{ Params: { name: string } }>('/v2.1/os-quota-class-sets/:name', async (request) => {
    await caller(request);
    return {
      quota_class_set: {
        id: request.params.name,
        ...quotaSet(await quotas.defaults(), request.microversion, classShown),
      },
    };
  });
  app.put<{ Params: { name: string } }>('/v2.1/os-quota-class-sets/:name', async (request) => {
    const ctx = await caller(request);
    const v = request.microversion;
    const body = member(request.body, 'quota_class_set');
    const changes = parseLimits(body, v, classShown, [], 'quota_class_set');
    if (request.params.name !== 'default') {
      throw badRequest(`Only the quota class 'default' is used; '${request.params.name}' is not.`);
    }
    return { quota_class_set: quotaSet(await quotas.setDefaults(ctx, changes), v, classShown) };
  });

  // Simple tenant usage: instance hours in a period (default: the month so far).
  const period = (q: Record<string, string>) => {
    const at = Date.now();
    const time = (text: string | undefined, fallback: number, what: string) => {
      if (text === undefined) return fallback;
      const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`);
      if (Number.isNaN(ms)) throw badRequest(`Invalid ${what} time: ${text}.`);
      return ms;
    };
    const monthStart = new Date(at);
    const start = time(
      q.start,
      Date.UTC(monthStart.getUTCFullYear(), monthStart.getUTCMonth(), 1),
      'start',
    );
    const end = time(q.end, at, 'end');
    if (end < start) throw badRequest('Invalid start time: the start must be before the end.');
    return { start, end, at };
  };

  const tenantUsages = async (
    ctx: RequestContext,
    projectId: string | undefined,
    q: Record<string, string>,
  ) => {
    const { start, end, at } = period(q);
    const rows = await services.usage.between(ctx, projectId, start, end, at);
    const detailed =
      projectId !== undefined || (q.detailed !== undefined && flag(q.detailed, 'detailed'));
    const names = await services.tags.of(rows.map((r) => r.instance.id));
    const flavorNames = new Map((await services.instances.flavors()).map((f) => [f.id, f.name]));
    const byProject = new Map<string, typeof rows>();
    for (const r of rows) {
      byProject.set(r.instance.projectId, [...(byProject.get(r.instance.projectId) ?? []), r]);
    }
    const usages = [...byProject.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([tenant, list]) => {
        const sum = (f: (r: (typeof rows)[number]) => number) => list.reduce((n, r) => n + f(r), 0);
        return {
          tenant_id: tenant,
          total_hours: sum((r) => r.hours),
          total_vcpus_usage: sum((r) => r.hours * r.instance.vcpus),
          total_memory_mb_usage: sum((r) => r.hours * Number(r.instance.memoryMb)),
          total_local_gb_usage: sum((r) => r.hours * Number(r.instance.diskGb)),
          start: usageTime(start),
          stop: usageTime(end),
          ...(detailed
            ? {
                server_usages: list.map((r) => ({
                  instance_id: r.instance.id,
                  name: (names.get(r.instance.id) ?? []).find((t) => t.key === 'Name')?.value ?? '',
                  hours: r.hours,
                  memory_mb: Number(r.instance.memoryMb),
                  local_gb: Number(r.instance.diskGb),
                  vcpus: r.instance.vcpus,
                  tenant_id: tenant,
                  flavor: flavorNames.get(r.instance.flavorId) ?? r.instance.flavorId,
                  started_at: usageTime(r.startedAt),
                  ended_at: usageTime(r.endedAt),
                  state: r.endedAt === null ? r.instance.vmState : 'terminated',
                  uptime: Math.floor(((r.endedAt ?? at) - r.startedAt) / 1000),
                })),
              }
            : {}),
        };
      });
    return usages;
  };

  app.get('/v2.1/os-simple-tenant-usage', async (request) => {
    const ctx = await caller(request);
    const q = queryOf(request);
    const v = request.microversion;
    let usages = await tenantUsages(ctx, undefined, q);
    const out: Record<string, unknown> = {};
    if (atLeast(v, 40)) {
      // 2.40: pages of projects, the marker a project id of the listing.
      if (q.marker !== undefined) {
        const i = usages.findIndex((u) => u.tenant_id === q.marker);
        if (i < 0) throw badRequest(`marker [${q.marker}] not found`);
        usages = usages.slice(i + 1);
      }
      if (q.limit !== undefined) {
        const limit = wholeNumber(q.limit, 'limit', 0, 2147483647);
        if (usages.length > limit) {
          const last = usages[limit - 1];
          usages = usages.slice(0, limit);
          if (last) {
            out.tenant_usages_links = [
              {
                rel: 'next',
                href: `${base(request)}/v2.1/os-simple-tenant-usage?${new URLSearchParams({ ...q, marker: last.tenant_id })}`,
              },
            ];
          }
        }
      }
    }
    return { tenant_usages: usages, ...out };
  });
  app.get<{ Params: { project: string } }>(
    '/v2.1/os-simple-tenant-usage/:project',
    async (request) => {
      const ctx = await caller(request);
      const [usage] = await tenantUsages(ctx, request.params.project, queryOf(request));
      return { tenant_usage: usage ?? {} };
    },
  );
}
