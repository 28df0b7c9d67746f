// Maps domain errors to EC2 error codes and HTTP statuses, from one table.
import type { StratusError } from '../../errors.js';

export interface Ec2Error {
  code: string;
  status: number;
  message: string;
}

/** The EC2 name of each domain resource, as used in `<Name>ID.NotFound` style codes. */
const ID_CODE: Record<string, string> = {
  instance: 'InvalidInstanceID',
  image: 'InvalidAMIID',
  keypair: 'InvalidKeyPair',
  security_group: 'InvalidGroup',
  address: 'InvalidAddress',
  allocation: 'InvalidAllocationID',
  association: 'InvalidAssociationID',
  reservation: 'InvalidReservationID',
  zone: 'InvalidZone',
  region: 'InvalidRegion',
  flavor: 'InvalidInstanceType',
};

/** Codes for (kind, resource or reason) pairs that do not follow the `<Name>.<Suffix>` rule. */
const SPECIAL: Record<string, [string, number]> = {
  'not_found:keypair': ['InvalidKeyPair.NotFound', 400],
  'already_exists:keypair': ['InvalidKeyPair.Duplicate', 400],
  'already_exists:security_group': ['InvalidGroup.Duplicate', 400],
  'already_exists:security_group_rule': ['InvalidPermission.Duplicate', 400],
  'not_found:security_group_rule': ['InvalidPermission.NotFound', 400],
  'not_found:flavor': ['InvalidParameterValue', 400],
  'not_found:tag': ['InvalidParameterValue', 400],
  'not_found:zone': ['InvalidParameterValue', 400],
  'invalid:malformed:image': ['InvalidAMIID.Malformed', 400],
  'invalid:name:image': ['InvalidAMIName.Malformed', 400],
  'already_exists:image': ['InvalidAMIName.Duplicate', 400],
  'invalid:malformed:security_group': ['InvalidGroupId.Malformed', 400],
  'invalid:reserved:security_group': ['InvalidGroup.Reserved', 400],
  'invalid:malformed:security_group_rule': ['InvalidSecurityGroupRuleId.Malformed', 400],
  'invalid:malformed:allocation': ['InvalidAllocationID.Malformed', 400],
  'invalid:malformed:association': ['InvalidAssociationID.Malformed', 400],
  'invalid:malformed:address': ['InvalidAddress.Malformed', 400],
  'invalid:combination': ['InvalidParameterCombination', 400],
  'invalid:InvalidKey.Format': ['InvalidKey.Format', 400],
  'invalid:key_type': ['InvalidKeyPair.Format', 400],
  'invalid:user_data': ['InvalidUserData.Malformed', 400],
  'invalid:image_state': ['InvalidAMIID.Unavailable', 400],
  'conflict:in_use': ['DependencyViolation', 400],
  'conflict:cannot_delete': ['CannotDelete', 400],
  'conflict:already_associated': ['Resource.AlreadyAssociated', 400],
  'conflict:address_in_use': ['InvalidIPAddress.InUse', 400],
  'invalid:malformed:resource': ['InvalidID', 400],
  'over_quota:tags': ['TagLimitExceeded', 400],
  'conflict:instance_state': ['IncorrectInstanceState', 400],
  'conflict:idempotent_mismatch': ['IdempotentParameterMismatch', 400],
  'over_quota:instances': ['InstanceLimitExceeded', 400],
  'over_quota:cores': ['VcpuLimitExceeded', 400],
  'over_quota:ram': ['InstanceLimitExceeded', 400],
  'over_quota:addresses': ['AddressLimitExceeded', 400],
  'over_quota:security_groups': ['SecurityGroupLimitExceeded', 400],
  'over_quota:security_group_rules': ['RulesPerSecurityGroupLimitExceeded', 400],
  'over_quota:keypairs': ['ResourceLimitExceeded', 400],
  'unavailable:no_valid_host': ['InsufficientInstanceCapacity', 503],
  'unavailable:no_address:floating_ip': ['InsufficientAddressCapacity', 503],
  'unauthenticated:RequestExpired': ['RequestExpired', 400],
};

export function toEc2Error(err: StratusError): Ec2Error {
  const special =
    SPECIAL[`${err.kind}:${err.reason ?? ''}:${err.resource ?? ''}`] ??
    SPECIAL[`${err.kind}:${err.reason ?? ''}`] ??
    SPECIAL[`${err.kind}:${err.resource ?? ''}`];
  if (special) return { code: special[0], status: special[1], message: err.message };
  const name = err.resource ? ID_CODE[err.resource] : undefined;
  switch (err.kind) {
    case 'not_found':
      return {
        code: name ? `${name}.NotFound` : 'InvalidParameterValue',
        status: 400,
        message: err.message,
      };
    case 'already_exists':
      return {
        code: name ? `${name}.Duplicate` : 'InvalidParameterValue',
        status: 400,
        message: err.message,
      };
    case 'invalid':
      if (err.reason === 'malformed' && name)
        return { code: `${name}.Malformed`, status: 400, message: err.message };
      return { code: 'InvalidParameterValue', status: 400, message: err.message };
    case 'missing':
      return { code: 'MissingParameter', status: 400, message: err.message };
    case 'conflict':
      return { code: 'IncorrectState', status: 400, message: err.message };
    case 'over_quota':
      return { code: 'ResourceLimitExceeded', status: 400, message: err.message };
    case 'forbidden':
      return { code: 'UnauthorizedOperation', status: 403, message: err.message };
    case 'unauthenticated':
      return { code: 'AuthFailure', status: 401, message: err.message };
    case 'unavailable':
      return { code: 'Unavailable', status: 503, message: err.message };
    case 'internal':
      return { code: 'InternalError', status: 500, message: 'An internal error has occurred.' };
  }
}
