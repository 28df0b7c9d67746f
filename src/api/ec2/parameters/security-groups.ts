// The request parameters of the security group actions (actions/security-groups.ts), each
// honoured, refused or ignored (rules.ts).
import {
  DRY_RUN,
  FILTERS,
  honoured,
  refused,
  TAG_SPECIFICATIONS,
  type ActionParameters,
} from './rules.js';

const NO_VPC = 'there is no VPC peering: a source group is named by its id or name alone.';

/** What AuthorizeSecurityGroupIngress and RevokeSecurityGroupIngress take alike. */
const PERMISSIONS: ActionParameters = {
  GroupId: honoured(),
  GroupName: honoured(),
  IpProtocol: honoured(),
  FromPort: honoured(),
  ToPort: honoured(),
  CidrIp: honoured(),
  SourceSecurityGroupName: honoured(),
  SourceSecurityGroupOwnerId: honoured(),
  'IpPermissions.N.IpProtocol': honoured(),
  'IpPermissions.N.FromPort': honoured(),
  'IpPermissions.N.ToPort': honoured(),
  'IpPermissions.N.IpRanges.N.CidrIp': honoured(),
  'IpPermissions.N.IpRanges.N.Description': honoured('kept with the rule and shown'),
  'IpPermissions.N.Groups.N.GroupId': honoured(),
  'IpPermissions.N.Groups.N.GroupName': honoured(),
  'IpPermissions.N.Groups.N.UserId': honoured(),
  'IpPermissions.N.Groups.N.Description': honoured('kept with the rule and shown'),
  'IpPermissions.N.Groups.N.VpcId': refused(NO_VPC, {
    code: 'InvalidParameterValue',
    sample: 'vpc-1',
  }),
  'IpPermissions.N.Groups.N.VpcPeeringConnectionId': refused(NO_VPC, {
    code: 'InvalidParameterValue',
    sample: 'pcx-1',
  }),
  'IpPermissions.N.Groups.N.PeeringStatus': refused(NO_VPC, {
    code: 'InvalidParameterValue',
    sample: 'active',
  }),
  'IpPermissions.N.Ipv6Ranges.N.*': refused('the guest network is IPv4 only.', {
    code: 'InvalidParameterValue',
    sample: '::/0',
  }),
  'IpPermissions.N.PrefixListIds.N.*': refused('there are no prefix lists.', {
    code: 'InvalidParameterValue',
    sample: 'pl-1',
  }),
};

/** What AuthorizeSecurityGroupEgress and RevokeSecurityGroupEgress take alike. */
const EGRESS_PERMISSIONS: ActionParameters = {
  ...Object.fromEntries(
    Object.entries(PERMISSIONS).filter(([name]) => name.startsWith('IpPermissions.')),
  ),
  GroupId: honoured('required: egress rules name their group by id'),
  ...Object.fromEntries(
    [
      'IpProtocol',
      'FromPort',
      'ToPort',
      'CidrIp',
      'SourceSecurityGroupName',
      'SourceSecurityGroupOwnerId',
    ].map((name) => [
      name,
      refused('egress rules are given as IpPermissions only, as in EC2.', {
        code: 'InvalidParameterValue',
        sample: name.endsWith('Port') ? '22' : 'tcp',
      }),
    ]),
  ),
};

const NO_RULE_TAGS = refused('security group rules cannot be tagged here.', {
  code: 'InvalidParameterValue',
  sample: 'security-group-rule',
});

export const securityGroupParameters: Readonly<Record<string, ActionParameters>> = {
  CreateSecurityGroup: {
    ...DRY_RUN,
    ...TAG_SPECIFICATIONS,
    GroupName: honoured(),
    GroupDescription: honoured(),
    VpcId: honoured(
      "one of the caller's VPCs; without it, or with the default VPC, the default VPC (names stay unique per project)",
    ),
  },
  DeleteSecurityGroup: { ...DRY_RUN, GroupId: honoured(), GroupName: honoured() },
  DescribeSecurityGroups: {
    ...DRY_RUN,
    ...FILTERS,
    'GroupId.N': honoured(),
    'GroupName.N': honoured(),
    MaxResults: honoured(),
    NextToken: honoured(),
  },
  AuthorizeSecurityGroupIngress: {
    ...DRY_RUN,
    ...PERMISSIONS,
    'TagSpecification.N.*': NO_RULE_TAGS,
  },
  RevokeSecurityGroupIngress: {
    ...DRY_RUN,
    ...PERMISSIONS,
    'SecurityGroupRuleId.N': honoured(),
  },
  AuthorizeSecurityGroupEgress: {
    ...DRY_RUN,
    ...EGRESS_PERMISSIONS,
    'TagSpecification.N.*': NO_RULE_TAGS,
  },
  RevokeSecurityGroupEgress: {
    ...DRY_RUN,
    ...EGRESS_PERMISSIONS,
    'SecurityGroupRuleId.N': honoured(),
  },
  DescribeSecurityGroupRules: {
    ...DRY_RUN,
    ...FILTERS,
    'SecurityGroupRuleId.N': honoured(),
    MaxResults: honoured(),
    NextToken: honoured(),
  },
};
