// Limits: the project's quotas and what it uses of them.
import type { RouteDeps } from './routes.js';

export function limitRoutes({ app, services, caller }: RouteDeps): void {
  app.get('/v2.1/limits', async (request) => {
    const ctx = await caller(request);
    const { limits, used } = await services.quota.ofProject(ctx.projectId as string);
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
          maxServerGroups: limits.serverGroups,
          maxServerGroupMembers: limits.serverGroupMembers,
          totalInstancesUsed: used.instances,
          totalCoresUsed: used.cores,
          totalRAMUsed: used.ramMb,
          totalFloatingIpsUsed: used.addresses,
          totalSecurityGroupsUsed: used.securityGroups,
          totalServerGroupsUsed: used.serverGroups,
        },
      },
    };
  });
}
