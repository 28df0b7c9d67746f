// The EC2 Query protocol itself: both endpoints, GET and POST, XML in the EC2 namespace,
// authentication failures, unknown actions, and a table of bad inputs that must each get
// their EC2 error code with a 4xx status, never a 5xx.
import { DescribeRegionsCommand, EC2Client } from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rawEc2, startTestCloud, type TestCloud } from './support/ec2.js';

describe('EC2 Query protocol', () => {
  let t: TestCloud;
  let imageId: string;
  let otherInstanceId: string;
  let tenant: { accessKeyId: string; secretAccessKey: string };
  const V = '2016-11-15';

  before(async () => {
    t = await startTestCloud();
    const image = await t.addImage({ name: 'proto-image' });
    imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
    const other = await t.newProject();
    const r = await rawEc2(t.endpoint, t.region, other.credentials, {
      Action: 'RunInstances',
      Version: V,
      ImageId: imageId,
      MinCount: '1',
      MaxCount: '1',
    });
    assert.equal(r.status, 200, r.body);
    otherInstanceId = /<instanceId>(i-[0-9a-f]+)<\/instanceId>/.exec(r.body)?.[1] as string;
    tenant = (await t.newProject()).credentials;
  });
  after(() => t.stop());

  const send = (
    params: Record<string, string>,
    options?: { method?: 'GET' | 'POST'; path?: string },
  ) => rawEc2(t.endpoint, t.region, t.adminCredentials, params, options);

  it('answers GET and POST on / and /services/Cloud/ in the EC2 namespace with a request id', async () => {
    for (const path of ['/', '/services/Cloud/']) {
      for (const method of ['GET', 'POST'] as const) {
        const r = await send({ Action: 'DescribeRegions', Version: V }, { method, path });
        assert.equal(r.status, 200, `${method} ${path}: ${r.body}`);
        assert.match(
          r.body,
          /^<\?xml version="1.0" encoding="UTF-8"\?>\n<DescribeRegionsResponse xmlns="http:\/\/ec2.amazonaws.com\/doc\/2016-11-15\/">/,
        );
        assert.match(r.body, /<requestId>req-[0-9a-f-]{36}<\/requestId>/);
        assert.match(r.body, new RegExp(`<regionName>${t.region}</regionName>`));
      }
    }
  });

  it('refuses unsigned, wrongly signed and unknown-key requests with AuthFailure', async () => {
    const unsigned = await fetch(`${t.endpoint}?Action=DescribeRegions&Version=${V}`);
    assert.equal(unsigned.status, 401);
    assert.match(await unsigned.text(), /<Code>AuthFailure<\/Code>/);

    const wrongSecret = new EC2Client({
      endpoint: t.endpoint,
      region: t.region,
      credentials: {
        accessKeyId: t.adminCredentials.accessKeyId,
        secretAccessKey: 'not-the-secret',
      },
      maxAttempts: 1,
    });
    await assert.rejects(
      wrongSecret.send(new DescribeRegionsCommand({})),
      (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(err.name, 'AuthFailure');
        assert.equal(err.$metadata?.httpStatusCode, 401);
        return true;
      },
    );
    wrongSecret.destroy();
    const unknown = await rawEc2(
      t.endpoint,
      t.region,
      { accessKeyId: 'AKIANOTAREALKEY00000', secretAccessKey: 'x' },
      {
        Action: 'DescribeRegions',
        Version: V,
      },
    );
    assert.equal(unknown.status, 401);
    assert.equal(unknown.code, 'AuthFailure');
  });

  it('answers an unknown action, a missing Action and an unknown path in EC2 error XML', async () => {
    const r = await send({ Action: 'LaunchRockets', Version: V });
    assert.equal(r.status, 400);
    assert.equal(r.code, 'InvalidAction');
    assert.match(
      r.body,
      /<Response><Errors><Error><Code>InvalidAction<\/Code><Message>[^<]+<\/Message><\/Error><\/Errors><RequestID>req-/,
    );
    const none = await send({ Version: V });
    assert.equal(none.status, 400);
    assert.equal(none.code, 'MissingParameter');
    const noVersion = await send({ Action: 'DescribeRegions' });
    assert.equal(noVersion.status, 400);
    assert.equal(noVersion.code, 'MissingParameter');
    const elsewhere = await fetch(`${t.endpoint}nowhere`);
    assert.equal(elsewhere.status, 404);
    assert.match(await elsewhere.text(), /<Code>InvalidAction<\/Code>/);
  });

  it('refuses an oversized body with a 4xx in EC2 format', async () => {
    const big = await send({
      Action: 'DescribeRegions',
      Version: V,
      Junk: 'x'.repeat(2 * 1024 * 1024),
    });
    assert.equal(big.status, 413);
    assert.match(big.body, /<Code>/);
  });

  const bad: [string, Record<string, string>, string][] = [
    [
      'RunInstances without ImageId',
      { Action: 'RunInstances', MinCount: '1', MaxCount: '1' },
      'MissingParameter',
    ],
    [
      'RunInstances without MinCount',
      { Action: 'RunInstances', ImageId: 'IMAGE', MaxCount: '1' },
      'MissingParameter',
    ],
    [
      'RunInstances with a malformed image id',
      { Action: 'RunInstances', ImageId: 'ami-zz', MinCount: '1', MaxCount: '1' },
      'InvalidAMIID.Malformed',
    ],
    [
      'RunInstances with an unknown image',
      { Action: 'RunInstances', ImageId: 'ami-0123456789abcdef0', MinCount: '1', MaxCount: '1' },
      'InvalidAMIID.NotFound',
    ],
    [
      'RunInstances with MinCount "one"',
      { Action: 'RunInstances', ImageId: 'IMAGE', MinCount: 'one', MaxCount: '1' },
      'InvalidParameterValue',
    ],
    [
      'RunInstances with MinCount 0',
      { Action: 'RunInstances', ImageId: 'IMAGE', MinCount: '0', MaxCount: '1' },
      'InvalidParameterValue',
    ],
    [
      'RunInstances with MaxCount < MinCount',
      { Action: 'RunInstances', ImageId: 'IMAGE', MinCount: '3', MaxCount: '2' },
      'InvalidParameterValue',
    ],
    [
      'RunInstances with an unknown instance type',
      {
        Action: 'RunInstances',
        ImageId: 'IMAGE',
        MinCount: '1',
        MaxCount: '1',
        InstanceType: 'x9.huge',
      },
      'InvalidParameterValue',
    ],
    [
      'RunInstances with an unknown key pair',
      { Action: 'RunInstances', ImageId: 'IMAGE', MinCount: '1', MaxCount: '1', KeyName: 'nope' },
      'InvalidKeyPair.NotFound',
    ],
    [
      'RunInstances with an unknown security group',
      {
        Action: 'RunInstances',
        ImageId: 'IMAGE',
        MinCount: '1',
        MaxCount: '1',
        'SecurityGroup.1': 'nope',
      },
      'InvalidGroup.NotFound',
    ],
    [
      'RunInstances with a malformed group id',
      {
        Action: 'RunInstances',
        ImageId: 'IMAGE',
        MinCount: '1',
        MaxCount: '1',
        'SecurityGroupId.1': 'sg-?',
      },
      'InvalidGroupId.Malformed',
    ],
    [
      'RunInstances with user data that is not base64',
      { Action: 'RunInstances', ImageId: 'IMAGE', MinCount: '1', MaxCount: '1', UserData: '***' },
      'InvalidUserData.Malformed',
    ],
    [
      'RunInstances with oversized user data',
      {
        Action: 'RunInstances',
        ImageId: 'IMAGE',
        MinCount: '1',
        MaxCount: '1',
        UserData: 'A'.repeat(40_000),
      },
      'InvalidUserData.Malformed',
    ],
    [
      'RunInstances in an unknown zone',
      {
        Action: 'RunInstances',
        ImageId: 'IMAGE',
        MinCount: '1',
        MaxCount: '1',
        'Placement.AvailabilityZone': 'mars-1a',
      },
      'InvalidParameterValue',
    ],
    [
      'RunInstances with an oversized ClientToken',
      {
        Action: 'RunInstances',
        ImageId: 'IMAGE',
        MinCount: '1',
        MaxCount: '1',
        ClientToken: 'x'.repeat(65),
      },
      'InvalidParameterValue',
    ],
    [
      'RunInstances with a reserved tag key',
      {
        Action: 'RunInstances',
        ImageId: 'IMAGE',
        MinCount: '1',
        MaxCount: '1',
        'TagSpecification.1.ResourceType': 'instance',
        'TagSpecification.1.Tag.1.Key': 'aws:x',
        'TagSpecification.1.Tag.1.Value': 'v',
      },
      'InvalidParameterValue',
    ],
    [
      'DescribeInstances with a malformed id',
      { Action: 'DescribeInstances', 'InstanceId.1': 'i-nothex' },
      'InvalidInstanceID.Malformed',
    ],
    [
      'DescribeInstances with an unknown id',
      { Action: 'DescribeInstances', 'InstanceId.1': 'i-0123456789abcdef0' },
      'InvalidInstanceID.NotFound',
    ],
    [
      "DescribeInstances with another project's id",
      { Action: 'DescribeInstances', 'InstanceId.1': 'OTHER' },
      'InvalidInstanceID.NotFound',
    ],
    [
      'DescribeInstances with an unknown filter',
      { Action: 'DescribeInstances', 'Filter.1.Name': 'colour', 'Filter.1.Value.1': 'red' },
      'InvalidParameterValue',
    ],
    [
      'DescribeInstances with MaxResults 3',
      { Action: 'DescribeInstances', MaxResults: '3' },
      'InvalidParameterValue',
    ],
    [
      'DescribeInstances with MaxResults and ids',
      { Action: 'DescribeInstances', MaxResults: '5', 'InstanceId.1': 'i-0123456789abcdef0' },
      'InvalidParameterCombination',
    ],
    [
      'DescribeInstances with a bad NextToken',
      { Action: 'DescribeInstances', MaxResults: '5', NextToken: '%%%' },
      'InvalidParameterValue',
    ],
    ['TerminateInstances without ids', { Action: 'TerminateInstances' }, 'MissingParameter'],
    [
      'TerminateInstances with a malformed id',
      { Action: 'TerminateInstances', 'InstanceId.1': 'vol-123' },
      'InvalidInstanceID.Malformed',
    ],
    [
      "StopInstances of another project's instance",
      { Action: 'StopInstances', 'InstanceId.1': 'OTHER' },
      'InvalidInstanceID.NotFound',
    ],
    [
      'StopInstances with Force "maybe"',
      { Action: 'StopInstances', 'InstanceId.1': 'OTHER', Force: 'maybe' },
      'InvalidParameterValue',
    ],
    ['GetConsoleOutput without an id', { Action: 'GetConsoleOutput' }, 'MissingParameter'],
    [
      'DescribeInstanceAttribute with an unknown attribute',
      {
        Action: 'DescribeInstanceAttribute',
        InstanceId: 'i-0123456789abcdef0',
        Attribute: 'colour',
      },
      'InvalidParameterValue',
    ],
    [
      'DescribeInstanceTypes with an unknown type',
      { Action: 'DescribeInstanceTypes', 'InstanceType.1': 'x9.huge' },
      'InvalidParameterValue',
    ],
    [
      'DescribeRegions with an unknown region',
      { Action: 'DescribeRegions', 'RegionName.1': 'mars-north-1' },
      'InvalidParameterValue',
    ],
    [
      'DescribeAvailabilityZones with an unknown zone',
      { Action: 'DescribeAvailabilityZones', 'ZoneName.1': 'mars-1a' },
      'InvalidParameterValue',
    ],
    [
      'a list of 1001 ids',
      {
        Action: 'DescribeInstances',
        ...Object.fromEntries(
          Array.from({ length: 1001 }, (_, i) => [`InstanceId.${i + 1}`, 'i-0123456789abcdef0']),
        ),
      },
      'InvalidParameterValue',
    ],
  ];
  for (const [what, params, code] of bad) {
    it(`answers ${what} with ${code}`, async () => {
      const filled = Object.fromEntries(
        Object.entries(params).map(([k, v]) => [
          k,
          v === 'IMAGE' ? imageId : v === 'OTHER' ? otherInstanceId : v,
        ]),
      );
      // As a tenant: another project's ids must look like ids that do not exist.
      const r = await rawEc2(t.endpoint, t.region, tenant, { Version: V, ...filled });
      assert.equal(r.code, code, r.body);
      assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
    });
  }
});
