// Limits: the project's quotas and what it uses of them.
import { projectQuota } from '../../quota/index.js';
import type { RouteDeps } from './routes.js';

export function limitRoutes({ app, db, config, caller }: RouteDeps): void {
  app.get('/v2.1/limits', async (request) => {
    const ctx = await caller(request);
    const { limits, used } = await projectQuota(db, config.quota, ctx.projectId as string);
    return {
      limits: {
        rate: [],
        absolute: {
          maxServerMeta: 0,
          maxPersonality: 0,
          maxPersonalitySize: 0,
          maxImageMeta: 0,
          maxTotalKeypairs: limits.keypairs,
          maxSecurityGroups: limits.securityGroups,
          maxSecurityGroupRules: limits.securityGroupRules,
          maxTotalInstances: limits.instances,
          maxTotalCores: limits.cores,
          maxTotalRAMSize: limits.ramMb,
          maxTotalFloatingIps: limits.addresses,
          maxServerGroups: 0,
          maxServerGroupMembers: 0,
          totalInstancesUsed: used.instances,
          totalCoresUsed: used.cores,
          totalRAMUsed: used.ramMb,
          totalFloatingIpsUsed: used.addresses,
          totalSecurityGroupsUsed: used.securityGroups,
          totalServerGroupsUsed: 0,
        },
      },
    };
  });
}
