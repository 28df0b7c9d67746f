// The request parameters of the Elastic IP actions (actions/addresses.ts), each honoured,
// refused or ignored (rules.ts).
import {
  DRY_RUN,
  FILTERS,
  honoured,
  refused,
  TAG_SPECIFICATIONS,
  type ActionParameters,
} from './rules.js';

const BORDER_GROUP = honoured("the region's name, the one network border group");

export const addressParameters: Readonly<Record<string, ActionParameters>> = {
  AllocateAddress: {
    ...DRY_RUN,
    ...TAG_SPECIFICATIONS,
    Domain: honoured(),
    PublicIpv4Pool: honoured('the one floating pool'),
    NetworkBorderGroup: BORDER_GROUP,
    Address: refused('a specific address cannot be asked for; leave out Address.', {
      code: 'InvalidParameterValue',
      sample: '172.24.4.99',
    }),
    CustomerOwnedIpv4Pool: refused('there are no customer-owned pools.', { sample: 'pool' }),
    IpamPoolId: refused('there is no IPAM.', { sample: 'ipam-pool-1' }),
  },
  AssociateAddress: {
    ...DRY_RUN,
    AllocationId: honoured(),
    PublicIp: honoured(),
    InstanceId: honoured(),
    PrivateIpAddress: honoured(
      "an address of the VPC interface (its primary by default), or of the instance's interfaces",
    ),
    AllowReassociation: honoured("default: true for 'standard', false for 'vpc' addresses"),
    NetworkInterfaceId: honoured(
      "a VPC interface attached to an instance: the address is bound to it and reaches that instance's guest",
    ),
  },
  DisassociateAddress: { ...DRY_RUN, AssociationId: honoured(), PublicIp: honoured() },
  ReleaseAddress: {
    ...DRY_RUN,
    AllocationId: honoured(),
    PublicIp: honoured(),
    NetworkBorderGroup: BORDER_GROUP,
  },
  DescribeAddresses: {
    ...DRY_RUN,
    ...FILTERS,
    'PublicIp.N': honoured(),
    'AllocationId.N': honoured(),
  },
};
