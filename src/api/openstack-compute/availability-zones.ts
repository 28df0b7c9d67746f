// Availability zones, as the Compute API lists them: `GET /v2.1/os-availability-zone` (every
// caller: each zone of the compute hosts and whether it is available) and `.../detail` (admin:
// each zone's hosts with their services, plus the zone `internal` of the control services).
import { isAdmin } from '../../context.js';
import { StratusError } from '../../errors.js';
import type { RouteDeps } from './routes.js';
import { usageTime } from './views.js';

/** A service as the zone details show it: enabled (`active`), alive (`available`), heartbeat. */
function serviceView(s: { enabled: boolean; state: string; heartbeatAt: number }) {
  return { available: s.state === 'up', active: s.enabled, updated_at: usageTime(s.heartbeatAt) };
}

/** The zone the Compute API puts the services that are not compute hosts in. */
const INTERNAL_ZONE = 'internal';

export function availabilityZoneRoutes({ app, services, caller }: RouteDeps): void {
  app.get('/v2.1/os-availability-zone', async (request) => {
    await caller(request);
    const zones = await services.hosts.zones();
    return {
      availabilityZoneInfo: zones.map((z) => ({
        zoneName: z.name,
        zoneState: { available: z.available },
        hosts: null,
      })),
    };
  });

  app.get('/v2.1/os-availability-zone/detail', async (request) => {
    const ctx = await caller(request);
    if (!isAdmin(ctx)) {
      throw new StratusError('forbidden', 'Only an admin may see the hosts of the zones.', {
        resource: 'zone',
      });
    }
    const [zones, control] = await Promise.all([
      services.hosts.zones(),
      services.hosts.controlServices(),
    ]);
    const internal: Record<string, Record<string, ReturnType<typeof serviceView>>> = {};
    for (const s of control) {
      internal[s.host] = { ...internal[s.host], [s.binary]: serviceView(s) };
    }
    return {
      availabilityZoneInfo: [
        ...(control.length > 0
          ? [{ zoneName: INTERNAL_ZONE, zoneState: { available: true }, hosts: internal }]
          : []),
        ...zones.map((z) => ({
          zoneName: z.name,
          zoneState: { available: z.available },
          hosts: Object.fromEntries(
            z.hosts.map((h) => [
              h.host,
              {
                compute: serviceView({
                  enabled: h.enabled,
                  state: h.state,
                  heartbeatAt: h.heartbeatAt,
                }),
              },
            ]),
          ),
        })),
      ],
    };
  });
}
