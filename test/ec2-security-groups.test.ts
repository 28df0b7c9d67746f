// Security groups through the real AWS SDK: the default group, create/describe/delete, ingress
// rules in both request forms, duplicates, revocation, group-to-group rules, groups in use by
// instances, tenancy, quotas and a table of bad inputs; then the domain service's data-plane
// surface (rule set per instance, change notifications).
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type EC2Client,
  type IpPermission,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { userContext } from '../src/context.js';
import { InstanceRepo } from '../src/db/index.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { needs } from './support/capabilities.js';
import { SecurityGroupService } from '../src/network/index.js';
import {
  rawEc2,
  startTestCloud,
  waitUntil,
  type Credentials,
  type TestCloud,
} from './support/ec2.js';
import { disconnected } from './support/expect.js';

interface Project {
  client: EC2Client;
  credentials: Credentials;
  projectId: string;
}

/** Runs `send` and returns the EC2 error it fails with (code and HTTP status). */
async function failure(send: () => Promise<unknown>): Promise<{ code: string; status: number }> {
  try {
    await send();
  } catch (err) {
    const e = err as { name: string; $metadata?: { httpStatusCode?: number } };
    return { code: e.name, status: e.$metadata?.httpStatusCode ?? 0 };
  }
  assert.fail('the request was expected to fail');
}

async function expectError(send: () => Promise<unknown>, code: string): Promise<void> {
  const e = await failure(send);
  assert.equal(e.code, code);
  assert.equal(e.status, 400);
}

async function group(client: EC2Client, groupId: string): Promise<SecurityGroup> {
  const r = await client.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
  assert.equal(r.SecurityGroups?.length, 1);
  return r.SecurityGroups?.[0] as SecurityGroup;
}

/** A group's ingress permissions in a stable, comparable shape. */
function permissions(g: SecurityGroup): string[] {
  return (g.IpPermissions ?? [])
    .flatMap((p: IpPermission) => [
      ...(p.IpRanges ?? []).map(
        (r) => `${p.IpProtocol} ${p.FromPort ?? ''}-${p.ToPort ?? ''} ${r.CidrIp}`,
      ),
      ...(p.UserIdGroupPairs ?? []).map(
        (u) => `${p.IpProtocol} ${p.FromPort ?? ''}-${p.ToPort ?? ''} ${u.GroupId}`,
      ),
    ])
    .sort();
}

