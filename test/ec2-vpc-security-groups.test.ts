// Security groups of a VPC through Debian's AWS CLI, on SQLite and PostgreSQL (fake driver): a
// group made in one of the caller's VPCs and shown with its VpcId (the default VPC's for the
// others), the vpc-id filter, a launch into the VPC's subnet with it, the refusal of a group of
// another VPC, another project's VPC, and DeleteVpc while the VPC still has groups.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { awsEc2, type AwsEc2Cli } from './support/awscli.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { startTestCloud, type TestCloud } from './support/ec2.js';

type Item = Record<string, unknown>;

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(
    `security groups of VPCs through the AWS CLI on ${backend.name}`,
    needs('awscli', ...backend.needs),
    () => {
      let t: TestCloud;
      let database: { url: string; remove(): Promise<void> };
      let home: string;
      let cli: AwsEc2Cli;
      let other: AwsEc2Cli;
      let imageId: string;

      before(async () => {
        database = await backend.create();
        t = await startTestCloud({ database: database.url });
        const image = await t.addImage({ name: 'vpc-sg-image' });
        imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
        home = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-vpc-sg-'));
        const mine = await t.newProject('vpc-sg');
        const theirs = await t.newProject('vpc-sg-other');
        const at = { endpoint: t.endpoint, region: t.region, home };
        cli = awsEc2({ ...at, credentials: mine.credentials });
        other = awsEc2({ ...at, credentials: theirs.credentials });
      });
      after(async () => {
        await t.stop();
        await database.remove();
        fs.rmSync(home, { recursive: true, force: true });
      });

      async function refused(c: AwsEc2Cli, code: string, ...args: string[]): Promise<string> {
        const r = await c.run(...args);
        assert.notEqual(r.code, 0, `aws ec2 ${args.join(' ')} should fail with ${code}`);
        assert.match(r.stderr, new RegExp(`\\(${code.replace(/\./g, '\\.')}\\)`), r.stderr);
        return r.stderr;
      }

      const groupsOf = async (...args: string[]) =>
        (await cli.json('describe-security-groups', ...args)).SecurityGroups as Item[];

      it('keeps groups in their VPC, launches with them and holds the VPC', async () => {
        const vpcId = ((await cli.json('create-vpc', '--cidr-block', '10.61.0.0/16')).Vpc as Item)
          .VpcId as string;
        const subnetId = (
          (await cli.json('create-subnet', '--vpc-id', vpcId, '--cidr-block', '10.61.1.0/24'))
            .Subnet as Item
        ).SubnetId as string;
        const inVpc = (
          await cli.json(
            'create-security-group',
            '--group-name',
            'web',
            '--description',
            'web tier',
            '--vpc-id',
            vpcId,
          )
        ).GroupId as string;
        const flat = (
          await cli.json('create-security-group', '--group-name', 'flat', '--description', 'x')
        ).GroupId as string;

        // Shown with its VPC; the others with the default VPC's id.
        const defaultVpc = (
          (await cli.json('describe-vpcs', '--filters', 'Name=is-default,Values=true'))
            .Vpcs as Item[]
        )[0]?.VpcId as string;
        assert.match(defaultVpc, /^vpc-/);
        const all = await groupsOf();
        const vpcOf = (id: string) => all.find((g) => g.GroupId === id)?.VpcId;
        assert.equal(vpcOf(inVpc), vpcId);
        assert.equal(vpcOf(flat), defaultVpc);
        assert.deepEqual(
          (await groupsOf('--filters', `Name=vpc-id,Values=${vpcId}`)).map((g) => g.GroupId),
          [inVpc],
        );
        assert.deepEqual(
          (await groupsOf('--filters', `Name=vpc-id,Values=${defaultVpc}`))
            .map((g) => g.GroupName)
            .sort(),
          ['default', 'flat'],
        );

        // Another project's VPC, or one that does not exist, is not found.
        await refused(
          other,
          'InvalidVpcID.NotFound',
          'create-security-group',
          '--group-name',
          'theirs',
          '--description',
          'x',
          '--vpc-id',
          vpcId,
        );
        await refused(
          cli,
          'InvalidVpcID.NotFound',
          'create-security-group',
          '--group-name',
          'nowhere',
          '--description',
          'x',
          '--vpc-id',
          'vpc-0123456789abcdef0',
        );

        // A group of another VPC than the subnet's is refused, and nothing launches.
        const launch = (group: string, ...more: string[]) => [
          'run-instances',
          '--image-id',
          imageId,
          '--instance-type',
          'm1.small',
          '--security-group-ids',
          group,
          ...more,
        ];
        const message = await refused(
          cli,
          'InvalidParameter',
          ...launch(flat, '--subnet-id', subnetId),
        );
        assert.match(message, /belong to different networks/);
        await refused(cli, 'InvalidParameter', ...launch(inVpc));
        assert.equal(
          ((await cli.json('describe-instances')).Reservations as Item[]).length,
          0,
          'a refused launch makes no instance',
        );
        await refused(
          cli,
          'InvalidParameter',
          'create-network-interface',
          '--subnet-id',
          subnetId,
          '--groups',
          flat,
        );

        // Its own VPC's group launches into the subnet.
        const instance = (
          (await cli.json(...launch(inVpc, '--subnet-id', subnetId))).Instances as Item[]
        )[0] as Item;
        assert.equal(instance.VpcId, vpcId);
        assert.equal(instance.SubnetId, subnetId);
        const instanceId = instance.InstanceId as string;
        await cli.json('terminate-instances', '--instance-ids', instanceId);
        for (let i = 0; i < 100; i++) {
          const r = await cli.json('describe-instances', '--instance-ids', instanceId);
          const state = (((r.Reservations as Item[])[0]?.Instances as Item[])[0]?.State as Item)
            ?.Name;
          if (state === 'terminated') break;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }

        // The VPC holds while it has groups; once they go, it can be deleted.
        await cli.json('delete-subnet', '--subnet-id', subnetId);
        const held = await refused(cli, 'DependencyViolation', 'delete-vpc', '--vpc-id', vpcId);
        assert.match(held, /security group/);
        await cli.json('delete-security-group', '--group-id', inVpc);
        await cli.json('delete-vpc', '--vpc-id', vpcId);
        await cli.json('delete-security-group', '--group-id', flat);
        assert.deepEqual(
          (await groupsOf()).map((g) => g.GroupName),
          ['default'],
        );
      });

      it('takes the default VPC as no VPC of its own', async () => {
        const defaultVpc = (
          (await cli.json('describe-vpcs', '--filters', 'Name=is-default,Values=true'))
            .Vpcs as Item[]
        )[0]?.VpcId as string;
        const id = (
          await cli.json(
            'create-security-group',
            '--group-name',
            'in-default',
            '--description',
            'x',
            '--vpc-id',
            defaultVpc,
          )
        ).GroupId as string;
        assert.equal((await groupsOf('--group-ids', id))[0]?.VpcId, defaultVpc);
        await cli.json('delete-security-group', '--group-id', id);
      });
    },
  );
}
