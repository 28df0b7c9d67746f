// Egress rules through Debian's AWS CLI: a new group's allow-all egress rule, authorizing and
// revoking egress rules (IP ranges and groups, by permission and by rule id), duplicates and
// missing rules, the egress filters of DescribeSecurityGroups and DescribeSecurityGroupRules.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { needs } from './support/capabilities.js';
import { startTestCloud, type TestCloud } from './support/ec2.js';
import { awsEc2, type AwsEc2Cli } from './support/awscli.js';

interface Permission {
  IpProtocol: string;
  FromPort?: number;
  ToPort?: number;
  IpRanges: { CidrIp: string }[];
  UserIdGroupPairs: { GroupId: string }[];
}

interface Group {
  GroupId: string;
  IpPermissions: Permission[];
  IpPermissionsEgress: Permission[];
}

interface Rule {
  SecurityGroupRuleId: string;
  GroupId: string;
  IsEgress: boolean;
  IpProtocol: string;
  FromPort?: number;
  ToPort?: number;
  CidrIpv4?: string;
  ReferencedGroupInfo?: { GroupId: string };
}

/** A group's egress permissions in a stable, comparable shape. */
function egress(g: Group): string[] {
  return g.IpPermissionsEgress.flatMap((p) => [
    ...p.IpRanges.map((r) => `${p.IpProtocol} ${p.FromPort ?? ''}-${p.ToPort ?? ''} ${r.CidrIp}`),
    ...p.UserIdGroupPairs.map(
      (u) => `${p.IpProtocol} ${p.FromPort ?? ''}-${p.ToPort ?? ''} ${u.GroupId}`,
    ),
  ]).sort();
}