async function create(client: EC2Client, name: string, description = `${name} group`) {
  const r = await client.send(
    new CreateSecurityGroupCommand({ GroupName: name, Description: description }),
  );
  assert.match(r.GroupId ?? '', /^sg-[0-9a-f]{17}$/);
  return r.GroupId as string;
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(`EC2 security groups on ${backend.name}`, needs(...backend.needs), () => {
    let t: TestCloud;
    let imageId: string;
    let database: { url: string; remove(): Promise<void> };

    before(async () => {
      database = await backend.create();
      t = await startTestCloud({
        database: database.url,
        'quota-security-groups': '3',
        'quota-security-group-rules': '4',
      });
      const image = await t.addImage({ name: 'sg-test-image' });
      imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
    });
    after(async () => {
      await t.stop();
      if (backend.name === 'postgres') await disconnected(database.url);
      await database.remove();
    });

    const project = (): Promise<Project> => t.newProject();

    it('gives a new project its default group, which cannot be deleted or recreated', async () => {
      const p = await project();
      const r = await p.client.send(new DescribeSecurityGroupsCommand({}));
      assert.equal(r.SecurityGroups?.length, 1);
      const g = r.SecurityGroups?.[0] as SecurityGroup;
      assert.equal(g.GroupName, 'default');
      assert.equal(g.OwnerId, p.projectId);
      assert.match(g.GroupId ?? '', /^sg-[0-9a-f]{17}$/);
      assert.ok(g.Description);
      assert.deepEqual(g.IpPermissions, []);
      assert.equal(g.IpPermissionsEgress?.[0]?.IpProtocol, '-1');
      assert.equal(g.IpPermissionsEgress?.[0]?.IpRanges?.[0]?.CidrIp, '0.0.0.0/0');
      // Asking again finds the same group, not a second one.
      const again = await p.client.send(
        new DescribeSecurityGroupsCommand({ GroupNames: ['default'] }),
      );
      assert.deepEqual(
        again.SecurityGroups?.map((x) => x.GroupId),
        [g.GroupId],
      );
      await expectError(
        () => p.client.send(new DeleteSecurityGroupCommand({ GroupName: 'default' })),
        'CannotDelete',
      );
      await expectError(
        () => p.client.send(new DeleteSecurityGroupCommand({ GroupId: g.GroupId })),
        'CannotDelete',
      );
      await expectError(() => create(p.client, 'default'), 'InvalidGroup.Reserved');
      // Its rules can be changed like any group's.
      await p.client.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupName: 'default',
          IpProtocol: 'tcp',
          FromPort: 22,
          ToPort: 22,
          CidrIp: '10.0.0.0/8',
        }),
      );
      assert.deepEqual(permissions(await group(p.client, g.GroupId as string)), [
        'tcp 22-22 10.0.0.0/8',
      ]);
    });

    it("keeps each rule's description and shows it; refuses one outside EC2's characters", async () => {
      const p = await project();
      const web = await create(p.client, 'described');
      const source = await create(p.client, 'described-source');
      await p.client.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: web,
          IpPermissions: [
            {
              IpProtocol: 'tcp',
              FromPort: 22,
              ToPort: 22,
              IpRanges: [
                { CidrIp: '10.0.0.0/8', Description: 'ssh from the office (VPN)' },
                { CidrIp: '192.0.2.0/24' },
              ],
              UserIdGroupPairs: [{ GroupId: source, Description: 'bastion hosts' }],
            },
          ],
        }),
      );
      const g = await group(p.client, web);
      const perm = g.IpPermissions?.[0];
      assert.deepEqual(
        perm?.IpRanges?.map((r) => [r.CidrIp, r.Description]),
        [
          ['10.0.0.0/8', 'ssh from the office (VPN)'],
          ['192.0.2.0/24', undefined],
        ],
      );
      assert.deepEqual(
        perm?.UserIdGroupPairs?.map((u) => [u.GroupId, u.Description]),
        [[source, 'bastion hosts']],
      );
      // A rule that differs only in its description is the same rule.
      await expectError(
        () =>
          p.client.send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: web,
              IpPermissions: [
                {
                  IpProtocol: 'tcp',
                  FromPort: 22,
                  ToPort: 22,
                  IpRanges: [{ CidrIp: '10.0.0.0/8', Description: 'another word' }],
                },
              ],
            }),
          ),
        'InvalidPermission.Duplicate',
      );
      // EC2 allows a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$* in a description, up to 255.
      for (const bad of ['caf\u00e9', 'x'.repeat(256), 'a\u0007b']) {
        await expectError(
          () =>
            p.client.send(
              new AuthorizeSecurityGroupIngressCommand({
                GroupId: web,
                IpPermissions: [
                  {
                    IpProtocol: 'udp',
                    FromPort: 53,
                    ToPort: 53,
                    IpRanges: [{ CidrIp: '10.0.0.0/8', Description: bad }],
                  },
                ],
              }),
            ),
          'InvalidParameterValue',
        );
      }
      assert.deepEqual(permissions(await group(p.client, web)), [
        'tcp 22-22 10.0.0.0/8',
        'tcp 22-22 192.0.2.0/24',
        `tcp 22-22 ${source}`,
      ]);
    });

    it('creates, describes (by id, name and filters) and deletes groups', async () => {
      const p = await project();
      const r = await p.client.send(
        new CreateSecurityGroupCommand({
          GroupName: 'web servers',
          Description: 'HTTP(S) front ends: port 80/443',
          TagSpecifications: [
            { ResourceType: 'security-group', Tags: [{ Key: 'tier', Value: 'front' }] },
          ],
        }),
      );
      const web = r.GroupId as string;
      assert.deepEqual(r.Tags, [{ Key: 'tier', Value: 'front' }]);
      const db = await create(p.client, 'db');

      const g = await group(p.client, web);
      assert.equal(g.GroupName, 'web servers');
      assert.equal(g.Description, 'HTTP(S) front ends: port 80/443');
      assert.equal(g.OwnerId, p.projectId);
      assert.deepEqual(g.Tags, [{ Key: 'tier', Value: 'front' }]);

      const all = await p.client.send(new DescribeSecurityGroupsCommand({}));
      assert.deepEqual(all.SecurityGroups?.map((x) => x.GroupName).sort(), [
        'db',
        'default',
        'web servers',
      ]);
      const byName = await p.client.send(
        new DescribeSecurityGroupsCommand({ GroupNames: ['db', 'web servers'] }),
      );
      assert.deepEqual(byName.SecurityGroups?.map((x) => x.GroupId).sort(), [db, web].sort());

      const filtered = async (Name: string, Values: string[]) =>
        (
          await p.client.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name, Values }] }))
        ).SecurityGroups?.map((x) => x.GroupName) ?? [];
      assert.deepEqual(await filtered('group-name', ['web*']), ['web servers']);
      assert.deepEqual(await filtered('group-id', [db]), ['db']);
      assert.deepEqual(await filtered('description', ['*443']), ['web servers']);
      assert.deepEqual(await filtered('tag:tier', ['front']), ['web servers']);
      assert.deepEqual(await filtered('tag-key', ['tier']), ['web servers']);
      assert.equal((await filtered('owner-id', [p.projectId])).length, 3);
      await expectError(() => filtered('no-such-filter', ['x']), 'InvalidParameterValue');

      await expectError(() => create(p.client, 'db', 'again'), 'InvalidGroup.Duplicate');

      const deleted = await p.client.send(new DeleteSecurityGroupCommand({ GroupName: 'db' }));
      assert.equal(deleted.Return, true);
      assert.equal(deleted.GroupId, db);
      await p.client.send(new DeleteSecurityGroupCommand({ GroupId: web }));
      await expectError(() => group(p.client, web), 'InvalidGroup.NotFound');
      await expectError(
        () => p.client.send(new DescribeSecurityGroupsCommand({ GroupNames: ['db'] })),
        'InvalidGroup.NotFound',
      );
      await expectError(
        () => p.client.send(new DeleteSecurityGroupCommand({ GroupId: web })),
        'InvalidGroup.NotFound',
      );
      const left = await p.client.send(new DescribeSecurityGroupsCommand({}));
      assert.deepEqual(
        left.SecurityGroups?.map((x) => x.GroupName),
        ['default'],
      );
      // The name is free again.
      await create(p.client, 'db');
    });

    it('authorizes rules in the IpPermissions form and the flat form, and describes them', async () => {
      const p = await project();
      const web = await create(p.client, 'web');
      const added = await p.client.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: web,
          IpPermissions: [
            {
              IpProtocol: 'tcp',
              FromPort: 22,
              ToPort: 22,
              IpRanges: [{ CidrIp: '10.0.0.0/8' }, { CidrIp: '192.168.0.0/16' }],
            },
            { IpProtocol: 'icmp', FromPort: -1, ToPort: -1, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
          ],
        }),
      );
      assert.equal(added.Return, true);
      assert.equal(added.SecurityGroupRules?.length, 3);
      for (const rule of added.SecurityGroupRules ?? []) {
        assert.match(rule.SecurityGroupRuleId ?? '', /^sgr-[0-9a-f]{17}$/);
        assert.equal(rule.GroupId, web);
        assert.equal(rule.GroupOwnerId, p.projectId);
        assert.equal(rule.IsEgress, false);
      }
      assert.deepEqual(
        added.SecurityGroupRules?.map(
          (r) => `${r.IpProtocol} ${r.FromPort}-${r.ToPort} ${r.CidrIpv4}`,
        ),
        ['tcp 22-22 10.0.0.0/8', 'tcp 22-22 192.168.0.0/16', 'icmp -1--1 0.0.0.0/0'],
      );

      // The older flat form, by group name, with a protocol number.
      const flat = await p.client.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupName: 'web',
          IpProtocol: '17',
          FromPort: 53,
          ToPort: 53,
          CidrIp: '172.16.0.0/12',
        }),
      );
      assert.equal(flat.Return, true);
      assert.equal(flat.SecurityGroupRules?.[0]?.IpProtocol, 'udp');

      const g = await group(p.client, web);
      assert.deepEqual(permissions(g), [
        'icmp -1--1 0.0.0.0/0',
        'tcp 22-22 10.0.0.0/8',
        'tcp 22-22 192.168.0.0/16',
        'udp 53-53 172.16.0.0/12',
      ]);
      // Both ranges of one port range come back as one permission, as EC2 shows them.
      const ssh = g.IpPermissions?.find((x) => x.IpProtocol === 'tcp');
      assert.equal(ssh?.IpRanges?.length, 2);
      assert.equal(g.IpPermissions?.length, 3);

      const filtered = async (Name: string, Values: string[]) =>
        (
          await p.client.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name, Values }] }))
        ).SecurityGroups?.map((x) => x.GroupName) ?? [];
      assert.deepEqual(await filtered('ip-permission.from-port', ['22']), ['web']);
      assert.deepEqual(await filtered('ip-permission.to-port', ['53']), ['web']);
      assert.deepEqual(await filtered('ip-permission.protocol', ['udp']), ['web']);
      assert.deepEqual(await filtered('ip-permission.cidr', ['192.168.*']), ['web']);
      assert.deepEqual(await filtered('ip-permission.from-port', ['8080']), []);

      // An all-protocols rule shows no ports.
      const other = await create(p.client, 'all-open');
      await p.client.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: other,
          IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '10.1.0.0/16' }] }],
        }),
      );
      const open = await group(p.client, other);
      assert.equal(open.IpPermissions?.[0]?.IpProtocol, '-1');
      assert.equal(open.IpPermissions?.[0]?.FromPort, undefined);
      assert.equal(open.IpPermissions?.[0]?.ToPort, undefined);
    });

    it('refuses duplicate rules, also within one request, and adds nothing then', async () => {
      const p = await project();
      const g = await create(p.client, 'dup');
      const ssh = { IpProtocol: 'tcp', FromPort: 22, ToPort: 22 };
      await p.client.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: g,
          IpPermissions: [{ ...ssh, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }],
        }),
      );
      await expectError(
        () =>
          p.client.send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: g,
              IpPermissions: [
                {
                  IpProtocol: '6',
                  FromPort: 22,
                  ToPort: 22,
                  IpRanges: [{ CidrIp: '10.0.0.0/8' }],
                },
              ],
            }),
          ),
        'InvalidPermission.Duplicate',
      );
      await expectError(
        () =>
          p.client.send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: g,
              IpPermissions: [
                { ...ssh, IpRanges: [{ CidrIp: '192.168.0.0/16' }, { CidrIp: '192.168.0.0/16' }] },
              ],
            }),
          ),
        'InvalidPermission.Duplicate',
      );
      // A new rule alongside an existing one: neither is added.
      await expectError(
        () =>
          p.client.send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: g,
              IpPermissions: [
                { ...ssh, IpRanges: [{ CidrIp: '172.16.0.0/12' }, { CidrIp: '10.0.0.0/8' }] },
              ],
            }),
          ),
        'InvalidPermission.Duplicate',
      );
      assert.deepEqual(permissions(await group(p.client, g)), ['tcp 22-22 10.0.0.0/8']);
    });

    it('revokes rules in both forms, and refuses to revoke a rule the group lacks', async () => {
      const p = await project();
      const g = await create(p.client, 'rev');
      await p.client.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: g,
          IpPermissions: [
            {
              IpProtocol: 'tcp',
              FromPort: 80,
              ToPort: 80,
              IpRanges: [{ CidrIp: '0.0.0.0/0' }, { CidrIp: '10.0.0.0/8' }],
            },
            {
              IpProtocol: 'udp',
              FromPort: 1000,
              ToPort: 2000,
              IpRanges: [{ CidrIp: '10.0.0.0/8' }],
            },
          ],
        }),
      );
      const flat = await p.client.send(
        new RevokeSecurityGroupIngressCommand({
          GroupName: 'rev',
          IpProtocol: 'tcp',
          FromPort: 80,
          ToPort: 80,
          CidrIp: '0.0.0.0/0',
        }),
      );
      assert.equal(flat.Return, true);
      assert.deepEqual(permissions(await group(p.client, g)), [
        'tcp 80-80 10.0.0.0/8',
        'udp 1000-2000 10.0.0.0/8',
      ]);

      // One rule that exists and one that does not: nothing is revoked.
      await expectError(
        () =>
          p.client.send(
            new RevokeSecurityGroupIngressCommand({
              GroupId: g,
              IpPermissions: [
                {
                  IpProtocol: 'tcp',
                  FromPort: 80,
                  ToPort: 80,
                  IpRanges: [{ CidrIp: '10.0.0.0/8' }],
                },
                {
                  IpProtocol: 'tcp',
                  FromPort: 81,
                  ToPort: 81,
                  IpRanges: [{ CidrIp: '10.0.0.0/8' }],
                },
              ],
            }),
          ),
        'InvalidPermission.NotFound',
      );
      assert.equal(permissions(await group(p.client, g)).length, 2);

      const structured = await p.client.send(
        new RevokeSecurityGroupIngressCommand({
          GroupId: g,
          IpPermissions: [
            { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
            {
              IpProtocol: 'udp',
              FromPort: 1000,
              ToPort: 2000,
              IpRanges: [{ CidrIp: '10.0.0.0/8' }],
            },
          ],
        }),
      );
      assert.equal(structured.Return, true);
      assert.deepEqual(permissions(await group(p.client, g)), []);
      await expectError(
        () =>
          p.client.send(
            new RevokeSecurityGroupIngressCommand({
              GroupId: g,
              IpProtocol: 'tcp',
              FromPort: 80,
              ToPort: 80,
              CidrIp: '10.0.0.0/8',
            }),
          ),
        'InvalidPermission.NotFound',
      );

      // A rule can also be revoked by the id Authorize returned.
      const added = await p.client.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: g,
          IpPermissions: [
            { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
          ],
        }),
      );
      const ruleId = added.SecurityGroupRules?.[0]?.SecurityGroupRuleId as string;
      const byId = await p.client.send(
        new RevokeSecurityGroupIngressCommand({ GroupId: g, SecurityGroupRuleIds: [ruleId] }),
      );
      assert.equal(byId.RevokedSecurityGroupRules?.[0]?.SecurityGroupRuleId, ruleId);
      assert.deepEqual(permissions(await group(p.client, g)), []);
    });

    it('allows traffic from another group of the project, and keeps referenced groups', async () => {
      const p = await project();
      const app = await create(p.client, 'app');
      const db = await create(p.client, 'db');
      await p.client.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: db,
          IpPermissions: [
            {
              IpProtocol: 'tcp',
              FromPort: 5432,
              ToPort: 5432,
              UserIdGroupPairs: [{ GroupId: app }],
            },
          ],
        }),
      );
      // The flat form with only a source group grants all of ICMP, TCP and UDP from it.
      const flat = await p.client.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupName: 'db',
          SourceSecurityGroupName: 'app',
          SourceSecurityGroupOwnerId: p.projectId,
        }),
      );
      assert.equal(flat.SecurityGroupRules?.length, 3);
      for (const rule of flat.SecurityGroupRules ?? []) {
        assert.equal(rule.ReferencedGroupInfo?.GroupId, app);
        assert.equal(rule.ReferencedGroupInfo?.UserId, p.projectId);
      }

      const g = await group(p.client, db);
      assert.deepEqual(permissions(g), [
        `icmp -1--1 ${app}`,
        `tcp 0-65535 ${app}`,
        `tcp 5432-5432 ${app}`,
        `udp 0-65535 ${app}`,
      ]);
      const pair = g.IpPermissions?.find((x) => x.FromPort === 5432)?.UserIdGroupPairs?.[0];
      assert.deepEqual(
        { GroupId: pair?.GroupId, GroupName: pair?.GroupName, UserId: pair?.UserId },
        { GroupId: app, GroupName: 'app', UserId: p.projectId },
      );
      const referencing = await p.client.send(
        new DescribeSecurityGroupsCommand({
          Filters: [{ Name: 'ip-permission.group-id', Values: [app] }],
        }),
      );
      assert.deepEqual(
        referencing.SecurityGroups?.map((x) => x.GroupName),
        ['db'],
      );

      // A group another group's rules name cannot go.
      await expectError(
        () => p.client.send(new DeleteSecurityGroupCommand({ GroupId: app })),
        'DependencyViolation',
      );

      // The source must be a group of this project.
      const other = await project();
      const foreign = await create(other.client, 'foreign');
      await expectError(
        () =>
          p.client.send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: app,
              IpPermissions: [
                {
                  IpProtocol: 'tcp',
                  FromPort: 1,
                  ToPort: 1,
                  UserIdGroupPairs: [{ GroupId: foreign }],
                },
              ],
            }),
          ),
        'InvalidGroup.NotFound',
      );
      await expectError(
        () =>
          p.client.send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: app,
              SourceSecurityGroupName: 'foreign',
              SourceSecurityGroupOwnerId: other.projectId,
            }),
          ),
        'InvalidGroup.NotFound',
      );
      await expectError(
        () =>
          p.client.send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: app,
              IpPermissions: [
                {
                  IpProtocol: 'tcp',
                  FromPort: 1,
                  ToPort: 1,
                  UserIdGroupPairs: [{ GroupName: 'no-such-group' }],
                },
              ],
            }),
          ),
        'InvalidGroup.NotFound',
      );

      // Once nothing names it, it can go; a rule naming the group itself does not hold it.
      await p.client.send(
        new RevokeSecurityGroupIngressCommand({
          GroupId: db,
          IpPermissions: [
            {
              IpProtocol: 'tcp',
              FromPort: 5432,
              ToPort: 5432,
              UserIdGroupPairs: [{ GroupName: 'app' }],
            },
          ],
        }),
      );
      await p.client.send(
        new RevokeSecurityGroupIngressCommand({ GroupId: db, SourceSecurityGroupName: 'app' }),
      );
      assert.deepEqual(permissions(await group(p.client, db)), []);
      await p.client.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: app,
          IpPermissions: [{ IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: app }] }],
        }),
      );
      await p.client.send(new DeleteSecurityGroupCommand({ GroupId: app }));
      await expectError(() => group(p.client, app), 'InvalidGroup.NotFound');
    });

    it('keeps a group while a live instance uses it, and lets it go once terminated', async () => {
      const p = await project();
      const g = await create(p.client, 'in-use');
      const run = await p.client.send(
        new RunInstancesCommand({
          ImageId: imageId,
          InstanceType: 'm1.nano' as _InstanceType,
          MinCount: 1,
          MaxCount: 1,
          SecurityGroupIds: [g],
        }),
      );
      const instanceId = run.Instances?.[0]?.InstanceId as string;
      assert.deepEqual(
        run.Instances?.[0]?.SecurityGroups?.map((x) => x.GroupId),
        [g],
      );
      await expectError(
        () => p.client.send(new DeleteSecurityGroupCommand({ GroupId: g })),
        'DependencyViolation',
      );
      await expectError(
        () => p.client.send(new DeleteSecurityGroupCommand({ GroupName: 'in-use' })),
        'DependencyViolation',
      );
      const state = async () =>
        (await p.client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })))
          .Reservations?.[0]?.Instances?.[0]?.State?.Name;
      await waitUntil(async () => (await state()) === 'running', 10_000, 'the instance to run');
      // Still held while running.
      await expectError(
        () => p.client.send(new DeleteSecurityGroupCommand({ GroupId: g })),
        'DependencyViolation',
      );
      await p.client.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
      await waitUntil(
        async () => (await state()) === 'terminated',
        10_000,
        'the instance to terminate',
      );
      const deleted = await p.client.send(new DeleteSecurityGroupCommand({ GroupId: g }));
      assert.equal(deleted.Return, true);
      await expectError(() => group(p.client, g), 'InvalidGroup.NotFound');
    });

    it('keeps projects apart; the admin sees every project on describe only', async () => {
      const a = await project();
      const b = await project();
      const ga = await create(a.client, 'private');
      await a.client.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: ga,
          IpProtocol: 'tcp',
          FromPort: 22,
          ToPort: 22,
          CidrIp: '10.0.0.0/8',
        }),
      );

      const seenByB = await b.client.send(new DescribeSecurityGroupsCommand({}));
      assert.ok(seenByB.SecurityGroups?.every((x) => x.OwnerId === b.projectId));
      assert.ok(!seenByB.SecurityGroups?.some((x) => x.GroupId === ga));
      await expectError(() => group(b.client, ga), 'InvalidGroup.NotFound');
      await expectError(
        () => b.client.send(new DescribeSecurityGroupsCommand({ GroupNames: ['private'] })),
        'InvalidGroup.NotFound',
      );
      await expectError(
        () => b.client.send(new DeleteSecurityGroupCommand({ GroupId: ga })),
        'InvalidGroup.NotFound',
      );
      await expectError(
        () => b.client.send(new DeleteSecurityGroupCommand({ GroupName: 'private' })),
        'InvalidGroup.NotFound',
      );
      await expectError(
        () =>
          b.client.send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: ga,
              IpProtocol: 'tcp',
              FromPort: 80,
              ToPort: 80,
              CidrIp: '0.0.0.0/0',
            }),
          ),
        'InvalidGroup.NotFound',
      );
      await expectError(
        () =>
          b.client.send(
            new RevokeSecurityGroupIngressCommand({
              GroupId: ga,
              IpProtocol: 'tcp',
              FromPort: 22,
              ToPort: 22,
              CidrIp: '10.0.0.0/8',
            }),
          ),
        'InvalidGroup.NotFound',
      );
      // B's own group of the same name is B's; A's is untouched.
      await create(b.client, 'private');
      assert.deepEqual(permissions(await group(a.client, ga)), ['tcp 22-22 10.0.0.0/8']);

      // The admin sees every project's groups, with their owners, but acts only on its own.
      const seenByAdmin = await t.admin.send(new DescribeSecurityGroupsCommand({}));
      const owners = new Set(seenByAdmin.SecurityGroups?.map((x) => x.OwnerId));
      assert.ok(owners.has(a.projectId) && owners.has(b.projectId));
      assert.ok(owners.has(t.cloud.admin?.project.id));
      assert.equal((await group(t.admin, ga)).OwnerId, a.projectId);
      const adminFiltered = await t.admin.send(
        new DescribeSecurityGroupsCommand({
          Filters: [{ Name: 'owner-id', Values: [a.projectId] }],
        }),
      );
      assert.deepEqual(adminFiltered.SecurityGroups?.map((x) => x.GroupName).sort(), [
        'default',
        'private',
      ]);
      await expectError(
        () => t.admin.send(new DeleteSecurityGroupCommand({ GroupId: ga })),
        'InvalidGroup.NotFound',
      );
      await expectError(
        () =>
          t.admin.send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: ga,
              IpProtocol: 'tcp',
              FromPort: 80,
              ToPort: 80,
              CidrIp: '0.0.0.0/0',
            }),
          ),
        'InvalidGroup.NotFound',
      );

      // The admin pages through every project's groups.
      const seen: string[] = [];
      let token: string | undefined;
      do {
        const r = await t.admin.send(
          new DescribeSecurityGroupsCommand({ MaxResults: 5, NextToken: token }),
        );
        assert.ok((r.SecurityGroups?.length ?? 0) <= 5);
        seen.push(...(r.SecurityGroups ?? []).map((x) => x.GroupId as string));
        token = r.NextToken;
      } while (token);
      const everything = await t.admin.send(new DescribeSecurityGroupsCommand({}));
      assert.deepEqual(
        seen,
        everything.SecurityGroups?.map((x) => x.GroupId),
      );
      assert.ok(seen.length > 5, `${seen.length} groups`);
      await a.client.send(new DeleteSecurityGroupCommand({ GroupId: ga }));
    });

    it('enforces the group quota (default included) and the rules-per-group quota', async () => {
      const p = await project();
      const one = await create(p.client, 'one');
      await create(p.client, 'two');
      await expectError(() => create(p.client, 'three'), 'SecurityGroupLimitExceeded');
      await p.client.send(new DeleteSecurityGroupCommand({ GroupName: 'two' }));
      await create(p.client, 'three');

      const rule = (port: number) => ({
        IpProtocol: 'tcp',
        FromPort: port,
        ToPort: port,
        IpRanges: [{ CidrIp: '10.0.0.0/8' }],
      });
      // Five rules at once are too many; none is added.
      await expectError(
        () =>
          p.client.send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: one,
              IpPermissions: [1, 2, 3, 4, 5].map(rule),
            }),
          ),
        'RulesPerSecurityGroupLimitExceeded',
      );
      assert.deepEqual(permissions(await group(p.client, one)), []);
      await p.client.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: one,
          IpPermissions: [1, 2, 3].map(rule),
        }),
      );
      await p.client.send(
        new AuthorizeSecurityGroupIngressCommand({ GroupId: one, IpPermissions: [rule(4)] }),
      );
      await expectError(
        () =>
          p.client.send(
            new AuthorizeSecurityGroupIngressCommand({ GroupId: one, IpPermissions: [rule(5)] }),
          ),
        'RulesPerSecurityGroupLimitExceeded',
      );
      // Revoking one makes room again; the quota is per group.
      await p.client.send(
        new RevokeSecurityGroupIngressCommand({ GroupId: one, IpPermissions: [rule(1)] }),
      );
      await p.client.send(
        new AuthorizeSecurityGroupIngressCommand({ GroupId: one, IpPermissions: [rule(5)] }),
      );
      await p.client.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupName: 'three',
          IpPermissions: [1, 2, 3, 4].map(rule),
        }),
      );
    });

    it('counts concurrent requests one at a time against the quotas', async () => {
      const p = await project();
      const created = await Promise.allSettled(
        [1, 2, 3, 4, 5, 6].map((i) => create(p.client, `race-${i}`)),
      );
      assert.equal(created.filter((r) => r.status === 'fulfilled').length, 2);
      for (const r of created) {
        if (r.status === 'rejected')
          assert.equal((r.reason as Error).name, 'SecurityGroupLimitExceeded');
      }
      const g = (created.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<string>)
        .value;
      const rules = await Promise.allSettled(
        [1, 2, 3, 4, 5, 6, 7, 8].map((port) =>
          p.client.send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: g,
              IpProtocol: 'tcp',
              FromPort: port,
              ToPort: port,
              CidrIp: '10.0.0.0/8',
            }),
          ),
        ),
      );
      assert.equal(rules.filter((r) => r.status === 'fulfilled').length, 4);
      assert.equal(permissions(await group(p.client, g)).length, 4);
      // The same new rule from several requests at once is added once.
      const other = created.filter(
        (r) => r.status === 'fulfilled',
      )[1] as PromiseFulfilledResult<string>;
      const same = await Promise.allSettled(
        [1, 2, 3, 4].map(() =>
          p.client.send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: other.value,
              IpProtocol: 'udp',
              FromPort: 53,
              ToPort: 53,
              CidrIp: '10.0.0.0/8',
            }),
          ),
        ),
      );
      assert.equal(same.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of same) {
        if (r.status === 'rejected')
          assert.equal((r.reason as Error).name, 'InvalidPermission.Duplicate');
      }
    });

    it('refuses bad input with the EC2 error code and a 4xx status', async () => {
      const p = await project();
      const mine = await create(p.client, 'target');
      const other = await project();
      const theirs = await create(other.client, 'theirs');
      const raw = (params: Record<string, string>) =>
        rawEc2(t.endpoint, t.region, p.credentials, { Version: '2016-11-15', ...params });
      const authorize = (extra: Record<string, string>) =>
        raw({ Action: 'AuthorizeSecurityGroupIngress', GroupId: mine, ...extra });
      const perm = (extra: Record<string, string>) =>
        authorize(
          Object.fromEntries(
            Object.entries({
              IpProtocol: 'tcp',
              FromPort: '22',
              ToPort: '22',
              'IpRanges.1.CidrIp': '10.0.0.0/8',
              ...extra,
            })
              .filter(([, v]) => v !== '')
              .map(([k, v]) => [`IpPermissions.1.${k}`, v]),
          ),
        );
      const long = 'x'.repeat(256);
      const cases: [string, () => ReturnType<typeof raw>, string][] = [
        [
          'CreateSecurityGroup without GroupName',
          () => raw({ Action: 'CreateSecurityGroup', GroupDescription: 'd' }),
          'MissingParameter',
        ],
        [
          'CreateSecurityGroup without GroupDescription',
          () => raw({ Action: 'CreateSecurityGroup', GroupName: 'n' }),
          'MissingParameter',
        ],
        [
          'a group name of 256 characters',
          () => raw({ Action: 'CreateSecurityGroup', GroupName: long, GroupDescription: 'd' }),
          'InvalidParameterValue',
        ],
        [
          'a group name with characters EC2 refuses',
          () =>
            raw({ Action: 'CreateSecurityGroup', GroupName: 'caf\u00e9', GroupDescription: 'd' }),
          'InvalidParameterValue',
        ],
        [
          'a group name shaped like a group id',
          () => raw({ Action: 'CreateSecurityGroup', GroupName: 'sg-123', GroupDescription: 'd' }),
          'InvalidParameterValue',
        ],
        [
          'a description of 256 characters',
          () => raw({ Action: 'CreateSecurityGroup', GroupName: 'n2', GroupDescription: long }),
          'InvalidParameterValue',
        ],
        [
          'a tag specification for another resource type',
          () =>
            raw({
              Action: 'CreateSecurityGroup',
              GroupName: 'n3',
              GroupDescription: 'd',
              'TagSpecification.1.ResourceType': 'instance',
              'TagSpecification.1.Tag.1.Key': 'k',
            }),
          'InvalidParameterValue',
        ],
        [
          'a CIDR with a /33 prefix',
          () => perm({ 'IpRanges.1.CidrIp': '10.0.0.1/33' }),
          'InvalidParameterValue',
        ],
        [
          'a CIDR with host bits set',
          () => perm({ 'IpRanges.1.CidrIp': '10.0.0.1/24' }),
          'InvalidParameterValue',
        ],
        [
          'a CIDR that is no address',
          () => perm({ 'IpRanges.1.CidrIp': 'example.com/8' }),
          'InvalidParameterValue',
        ],
        [
          'a flat-form CIDR with host bits set',
          () =>
            authorize({ IpProtocol: 'tcp', FromPort: '1', ToPort: '1', CidrIp: '192.168.1.1/16' }),
          'InvalidParameterValue',
        ],
        [
          'FromPort 70000',
          () => perm({ FromPort: '70000', ToPort: '70000' }),
          'InvalidParameterValue',
        ],
        ['ToPort 65536', () => perm({ FromPort: '1', ToPort: '65536' }), 'InvalidParameterValue'],
        [
          'a negative TCP port',
          () => perm({ FromPort: '-1', ToPort: '22' }),
          'InvalidParameterValue',
        ],
        [
          'FromPort above ToPort',
          () => perm({ FromPort: '100', ToPort: '80' }),
          'InvalidParameterValue',
        ],
        [
          'a TCP rule without ports',
          () => perm({ FromPort: '', ToPort: '' }),
          'InvalidParameterValue',
        ],
        ['FromPort that is no number', () => perm({ FromPort: 'abc' }), 'InvalidParameterValue'],
        ['protocol bogus', () => perm({ IpProtocol: 'bogus' }), 'InvalidParameterValue'],
        [
          'protocol 256 (no such IP protocol)',
          () => perm({ IpProtocol: '256' }),
          'InvalidParameterValue',
        ],
        [
          'ICMP type 256',
          () => perm({ IpProtocol: 'icmp', FromPort: '256', ToPort: '-1' }),
          'InvalidParameterValue',
        ],
        [
          'an ICMP code with every type',
          () => perm({ IpProtocol: 'icmp', FromPort: '-1', ToPort: '3' }),
          'InvalidParameterValue',
        ],
        ['an IPv6 range', () => perm({ 'Ipv6Ranges.1.CidrIpv6': '::/0' }), 'InvalidParameterValue'],
        [
          'a permission without any source',
          () => perm({ 'IpRanges.1.CidrIp': '' }),
          'MissingParameter',
        ],
        [
          'Authorize without a group',
          () =>
            raw({
              Action: 'AuthorizeSecurityGroupIngress',
              IpProtocol: 'tcp',
              FromPort: '1',
              ToPort: '1',
              CidrIp: '10.0.0.0/8',
            }),
          'MissingParameter',
        ],
        ['Authorize without permissions', () => authorize({}), 'MissingParameter'],
        [
          'Revoke without permissions',
          () => raw({ Action: 'RevokeSecurityGroupIngress', GroupId: mine }),
          'MissingParameter',
        ],
        [
          'a malformed rule id',
          () =>
            raw({
              Action: 'RevokeSecurityGroupIngress',
              GroupId: mine,
              'SecurityGroupRuleId.1': 'sgr-zzz',
            }),
          'InvalidSecurityGroupRuleId.Malformed',
        ],
        [
          'DeleteSecurityGroup without a group',
          () => raw({ Action: 'DeleteSecurityGroup' }),
          'MissingParameter',
        ],
        [
          'malformed GroupId sg-xyz',
          () => raw({ Action: 'DeleteSecurityGroup', GroupId: 'sg-xyz' }),
          'InvalidGroupId.Malformed',
        ],
        [
          'a GroupId of another kind',
          () => raw({ Action: 'DeleteSecurityGroup', GroupId: 'i-0123456789abcdef0' }),
          'InvalidGroupId.Malformed',
        ],
        [
          'malformed GroupId on Authorize',
          () => authorize({ GroupId: 'sg-xyz', IpProtocol: '-1', CidrIp: '10.0.0.0/8' }),
          'InvalidGroupId.Malformed',
        ],
        [
          'malformed GroupId on Describe',
          () => raw({ Action: 'DescribeSecurityGroups', 'GroupId.1': 'sg-xyz' }),
          'InvalidGroupId.Malformed',
        ],
        [
          'unknown GroupId on Delete',
          () => raw({ Action: 'DeleteSecurityGroup', GroupId: 'sg-0123456789abcdef0' }),
          'InvalidGroup.NotFound',
        ],
        [
          'unknown GroupId on Describe',
          () => raw({ Action: 'DescribeSecurityGroups', 'GroupId.1': 'sg-0123456789abcdef0' }),
          'InvalidGroup.NotFound',
        ],
        [
          'unknown GroupId on Authorize',
          () =>
            authorize({
              GroupId: 'sg-0123456789abcdef0',
              IpProtocol: 'tcp',
              FromPort: '1',
              ToPort: '1',
              CidrIp: '10.0.0.0/8',
            }),
          'InvalidGroup.NotFound',
        ],
        [
          'unknown GroupName on Revoke',
          () =>
            raw({
              Action: 'RevokeSecurityGroupIngress',
              GroupName: 'nope',
              IpProtocol: 'tcp',
              FromPort: '1',
              ToPort: '1',
              CidrIp: '10.0.0.0/8',
            }),
          'InvalidGroup.NotFound',
        ],
        [
          "another project's group on Describe",
          () => raw({ Action: 'DescribeSecurityGroups', 'GroupId.1': theirs }),
          'InvalidGroup.NotFound',
        ],
        [
          "another project's group on Delete",
          () => raw({ Action: 'DeleteSecurityGroup', GroupId: theirs }),
          'InvalidGroup.NotFound',
        ],
        [
          "another project's group on Revoke",
          () =>
            raw({
              Action: 'RevokeSecurityGroupIngress',
              GroupId: theirs,
              IpProtocol: '-1',
              CidrIp: '10.0.0.0/8',
            }),
          'InvalidGroup.NotFound',
        ],
        [
          'MaxResults with GroupIds',
          () => raw({ Action: 'DescribeSecurityGroups', 'GroupId.1': mine, MaxResults: '5' }),
          'InvalidParameterCombination',
        ],
        [
          'MaxResults below 5',
          () => raw({ Action: 'DescribeSecurityGroups', MaxResults: '4' }),
          'InvalidParameterValue',
        ],
        [
          'a NextToken that was never given',
          () => raw({ Action: 'DescribeSecurityGroups', NextToken: 'garbage!' }),
          'InvalidParameterValue',
        ],
        [
          'an unknown filter',
          () =>
            raw({
              Action: 'DescribeSecurityGroups',
              'Filter.1.Name': 'nope',
              'Filter.1.Value.1': 'x',
            }),
          'InvalidParameterValue',
        ],
      ];
      for (const [what, send, code] of cases) {
        const r = await send();
        assert.equal(r.code, code, `${what}: ${r.body}`);
        assert.ok(r.status >= 400 && r.status < 500, `${what}: status ${r.status}`);
      }
      // None of the refused requests left anything behind.
      assert.deepEqual(permissions(await group(p.client, mine)), []);
      const names = (
        await p.client.send(new DescribeSecurityGroupsCommand({}))
      ).SecurityGroups?.map((x) => x.GroupName);
      assert.deepEqual(names?.sort(), ['default', 'target']);
    });
  });
}

