// Limits: the project's quotas and what it uses of them (-1: unlimited). An admin may ask
// for another project's with `tenant_id`. 2.36 drops the network limits, 2.57 the injected
// files (personality).
import { MAX_METADATA_ITEMS } from '../../compute/index.js';
import { atLeast } from './microversion.js';
import { queryOf, type RouteDeps } from './routes.js';

const shown = (n: number) => (Number.isFinite(n) ? n : -1);

export function limitRoutes({ app, services, caller }: RouteDeps): void {
  app.get('/v2.1/limits', async (request) => {
    const ctx = await caller(request);
    const v = request.microversion;
    const tenant = queryOf(request).tenant_id;
    // Another project's limits are for admins (quotaAdmin refuses others).
    const { limits, used } =
      tenant !== undefined && tenant !== ctx.projectId
        ? await services.quotaAdmin.ofProject(ctx, tenant)
        : await services.quota.ofProject(ctx.projectId as string);
    const network = atLeast(v, 36)
      ? {}
      : {
          maxSecurityGroups: shown(limits.securityGroups),
          maxSecurityGroupRules: shown(limits.securityGroupRules),
          maxTotalFloatingIps: shown(limits.addresses),
          totalFloatingIpsUsed: used.addresses,
          totalSecurityGroupsUsed: used.securityGroups,
        };
    const personality = atLeast(v, 57) ? {} : { maxPersonality: 5, maxPersonalitySize: 10240 };
    return {
      limits: {
        rate: [],
        absolute: {
          maxServerMeta: MAX_METADATA_ITEMS,
          maxImageMeta: MAX_METADATA_ITEMS,
          ...personality,
          maxTotalKeypairs: shown(limits.keypairs),
          maxTotalInstances: shown(limits.instances),
          maxTotalCores: shown(limits.cores),
          maxTotalRAMSize: shown(limits.ramMb),
          maxServerGroups: shown(limits.serverGroups),
          maxServerGroupMembers: shown(limits.serverGroupMembers),
          totalInstancesUsed: used.instances,
          totalCoresUsed: used.cores,
          totalRAMUsed: used.ramMb,
          totalServerGroupsUsed: used.serverGroups,
          ...network,
        },
      },
    };
  });
}
