// Security groups of a VPC through Debian's AWS CLI, on SQLite and PostgreSQL (fake driver): a
// group made in one of the caller's VPCs and shown with its VpcId (the default VPC's for the
// others), the vpc-id filter, a launch into the VPC's subnet with it, the refusal of a group of
// another VPC, another project's VPC, and DeleteVpc while the VPC still has groups. Every VPC
// has its own `default` group with EC2's rules, made and deleted with it and not deletable on
// its own; names are unique per VPC; a launch into a subnet takes that VPC's default group, or
// a group named in that VPC; the Networking API shows the same groups, its project `default`
// being the default VPC's. Migration 0047 keeps the groups, rules and members there were.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Kysely, Migrator, type MigrationProvider } from 'kysely';
import { openDatabase } from '../src/db/index.js';
import { MIGRATIONS } from '../src/db/migrations/index.js';
import { IdentityService } from '../src/identity/index.js';
import { awsEc2, type AwsEc2Cli } from './support/awscli.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { startTestCloud, type TestCloud } from './support/ec2.js';
import { disconnected } from './support/expect.js';
import { login, PASSWORD } from './support/openstack.js';

type Item = Record<string, unknown>;
type Untyped = Kysely<Record<string, Record<string, unknown>>>;

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
      let networkUrl: string;
      let identityUrl: string;

      before(async () => {
        database = await backend.create();
        t = await startTestCloud({ database: database.url });
        const image = await t.addImage({ name: 'vpc-sg-image' });
        imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
        home = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-vpc-sg-'));
        const mine = await t.newProject('vpc-sg');
        await new IdentityService(t.cloud.database.db).setPassword('vpc-sg-user', PASSWORD);
        networkUrl = t.cloud.urls?.network as string;
        identityUrl = t.cloud.urls?.identity as string;
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
        const ofVpc = await groupsOf('--filters', `Name=vpc-id,Values=${vpcId}`);
        assert.deepEqual(ofVpc.map((g) => g.GroupName).sort(), ['default', 'web']);
        assert.equal(ofVpc.find((g) => g.GroupName === 'web')?.GroupId, inVpc);
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
        assert.deepEqual(await groupsOf('--filters', `Name=vpc-id,Values=${vpcId}`), []);
        await cli.json('delete-security-group', '--group-id', flat);
        assert.deepEqual(
          (await groupsOf()).map((g) => g.GroupName),
          ['default'],
        );
      });

      it('gives every VPC its own default group and keeps names unique per VPC', async () => {
        const newVpc = async (cidr: string) =>
          ((await cli.json('create-vpc', '--cidr-block', cidr)).Vpc as Item).VpcId as string;
        const a = await newVpc('10.62.0.0/16');
        const b = await newVpc('10.63.0.0/16');
        const defaultOf = async (vpc: string) => {
          const found = await groupsOf(
            '--filters',
            `Name=vpc-id,Values=${vpc}`,
            'Name=group-name,Values=default',
          );
          assert.equal(found.length, 1, `one default group in ${vpc}`);
          return found[0] as Item;
        };
        const defaultA = await defaultOf(a);
        const defaultB = await defaultOf(b);
        assert.notEqual(defaultA.GroupId, defaultB.GroupId);
        // EC2's default rules: everything from the group's own members, everything out.
        const ingress = defaultA.IpPermissions as Item[];
        assert.equal(ingress.length, 1);
        assert.equal(ingress[0]?.IpProtocol, '-1');
        assert.deepEqual(
          ((ingress[0]?.UserIdGroupPairs as Item[]) ?? []).map((p) => p.GroupId),
          [defaultA.GroupId],
        );
        const egress = defaultA.IpPermissionsEgress as Item[];
        assert.equal(egress.length, 1);
        assert.equal(egress[0]?.IpProtocol, '-1');
        assert.deepEqual(
          ((egress[0]?.IpRanges as Item[]) ?? []).map((r) => r.CidrIp),
          ['0.0.0.0/0'],
        );
        // Each VPC's default group, the default VPC's included: one per VPC.
        const defaults = (await groupsOf('--filters', 'Name=group-name,Values=default')).map(
          (g) => g.VpcId,
        );
        const defaultVpc = (
          (await cli.json('describe-vpcs', '--filters', 'Name=is-default,Values=true'))
            .Vpcs as Item[]
        )[0]?.VpcId as string;
        assert.deepEqual([...defaults].sort(), [a, b, defaultVpc].sort());
        await refused(
          cli,
          'CannotDelete',
          'delete-security-group',
          '--group-id',
          defaultA.GroupId as string,
        );

        // Two VPCs (and the default VPC) may each have a `web`; one VPC may not have two.
        const web = async (...vpc: string[]) =>
          (
            await cli.json(
              'create-security-group',
              '--group-name',
              'web',
              '--description',
              'web tier',
              ...vpc,
            )
          ).GroupId as string;
        const webA = await web('--vpc-id', a);
        const webB = await web('--vpc-id', b);
        const webFlat = await web();
        assert.equal(new Set([webA, webB, webFlat]).size, 3);
        for (const vpc of [['--vpc-id', a], ['--vpc-id', b], []]) {
          await refused(
            cli,
            'InvalidGroup.Duplicate',
            'create-security-group',
            '--group-name',
            'web',
            '--description',
            'again',
            ...vpc,
          );
        }
        assert.deepEqual(
          (await groupsOf('--filters', 'Name=group-name,Values=web'))
            .map((g) => `${g.GroupId as string} ${g.VpcId as string}`)
            .sort(),
          [`${webA} ${a}`, `${webB} ${b}`, `${webFlat} ${defaultVpc}`].sort(),
        );

        // A launch into A's subnet takes A's default group, or the group named in A.
        const subnetA = (
          (await cli.json('create-subnet', '--vpc-id', a, '--cidr-block', '10.62.1.0/24'))
            .Subnet as Item
        ).SubnetId as string;
        const launch = async (...more: string[]) =>
          (
            (
              await cli.json(
                'run-instances',
                '--image-id',
                imageId,
                '--instance-type',
                'm1.small',
                '--subnet-id',
                subnetA,
                ...more,
              )
            ).Instances as Item[]
          )[0] as Item;
        const groupIdsOf = (i: Item) =>
          ((i.SecurityGroups as Item[]) ?? []).map((g) => g.GroupId as string);
        const interfaceGroups = async (i: Item) =>
          (
            (
              await cli.json(
                'describe-network-interfaces',
                '--filters',
                `Name=attachment.instance-id,Values=${i.InstanceId as string}`,
              )
            ).NetworkInterfaces as Item[]
          ).flatMap((n) => ((n.Groups as Item[]) ?? []).map((g) => g.GroupId as string));
        const plain = await launch();
        assert.deepEqual(groupIdsOf(plain), [defaultA.GroupId]);
        assert.deepEqual(await interfaceGroups(plain), [defaultA.GroupId]);
        const named = await launch('--security-groups', 'web');
        assert.deepEqual(groupIdsOf(named), [webA]);
        assert.deepEqual(await interfaceGroups(named), [webA]);
        const both = await launch('--security-groups', 'default', 'web');
        assert.deepEqual(groupIdsOf(both).sort(), [defaultA.GroupId as string, webA].sort());
        await refused(
          cli,
          'InvalidGroup.NotFound',
          'run-instances',
          '--image-id',
          imageId,
          '--subnet-id',
          subnetA,
          '--security-groups',
          'nope',
        );

        // The Networking API shows the same groups; its project `default` is the default
        // VPC's, the one a port gets on a network that is no VPC of its own; a port on A's
        // network gets A's default group.
        const token = await login(identityUrl, 'vpc-sg-user', 'vpc-sg');
        const neutron = async (method: string, path: string, body?: unknown) => {
          const r = await fetch(`${networkUrl}${path}`, {
            method,
            headers: {
              'x-auth-token': token,
              ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          });
          const text = await r.text();
          return { status: r.status, body: (text ? JSON.parse(text) : {}) as Item };
        };
        const shown = (await neutron('GET', '/v2.0/security-groups')).body
          .security_groups as Item[];
        const ec2 = await groupsOf();
        const uuidOf = (g: Item) => (g.id as string).replace(/-/g, '').slice(0, 17);
        assert.deepEqual(
          shown.map((g) => `sg-${uuidOf(g)} ${g.name as string}`).sort(),
          ec2.map((g) => `${g.GroupId as string} ${g.GroupName as string}`).sort(),
        );
        const neutronDefaultA = shown.find((g) => `sg-${uuidOf(g)}` === defaultA.GroupId) as Item;
        assert.ok(
          (neutronDefaultA.security_group_rules as Item[]).some(
            (r) =>
              r.direction === 'ingress' &&
              r.remote_group_id === neutronDefaultA.id &&
              r.belongs_to_default_sg === true,
          ),
        );
        const networks = (await neutron('GET', '/v2.0/networks')).body.networks as Item[];
        const networkA = networks.find(
          (n) => `vpc-${(n.id as string).replace(/-/g, '').slice(0, 17)}` === a,
        ) as Item;
        const portA = (await neutron('POST', '/v2.0/ports', { port: { network_id: networkA.id } }))
          .body.port as Item;
        assert.deepEqual(
          (portA.security_groups as string[]).map(
            (id) => `sg-${id.replace(/-/g, '').slice(0, 17)}`,
          ),
          [defaultA.GroupId],
        );
        const flatDefault = ec2.find((g) => g.GroupName === 'default' && g.VpcId === defaultVpc);
        const own = (await neutron('POST', '/v2.0/networks', { network: { name: 'own' } })).body
          .network as Item;
        const portOwn = (await neutron('POST', '/v2.0/ports', { port: { network_id: own.id } }))
          .body.port as Item;
        assert.deepEqual(
          (portOwn.security_groups as string[]).map(
            (id) => `sg-${id.replace(/-/g, '').slice(0, 17)}`,
          ),
          [flatDefault?.GroupId],
        );
        assert.equal((await neutron('DELETE', `/v2.0/ports/${portA.id as string}`)).status, 204);
        assert.equal((await neutron('DELETE', `/v2.0/ports/${portOwn.id as string}`)).status, 204);
        assert.equal((await neutron('DELETE', `/v2.0/networks/${own.id as string}`)).status, 204);

        // DeleteVpc takes the VPC's default group with it.
        const launched = [plain, named, both].map((i) => i.InstanceId as string);
        await cli.json('terminate-instances', '--instance-ids', ...launched);
        for (let i = 0; i < 100; i++) {
          const r = await cli.json('describe-instances', '--instance-ids', ...launched);
          const states = ((r.Reservations as Item[]) ?? []).flatMap((res) =>
            (res.Instances as Item[]).map((x) => (x.State as Item).Name),
          );
          if (states.every((x) => x === 'terminated')) break;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        await cli.json('delete-subnet', '--subnet-id', subnetA);
        for (const [vpc, group] of [
          [a, webA],
          [b, webB],
        ] as const) {
          await cli.json('delete-security-group', '--group-id', group);
          await cli.json('delete-vpc', '--vpc-id', vpc);
          assert.deepEqual(await groupsOf('--filters', `Name=vpc-id,Values=${vpc}`), []);
        }
        await cli.json('delete-security-group', '--group-id', webFlat);
        assert.deepEqual(
          (await groupsOf()).map((g) => g.GroupName),
          ['default'],
        );
      });

      it('migration 0047 keeps groups, rules and members, and makes VPCs their defaults', async () => {
        const created = await backend.create();
        const opened = await openDatabase(created.url, { migrate: false });
        try {
          const db = opened.db as unknown as Untyped;
          const migrator = new Migrator({
            db: db as unknown as Kysely<unknown>,
            provider: { getMigrations: async () => MIGRATIONS } satisfies MigrationProvider,
            migrationTableName: 'stratus_migrations',
            migrationLockTableName: 'stratus_migrations_lock',
          });
          assert.equal((await migrator.migrateTo('0045-web-sessions')).error, undefined);
          await db
            .insertInto('projects')
            .values({ id: 'p1', name: 'old', description: '', enabled: 1, created_at: 1 })
            .execute();
          const group = (id: string, name: string, vpc: string | null) => ({
            id,
            project_id: 'p1',
            name,
            description: '',
            vpc_id: vpc,
            created_at: 1,
          });
          await db
            .insertInto('security_groups')
            .values([
              group('g1', 'default', null),
              group('g2', 'web', null),
              group('g3', 'db', 'n1'),
            ])
            .execute();
          await db
            .insertInto('security_group_rules')
            .values({
              id: 'r1',
              group_id: 'g3',
              direction: 'ingress',
              protocol: 'tcp',
              from_port: 5432,
              to_port: 5432,
              cidr: null,
              source_group_id: 'g2',
              created_at: 1,
            })
            .execute();
          const vpc = (id: string, isDefault: number) => ({
            network_id: id,
            project_id: 'p1',
            cidr: '10.0.0.0/16',
            router_id: `r-${id}`,
            is_default: isDefault,
            enable_dns_support: 1,
            enable_dns_hostnames: 0,
            created_at: 1,
          });
          await db
            .insertInto('vpcs')
            .values([vpc('n1', 0), vpc('n0', 1)])
            .execute();

          // Rows come back with camel-cased names (the database's plugin).
          const latest = await migrator.migrateToLatest();
          assert.equal(latest.error, undefined, String(latest.error));
          const groups = await db
            .selectFrom('security_groups')
            .select(['id', 'name', 'vpc_id'])
            .orderBy('id')
            .execute()
            .then((rows) => rows as unknown as Item[]);
          assert.deepEqual(
            groups.filter((g) => ['g1', 'g2', 'g3'].includes(g.id as string)),
            [
              { id: 'g1', name: 'default', vpcId: null },
              { id: 'g2', name: 'web', vpcId: null },
              { id: 'g3', name: 'db', vpcId: 'n1' },
            ],
          );
          // The VPC EC2 made got its default group with EC2's rules; the default VPC did not.
          const made = groups.filter((g) => !['g1', 'g2', 'g3'].includes(g.id as string));
          assert.deepEqual(
            made.map((g) => [g.name, g.vpcId]),
            [['default', 'n1']],
          );
          const rules = await db
            .selectFrom('security_group_rules')
            .select(['group_id', 'direction', 'source_group_id', 'cidr'])
            .orderBy('created_at')
            .execute()
            .then((rows) => rows as unknown as Item[]);
          assert.deepEqual(
            rules.filter((r) => r.groupId === made[0]?.id),
            [
              {
                groupId: made[0]?.id,
                direction: 'ingress',
                sourceGroupId: made[0]?.id,
                cidr: null,
              },
              { groupId: made[0]?.id, direction: 'egress', sourceGroupId: null, cidr: '0.0.0.0/0' },
            ],
          );
          assert.ok(rules.some((r) => r.groupId === 'g3' && r.sourceGroupId === 'g2'));

          // Names: unique in one VPC, and among the groups of no VPC of their own.
          await db
            .insertInto('security_groups')
            .values(group('g4', 'db', 'n2'))
            .execute();
          await db
            .insertInto('security_groups')
            .values(group('g5', 'db', null))
            .execute();
          await db
            .insertInto('security_groups')
            .values(group('g6', 'web', 'n1'))
            .execute();
          await assert.rejects(
            db
              .insertInto('security_groups')
              .values(group('g7', 'db', 'n1'))
              .execute(),
          );
          await assert.rejects(
            db
              .insertInto('security_groups')
              .values(group('g8', 'web', null))
              .execute(),
          );
          // Deleting a group still takes its rules (the references survived the rebuild).
          await db.deleteFrom('security_groups').where('id', '=', 'g3').execute();
          assert.equal(
            (
              await db
                .selectFrom('security_group_rules')
                .selectAll()
                .where('id', '=', 'r1')
                .execute()
            ).length,
            0,
          );
        } finally {
          await opened.close();
          if (backend.name === 'postgres') await disconnected(created.url);
          await created.remove();
        }
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