describe('security group rules for the data plane', () => {
  let t: TestCloud;
  let imageId: string;

  before(async () => {
    t = await startTestCloud();
    const image = await t.addImage({ name: 'sg-plane-image' });
    imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
  });
  after(() => t.stop());

  it('reports changed groups and resolves group sources to member addresses', async () => {
    const p = await t.newProject();
    const db = t.cloud.database.db;
    const changed: string[][] = [];
    const service = new SecurityGroupService({
      db,
      quota: t.cloud.config.quota,
      onRulesChanged: (ids) => {
        changed.push([...ids]);
      },
    });
    const ctx = userContext({ userId: 'tester', projectId: p.projectId, roles: ['member'] });
    const web = await service.create(ctx, { name: 'web', description: 'web' });
    const app = await service.create(ctx, { name: 'app', description: 'app' });
    await service.authorizeIngress(ctx, { name: 'web' }, [
      { protocol: 'tcp', fromPort: 80, toPort: 80, ipRanges: [{ cidr: '0.0.0.0/0' }] },
      { protocol: 'tcp', fromPort: 22, toPort: 22, sourceGroups: [{ name: 'app' }] },
    ]);
    assert.deepEqual(changed, [[web.id]]);

    const launch = async (groupId: string) => {
      const r = await p.client.send(
        new RunInstancesCommand({
          ImageId: imageId,
          InstanceType: 'm1.nano' as _InstanceType,
          MinCount: 1,
          MaxCount: 1,
          SecurityGroupIds: [`sg-${groupId.replace(/-/g, '').slice(0, 17)}`],
        }),
      );
      const shown = r.Instances?.[0]?.InstanceId as string;
      const running = await waitUntil(
        async () => {
          const i = (await p.client.send(new DescribeInstancesCommand({ InstanceIds: [shown] })))
            .Reservations?.[0]?.Instances?.[0];
          return i?.State?.Name === 'running' && i.PrivateIpAddress ? i : undefined;
        },
        10_000,
        `${shown} to run`,
      );
      const [row] = await new InstanceRepo(db).list({
        idPrefixes: [shown.slice(2, 10)],
        projectId: p.projectId,
      });
      return { id: row?.id as string, ip: running.PrivateIpAddress as string };
    };
    const front = await launch(web.id);
    const worker = await launch(app.id);

    const [set] = await service.rulesForInstances([front.id]);
    assert.equal(set?.instanceId, front.id);
    assert.deepEqual(set?.groupIds, [web.id]);
    const rules = (set?.ingress ?? []).map(
      (r) => `${r.protocol} ${r.fromPort}-${r.toPort} ${r.sources.join(',')}`,
    );
    assert.deepEqual(rules.sort(), [`tcp 22-22 ${worker.ip}/32`, 'tcp 80-80 0.0.0.0/0']);
    const [workerSet] = await service.rulesForInstances([worker.id]);
    assert.deepEqual(workerSet?.ingress, []);

    await service.revokeIngress(
      ctx,
      { name: 'web' },
      {
        permissions: [
          { protocol: 'tcp', fromPort: 80, toPort: 80, ipRanges: [{ cidr: '0.0.0.0/0' }] },
        ],
      },
    );
    assert.deepEqual(changed, [[web.id], [web.id]]);
    const [after] = await service.rulesForInstances([front.id]);
    assert.deepEqual(
      after?.ingress.map((r) => r.sourceGroupId),
      [app.id],
    );
  });
});
