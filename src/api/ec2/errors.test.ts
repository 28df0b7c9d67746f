// The EC2 error table against the code: every (kind, resource, reason) the source can raise
// maps to an EC2 error code that EC2 itself returns, every entry of the table is used by
// some raised error, and the domain's closed sets hold no value that nothing raises.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ERROR_REASONS, ERROR_RESOURCES, StratusError } from '../../errors.js';
import { raisedErrors, type RaisedError } from '../../../test/support/raised-errors.js';
import { ec2CodeEntries, ec2CodeRule, toEc2Error } from './errors.js';

/**
 * The codes on the EC2 API reference's "Error codes" page
 * (docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html) that this table
 * may use: common client errors, client errors of specific actions, and server errors.
 */
const DOCUMENTED = new Set([
  'AddressLimitExceeded',
  'AuthFailure',
  'CannotDelete',
  'DependencyViolation',
  'IdempotentParameterMismatch',
  'IncorrectInstanceState',
  'IncorrectState',
  'InstanceLimitExceeded',
  'InsufficientAddressCapacity',
  'InsufficientInstanceCapacity',
  'InternalError',
  'InvalidAddress.Malformed',
  'InvalidAddress.NotFound',
  'InvalidAllocationID.NotFound',
  'InvalidAMIID.Malformed',
  'InvalidAMIID.NotFound',
  'InvalidAMIID.Unavailable',
  'InvalidAMIName.Duplicate',
  'InvalidAMIName.Malformed',
  'InvalidAssociationID.NotFound',
  'InvalidGroup.Duplicate',
  'InvalidGroup.InUse',
  'InvalidGroup.NotFound',
  'InvalidGroup.Reserved',
  'InvalidGroupId.Malformed',
  'InvalidID',
  'InvalidInstanceID.Malformed',
  'InvalidInstanceID.NotFound',
  'InvalidIPAddress.InUse',
  'InvalidKey.Format',
  'InvalidKeyPair.Duplicate',
  'InvalidKeyPair.Format',
  'InvalidKeyPair.NotFound',
  'InvalidLaunchTemplateId.Malformed',
  'InvalidLaunchTemplateId.NotFound',
  'InvalidLaunchTemplateId.VersionNotFound',
  'InvalidLaunchTemplateName.AlreadyExistsException',
  'InvalidLaunchTemplateName.MalformedException',
  'InvalidLaunchTemplateName.NotFoundException',
  'InvalidParameter',
  'InvalidParameterCombination',
  'InvalidParameterValue',
  'InvalidPermission.Duplicate',
  'InvalidPermission.NotFound',
  'InvalidPlacementGroup.Duplicate',
  'InvalidPlacementGroup.InUse',
  'InvalidPlacementGroup.Unknown',
  'InvalidRequest',
  'InvalidSecurityGroupRuleId.Malformed',
  'MissingParameter',
  'OperationNotPermitted',
  'RequestExpired',
  'Resource.AlreadyAssociated',
  'ResourceLimitExceeded',
  'RulesPerSecurityGroupLimitExceeded',
  'SecurityGroupLimitExceeded',
  'TagLimitExceeded',
  'UnauthorizedOperation',
  'Unavailable',
  'UnknownParameter',
  'UnsupportedOperation',
  'VcpuLimitExceeded',
  'InsufficientVolumeCapacity',
  'InvalidVolume.NotFound',
  'InvalidVolume.ZoneMismatch',
  'InvalidAttachment.NotFound',
  'InvalidVolumeID.Malformed',
  'Gateway.NotAttached',
  'InvalidInternetGatewayID.NotFound',
  'InvalidNetworkInterface.InUse',
  'InvalidNetworkInterfaceID.Malformed',
  'InvalidNetworkInterfaceID.NotFound',
  'InvalidRoute.NotFound',
  'InvalidRouteTableID.NotFound',
  'InvalidRouteTableId.Malformed',
  'InvalidSubnet.Conflict',
  'InvalidSubnet.Range',
  'InvalidSubnetID.Malformed',
  'InvalidSubnetID.NotFound',
  'InvalidVpc.Range',
  'InvalidVpcID.Malformed',
  'InvalidVpcID.NotFound',
  'RouteAlreadyExists',
  'VolumeInUse',
  'VolumeLimitExceeded',
  'InvalidSnapshot.NotFound',
  'InvalidSnapshot.InUse',
  'InvalidSnapshotID.Malformed',
  'SnapshotLimitExceeded',
]);

