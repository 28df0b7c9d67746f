// The request parameters of the VPC action groups (actions/vpcs.ts, subnets.ts,
// internet-gateways.ts, route-tables.ts), each honoured, refused or ignored (rules.ts). VPCs
// here are IPv4 only, have no IPAM, no encryption controls and no dedicated tenancy; routes
// lead to internet gateways only.
import {
  DRY_RUN,
  FILTERS,
  honoured,
  ignored,
  refused,
  TAG_SPECIFICATIONS,
  type ActionParameters,
} from './rules.js';

const NO_IPV6 = 'VPCs here have IPv4 addresses only.';
const NO_IPAM = 'there is no IP address manager here; give the CIDR block.';
const PAGING: ActionParameters = {
  MaxResults: honoured('5 to 1000; not with ids'),
  NextToken: honoured(),
};

export const vpcParameters: Readonly<Record<string, ActionParameters>> = {
  DescribeAccountAttributes: {
    ...DRY_RUN,
    'AttributeName.N': honoured(
      'supported-platforms (VPC), default-vpc (made on first use), max-instances, max-elastic-ips, vpc-max-elastic-ips, vpc-max-security-groups-per-interface',
    ),
  },
  CreateVpc: {
    ...DRY_RUN,
    ...TAG_SPECIFICATIONS,
    CidrBlock: honoured('/16 to /28; outside that InvalidVpc.Range'),
    InstanceTenancy: refused('every instance shares its host here.', {
      accepts: ['default'],
      sample: 'dedicated',
    }),
    AmazonProvidedIpv6CidrBlock: refused(NO_IPV6, { accepts: ['false'], sample: 'true' }),
    Ipv6Pool: refused(NO_IPV6),
    Ipv6CidrBlock: refused(NO_IPV6, { sample: '2001:db8::/56' }),
    Ipv6CidrBlockNetworkBorderGroup: refused(NO_IPV6),
    Ipv6IpamPoolId: refused(NO_IPV6),
    Ipv6NetmaskLength: refused(NO_IPV6, { sample: '56' }),
    Ipv4IpamPoolId: refused(NO_IPAM),
    Ipv4NetmaskLength: refused(NO_IPAM, { sample: '16' }),
    'VpcEncryptionControl.*': refused('traffic encryption controls are not offered here.'),
  },
  DeleteVpc: {
    ...DRY_RUN,
    VpcId: honoured('refused (DependencyViolation) while it has subnets or an internet gateway'),
  },
  DescribeVpcs: { ...DRY_RUN, ...FILTERS, ...PAGING, 'VpcId.N': honoured() },
  ModifyVpcAttribute: {
    VpcId: honoured(),
    'EnableDnsSupport.Value': honoured(),
    'EnableDnsHostnames.Value': honoured('needs DNS support'),
    'EnableNetworkAddressUsageMetrics.Value': refused(
      'network address usage metrics are not kept here.',
      { accepts: ['false'], sample: 'true' },
    ),
  },
  DescribeVpcAttribute: {
    ...DRY_RUN,
    VpcId: honoured(),
    Attribute: honoured('enableDnsSupport or enableDnsHostnames'),
  },
  CreateSubnet: {
    ...DRY_RUN,
    ...TAG_SPECIFICATIONS,
    VpcId: honoured(),
    CidrBlock: honoured(
      "/16 to /28 inside the VPC's block (InvalidSubnet.Range), overlapping no other subnet (InvalidSubnet.Conflict)",
    ),
    AvailabilityZone: honoured('a zone of the compute hosts'),
    AvailabilityZoneId: honoured('<region>-<zone>'),
    Ipv6CidrBlock: refused(NO_IPV6, { sample: '2001:db8::/64' }),
    Ipv6Native: refused(NO_IPV6, { accepts: ['false'], sample: 'true' }),
    Ipv6IpamPoolId: refused(NO_IPV6),
    Ipv6NetmaskLength: refused(NO_IPV6, { sample: '64' }),
    Ipv4IpamPoolId: refused(NO_IPAM),
    Ipv4NetmaskLength: refused(NO_IPAM, { sample: '24' }),
    OutpostArn: refused('there are no outposts here.'),
  },
  DeleteSubnet: {
    ...DRY_RUN,
    SubnetId: honoured('refused (DependencyViolation) while a network interface is on it'),
  },
  DescribeSubnets: { ...DRY_RUN, ...FILTERS, ...PAGING, 'SubnetId.N': honoured() },
  ModifySubnetAttribute: {
    SubnetId: honoured(),
    'MapPublicIpOnLaunch.Value': honoured(),
    'AssignIpv6AddressOnCreation.Value': refused(NO_IPV6, { accepts: ['false'], sample: 'true' }),
    'EnableDns64.Value': refused(NO_IPV6, { accepts: ['false'], sample: 'true' }),
    'EnableResourceNameDnsAAAARecordOnLaunch.Value': refused(NO_IPV6, {
      accepts: ['false'],
      sample: 'true',
    }),
    'MapCustomerOwnedIpOnLaunch.Value': refused('there are no customer-owned pools here.', {
      accepts: ['false'],
      sample: 'true',
    }),
    CustomerOwnedIpv4Pool: refused('there are no customer-owned pools here.'),
    PrivateDnsHostnameTypeOnLaunch: ignored(
      'instance names follow the IP-name pattern here whatever the choice.',
      'ip-name',
    ),
    'EnableResourceNameDnsARecordOnLaunch.Value': ignored(
      'no DNS server answers for instance names here.',
      'false',
    ),
    EnableLniAtDeviceIndex: refused('there are no local network interfaces here.', {
      sample: '1',
    }),
    'DisableLniAtDeviceIndex.Value': refused('there are no local network interfaces here.', {
      accepts: ['false'],
      sample: 'true',
    }),
  },
  CreateInternetGateway: { ...DRY_RUN, ...TAG_SPECIFICATIONS },
  AttachInternetGateway: {
    ...DRY_RUN,
    InternetGatewayId: honoured(),
    VpcId: honoured("the VPC's router takes its gateway on the floating pool"),
  },
  DetachInternetGateway: { ...DRY_RUN, InternetGatewayId: honoured(), VpcId: honoured() },
  DeleteInternetGateway: {
    ...DRY_RUN,
    InternetGatewayId: honoured('refused (DependencyViolation) while attached'),
  },
  DescribeInternetGateways: {
    ...DRY_RUN,
    ...FILTERS,
    ...PAGING,
    'InternetGatewayId.N': honoured(),
  },
  DescribeRouteTables: { ...DRY_RUN, ...FILTERS, ...PAGING, 'RouteTableId.N': honoured() },
  CreateRoute: {
    ...DRY_RUN,
    RouteTableId: honoured(),
    DestinationCidrBlock: honoured(),
    GatewayId: honoured("an internet gateway attached to the table's VPC"),
    DestinationIpv6CidrBlock: refused(NO_IPV6, { sample: '::/0' }),
    DestinationPrefixListId: refused('there are no prefix lists here.'),
    VpcEndpointId: refused('routes lead to internet gateways only here.'),
    TransitGatewayId: refused('routes lead to internet gateways only here.'),
    LocalGatewayId: refused('routes lead to internet gateways only here.'),
    CarrierGatewayId: refused('routes lead to internet gateways only here.'),
    CoreNetworkArn: refused('routes lead to internet gateways only here.'),
    OdbNetworkArn: refused('routes lead to internet gateways only here.'),
    EgressOnlyInternetGatewayId: refused('routes lead to internet gateways only here.'),
    InstanceId: refused('routes lead to internet gateways only here.'),
    NetworkInterfaceId: refused('routes lead to internet gateways only here.'),
    VpcPeeringConnectionId: refused('routes lead to internet gateways only here.'),
    NatGatewayId: refused('routes lead to internet gateways only here.'),
  },
  CreateNetworkInterface: {
    ...DRY_RUN,
    ...TAG_SPECIFICATIONS,
    SubnetId: honoured(),
    PrivateIpAddress: honoured('taken: InvalidIPAddress.InUse'),
    'SecurityGroupId.N': honoured("the project's default group when none"),
    Description: honoured(),
    ClientToken: ignored('each request makes a new interface here.', 'token-1'),
    InterfaceType: refused('interfaces here are plain virtio interfaces.', {
      accepts: ['interface'],
      sample: 'efa',
    }),
    'PrivateIpAddresses.N.*': refused('an interface here has one private address.', {
      sample: '10.0.0.9',
    }),
    SecondaryPrivateIpAddressCount: refused('an interface here has one private address.', {
      accepts: ['0'],
      sample: '1',
    }),
    'Ipv4Prefix.N.Ipv4Prefix': refused('prefix delegation is not offered here.', {
      sample: '10.0.0.16/28',
    }),
    Ipv4PrefixCount: refused('prefix delegation is not offered here.', {
      accepts: ['0'],
      sample: '1',
    }),
    'Ipv6Prefix.N.Ipv6Prefix': refused(NO_IPV6),
    Ipv6PrefixCount: refused(NO_IPV6, { accepts: ['0'], sample: '1' }),
    'Ipv6Addresses.N.*': refused(NO_IPV6),
    Ipv6AddressCount: refused(NO_IPV6, { accepts: ['0'], sample: '1' }),
    EnablePrimaryIpv6: refused(NO_IPV6, { accepts: ['false'], sample: 'true' }),
    'ConnectionTrackingSpecification.*': refused(
      'connection tracking timeouts are the data plane defaults here.',
      { sample: '60' },
    ),
    'Operator.Principal': refused('no other service manages interfaces here.'),
  },
  DeleteNetworkInterface: {
    ...DRY_RUN,
    NetworkInterfaceId: honoured('refused (InvalidNetworkInterface.InUse) while attached'),
  },
  DescribeNetworkInterfaces: {
    ...DRY_RUN,
    ...FILTERS,
    ...PAGING,
    'NetworkInterfaceId.N': honoured(),
    IncludeManagedResources: ignored('no interface here is managed by another service.', 'true'),
  },
  CreateRouteTable: {
    ...DRY_RUN,
    ...TAG_SPECIFICATIONS,
    VpcId: honoured(),
    ClientToken: ignored('each request makes a new route table here.', 'token-1'),
  },
  DeleteRouteTable: {
    ...DRY_RUN,
    RouteTableId: honoured(
      "refused (DependencyViolation) while main, associated with subnets, or the VPC's router",
    ),
  },
  AssociateRouteTable: {
    ...DRY_RUN,
    RouteTableId: honoured(),
    SubnetId: honoured('a subnet of the same VPC without an association'),
    GatewayId: refused('gateway (edge) associations are not offered here.', { sample: 'igw-1' }),
    PublicIpv4Pool: refused('route tables here hold no address pools.'),
  },
  DisassociateRouteTable: {
    ...DRY_RUN,
    AssociationId: honoured('a subnet association; a main one is refused'),
  },
  ReplaceRouteTableAssociation: {
    ...DRY_RUN,
    AssociationId: honoured("a subnet's or the VPC's main association"),
    RouteTableId: honoured('a table of the same VPC; for the main association it becomes main'),
  },
  ReplaceRoute: {
    ...DRY_RUN,
    RouteTableId: honoured(),
    DestinationCidrBlock: honoured('an existing route, not the local one'),
    GatewayId: honoured("an internet gateway attached to the table's VPC"),
    LocalTarget: refused('the local route cannot be replaced here.', {
      accepts: ['false'],
      sample: 'true',
    }),
    DestinationIpv6CidrBlock: refused(NO_IPV6, { sample: '::/0' }),
    DestinationPrefixListId: refused('there are no prefix lists here.'),
    VpcEndpointId: refused('routes lead to internet gateways only here.'),
    TransitGatewayId: refused('routes lead to internet gateways only here.'),
    LocalGatewayId: refused('routes lead to internet gateways only here.'),
    CarrierGatewayId: refused('routes lead to internet gateways only here.'),
    CoreNetworkArn: refused('routes lead to internet gateways only here.'),
    OdbNetworkArn: refused('routes lead to internet gateways only here.'),
    EgressOnlyInternetGatewayId: refused('routes lead to internet gateways only here.'),
    InstanceId: refused('routes lead to internet gateways only here.'),
    NetworkInterfaceId: refused('routes lead to internet gateways only here.'),
    VpcPeeringConnectionId: refused('routes lead to internet gateways only here.'),
    NatGatewayId: refused('routes lead to internet gateways only here.'),
  },
  AttachNetworkInterface: {
    ...DRY_RUN,
    NetworkInterfaceId: honoured(
      'an available interface (InvalidNetworkInterface.InUse otherwise)',
    ),
    InstanceId: honoured(
      'a stopped instance in the same VPC and zone; a running one is refused (IncorrectState)',
    ),
    DeviceIndex: honoured('1 or more, free on the instance'),
    NetworkCardIndex: refused('instances here have one network card.', {
      accepts: ['0'],
      sample: '1',
    }),
    'EnaSrdSpecification.*': refused('interfaces here are plain virtio interfaces.'),
    EnaQueueCount: refused('interfaces here are plain virtio interfaces.', { sample: '2' }),
  },
  DetachNetworkInterface: {
    ...DRY_RUN,
    AttachmentId: honoured('not the primary interface (OperationNotPermitted)'),
    Force: honoured('accepted; the instance is stopped, so detaching is immediate either way'),
  },
  ModifyNetworkInterfaceAttribute: {
    ...DRY_RUN,
    NetworkInterfaceId: honoured(),
    'Description.Value': honoured(),
    'SecurityGroupId.N': honoured('groups of the project'),
    'SourceDestCheck.Value': honoured('kept and shown'),
    'Attachment.AttachmentId': honoured(),
    'Attachment.DeleteOnTermination': honoured(),
    'Attachment.DefaultEnaQueueCount': refused('interfaces here are plain virtio interfaces.'),
    'Attachment.EnaQueueCount': refused('interfaces here are plain virtio interfaces.'),
    'EnaSrdSpecification.*': refused('interfaces here are plain virtio interfaces.'),
    EnablePrimaryIpv6: refused(NO_IPV6, { accepts: ['false'], sample: 'true' }),
    'ConnectionTrackingSpecification.*': refused(
      'connection tracking timeouts are the data plane defaults here.',
      { sample: '60' },
    ),
    AssociatePublicIpAddress: refused(
      'a public address comes at launch or as an Elastic IP here.',
      { sample: 'true' },
    ),
    'AssociatedSubnetId.N': refused('an interface here is in one subnet.'),
  },
  AssignPrivateIpAddresses: {
    NetworkInterfaceId: honoured(),
    'PrivateIpAddress.N': honoured(
      'free addresses of its subnet (InvalidIPAddress.InUse otherwise)',
    ),
    SecondaryPrivateIpAddressCount: honoured("the subnet's next free addresses"),
    AllowReassignment: refused('an address moves here only once it is unassigned.', {
      accepts: ['false'],
      sample: 'true',
    }),
    'Ipv4Prefix.N': refused('prefix delegation is not offered here.', { sample: '10.0.0.16/28' }),
    Ipv4PrefixCount: refused('prefix delegation is not offered here.', { sample: '1' }),
  },
  UnassignPrivateIpAddresses: {
    NetworkInterfaceId: honoured(),
    'PrivateIpAddress.N': honoured('secondary addresses only'),
    'Ipv4Prefix.N': refused('prefix delegation is not offered here.', { sample: '10.0.0.16/28' }),
  },
  DeleteRoute: {
    ...DRY_RUN,
    RouteTableId: honoured(),
    DestinationCidrBlock: honoured('not the local route'),
    DestinationIpv6CidrBlock: refused(NO_IPV6, { sample: '::/0' }),
    DestinationPrefixListId: refused('there are no prefix lists here.'),
  },
};
