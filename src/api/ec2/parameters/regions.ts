// The request parameters of DescribeRegions and DescribeAvailabilityZones (actions/regions.ts),
// each honoured, refused or ignored (rules.ts).
import { DRY_RUN, FILTERS, honoured, ignored, type ActionParameters } from './rules.js';

export const regionParameters: Readonly<Record<string, ActionParameters>> = {
  DescribeRegions: {
    ...DRY_RUN,
    ...FILTERS,
    'RegionName.N': honoured(),
    AllRegions: ignored(
      'no region here needs opting in, so the one region is listed either way',
      'true',
    ),
  },
  DescribeAvailabilityZones: {
    ...DRY_RUN,
    ...FILTERS,
    'ZoneName.N': honoured(),
    'ZoneId.N': honoured(),
    AllAvailabilityZones: ignored(
      'no zone here needs opting in, so every zone is listed either way',
      'true',
    ),
  },
};