/**
 * Codes EC2 returns that the page does not list: malformed ids of key pairs, allocations and
 * associations, and RunInstances' refusal of user data.
 */
const RETURNED_BY_EC2 = new Set([
  'InvalidKeyPair.Malformed',
  'InvalidAllocationID.Malformed',
  'InvalidAssociationID.Malformed',
  'InvalidUserData.Malformed',
  // Its page lists InvalidInternetGatewayID.NotFound; the malformed id's code has this case.
  'InvalidInternetGatewayId.Malformed',
]);

const show = (e: RaisedError) => `${e.kind}/${e.resource ?? '-'}/${e.reason ?? '-'} at ${e.at}`;

describe('EC2 error table', () => {
  let raised: RaisedError[];
  before(() => {
    raised = raisedErrors();
  });

  it('finds the errors the code raises', () => {
    // A scanner that finds nothing would pass every check below.
    assert.ok(raised.length > 200, `only ${raised.length} raise sites found`);
    const found = (kind: string, resource: string) =>
      raised.some((e) => e.kind === kind && e.resource === resource);
    assert.ok(found('not_found', 'instance'));
    assert.ok(found('over_quota', 'tags'));
  });

  it('maps every raised error to a code EC2 returns, with a status of its class', () => {
    const bad = raised.flatMap((e) => {
      const rule = ec2CodeRule(e.kind, e.resource, e.reason);
      const real = DOCUMENTED.has(rule.code) || RETURNED_BY_EC2.has(rule.code);
      const serverError = rule.code === 'InternalError' || e.kind === 'unavailable';
      const statusOk = serverError ? rule.status >= 500 : rule.status >= 400 && rule.status < 500;
      return real && statusOk ? [] : [`${show(e)} -> ${rule.code} ${rule.status}`];
    });
    assert.deepEqual(bad, []);
  });

  it('has no entry that nothing raises, and none that only repeats its default', () => {
    const used = new Set(raised.map((e) => ec2CodeRule(e.kind, e.resource, e.reason).entry));
    assert.deepEqual(
      ec2CodeEntries().filter((entry) => !used.has(entry)),
      [],
    );
    const repeats = raised.filter((e) => {
      const rule = ec2CodeRule(e.kind, e.resource, e.reason);
      return (
        !rule.entry.endsWith('.otherwise') &&
        rule.code === ec2CodeRule(e.kind, undefined, undefined).code
      );
    });
    assert.deepEqual(repeats.map(show), []);
  });

  it('keeps the closed sets of resources and reasons to what the code raises', () => {
    const resources = new Set(raised.map((e) => e.resource));
    const reasons = new Set(raised.map((e) => e.reason));
    assert.deepEqual(
      ERROR_RESOURCES.filter((r) => !resources.has(r)),
      [],
    );
    assert.deepEqual(
      ERROR_REASONS.filter((r) => !reasons.has(r)),
      [],
    );
  });

  it('answers as EC2 does for a few errors users meet', () => {
    const code = (e: StratusError) => [toEc2Error(e).code, toEc2Error(e).status];
    assert.deepEqual(code(new StratusError('not_found', 'x', { resource: 'instance' })), [
      'InvalidInstanceID.NotFound',
      400,
    ]);
    assert.deepEqual(
      code(new StratusError('invalid', 'x', { resource: 'image', reason: 'malformed' })),
      ['InvalidAMIID.Malformed', 400],
    );
    assert.deepEqual(
      code(new StratusError('over_quota', 'x', { resource: 'cores', reason: 'cores' })),
      ['VcpuLimitExceeded', 400],
    );
    assert.deepEqual(
      code(new StratusError('unavailable', 'x', { resource: 'host', reason: 'no_valid_host' })),
      ['InsufficientInstanceCapacity', 503],
    );
    assert.deepEqual(code(new StratusError('unauthenticated', 'x', { reason: 'expired' })), [
      'RequestExpired',
      400,
    ]);
    const internal = toEc2Error(new StratusError('internal', 'secret detail'));
    assert.equal(internal.code, 'InternalError');
    assert.doesNotMatch(internal.message, /secret/);
  });
});
