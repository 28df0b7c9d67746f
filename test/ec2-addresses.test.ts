// Elastic IPs through the real AWS SDK, on SQLite and PostgreSQL: allocation (and 20 at once),
// association with running and stopped instances, reassociation rules of both domains,
// disassociation, release, what DescribeInstances shows, termination, tenancy, quotas and a
// table of bad inputs that must change nothing.
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DisassociateAddressCommand,
  ReleaseAddressCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type Address,
  type EC2Client,
  type Instance,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { QuotaRepo } from '../src/db/index.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { needs } from './support/capabilities.js';
import { rawEc2, startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { disconnected, expectError, failure } from './support/expect.js';

const run = promisify(execFile);

async function instance(client: EC2Client, id: string): Promise<Instance | undefined> {
  const r = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  return r.Reservations?.[0]?.Instances?.[0];
}

async function waitState(client: EC2Client, id: string, state: string): Promise<Instance> {
  return waitUntil(
    async () => {
      const i = await instance(client, id);
      return i?.State?.Name === state ? i : undefined;
    },
    10_000,
    `${id} to be ${state}`,
  );
}

async function addresses(client: EC2Client, filter = {}): Promise<Address[]> {
  return (await client.send(new DescribeAddressesCommand(filter))).Addresses ?? [];
}

async function address(client: EC2Client, allocationId: string): Promise<Address> {
  const [a] = await addresses(client, { AllocationIds: [allocationId] });
  assert.ok(a, `${allocationId} is described`);
  return a;
}

async function allocate(client: EC2Client, domain: 'vpc' | 'standard' = 'vpc') {
  const r = await client.send(new AllocateAddressCommand({ Domain: domain }));
  assert.match(r.AllocationId ?? '', /^eipalloc-[0-9a-f]{17}$/);
  assert.match(r.PublicIp ?? '', /^172\.24\.4\.\d+$/);
  assert.equal(r.Domain, domain);
  return { ip: r.PublicIp as string, id: r.AllocationId as string };
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(`EC2 Elastic IPs on ${backend.name}`, needs(...backend.needs), () => {
    let t: TestCloud;
    let imageId: string;
    let database: { url: string; remove(): Promise<void> };

    before(async () => {
      database = await backend.create();
      t = await startTestCloud({
        database: database.url,
        'quota-addresses': '5',
        'quota-instances': '50',
        'quota-cores': '100',
        'quota-ram-mb': '100000',
      });
      const image = await t.addImage({ name: 'eip-test-image' });
      imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
    });
    after(async () => {
      await t.stop();
      if (backend.name === 'postgres') await disconnected(database.url);
      await database.remove();
    });

    const launch = async (client: EC2Client): Promise<Instance & { InstanceId: string }> => {
      const r = await client.send(
        new RunInstancesCommand({
          ImageId: imageId,
          InstanceType: 'm1.nano' as _InstanceType,
          MinCount: 1,
          MaxCount: 1,
        }),
      );
      const id = r.Instances?.[0]?.InstanceId as string;
      return (await waitState(client, id, 'running')) as Instance & { InstanceId: string };
    };

    it('allocates, describes (by address, id and filters) and releases addresses', async () => {
      const p = await t.newProject();
      assert.deepEqual(await addresses(p.client), []);
      const a = await allocate(p.client);
      const b = await allocate(p.client, 'standard');
      assert.notEqual(a.ip, b.ip);

      const all = await addresses(p.client);
      assert.deepEqual(all.map((x) => x.AllocationId).sort(), [a.id, b.id].sort());
      const first = await address(p.client, a.id);
      assert.equal(first.PublicIp, a.ip);
      assert.equal(first.Domain, 'vpc');
      assert.equal(first.InstanceId, undefined);
      assert.equal(first.AssociationId, undefined);
      assert.deepEqual(first.Tags, []);
      const byIp = await addresses(p.client, { PublicIps: [b.ip] });
      assert.deepEqual(
        byIp.map((x) => [x.AllocationId, x.Domain]),
        [[b.id, 'standard']],
      );
      const filtered = async (Name: string, Values: string[]) =>
        (await addresses(p.client, { Filters: [{ Name, Values }] })).map((x) => x.PublicIp);
      assert.deepEqual(await filtered('domain', ['standard']), [b.ip]);
      assert.deepEqual(await filtered('public-ip', [a.ip]), [a.ip]);
      assert.deepEqual(await filtered('allocation-id', [b.id]), [b.ip]);
      assert.deepEqual(await filtered('instance-id', ['i-*']), []);

      const released = await p.client.send(new ReleaseAddressCommand({ AllocationId: a.id }));
      assert.equal(released.$metadata.httpStatusCode, 200);
      await p.client.send(new ReleaseAddressCommand({ PublicIp: b.ip }));
      assert.deepEqual(await addresses(p.client), []);
      await expectError(() => address(p.client, a.id), 'InvalidAllocationID.NotFound');
      await expectError(
        () => addresses(p.client, { PublicIps: [b.ip] }),
        'InvalidAddress.NotFound',
      );
      await expectError(
        () => p.client.send(new ReleaseAddressCommand({ AllocationId: a.id })),
        'InvalidAllocationID.NotFound',
      );
      await expectError(
        () => p.client.send(new ReleaseAddressCommand({ PublicIp: b.ip })),
        'InvalidAddress.NotFound',
      );
    });

    it('associates an address with a running instance, which DescribeInstances then shows', async () => {
      const p = await t.newProject();
      const inst = await launch(p.client);
      const a = await allocate(p.client);
      const r = await p.client.send(
        new AssociateAddressCommand({ AllocationId: a.id, InstanceId: inst.InstanceId }),
      );
      assert.match(r.AssociationId ?? '', /^eipassoc-[0-9a-f]{17}$/);

      const described = await address(p.client, a.id);
      assert.equal(described.InstanceId, inst.InstanceId);
      assert.equal(described.AssociationId, r.AssociationId);
      assert.equal(described.PrivateIpAddress, inst.PrivateIpAddress);

      const shown = (await instance(p.client, inst.InstanceId)) as Instance;
      assert.equal(shown.PublicIpAddress, a.ip);
      assert.equal(
        shown.PublicDnsName,
        `ec2-${a.ip.replace(/\./g, '-')}.${t.region.toLowerCase()}.compute.external`,
      );
      const byIp = await p.client.send(
        new DescribeInstancesCommand({ Filters: [{ Name: 'ip-address', Values: [a.ip] }] }),
      );
      assert.deepEqual(
        byIp.Reservations?.flatMap((x) => x.Instances?.map((i) => i.InstanceId)),
        [inst.InstanceId],
      );
      const filtered = async (Name: string, Values: string[]) =>
        (await addresses(p.client, { Filters: [{ Name, Values }] })).map((x) => x.PublicIp);
      assert.deepEqual(await filtered('instance-id', [inst.InstanceId]), [a.ip]);
      assert.deepEqual(await filtered('association-id', [r.AssociationId as string]), [a.ip]);
      assert.deepEqual(await filtered('private-ip-address', [inst.PrivateIpAddress as string]), [
        a.ip,
      ]);

      // Doing it again is not an error and changes nothing.
      const again = await p.client.send(
        new AssociateAddressCommand({ PublicIp: a.ip, InstanceId: inst.InstanceId }),
      );
      assert.equal(again.AssociationId, r.AssociationId);

      // An associated vpc address is not released.
      await expectError(
        () => p.client.send(new ReleaseAddressCommand({ AllocationId: a.id })),
        'InvalidIPAddress.InUse',
      );
      await p.client.send(new DisassociateAddressCommand({ AssociationId: r.AssociationId }));
      const after = await address(p.client, a.id);
      assert.equal(after.InstanceId, undefined);
      assert.equal(after.AssociationId, undefined);
      assert.equal((await instance(p.client, inst.InstanceId))?.PublicIpAddress, undefined);
      await expectError(
        () => p.client.send(new DisassociateAddressCommand({ AssociationId: r.AssociationId })),
        'InvalidAssociationID.NotFound',
      );
      // By address, disassociating an address that is not associated is not an error.
      await p.client.send(new DisassociateAddressCommand({ PublicIp: a.ip }));
      await p.client.send(new ReleaseAddressCommand({ AllocationId: a.id }));
    });

    it('follows EC2 on reassociation: vpc needs AllowReassociation, standard moves', async () => {
      const p = await t.newProject();
      const [one, two] = await Promise.all([launch(p.client), launch(p.client)]);
      const vpc = await allocate(p.client);
      await p.client.send(
        new AssociateAddressCommand({ AllocationId: vpc.id, InstanceId: one.InstanceId }),
      );
      await expectError(
        () =>
          p.client.send(
            new AssociateAddressCommand({ AllocationId: vpc.id, InstanceId: two.InstanceId }),
          ),
        'Resource.AlreadyAssociated',
      );
      assert.equal((await address(p.client, vpc.id)).InstanceId, one.InstanceId);
      await p.client.send(
        new AssociateAddressCommand({
          AllocationId: vpc.id,
          InstanceId: two.InstanceId,
          AllowReassociation: true,
        }),
      );
      assert.equal((await address(p.client, vpc.id)).InstanceId, two.InstanceId);
      assert.equal((await instance(p.client, one.InstanceId))?.PublicIpAddress, undefined);
      assert.equal((await instance(p.client, two.InstanceId))?.PublicIpAddress, vpc.ip);

      const std = await allocate(p.client, 'standard');
      await p.client.send(
        new AssociateAddressCommand({ PublicIp: std.ip, InstanceId: one.InstanceId }),
      );
      await p.client.send(
        new AssociateAddressCommand({ PublicIp: std.ip, InstanceId: two.InstanceId }),
      );
      // An instance has one address: the standard one replaced the vpc one on `two`.
      assert.equal((await instance(p.client, two.InstanceId))?.PublicIpAddress, std.ip);
      assert.equal((await address(p.client, vpc.id)).InstanceId, undefined);
      assert.equal((await instance(p.client, one.InstanceId))?.PublicIpAddress, undefined);
      await expectError(
        () =>
          p.client.send(
            new AssociateAddressCommand({
              PublicIp: std.ip,
              InstanceId: one.InstanceId,
              AllowReassociation: false,
            }),
          ),
        'Resource.AlreadyAssociated',
      );
      // A standard address is disassociated by its release.
      await p.client.send(new ReleaseAddressCommand({ PublicIp: std.ip }));
      assert.equal((await instance(p.client, two.InstanceId))?.PublicIpAddress, undefined);
      assert.deepEqual(
        (await addresses(p.client)).map((x) => x.PublicIp),
        [vpc.ip],
      );
    });

    it('associates with stopped instances, refuses terminated ones, and termination disassociates', async () => {
      const p = await t.newProject();
      const inst = await launch(p.client);
      await p.client.send(new StopInstancesCommand({ InstanceIds: [inst.InstanceId] }));
      await waitState(p.client, inst.InstanceId, 'stopped');
      const a = await allocate(p.client);
      await p.client.send(
        new AssociateAddressCommand({ AllocationId: a.id, InstanceId: inst.InstanceId }),
      );
      assert.equal((await instance(p.client, inst.InstanceId))?.PublicIpAddress, a.ip);

      await p.client.send(new TerminateInstancesCommand({ InstanceIds: [inst.InstanceId] }));
      await waitState(p.client, inst.InstanceId, 'terminated');
      const kept = await address(p.client, a.id);
      assert.equal(kept.PublicIp, a.ip);
      assert.equal(kept.InstanceId, undefined);
      assert.equal(kept.AssociationId, undefined);
      assert.equal((await instance(p.client, inst.InstanceId))?.PublicIpAddress, undefined);
      await expectError(
        () =>
          p.client.send(
            new AssociateAddressCommand({ AllocationId: a.id, InstanceId: inst.InstanceId }),
          ),
        'IncorrectInstanceState',
      );
      await expectError(
        () =>
          p.client.send(
            new AssociateAddressCommand({
              AllocationId: a.id,
              InstanceId: 'i-0123456789abcdef0',
            }),
          ),
        'InvalidInstanceID.NotFound',
      );
      assert.equal((await address(p.client, a.id)).InstanceId, undefined);
    });

    it("keeps projects apart: nobody sees or touches another project's addresses; admin sees all", async () => {
      const alice = await t.newProject();
      const bob = await t.newProject();
      const [aliceVm, bobVm] = await Promise.all([launch(alice.client), launch(bob.client)]);
      const a = await allocate(alice.client);
      const b = await allocate(bob.client);

      assert.deepEqual(
        (await addresses(bob.client)).map((x) => x.PublicIp),
        [b.ip],
      );
      await expectError(
        () => addresses(bob.client, { AllocationIds: [a.id] }),
        'InvalidAllocationID.NotFound',
      );
      await expectError(
        () => addresses(bob.client, { PublicIps: [a.ip] }),
        'InvalidAddress.NotFound',
      );
      await expectError(
        () =>
          bob.client.send(
            new AssociateAddressCommand({ AllocationId: a.id, InstanceId: bobVm.InstanceId }),
          ),
        'InvalidAllocationID.NotFound',
      );
      await expectError(
        () =>
          bob.client.send(
            new AssociateAddressCommand({ AllocationId: b.id, InstanceId: aliceVm.InstanceId }),
          ),
        'InvalidInstanceID.NotFound',
      );
      await expectError(
        () => bob.client.send(new ReleaseAddressCommand({ PublicIp: a.ip })),
        'InvalidAddress.NotFound',
      );
      const assoc = await alice.client.send(
        new AssociateAddressCommand({ AllocationId: a.id, InstanceId: aliceVm.InstanceId }),
      );
      await expectError(
        () =>
          bob.client.send(new DisassociateAddressCommand({ AssociationId: assoc.AssociationId })),
        'InvalidAssociationID.NotFound',
      );
      assert.equal((await address(alice.client, a.id)).InstanceId, aliceVm.InstanceId);

      const seen = (await addresses(t.admin)).map((x) => x.PublicIp);
      assert.ok(seen.includes(a.ip) && seen.includes(b.ip));
    });

    it('hands out distinct addresses to 20 parallel requests and holds each project to its quota', async () => {
      // 20 projects at once: 20 different addresses.
      const projects = await Promise.all(Array.from({ length: 20 }, () => t.newProject()));
      const got = await Promise.all(projects.map((p) => allocate(p.client)));
      assert.equal(new Set(got.map((g) => g.ip)).size, 20);
      assert.equal(new Set(got.map((g) => g.id)).size, 20);

      // One project asking 20 times at once gets exactly its quota of 5.
      const p = await t.newProject();
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, () =>
          p.client.send(new AllocateAddressCommand({ Domain: 'vpc' })),
        ),
      );
      const ok = results.filter((r) => r.status === 'fulfilled');
      const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
      assert.equal(ok.length, 5);
      assert.equal(refused.length, 15);
      for (const e of refused as { name: string; $metadata: { httpStatusCode: number } }[]) {
        assert.equal(e.name, 'AddressLimitExceeded');
        assert.equal(e.$metadata.httpStatusCode, 400);
      }
      const mine = await addresses(p.client);
      assert.equal(mine.length, 5);
      const everyone = await addresses(t.admin);
      assert.equal(new Set(everyone.map((x) => x.PublicIp)).size, everyone.length);

      // A per-project override raises the limit; releasing makes room too.
      await new QuotaRepo(t.cloud.database.db).set(p.projectId, 'addresses', 6);
      await allocate(p.client);
      await expectError(() => allocate(p.client), 'AddressLimitExceeded');
      await p.client.send(new ReleaseAddressCommand({ PublicIp: mine[0]?.PublicIp }));
      await allocate(p.client);
    });

    it('works from the AWS CLI', needs('awscli'), async () => {
      const p = await t.newProject();
      const inst = await launch(p.client);
      const env = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        AWS_ACCESS_KEY_ID: p.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: p.credentials.secretAccessKey,
        AWS_DEFAULT_REGION: t.region,
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
        AWS_EC2_METADATA_DISABLED: 'true',
      };
      const aws = async (...args: string[]) => {
        const out = await run(
          '/usr/bin/aws',
          ['--endpoint-url', t.endpoint, '--output', 'json', 'ec2', ...args],
          { env, timeout: 60_000 },
        );
        return out.stdout.trim() ? (JSON.parse(out.stdout) as Record<string, unknown>) : {};
      };
      const allocated = (await aws('allocate-address', '--domain', 'vpc')) as {
        PublicIp: string;
        AllocationId: string;
      };
      assert.match(allocated.AllocationId, /^eipalloc-[0-9a-f]{17}$/);
      const assoc = (await aws(
        'associate-address',
        '--allocation-id',
        allocated.AllocationId,
        '--instance-id',
        inst.InstanceId,
      )) as { AssociationId: string };
      assert.match(assoc.AssociationId, /^eipassoc-[0-9a-f]{17}$/);
      const described = (await aws('describe-addresses', '--public-ips', allocated.PublicIp)) as {
        Addresses: Address[];
      };
      assert.equal(described.Addresses[0]?.InstanceId, inst.InstanceId);
      assert.equal(described.Addresses[0]?.AssociationId, assoc.AssociationId);
      await aws('disassociate-address', '--association-id', assoc.AssociationId);
      await aws('release-address', '--allocation-id', allocated.AllocationId);
      assert.deepEqual(await addresses(p.client), []);
    });

    it('refuses bad input with EC2 error XML and a 4xx, and changes nothing', async () => {
      const p = await t.newProject();
      const inst = await launch(p.client);
      const a = await allocate(p.client);
      const raw = (params: Record<string, string>) =>
        rawEc2(t.endpoint, t.region, p.credentials, { Version: '2016-11-15', ...params });
      const cases: [Record<string, string>, string][] = [
        [{ Action: 'AllocateAddress', Domain: 'classic' }, 'InvalidParameterValue'],
        [{ Action: 'AllocateAddress', PublicIpv4Pool: 'elsewhere' }, 'InvalidParameterValue'],
        [{ Action: 'AssociateAddress', InstanceId: inst.InstanceId }, 'MissingParameter'],
        [{ Action: 'AssociateAddress', AllocationId: a.id }, 'MissingParameter'],
        [
          {
            Action: 'AssociateAddress',
            AllocationId: a.id,
            PublicIp: a.ip,
            InstanceId: inst.InstanceId,
          },
          'InvalidParameterCombination',
        ],
        [
          { Action: 'AssociateAddress', AllocationId: 'eipalloc-xyz', InstanceId: inst.InstanceId },
          'InvalidAllocationID.Malformed',
        ],
        [
          {
            Action: 'AssociateAddress',
            AllocationId: 'eipalloc-0123456789abcdef0',
            InstanceId: inst.InstanceId,
          },
          'InvalidAllocationID.NotFound',
        ],
        [
          { Action: 'AssociateAddress', PublicIp: '300.1.2.3', InstanceId: inst.InstanceId },
          'InvalidAddress.Malformed',
        ],
        [
          { Action: 'AssociateAddress', PublicIp: '192.0.2.1', InstanceId: inst.InstanceId },
          'InvalidAddress.NotFound',
        ],
        [
          { Action: 'AssociateAddress', AllocationId: a.id, InstanceId: 'i-nothex' },
          'InvalidInstanceID.Malformed',
        ],
        [
          {
            Action: 'AssociateAddress',
            AllocationId: a.id,
            InstanceId: inst.InstanceId,
            AllowReassociation: 'maybe',
          },
          'InvalidParameterValue',
        ],
        [
          {
            Action: 'AssociateAddress',
            AllocationId: a.id,
            InstanceId: inst.InstanceId,
            PrivateIpAddress: '10.99.99.99',
          },
          'InvalidParameterValue',
        ],
        [
          {
            Action: 'AssociateAddress',
            AllocationId: a.id,
            NetworkInterfaceId: 'eni-0123456789abcdef0',
          },
          'InvalidNetworkInterfaceID.NotFound',
        ],
        [{ Action: 'DisassociateAddress' }, 'MissingParameter'],
        [
          { Action: 'DisassociateAddress', AssociationId: 'eipassoc-zz' },
          'InvalidAssociationID.Malformed',
        ],
        [
          { Action: 'DisassociateAddress', AssociationId: 'eipassoc-0123456789abcdef0' },
          'InvalidAssociationID.NotFound',
        ],
        [{ Action: 'ReleaseAddress' }, 'MissingParameter'],
        [
          { Action: 'ReleaseAddress', AllocationId: a.id, PublicIp: a.ip },
          'InvalidParameterCombination',
        ],
        [
          { Action: 'ReleaseAddress', AllocationId: 'i-0123456789abcdef0' },
          'InvalidAllocationID.Malformed',
        ],
        [{ Action: 'DescribeAddresses', 'PublicIp.1': 'nope' }, 'InvalidAddress.Malformed'],
        [
          { Action: 'DescribeAddresses', 'AllocationId.1': 'eipalloc-' },
          'InvalidAllocationID.Malformed',
        ],
        [
          { Action: 'DescribeAddresses', 'Filter.1.Name': 'colour', 'Filter.1.Value.1': 'x' },
          'InvalidParameterValue',
        ],
      ];
      for (const [params, code] of cases) {
        const r = await raw(params);
        assert.equal(r.code, code, `${JSON.stringify(params)}: ${r.body}`);
        assert.equal(r.status, 400, JSON.stringify(params));
        assert.match(r.body, /<Response><Errors><Error><Code>/);
      }
      const [now] = await addresses(p.client);
      assert.equal((await addresses(p.client)).length, 1);
      assert.equal(now?.PublicIp, a.ip);
      assert.equal(now?.InstanceId, undefined);
      assert.equal((await instance(p.client, inst.InstanceId))?.PublicIpAddress, undefined);
      const e = await failure(() =>
        p.client.send(new AllocateAddressCommand({ Domain: 'nonsense' as 'vpc' })),
      );
      assert.equal(e.status, 400);
    });
  });
}

