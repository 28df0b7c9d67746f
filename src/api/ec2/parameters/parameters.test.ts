// The EC2 parameter declarations against the endpoint, the EC2 API model and the docs: every
// action the endpoint serves is declared, every parameter the model documents for it is
// honoured, refused or ignored, and docs/ec2-parameters.md is what the declarations render.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { StratusError } from '../../../errors.js';
import { documentedParameters } from '../../../../test/support/ec2-model.js';
import {
  EC2_PARAMETERS_DOC,
  ec2ParametersDoc,
} from '../../../../test/support/ec2-parameters-doc.js';
import { ec2Actions, type Ec2Deps } from '../actions/index.js';
import { toEc2Error } from '../errors.js';
import {
  checkParameters,
  EC2_PARAMETERS,
  identityParameters,
  parameterShape,
  refuses,
  ruleFor,
  type ActionParameters,
} from './index.js';

const declared = (action: string): ActionParameters => EC2_PARAMETERS[action] as ActionParameters;

function refusal(action: string, params: Record<string, string>) {
  try {
    checkParameters(action, declared(action), params);
  } catch (err) {
    assert.ok(err instanceof StratusError);
    return toEc2Error(err);
  }
  return undefined;
}

describe('EC2 parameter declarations', () => {
  it('declare every action the endpoint serves, and only those', () => {
    // Building the table only makes closures: no dependency is touched.
    const served = Object.keys(ec2Actions({} as Ec2Deps)).sort();
    const missing = served.filter((a) => !Object.hasOwn(EC2_PARAMETERS, a));
    const extra = Object.keys(EC2_PARAMETERS).filter((a) => !served.includes(a));
    assert.deepEqual(
      missing,
      [],
      `these actions declare no parameters; add them under src/api/ec2/parameters/: ${missing.join(', ')}`,
    );
    assert.deepEqual(extra, [], `these declared actions are not served: ${extra.join(', ')}`);
  });

  it('declare every parameter the EC2 API model documents for each action, and no other', () => {
    const undeclared: string[] = [];
    const invented: string[] = [];
    for (const [action, rules] of Object.entries(EC2_PARAMETERS)) {
      const documented = documentedParameters(action);
      assert.ok(documented, `the EC2 API model has no action ${action}`);
      for (const p of documented) if (!ruleFor(rules, p)) undeclared.push(`${action}: ${p}`);
      for (const pattern of Object.keys(rules)) {
        const covers = (p: string) =>
          pattern.endsWith('.*') ? p.startsWith(pattern.slice(0, -1)) : p === pattern;
        if (!documented.some(covers)) invented.push(`${action}: ${pattern}`);
      }
    }
    assert.deepEqual(
      undeclared,
      [],
      `these documented parameters are not declared honoured, refused or ignored:\n${undeclared.join('\n')}`,
    );
    assert.deepEqual(invented, [], `these declared parameters are not documented for the action`);
  });

  it('give every refused and ignored parameter its reason, and a sample that decides as declared', () => {
    for (const [action, rules] of Object.entries(EC2_PARAMETERS)) {
      for (const [pattern, rule] of Object.entries(rules)) {
        const where = `${action} ${pattern}`;
        if (rule.use === 'honoured') continue;
        assert.match(rule.reason, /\S/, `${where} says why`);
        if (rule.use === 'refused') {
          assert.ok(refuses(rule, rule.sample), `${where} refuses its sample ${rule.sample}`);
          for (const a of rule.accepts ?? []) assert.ok(!refuses(rule, a), `${where} accepts ${a}`);
        } else {
          assert.ok(!refuses(rule, rule.sample), `${where} accepts its sample`);
        }
      }
    }
  });

  it('match docs/ec2-parameters.md (npm run docs:ec2-parameters writes it)', async () => {
    const expected = await ec2ParametersDoc();
    const actual = fs.existsSync(EC2_PARAMETERS_DOC)
      ? fs.readFileSync(EC2_PARAMETERS_DOC, 'utf8')
      : '';
    assert.equal(
      actual,
      expected,
      `${EC2_PARAMETERS_DOC} is not what the declarations render: run npm run docs:ec2-parameters`,
    );
  });
});

describe('checking a request against its declaration', () => {
  it('writes each list index as N', () => {
    assert.equal(parameterShape('Filter.12.Value.3'), 'Filter.N.Value.N');
    assert.equal(parameterShape('TagSpecification.1.Tag.2.Key'), 'TagSpecification.N.Tag.N.Key');
    assert.equal(parameterShape('InstanceId'), 'InstanceId');
    assert.equal(parameterShape('Monitoring.Enabled'), 'Monitoring.Enabled');
  });

  it('finds the exact name, a bare list, then the longest prefix', () => {
    const run = declared('RunInstances');
    assert.equal(ruleFor(run, 'SecurityGroupId')?.pattern, 'SecurityGroupId.N');
    assert.equal(
      ruleFor(run, 'BlockDeviceMapping.N.Ebs.VolumeSize')?.pattern,
      'BlockDeviceMapping.N.Ebs.VolumeSize',
    );
    assert.equal(ruleFor(run, 'Monitoring.Enabled')?.pattern, 'Monitoring.Enabled');
    assert.equal(ruleFor(run, 'Monitoring'), undefined);
    assert.equal(ruleFor(run, 'Bogus'), undefined);
  });

  it('passes the common parameters, honoured ones and values that ask for nothing missing', () => {
    assert.equal(
      refusal('RunInstances', {
        Action: 'RunInstances',
        Version: '2016-11-15',
        'X-Amz-Date': '20260101T000000Z',
        AWSAccessKeyId: 'k',
        ImageId: 'ami-1',
        'SecurityGroupId.1': 'sg-1',
        'TagSpecification.1.Tag.2.Key': 'k',
        'Monitoring.Enabled': 'false',
        'Placement.Tenancy': 'default',
        SubnetId: '',
        AdditionalInfo: 'anything',
      }),
      undefined,
    );
  });

  it('answers an unknown parameter with UnknownParameter, naming it', () => {
    const e = refusal('DescribeInstances', { 'InstanceIds.1': 'i-1' });
    assert.equal(e?.code, 'UnknownParameter');
    assert.equal(e?.status, 400);
    assert.equal(e?.message, 'The parameter InstanceIds.1 is not recognized');
  });

  it('answers a refused value with its declared error, naming the parameter', () => {
    const e = refusal('RunInstances', { 'Monitoring.Enabled': 'TRUE' });
    assert.equal(e?.code, 'UnsupportedOperation');
    assert.match(e?.message ?? '', /Monitoring\.Enabled/);
    const v = refusal('CreatePlacementGroup', { PartitionCount: '2' });
    assert.equal(v?.code, 'InvalidParameterValue');
    assert.match(v?.message ?? '', /PartitionCount/);
  });

  it('declares the STS and IAM actions too', () => {
    assert.deepEqual(Object.keys(identityParameters.sts), ['GetCallerIdentity']);
    assert.deepEqual(Object.keys(identityParameters.iam), ['GetUser']);
  });
});
