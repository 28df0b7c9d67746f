// The Networking API's quotas: the project network model's own limits (networks, subnets,
// ports, routers) beside the Compute limits it shares (floating IPs, security groups, rules).
import type { FastifyRequest } from 'fastify';
import { isAdmin } from '../../context.js';
import { StratusError } from '../../errors.js';
import { int, resource } from './body.js';
import type { NetworkingRoutes } from './resource-router.js';

export function quotaRoutes(r: NetworkingRoutes): void {
  const { services } = r;
  const model = services.projectNetworks;

  const quotaOf = async (projectId: string) => {
    const { limits, used } = await services.quota.ofProject(projectId);
    const own = await model.limits(projectId);
    const usage = await model.usage(projectId);
    const n = (v: number) => (Number.isFinite(v) ? v : -1);
    return {
      network: { limit: own.networks, used: usage.networks },
      subnet: { limit: own.subnets, used: usage.subnets },
      port: { limit: own.ports, used: usage.ports },
      router: { limit: own.routers, used: usage.routers },
      floatingip: { limit: n(limits.addresses), used: used.addresses },
      security_group: { limit: n(limits.securityGroups), used: used.securityGroups },
      security_group_rule: { limit: n(limits.securityGroupRules), used: used.securityGroupRules },
    };
  };
  const quotaFor = async (request: FastifyRequest<{ Params: { project: string } }>) => {
    const ctx = await r.caller(request);
    const projectId = request.params.project;
    if (!isAdmin(ctx) && projectId !== ctx.projectId) {
      throw new StratusError(
        'forbidden',
        `Only an admin may see the quota of project ${projectId}.`,
        {
          resource: 'project',
          id: projectId,
        },
      );
    }
    return quotaOf(projectId);
  };
  const limitsOnly = (q: Record<string, { limit: number }>) =>
    Object.fromEntries(Object.entries(q).map(([k, v]) => [k, v.limit]));
  r.app.get('/v2.0/quotas', async (request) => {
    const ctx = await r.caller(request);
    const projectId = ctx.projectId as string;
    return {
      quotas: [
        { ...limitsOnly(await quotaOf(projectId)), project_id: projectId, tenant_id: projectId },
      ],
    };
  });
  r.app.get<{ Params: { project: string } }>('/v2.0/quotas/:project', async (request) => ({
    quota: limitsOnly(await quotaFor(request)),
  }));
  r.app.get<{ Params: { project: string } }>('/v2.0/quotas/:project/default', async (request) => ({
    quota: limitsOnly(await quotaFor(request)),
  }));
  r.app.get<{ Params: { project: string } }>('/v2.0/quotas/:project/details', async (request) => ({
    quota: Object.fromEntries(
      Object.entries(await quotaFor(request)).map(([k, v]) => [k, { ...v, reserved: 0 }]),
    ),
  }));
  r.app.put<{ Params: { project: string } }>('/v2.0/quotas/:project', async (request) => {
    const ctx = await r.caller(request);
    const projectId = request.params.project;
    const b = resource(request.body, 'quota', [
      'network',
      'subnet',
      'port',
      'router',
      'floatingip',
      'security_group',
      'security_group_rule',
    ]);
    if (!isAdmin(ctx)) {
      throw new StratusError('forbidden', 'Only an admin may change quotas.', {
        resource: 'project',
        id: projectId,
      });
    }
    const n = (key: string) => int(b, key);
    const compute = Object.fromEntries(
      (
        [
          ['addresses', n('floatingip')],
          ['securityGroups', n('security_group')],
          ['securityGroupRules', n('security_group_rule')],
        ] as const
      ).filter(([, v]) => v !== undefined),
    );
    const own = Object.fromEntries(
      (
        [
          ['networks', n('network')],
          ['subnets', n('subnet')],
          ['ports', n('port')],
          ['routers', n('router')],
        ] as const
      ).filter(([, v]) => v !== undefined),
    );
    // The Compute API's limits first: it checks the project exists and every value.
    if (Object.keys(compute).length > 0) {
      await services.quotaAdmin.setProject(ctx, projectId, compute, true);
    }
    if (Object.keys(own).length > 0) await model.setLimits(ctx, projectId, own);
    return { quota: limitsOnly(await quotaOf(projectId)) };
  });
  r.app.delete<{ Params: { project: string } }>('/v2.0/quotas/:project', async (request, reply) => {
    const ctx = await r.caller(request);
    await services.quotaAdmin.resetProject(ctx, request.params.project);
    return reply.code(204).send();
  });
}