describe('EC2 Elastic IPs from a small pool', () => {
  let t: TestCloud;
  before(async () => {
    // A /29 holds five floating addresses (network, gateway and broadcast left out).
    t = await startTestCloud({ 'floating-range': '203.0.113.0/29', 'quota-addresses': '10' });
  });
  after(() => t.stop());

  it('gives out each address once when the pool runs dry under parallel requests', async () => {
    const projects = await Promise.all(Array.from({ length: 8 }, () => t.newProject()));
    const results = await Promise.allSettled(
      projects.map((p) => p.client.send(new AllocateAddressCommand({ Domain: 'vpc' }))),
    );
    const got = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.PublicIp] : []));
    assert.equal(got.length, 5);
    assert.equal(new Set(got).size, 5);
    for (const ip of got) assert.match(ip ?? '', /^203\.0\.113\.[2-6]$/);
    const refused = results.flatMap((r) =>
      r.status === 'rejected'
        ? [
            [
              (r.reason as { name: string }).name,
              (r.reason as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode,
            ],
          ]
        : [],
    );
    assert.deepEqual(
      refused,
      Array.from({ length: 3 }, () => ['InsufficientAddressCapacity', 503]),
    );
    // A released address can be allocated again.
    const owner = projects[results.findIndex((r) => r.status === 'fulfilled')];
    await owner?.client.send(new ReleaseAddressCommand({ PublicIp: got[0] }));
    const again = await projects[7]?.client.send(new AllocateAddressCommand({}));
    assert.equal(again?.PublicIp, got[0]);
    assert.equal(again?.Domain, 'vpc');
  });
});
