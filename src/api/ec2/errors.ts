// Maps domain errors to EC2 error codes and HTTP statuses, from one table keyed by the
// domain's closed sets (kind, resource, reason): a key the domain does not have fails to
// compile. errors.test.ts checks that every error the code raises maps to a real EC2 code
// and that every entry here is used by one.
import type { ErrorKind, ErrorReason, ErrorResource, StratusError } from '../../errors.js';

export interface Ec2Error {
  code: string;
  status: number;
  message: string;
}

/** An EC2 error code and the HTTP status it goes with. */
type Code = readonly [code: string, status: number];

/** The codes of one kind, most specific first. */
interface KindCodes {
  /** A reason of one resource. */
  pairs?: Partial<Record<ErrorResource, Partial<Record<ErrorReason, Code>>>>;
  /** A reason, whatever the resource. */
  reasons?: Partial<Record<ErrorReason, Code>>;
  /** A resource, whatever the reason. */
  resources?: Partial<Record<ErrorResource, Code>>;
  /** Anything else of the kind. */
  otherwise: Code;
}

const TABLE: Readonly<Record<ErrorKind, KindCodes>> = {
  not_found: {
    pairs: {
      launch_template: { name: ['InvalidLaunchTemplateName.NotFoundException', 400] },
    },
    resources: {
      instance: ['InvalidInstanceID.NotFound', 400],
      image: ['InvalidAMIID.NotFound', 400],
      keypair: ['InvalidKeyPair.NotFound', 400],
      security_group: ['InvalidGroup.NotFound', 400],
      security_group_rule: ['InvalidPermission.NotFound', 400],
      address: ['InvalidAddress.NotFound', 400],
      allocation: ['InvalidAllocationID.NotFound', 400],
      association: ['InvalidAssociationID.NotFound', 400],
      launch_template: ['InvalidLaunchTemplateId.NotFound', 400],
      launch_template_version: ['InvalidLaunchTemplateId.VersionNotFound', 400],
      server_group: ['InvalidPlacementGroup.Unknown', 400],
      volume: ['InvalidVolume.NotFound', 400],
      network: ['InvalidVpcID.NotFound', 400],
      subnet: ['InvalidSubnetID.NotFound', 400],
      port: ['InvalidNetworkInterfaceID.NotFound', 400],
      router: ['InvalidRouteTableID.NotFound', 400],
      internet_gateway: ['InvalidInternetGatewayID.NotFound', 400],
      route: ['InvalidRoute.NotFound', 400],
      attachment: ['InvalidAttachment.NotFound', 400],
      snapshot: ['InvalidSnapshot.NotFound', 400],
    },
    // An unknown zone, flavor or tag: EC2 calls the value invalid.
    otherwise: ['InvalidParameterValue', 400],
  },
  already_exists: {
    resources: {
      keypair: ['InvalidKeyPair.Duplicate', 400],
      security_group: ['InvalidGroup.Duplicate', 400],
      security_group_rule: ['InvalidPermission.Duplicate', 400],
      image: ['InvalidAMIName.Duplicate', 400],
      launch_template: ['InvalidLaunchTemplateName.AlreadyExistsException', 400],
      server_group: ['InvalidPlacementGroup.Duplicate', 400],
      route: ['RouteAlreadyExists', 400],
    },
    otherwise: ['InvalidParameterValue', 400],
  },
  invalid: {
    pairs: {
      instance: { malformed: ['InvalidInstanceID.Malformed', 400] },
      image: {
        malformed: ['InvalidAMIID.Malformed', 400],
        name: ['InvalidAMIName.Malformed', 400],
      },
      keypair: { malformed: ['InvalidKeyPair.Malformed', 400] },
      launch_template: {
        malformed: ['InvalidLaunchTemplateId.Malformed', 400],
        name: ['InvalidLaunchTemplateName.MalformedException', 400],
      },
      security_group: {
        malformed: ['InvalidGroupId.Malformed', 400],
        reserved: ['InvalidGroup.Reserved', 400],
        // A group of another VPC than the subnet's, as EC2 answers.
        combination: ['InvalidParameter', 400],
      },
      security_group_rule: { malformed: ['InvalidSecurityGroupRuleId.Malformed', 400] },
      address: { malformed: ['InvalidAddress.Malformed', 400] },
      allocation: { malformed: ['InvalidAllocationID.Malformed', 400] },
      association: { malformed: ['InvalidAssociationID.Malformed', 400] },
      resource: { malformed: ['InvalidID', 400] },
      volume: { malformed: ['InvalidVolumeID.Malformed', 400] },
      network: {
        malformed: ['InvalidVpcID.Malformed', 400],
        range: ['InvalidVpc.Range', 400],
      },
      subnet: {
        malformed: ['InvalidSubnetID.Malformed', 400],
        range: ['InvalidSubnet.Range', 400],
        combination: ['InvalidSubnet.Conflict', 400],
      },
      port: { malformed: ['InvalidNetworkInterfaceID.Malformed', 400] },
      router: { malformed: ['InvalidRouteTableId.Malformed', 400] },
      internet_gateway: { malformed: ['InvalidInternetGatewayId.Malformed', 400] },
      zone: { combination: ['InvalidVolume.ZoneMismatch', 400] },
      snapshot: { malformed: ['InvalidSnapshotID.Malformed', 400] },
    },
    reasons: {
      combination: ['InvalidParameterCombination', 400],
      key_format: ['InvalidKey.Format', 400],
      key_type: ['InvalidKeyPair.Format', 400],
      user_data: ['InvalidUserData.Malformed', 400],
      image_state: ['InvalidAMIID.Unavailable', 400],
      unsupported: ['UnsupportedOperation', 400],
      unrecognized: ['UnknownParameter', 400],
      // Detaching an instance's root volume.
      protected: ['OperationNotPermitted', 400],
      // An attribute EC2 has and this cloud does not keep (DescribeImageAttribute).
      attribute_not_kept: ['InvalidRequest', 400],
    },
    otherwise: ['InvalidParameterValue', 400],
  },
  missing: { otherwise: ['MissingParameter', 400] },
  conflict: {
    pairs: {
      port: { in_use: ['InvalidNetworkInterface.InUse', 400] },
      server_group: { in_use: ['InvalidPlacementGroup.InUse', 400] },
      volume: { in_use: ['VolumeInUse', 400] },
      snapshot: { in_use: ['InvalidSnapshot.InUse', 400] },
    },
    reasons: {
      in_use: ['DependencyViolation', 400],
      cannot_delete: ['CannotDelete', 400],
      already_associated: ['Resource.AlreadyAssociated', 400],
      address_in_use: ['InvalidIPAddress.InUse', 400],
      instance_state: ['IncorrectInstanceState', 400],
      protected: ['OperationNotPermitted', 400],
      not_attached: ['Gateway.NotAttached', 400],
    },
    otherwise: ['IncorrectState', 400],
  },
  over_quota: {
    reasons: {
      instances: ['InstanceLimitExceeded', 400],
      cores: ['VcpuLimitExceeded', 400],
      ram: ['InstanceLimitExceeded', 400],
      addresses: ['AddressLimitExceeded', 400],
      security_groups: ['SecurityGroupLimitExceeded', 400],
      security_group_rules: ['RulesPerSecurityGroupLimitExceeded', 400],
      tags: ['TagLimitExceeded', 400],
      volumes: ['VolumeLimitExceeded', 400],
      gigabytes: ['VolumeLimitExceeded', 400],
      snapshots: ['SnapshotLimitExceeded', 400],
    },
    otherwise: ['ResourceLimitExceeded', 400],
  },
  forbidden: {
    // The EC2 reference: DescribeImageAttribute blockDeviceMapping answers AuthFailure.
    pairs: { image: { attribute_not_kept: ['AuthFailure', 401] } },
    otherwise: ['UnauthorizedOperation', 403],
  },
  unauthenticated: {
    reasons: { expired: ['RequestExpired', 400] },
    otherwise: ['AuthFailure', 401],
  },
  unavailable: {
    pairs: {
      floating_ip: { no_address: ['InsufficientAddressCapacity', 503] },
      volume: { no_valid_host: ['InsufficientVolumeCapacity', 503] },
    },
    reasons: { no_valid_host: ['InsufficientInstanceCapacity', 503] },
    otherwise: ['Unavailable', 503],
  },
  internal: { otherwise: ['InternalError', 500] },
};

