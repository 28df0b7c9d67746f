// The request parameters of the instance actions (actions/instances.ts), each honoured,
// refused or ignored (rules.ts).
import {
  DRY_RUN,
  FILTERS,
  honoured,
  ignored,
  refused,
  TAG_SPECIFICATIONS,
  type ActionParameters,
} from './rules.js';

const NO_EBS = 'there is no EBS: an instance has one local root disk made from its image.';
const NO_IPV6 = 'the guest network is IPv4 only.';

const VOLUME_ONLY =
  "a mapping makes a data volume of a size or from a snapshot, of a type (gp2, gp3, standard), in the instance's zone";
/** What RunInstances' block device mappings may say beyond a data volume, refused by name. */
const REFUSED_MAPPING_FIELDS: ActionParameters = {
  'BlockDeviceMapping.N.VirtualName': refused(
    'there are no instance-store disks beyond the root.',
    {
      sample: 'ephemeral0',
    },
  ),
  'BlockDeviceMapping.N.NoDevice': refused('there are no instance-store disks beyond the root.'),
  'BlockDeviceMapping.N.Ebs.Iops': refused(`${VOLUME_ONLY}; there are no provisioned IOPS.`, {
    sample: '3000',
  }),
  'BlockDeviceMapping.N.Ebs.Throughput': refused(
    `${VOLUME_ONLY}; there is no provisioned throughput.`,
    {
      sample: '125',
    },
  ),
  'BlockDeviceMapping.N.Ebs.Encrypted': refused(`${VOLUME_ONLY}; volumes are not encrypted.`, {
    accepts: ['false'],
    sample: 'true',
  }),
  'BlockDeviceMapping.N.Ebs.KmsKeyId': refused(`${VOLUME_ONLY}; there is no KMS.`, { sample: 'k' }),
  'BlockDeviceMapping.N.Ebs.OutpostArn': refused(`${VOLUME_ONLY}; there are no Outposts.`, {
    sample: 'arn',
  }),
  'BlockDeviceMapping.N.Ebs.AvailabilityZone': refused(`${VOLUME_ONLY}.`, { sample: 'x' }),
  'BlockDeviceMapping.N.Ebs.AvailabilityZoneId': refused(`${VOLUME_ONLY}.`, { sample: 'x' }),
  'BlockDeviceMapping.N.Ebs.VolumeInitializationRate': refused(
    `${VOLUME_ONLY}; a volume from a snapshot is whole at once.`,
    { sample: '100' },
  ),
  'BlockDeviceMapping.N.Ebs.EbsCardIndex': refused(`${VOLUME_ONLY}.`, { sample: '1' }),
};

/** The metadata service's options, as RunInstances (`MetadataOptions.`) and the modify call take them. */
function METADATA_OPTIONS(prefix: string): ActionParameters {
  return {
    [`${prefix}HttpTokens`]: honoured('optional or required (IMDSv2 session tokens)'),
    [`${prefix}HttpEndpoint`]: honoured('enabled or disabled'),
    [`${prefix}HttpPutResponseHopLimit`]: honoured(
      "1-64: the IP TTL of the metadata service's replies to the guest",
    ),
    [`${prefix}InstanceMetadataTags`]: honoured('enabled: the tags under tags/instance/'),
    [`${prefix}HttpProtocolIpv6`]: refused(NO_IPV6, { accepts: ['disabled'], sample: 'enabled' }),
  };
}
const ONE_ADDRESS =
  'an interface is made here with one private address (AssignPrivateIpAddresses adds more).';
const NO_ENI_FIELD =
  'interfaces here are plain virtio interfaces with IPv4 addresses, one network card, no prefixes and no secondary interfaces.';

const INSTANCE_IDS: ActionParameters = { 'InstanceId.N': honoured() };
const MANAGED = ignored(
  'no instance here is managed by another service, so including or leaving them out lists the same',
  'true',
);

