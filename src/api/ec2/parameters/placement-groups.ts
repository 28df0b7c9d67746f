// The request parameters of the placement group actions (actions/placement-groups.ts), each
// honoured, refused or ignored (rules.ts). A placement group is a server group: cluster is
// affinity, spread is anti-affinity over hosts.
import {
  DRY_RUN,
  FILTERS,
  honoured,
  refused,
  TAG_SPECIFICATIONS,
  type ActionParameters,
} from './rules.js';

export const placementGroupParameters: Readonly<Record<string, ActionParameters>> = {
  CreatePlacementGroup: {
    ...DRY_RUN,
    ...TAG_SPECIFICATIONS,
    GroupName: honoured(),
    Strategy: honoured('cluster or spread; partition is refused'),
    SpreadLevel: honoured("only 'host': a spread group places each instance on a host of its own"),
    PartitionCount: refused('there are no partition placement groups.', {
      code: 'InvalidParameterValue',
      sample: '2',
    }),
    LinkedGroupId: refused('placement groups are not linked to anything here.', {
      sample: 'pg-1',
    }),
    ParentGroupId: refused('placement groups are not nested here.', { sample: 'pg-1' }),
    'Operator.Principal': refused('no other service manages placement groups here.', {
      sample: 'x',
    }),
  },
  DescribePlacementGroups: {
    ...DRY_RUN,
    ...FILTERS,
    'GroupName.N': honoured(),
    'GroupId.N': honoured(),
  },
  DeletePlacementGroup: { ...DRY_RUN, GroupName: honoured('refused while it has instances') },
};