/** Which entry of the table an error takes, for the test that finds unused entries. */
export interface Ec2CodeRule {
  code: string;
  status: number;
  /** `kind.pairs.resource.reason`, `kind.reasons.reason`, `kind.resources.resource` or `kind.otherwise`. */
  entry: string;
}

export function ec2CodeRule(
  kind: ErrorKind,
  resource: ErrorResource | undefined,
  reason: ErrorReason | undefined,
): Ec2CodeRule {
  const codes = TABLE[kind];
  const found: [Code | undefined, string][] = [
    [
      resource && reason ? codes.pairs?.[resource]?.[reason] : undefined,
      `pairs.${resource}.${reason}`,
    ],
    [reason ? codes.reasons?.[reason] : undefined, `reasons.${reason}`],
    [resource ? codes.resources?.[resource] : undefined, `resources.${resource}`],
    [codes.otherwise, 'otherwise'],
  ];
  const [code, entry] = found.find(([c]) => c !== undefined) as [Code, string];
  return { code: code[0], status: code[1], entry: `${kind}.${entry}` };
}

/** Every entry of the table, as `ec2CodeRule` names them. */
export function ec2CodeEntries(): string[] {
  return Object.entries(TABLE).flatMap(([kind, codes]: [string, KindCodes]) => [
    ...Object.entries(codes.pairs ?? {}).flatMap(([resource, reasons]) =>
      Object.keys(reasons ?? {}).map((reason) => `${kind}.pairs.${resource}.${reason}`),
    ),
    ...Object.keys(codes.reasons ?? {}).map((reason) => `${kind}.reasons.${reason}`),
    ...Object.keys(codes.resources ?? {}).map((resource) => `${kind}.resources.${resource}`),
    `${kind}.otherwise`,
  ]);
}

export function toEc2Error(err: StratusError): Ec2Error {
  const { code, status } = ec2CodeRule(err.kind, err.resource, err.reason);
  // Our own faults say nothing of their internals; the log has them.
  const message = err.kind === 'internal' ? 'An internal error has occurred.' : err.message;
  return { code, status, message };
}
