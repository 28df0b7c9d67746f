// DescribeRegions and DescribeAvailabilityZones: one region (this endpoint's), and the zones
// of its compute hosts.
import { StratusError } from '../../../errors.js';
import type { Ec2ActionTable } from '../action.js';
import { applyFilters } from '../filters.js';
import type { Ec2Deps } from './deps.js';

export function regionActions(deps: Ec2Deps): Ec2ActionTable {
  const { config } = deps;
  return {
    DescribeRegions: async ({ params, endpoint }) => {
      const names = params.list('RegionName');
      let regions = [
        { regionName: config.region, regionEndpoint: endpoint, optInStatus: 'opt-in-not-required' },
      ];
      for (const name of names) {
        if (!regions.some((r) => r.regionName === name)) {
          throw new StratusError('invalid', `Invalid region: ${name}`, {
            resource: 'region',
            id: name,
          });
        }
      }
      if (names.length > 0) regions = regions.filter((r) => names.includes(r.regionName));
      regions = applyFilters(regions, params.filters(), {
        'region-name': (r) => r.regionName,
        endpoint: (r) => r.regionEndpoint,
        'opt-in-status': (r) => r.optInStatus,
      });
      return { regionInfo: regions };
    },
    // The zones the registered compute hosts report: `available` while at least one enabled
    // host of the zone is up, `unavailable` otherwise (every host disabled or down).
    DescribeAvailabilityZones: async ({ params, region }) => {
      const names = params.list('ZoneName');
      const known = await deps.hosts.zones();
      for (const name of names) {
        if (!known.some((z) => z.name === name)) {
          throw new StratusError('invalid', `The zone '${name}' does not exist.`, {
            resource: 'zone',
            id: name,
          });
        }
      }
      const zoneId = (name: string) => `${region.toLowerCase()}-${name}`;
      const ids = params.list('ZoneId');
      for (const id of ids) {
        if (!known.some((z) => zoneId(z.name) === id)) {
          throw new StratusError('invalid', `The zone ID '${id}' does not exist.`, {
            resource: 'zone',
            id,
          });
        }
      }
      const zones = applyFilters(
        known
          .filter((z) => names.length === 0 || names.includes(z.name))
          .filter((z) => ids.length === 0 || ids.includes(zoneId(z.name)))
          .map((z) => ({
            zoneName: z.name,
            zoneState: z.available ? 'available' : 'unavailable',
            regionName: region,
            zoneId: zoneId(z.name),
            zoneType: 'availability-zone',
          })),
        params.filters(),
        {
          'zone-name': (z) => z.zoneName,
          state: (z) => z.zoneState,
          'region-name': (z) => z.regionName,
          'zone-id': (z) => z.zoneId,
          'zone-type': (z) => z.zoneType,
        },
      );
      return { availabilityZoneInfo: zones.map((z) => ({ ...z, messageSet: [] })) };
    },
  };
}