describe('security group egress rules through the AWS CLI', needs('awscli'), () => {
  let t: TestCloud;
  let home: string;
  let cli: AwsEc2Cli;

  before(async () => {
    t = await startTestCloud();
    const project = await t.newProject('egress');
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-awscli-'));
    cli = awsEc2({
      endpoint: t.endpoint,
      region: t.region,
      credentials: project.credentials,
      home,
    });
  });
  after(async () => {
    await t.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  const describeGroup = async (id: string) =>
    ((await cli.json('describe-security-groups', '--group-ids', id)) as { SecurityGroups: Group[] })
      .SecurityGroups[0] as Group;

  /** Runs a command that must fail with this EC2 error code. */
  const fails = async (code: string, ...args: string[]) => {
    const r = await cli.run(...args);
    assert.notEqual(r.code, 0, `aws ec2 ${args.join(' ')} was expected to fail`);
    assert.match(r.stderr, new RegExp(`\\(${code.replace('.', '\\.')}\\)`), r.stderr);
  };

  it('gives a new group and the default group the allow-all egress rule', async () => {
    const { GroupId } = (await cli.json(
      'create-security-group',
      '--group-name',
      'fresh',
      '--description',
      'fresh group',
    )) as { GroupId: string };
    assert.deepEqual(egress(await describeGroup(GroupId)), ['-1 - 0.0.0.0/0']);
    const all = (await cli.json('describe-security-groups')) as { SecurityGroups: Group[] };
    const byName = (await cli.json('describe-security-groups', '--group-names', 'default')) as {
      SecurityGroups: Group[];
    };
    assert.deepEqual(egress(byName.SecurityGroups[0] as Group), ['-1 - 0.0.0.0/0']);
    assert.equal(all.SecurityGroups.length, 2);
  });

  it('authorizes and revokes egress rules by permission and by rule id, all or none', async () => {
    const { GroupId: app } = (await cli.json(
      'create-security-group',
      '--group-name',
      'app',
      '--description',
      'app tier',
    )) as { GroupId: string };
    const { GroupId: db } = (await cli.json(
      'create-security-group',
      '--group-name',
      'db',
      '--description',
      'db tier',
    )) as { GroupId: string };

    const added = (await cli.json(
      'authorize-security-group-egress',
      '--group-id',
      app,
      '--ip-permissions',
      'IpProtocol=tcp,FromPort=443,ToPort=443,IpRanges=[{CidrIp=10.0.0.0/8}]',
      `IpProtocol=tcp,FromPort=5432,ToPort=5432,UserIdGroupPairs=[{GroupId=${db}}]`,
    )) as { Return: boolean; SecurityGroupRules: Rule[] };
    assert.equal(added.Return, true);
    assert.equal(added.SecurityGroupRules.length, 2);
    assert.ok(added.SecurityGroupRules.every((r) => r.IsEgress && r.GroupId === app));
    assert.deepEqual(egress(await describeGroup(app)), [
      '-1 - 0.0.0.0/0',
      'tcp 443-443 10.0.0.0/8',
      `tcp 5432-5432 ${db}`,
    ]);
    // Egress rules are not ingress rules.
    assert.deepEqual((await describeGroup(app)).IpPermissions, []);

    // A duplicate (here beside a new rule) adds nothing.
    await fails(
      'InvalidPermission.Duplicate',
      'authorize-security-group-egress',
      '--group-id',
      app,
      '--ip-permissions',
      'IpProtocol=udp,FromPort=53,ToPort=53,IpRanges=[{CidrIp=10.0.0.2/32}]',
      'IpProtocol=tcp,FromPort=443,ToPort=443,IpRanges=[{CidrIp=10.0.0.0/8}]',
    );
    assert.equal(egress(await describeGroup(app)).length, 3);
    await fails(
      'InvalidGroup.NotFound',
      'authorize-security-group-egress',
      '--group-id',
      'sg-0123456789abcdef0',
      '--ip-permissions',
      'IpProtocol=-1,IpRanges=[{CidrIp=10.0.0.0/8}]',
    );

    // Revoking the allow-all rule closes egress to everything but what the rules name.
    await cli.json(
      'revoke-security-group-egress',
      '--group-id',
      app,
      '--ip-permissions',
      'IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]',
    );
    assert.deepEqual(egress(await describeGroup(app)), [
      'tcp 443-443 10.0.0.0/8',
      `tcp 5432-5432 ${db}`,
    ]);
    await fails(
      'InvalidPermission.NotFound',
      'revoke-security-group-egress',
      '--group-id',
      app,
      '--ip-permissions',
      'IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]',
    );
    // An ingress rule of the same shape is not an egress rule.
    await cli.json(
      'authorize-security-group-ingress',
      '--group-id',
      app,
      '--ip-permissions',
      'IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=10.0.0.0/8}]',
    );
    await fails(
      'InvalidPermission.NotFound',
      'revoke-security-group-egress',
      '--group-id',
      app,
      '--ip-permissions',
      'IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=10.0.0.0/8}]',
    );

    // The egress filters and DescribeSecurityGroupRules.
    const filtered = (await cli.json(
      'describe-security-groups',
      '--filters',
      'Name=egress.ip-permission.to-port,Values=5432',
    )) as { SecurityGroups: Group[] };
    assert.deepEqual(
      filtered.SecurityGroups.map((g) => g.GroupId),
      [app],
    );
    const byDest = (await cli.json(
      'describe-security-groups',
      '--filters',
      `Name=egress.ip-permission.group-id,Values=${db}`,
    )) as { SecurityGroups: Group[] };
    assert.deepEqual(
      byDest.SecurityGroups.map((g) => g.GroupId),
      [app],
    );
    const rules = (
      (await cli.json(
        'describe-security-group-rules',
        '--filters',
        `Name=group-id,Values=${app}`,
      )) as { SecurityGroupRules: Rule[] }
    ).SecurityGroupRules;
    assert.deepEqual(
      rules.map((r) => `${r.IsEgress ? 'out' : 'in'} ${r.IpProtocol} ${r.FromPort}`).sort(),
      ['in tcp 22', 'out tcp 443', 'out tcp 5432'],
    );
    const toDb = rules.find((r) => r.ReferencedGroupInfo?.GroupId === db) as Rule;

    // By rule id.
    const revoked = (await cli.json(
      'revoke-security-group-egress',
      '--group-id',
      app,
      '--security-group-rule-ids',
      toDb.SecurityGroupRuleId,
    )) as { Return: boolean };
    assert.equal(revoked.Return, true);
    assert.deepEqual(egress(await describeGroup(app)), ['tcp 443-443 10.0.0.0/8']);
    // The db group is no longer referenced, so it can go.
    await cli.json('delete-security-group', '--group-id', db);
  });
});