export const instanceParameters: Readonly<Record<string, ActionParameters>> = {
  RunInstances: {
    ...DRY_RUN,
    ImageId: honoured(),
    MinCount: honoured(),
    MaxCount: honoured(),
    InstanceType: honoured('a flavor name'),
    KeyName: honoured(),
    KernelId: honoured(),
    RamdiskId: honoured(),
    'SecurityGroup.N': honoured(),
    'SecurityGroupId.N': honoured(),
    UserData: honoured(),
    ClientToken: honoured('idempotent launch'),
    DisableApiTermination: honoured(),
    DisableApiStop: honoured(),
    InstanceInitiatedShutdownBehavior: honoured(),
    ...TAG_SPECIFICATIONS,
    'TagSpecification.N.ResourceType': honoured(
      'instance; volume and network-interface tags are accepted and dropped, as an instance here has neither',
    ),
    'Placement.AvailabilityZone': honoured(),
    'Placement.Tenancy': refused('instances share hosts; only default tenancy exists.', {
      accepts: ['default'],
      sample: 'dedicated',
    }),
    'Placement.AvailabilityZoneId': honoured('the zone id DescribeAvailabilityZones shows'),
    'Placement.GroupName': honoured('a placement group of the project (cluster or spread)'),
    'Placement.GroupId': honoured('a placement group of the project, by its pg- id'),
    'Placement.PartitionNumber': refused('there are no partition placement groups.', {
      sample: '1',
    }),
    'Placement.SpreadDomain': refused(
      'spread groups spread over hosts only; there are no spread domains.',
      {
        sample: 'x',
      },
    ),
    'Placement.Affinity': refused('there are no dedicated hosts.', { sample: 'host' }),
    'Placement.HostId': refused('there are no dedicated hosts.', { sample: 'h-1' }),
    'Placement.HostResourceGroupArn': refused('there are no dedicated hosts.', { sample: 'arn' }),
    'Monitoring.Enabled': refused('there is no CloudWatch: detailed monitoring stays disabled.', {
      accepts: ['false'],
      sample: 'true',
    }),
    'Monitoring.MetricCategoryId.N': refused('there is no CloudWatch.', { sample: 'x' }),
    'BlockDeviceMapping.N.DeviceName': honoured(
      "a data volume: /dev/sdf, /dev/xvdg, /dev/vdb; or a volume-backed image's device (its root too) to change its size or DeleteOnTermination",
    ),
    'BlockDeviceMapping.N.Ebs.VolumeSize': honoured(),
    'BlockDeviceMapping.N.Ebs.SnapshotId': honoured(),
    'BlockDeviceMapping.N.Ebs.DeleteOnTermination': honoured('true unless told'),
    'BlockDeviceMapping.N.Ebs.VolumeType': honoured('gp2, gp3 or standard'),
    ...REFUSED_MAPPING_FIELDS,
    Ipv6AddressCount: refused(NO_IPV6, { accepts: ['0'], sample: '1' }),
    'Ipv6Address.N.*': refused(NO_IPV6, { sample: '2001:db8::1' }),
    EnablePrimaryIpv6: refused(NO_IPV6, { accepts: ['false'], sample: 'true' }),
    SubnetId: honoured(
      "a VPC subnet (its MapPublicIpOnLaunch gives a public address); without one, the default subnet of the instance's zone in the default VPC, with no public address unless NetworkInterface.0 asks",
    ),
    PrivateIpAddress: honoured("the address of the instance's VPC interface; MaxCount 1 only"),
    'NetworkInterface.N.DeviceIndex': honoured('one at 0, each its own'),
    'NetworkInterface.N.SubnetId': honoured('not with NetworkInterfaceId or SubnetId'),
    'NetworkInterface.N.NetworkInterfaceId': honoured('an available interface; MaxCount 1 only'),
    'NetworkInterface.N.PrivateIpAddress': honoured('MaxCount 1 only'),
    'NetworkInterface.N.SecurityGroupId.N': honoured(
      "the project's default group when none; not with SecurityGroupId.N",
    ),
    'NetworkInterface.N.AssociatePublicIpAddress': honoured(
      "device 0 of one interface only: an address from the floating pool, released at termination; else the named subnet's MapPublicIpOnLaunch decides",
    ),
    'NetworkInterface.N.DeleteOnTermination': honoured(
      'true for a new interface, false for an existing one, unless told',
    ),
    'NetworkInterface.N.Description': honoured('of a new interface'),
    'NetworkInterface.N.SecondaryPrivateIpAddressCount': refused(ONE_ADDRESS, {
      accepts: ['0'],
      sample: '1',
    }),
    'NetworkInterface.N.PrivateIpAddresses.N.*': refused(ONE_ADDRESS, { sample: '10.0.0.9' }),
    'NetworkInterface.N.Ipv6AddressCount': refused(NO_IPV6, { accepts: ['0'], sample: '1' }),
    'NetworkInterface.N.Ipv6Addresses.N.*': refused(NO_IPV6, { sample: '2001:db8::1' }),
    'NetworkInterface.N.Ipv6Prefix.N.*': refused(NO_IPV6, { sample: '2001:db8::/80' }),
    'NetworkInterface.N.Ipv6PrefixCount': refused(NO_IPV6, { accepts: ['0'], sample: '1' }),
    'NetworkInterface.N.PrimaryIpv6': refused(NO_IPV6, { accepts: ['false'], sample: 'true' }),
    'NetworkInterface.N.Ipv4Prefix.N.*': refused(NO_ENI_FIELD, { sample: '10.0.0.16/28' }),
    'NetworkInterface.N.Ipv4PrefixCount': refused(NO_ENI_FIELD, { accepts: ['0'], sample: '1' }),
    'NetworkInterface.N.AssociateCarrierIpAddress': refused('there are no carrier gateways.', {
      accepts: ['false'],
      sample: 'true',
    }),
    'NetworkInterface.N.InterfaceType': refused(NO_ENI_FIELD, {
      accepts: ['interface'],
      sample: 'efa',
    }),
    'NetworkInterface.N.NetworkCardIndex': refused(NO_ENI_FIELD, { accepts: ['0'], sample: '1' }),
    'NetworkInterface.N.EnaSrdSpecification.*': refused(NO_ENI_FIELD, { sample: 'true' }),
    'NetworkInterface.N.ConnectionTrackingSpecification.*': refused(
      'connection tracking timeouts are the data plane defaults here.',
      { sample: '60' },
    ),
    'NetworkInterface.N.EnaQueueCount': refused(NO_ENI_FIELD, { sample: '2' }),
    'SecondaryInterface.N.*': refused(NO_ENI_FIELD, { sample: '1' }),
    'ElasticGpuSpecification.N.*': refused('there are no elastic GPUs.', { sample: 'eg1.medium' }),
    'ElasticInferenceAccelerator.N.*': refused('there are no inference accelerators.', {
      sample: 'eia1.medium',
    }),
    'LaunchTemplate.*': honoured(
      'LaunchTemplateId or LaunchTemplateName, and Version; what the request gives itself wins',
    ),
    'InstanceMarketOptions.*': refused('there are only on-demand instances.', {
      sample: 'spot',
    }),
    'CreditSpecification.CpuCredits': ignored(
      'no instance is throttled by CPU credits here, so standard and unlimited behave alike',
      'unlimited',
    ),
    'CpuOptions.CoreCount': refused('an instance has the vCPUs of its instance type.', {
      sample: '2',
    }),
    'CpuOptions.ThreadsPerCore': refused(
      'an instance has the vCPUs of its instance type, one thread per core.',
      { accepts: ['1'], sample: '2' },
    ),
    'CpuOptions.AmdSevSnp': refused('there is no AMD SEV-SNP.', {
      accepts: ['disabled'],
      sample: 'enabled',
    }),
    'CpuOptions.NestedVirtualization': refused('nested virtualization is not offered.', {
      accepts: ['disabled'],
      sample: 'enabled',
    }),
    'CapacityReservationSpecification.CapacityReservationPreference': refused(
      'there are no capacity reservations.',
      { accepts: ['none', 'open'], sample: 'capacity-reservations-only' },
    ),
    'CapacityReservationSpecification.CapacityReservationTarget.*': refused(
      'there are no capacity reservations.',
      { sample: 'cr-1' },
    ),
    'HibernationOptions.Configured': refused('instances cannot hibernate.', {
      accepts: ['false'],
      sample: 'true',
    }),
    'LicenseSpecification.N.*': refused('there is no license manager.', { sample: 'arn' }),
    ...METADATA_OPTIONS('MetadataOptions.'),
    'EnclaveOptions.Enabled': refused('there are no Nitro Enclaves.', {
      accepts: ['false'],
      sample: 'true',
    }),
    'PrivateDnsNameOptions.HostnameType': refused(
      'private DNS names are made from the IP address (ip-name) only.',
      { accepts: ['ip-name'], sample: 'resource-name' },
    ),
    'PrivateDnsNameOptions.EnableResourceNameDnsARecord': refused(
      'there is no DNS server for resource names.',
      { accepts: ['false'], sample: 'true' },
    ),
    'PrivateDnsNameOptions.EnableResourceNameDnsAAAARecord': refused(NO_IPV6, {
      accepts: ['false'],
      sample: 'true',
    }),
    'MaintenanceOptions.AutoRecovery': refused(
      'an instance is not moved to another host when its host fails.',
      { accepts: ['disabled'], sample: 'default' },
    ),
    'NetworkPerformanceOptions.BandwidthWeighting': refused(
      'network bandwidth cannot be weighted.',
      { accepts: ['default'], sample: 'vpc-1' },
    ),
    'Operator.Principal': refused('instances are not managed by other services.', {
      sample: 'x',
    }),
    'IamInstanceProfile.*': refused('there are no IAM roles or instance profiles.', {
      sample: 'arn:aws:iam::1:instance-profile/x',
    }),
    EbsOptimized: refused(NO_EBS, { accepts: ['false'], sample: 'true' }),
    AdditionalInfo: ignored('EC2 reserves it and gives it no meaning'),
  },

  DescribeInstances: {
    ...DRY_RUN,
    ...INSTANCE_IDS,
    ...FILTERS,
    MaxResults: honoured(),
    NextToken: honoured(),
    IncludeManagedResources: MANAGED,
  },

  DescribeInstanceStatus: {
    ...DRY_RUN,
    ...INSTANCE_IDS,
    ...FILTERS,
    IncludeAllInstances: honoured(),
    MaxResults: honoured(),
    NextToken: honoured(),
    IncludeManagedResources: MANAGED,
  },

  TerminateInstances: {
    ...DRY_RUN,
    ...INSTANCE_IDS,
    Force: ignored(
      'termination here powers the VM off at once and never waits for its OS, as forcing asks',
      'true',
    ),
    SkipOsShutdown: ignored(
      'termination here powers the VM off at once and never waits for its OS, as true asks',
      'true',
    ),
  },

  StopInstances: {
    ...DRY_RUN,
    ...INSTANCE_IDS,
    Force: honoured('powers the VM off without asking the guest'),
    SkipOsShutdown: honoured('as Force'),
    Hibernate: refused('instances cannot hibernate.', { accepts: ['false'], sample: 'true' }),
  },

  StartInstances: {
    ...DRY_RUN,
    ...INSTANCE_IDS,
    AdditionalInfo: ignored('EC2 reserves it and gives it no meaning'),
  },

  RebootInstances: { ...DRY_RUN, ...INSTANCE_IDS },

  GetConsoleOutput: {
    ...DRY_RUN,
    InstanceId: honoured(),
    Latest: ignored(
      'the answer is always the most recent output the console log holds (its last 64 KiB)',
      'true',
    ),
  },

  DescribeInstanceTypes: {
    ...DRY_RUN,
    ...FILTERS,
    'InstanceType.N': honoured(),
    MaxResults: honoured(),
    NextToken: honoured(),
    IncludeUnsupportedInRegion: ignored(
      'every instance type is offered in the one region, so none is left out either way',
      'true',
    ),
  },

  DescribeInstanceAttribute: { ...DRY_RUN, InstanceId: honoured(), Attribute: honoured() },

  ModifyInstanceAttribute: {
    ...DRY_RUN,
    InstanceId: honoured(),
    Attribute: honoured('with Value: the older form of the same changes'),
    Value: honoured(),
    'DisableApiTermination.Value': honoured(),
    'DisableApiStop.Value': honoured(),
    'InstanceInitiatedShutdownBehavior.Value': honoured(),
    'InstanceType.Value': honoured('while stopped'),
    'UserData.Value': honoured('while stopped'),
    'GroupId.N': honoured(),
    'SourceDestCheck.Value': honoured('kept and shown; the data plane checks no addresses'),
    'Kernel.Value': refused('an instance keeps the kernel it was launched with.', {
      sample: 'aki-1',
    }),
    'Ramdisk.Value': refused('an instance keeps the ramdisk it was launched with.', {
      sample: 'ari-1',
    }),
    'BlockDeviceMapping.N.*': refused(NO_EBS, { sample: '/dev/sdb' }),
    'EbsOptimized.Value': refused(NO_EBS, { sample: 'true' }),
    'EnaSupport.Value': refused('guests have virtio network devices.', { sample: 'true' }),
    'SriovNetSupport.Value': refused('guests have virtio network devices.', { sample: 'simple' }),
    'EnclaveOptions.Enabled': refused('there are no Nitro Enclaves.', {
      accepts: ['false'],
      sample: 'true',
    }),
  },

  ResetInstanceAttribute: { ...DRY_RUN, InstanceId: honoured(), Attribute: honoured() },

  GetPasswordData: { ...DRY_RUN, InstanceId: honoured() },

  MonitorInstances: {
    ...DRY_RUN,
    ...INSTANCE_IDS,
    'MetricCategoryId.N': refused('there is no CloudWatch.', { sample: 'x' }),
  },

  UnmonitorInstances: {
    ...DRY_RUN,
    ...INSTANCE_IDS,
    'MetricCategoryId.N': ignored(
      'detailed monitoring is never on here, so every category is already off',
    ),
  },
  GetConsoleScreenshot: {
    ...DRY_RUN,
    InstanceId: honoured(),
    WakeUp: honoured('a Shift key press before the picture'),
  },
  ModifyInstanceMetadataOptions: {
    ...DRY_RUN,
    InstanceId: honoured(),
    ...METADATA_OPTIONS(''),
  },
};
