// Tags through the real AWS SDK (and once through the AWS CLI), on SQLite and PostgreSQL:
// CreateTags, DeleteTags and DescribeTags on instances, images, security groups, key pairs and
// Elastic IPs; tag sets in the resources' own Describe calls; filters and paging; EC2's limits
// and key rules; NotFound codes per resource; tenancy; and that refused requests change nothing.
import {
  AllocateAddressCommand,
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DeleteTagsCommand,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  DescribeTagsCommand,
  ReleaseAddressCommand,
  RunInstancesCommand,
  type _InstanceType,
  type EC2Client,
  type Filter,
  type Tag,
  type TagDescription,
} from '@aws-sdk/client-ec2';
import { execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { needs } from './support/capabilities.js';
import { rawEc2, startTestCloud, type TestCloud } from './support/ec2.js';
import { disconnected, expectError } from './support/expect.js';

const run = promisify(execFile);

async function describeTags(client: EC2Client, Filters?: Filter[]): Promise<TagDescription[]> {
  const out: TagDescription[] = [];
  let NextToken: string | undefined;
  do {
    const r = await client.send(new DescribeTagsCommand({ Filters, NextToken, MaxResults: 1000 }));
    out.push(...(r.Tags ?? []));
    NextToken = r.NextToken;
  } while (NextToken);
  return out;
}

/** A resource's tags as 'key=value' strings, sorted. */
async function tagsOf(client: EC2Client, resourceId: string): Promise<string[]> {
  return (await describeTags(client, [{ Name: 'resource-id', Values: [resourceId] }]))
    .map((t) => `${t.Key}=${t.Value}`)
    .sort();
}

const pairs = (tags: Tag[] | undefined) => (tags ?? []).map((t) => `${t.Key}=${t.Value}`).sort();

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(`EC2 tags on ${backend.name}`, needs(...backend.needs), () => {
    let t: TestCloud;
    let publicImage: string;
    let database: { url: string; remove(): Promise<void> };

    before(async () => {
      database = await backend.create();
      t = await startTestCloud({ database: database.url });
      const image = await t.addImage({ name: 'tags-public-image' });
      publicImage = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
    });
    after(async () => {
      await t.stop();
      if (backend.name === 'postgres') await disconnected(database.url);
      await database.remove();
    });

    /** A project with one resource of each taggable kind. */
    const world = async () => {
      const p = await t.newProject();
      const vm = await p.client.send(
        new RunInstancesCommand({
          ImageId: publicImage,
          InstanceType: 'm1.nano' as _InstanceType,
          MinCount: 1,
          MaxCount: 1,
        }),
      );
      const sg = await p.client.send(
        new CreateSecurityGroupCommand({ GroupName: 'tagged', Description: 'tagged group' }),
      );
      const key = await p.client.send(new CreateKeyPairCommand({ KeyName: 'tagged-key' }));
      const eip = await p.client.send(new AllocateAddressCommand({ Domain: 'vpc' }));
      const own = await t.addImage({ name: 'own-image', ownerProjectId: p.projectId });
      return {
        ...p,
        instance: vm.Instances?.[0]?.InstanceId as string,
        group: sg.GroupId as string,
        keyPair: key.KeyPairId as string,
        allocation: eip.AllocationId as string,
        image: `ami-${own.id.replace(/-/g, '').slice(0, 17)}`,
      };
    };

    it('tags every kind of resource and shows the tags in DescribeTags and each Describe call', async () => {
      const w = await world();
      const ids = [w.instance, w.group, w.keyPair, w.allocation, w.image];
      const r = await w.client.send(
        new CreateTagsCommand({
          Resources: ids,
          Tags: [
            { Key: 'team', Value: 'blue' },
            { Key: 'empty', Value: '' },
          ],
        }),
      );
      assert.equal(r.$metadata.httpStatusCode, 200);
      // Setting a key again replaces its value.
      await w.client.send(
        new CreateTagsCommand({ Resources: [w.instance], Tags: [{ Key: 'team', Value: 'red' }] }),
      );

      const all = await describeTags(w.client);
      assert.deepEqual(
        all.map((x) => `${x.ResourceType} ${x.ResourceId} ${x.Key}=${x.Value}`).sort(),
        [
          `elastic-ip ${w.allocation} empty=`,
          `elastic-ip ${w.allocation} team=blue`,
          `image ${w.image} empty=`,
          `image ${w.image} team=blue`,
          `instance ${w.instance} empty=`,
          `instance ${w.instance} team=red`,
          `key-pair ${w.keyPair} empty=`,
          `key-pair ${w.keyPair} team=blue`,
          `security-group ${w.group} empty=`,
          `security-group ${w.group} team=blue`,
        ].sort(),
      );

      const inst = await w.client.send(new DescribeInstancesCommand({ InstanceIds: [w.instance] }));
      assert.deepEqual(pairs(inst.Reservations?.[0]?.Instances?.[0]?.Tags), ['empty=', 'team=red']);
      const byTag = await w.client.send(
        new DescribeInstancesCommand({ Filters: [{ Name: 'tag:team', Values: ['red'] }] }),
      );
      assert.equal(byTag.Reservations?.length, 1);
      const sg = await w.client.send(new DescribeSecurityGroupsCommand({ GroupIds: [w.group] }));
      assert.deepEqual(pairs(sg.SecurityGroups?.[0]?.Tags), ['empty=', 'team=blue']);
      const eip = await w.client.send(
        new DescribeAddressesCommand({ AllocationIds: [w.allocation] }),
      );
      assert.deepEqual(pairs(eip.Addresses?.[0]?.Tags), ['empty=', 'team=blue']);
      const eipByTag = await w.client.send(
        new DescribeAddressesCommand({ Filters: [{ Name: 'tag:team', Values: ['blue'] }] }),
      );
      assert.deepEqual(
        eipByTag.Addresses?.map((a) => a.AllocationId),
        [w.allocation],
      );
      const keys = await w.client.send(new DescribeKeyPairsCommand({ KeyPairIds: [w.keyPair] }));
      assert.deepEqual(pairs(keys.KeyPairs?.[0]?.Tags), ['empty=', 'team=blue']);
    });

    it('filters DescribeTags by key, value, resource id and type, and pages through it', async () => {
      const w = await world();
      await w.client.send(
        new CreateTagsCommand({
          Resources: [w.instance, w.group],
          Tags: Array.from({ length: 6 }, (_, i) => ({ Key: `k${i}`, Value: `v${i % 2}` })),
        }),
      );
      const where = async (Name: string, Values: string[]) =>
        (await describeTags(w.client, [{ Name, Values }]))
          .map((x) => `${x.ResourceId} ${x.Key}`)
          .sort();
      assert.deepEqual(await where('key', ['k1']), [`${w.group} k1`, `${w.instance} k1`].sort());
      assert.equal((await where('value', ['v1'])).length, 6);
      assert.equal((await where('key', ['k*'])).length, 12);
      assert.equal((await where('resource-id', [w.group])).length, 6);
      assert.deepEqual(
        await where('resource-type', ['instance']),
        await where('resource-id', [w.instance]),
      );
      assert.deepEqual(await where('tag:k2', ['v0']), [`${w.group} k2`, `${w.instance} k2`].sort());
      await expectError(() => where('colour', ['x']), 'InvalidParameterValue');

      const seen: string[] = [];
      let NextToken: string | undefined;
      let pages = 0;
      do {
        const r = await w.client.send(new DescribeTagsCommand({ MaxResults: 5, NextToken }));
        assert.ok((r.Tags?.length ?? 0) <= 5);
        seen.push(...(r.Tags ?? []).map((x) => `${x.ResourceId} ${x.Key}`));
        NextToken = r.NextToken;
        pages++;
      } while (NextToken);
      assert.equal(pages, 3);
      assert.equal(seen.length, 12);
      assert.equal(new Set(seen).size, 12);
    });

    it('deletes tags by key, by key and value (the empty value included), and all at once', async () => {
      const w = await world();
      const put = () =>
        w.client.send(
          new CreateTagsCommand({
            Resources: [w.instance],
            Tags: [
              { Key: 'a', Value: '1' },
              { Key: 'b', Value: '2' },
              { Key: 'c', Value: '' },
              { Key: 'd', Value: 'x' },
            ],
          }),
        );
      await put();
      // Key alone: whatever the value.
      await w.client.send(new DeleteTagsCommand({ Resources: [w.instance], Tags: [{ Key: 'a' }] }));
      // Key and a value that does not match: kept.
      await w.client.send(
        new DeleteTagsCommand({ Resources: [w.instance], Tags: [{ Key: 'b', Value: '3' }] }),
      );
      // An empty value matches only an empty value.
      await w.client.send(
        new DeleteTagsCommand({
          Resources: [w.instance],
          Tags: [
            { Key: 'c', Value: '' },
            { Key: 'd', Value: '' },
          ],
        }),
      );
      assert.deepEqual(await tagsOf(w.client, w.instance), ['b=2', 'd=x']);
      // No Tag at all: every tag of the resource.
      await w.client.send(new DeleteTagsCommand({ Resources: [w.instance] }));
      assert.deepEqual(await tagsOf(w.client, w.instance), []);
      // Deleting tags that are not there is not an error.
      await w.client.send(new DeleteTagsCommand({ Resources: [w.instance], Tags: [{ Key: 'z' }] }));
    });

    it('holds a resource to 50 tags and EC2 key rules, and a refused request tags nothing', async () => {
      const w = await world();
      const fifty = Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
      await w.client.send(new CreateTagsCommand({ Resources: [w.group], Tags: fifty }));
      assert.equal((await tagsOf(w.client, w.group)).length, 50);
      // Existing keys do not count twice.
      await w.client.send(
        new CreateTagsCommand({ Resources: [w.group], Tags: [{ Key: 'k0', Value: 'again' }] }),
      );
      // One more key is too many; with a second resource, neither gets it.
      await expectError(
        () =>
          w.client.send(
            new CreateTagsCommand({
              Resources: [w.instance, w.group],
              Tags: [{ Key: 'one-more', Value: 'v' }],
            }),
          ),
        'TagLimitExceeded',
      );
      assert.deepEqual(await tagsOf(w.client, w.instance), []);
      assert.equal((await tagsOf(w.client, w.group)).length, 50);
      await expectError(
        () =>
          w.client.send(
            new CreateTagsCommand({
              Resources: [w.instance],
              Tags: [...fifty, { Key: 'k50', Value: 'v' }],
            }),
          ),
        'TagLimitExceeded',
      );

      const bad: Tag[] = [
        { Key: 'aws:owner', Value: 'x' },
        { Key: 'AWS:Name', Value: 'x' },
        { Key: 'k'.repeat(129), Value: 'x' },
        { Key: 'ok', Value: 'v'.repeat(257) },
      ];
      for (const tag of bad) {
        await expectError(
          () => w.client.send(new CreateTagsCommand({ Resources: [w.instance], Tags: [tag] })),
          'InvalidParameterValue',
        );
      }
      await expectError(
        () =>
          w.client.send(new DeleteTagsCommand({ Resources: [w.group], Tags: [{ Key: 'aws:x' }] })),
        'InvalidParameterValue',
      );
      await w.client.send(
        new CreateTagsCommand({
          Resources: [w.instance],
          Tags: [{ Key: 'k'.repeat(128), Value: 'v'.repeat(256) }],
        }),
      );
      assert.equal((await tagsOf(w.client, w.instance)).length, 1);
    });

    it('counts parallel CreateTags on one resource one at a time against the limit', async () => {
      const w = await world();
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, n) =>
          w.client.send(
            new CreateTagsCommand({
              Resources: [w.allocation],
              Tags: Array.from({ length: 6 }, (_, i) => ({ Key: `r${n}-k${i}`, Value: 'v' })),
            }),
          ),
        ),
      );
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      const refused = results.flatMap((r) =>
        r.status === 'rejected' ? [(r.reason as { name: string }).name] : [],
      );
      assert.equal(ok, 8);
      assert.deepEqual(refused, ['TagLimitExceeded', 'TagLimitExceeded']);
      assert.equal((await tagsOf(w.client, w.allocation)).length, 48);
    });

    it('refuses unknown and malformed ids with each resource type’s code, tagging nothing', async () => {
      const w = await world();
      const cases: [string, string][] = [
        ['i-0123456789abcdef0', 'InvalidInstanceID.NotFound'],
        ['sg-0123456789abcdef0', 'InvalidGroup.NotFound'],
        ['key-0123456789abcdef0', 'InvalidKeyPair.NotFound'],
        ['ami-0123456789abcdef0', 'InvalidAMIID.NotFound'],
        ['eipalloc-0123456789abcdef0', 'InvalidAllocationID.NotFound'],
        ['vol-0123456789abcdef0', 'InvalidVolume.NotFound'],
        ['snap-0123456789abcdef0', 'InvalidSnapshot.NotFound'],
        ['i-nothex', 'InvalidID'],
        ['nonsense', 'InvalidID'],
        // A public image of the cloud's is not the project's to tag.
        [publicImage, 'InvalidAMIID.NotFound'],
      ];
      for (const [id, code] of cases) {
        await expectError(
          () =>
            w.client.send(
              new CreateTagsCommand({
                Resources: [w.instance, id],
                Tags: [{ Key: 'k', Value: 'v' }],
              }),
            ),
          code,
        );
        await expectError(() => w.client.send(new DeleteTagsCommand({ Resources: [id] })), code);
      }
      assert.deepEqual(await tagsOf(w.client, w.instance), []);

      const raw = (params: Record<string, string>) =>
        rawEc2(t.endpoint, t.region, w.credentials, { Version: '2016-11-15', ...params });
      const missing: Record<string, string>[] = [
        { Action: 'CreateTags', 'Tag.1.Key': 'k', 'Tag.1.Value': 'v' },
        { Action: 'CreateTags', 'ResourceId.1': w.instance },
        { Action: 'CreateTags', 'ResourceId.1': w.instance, 'Tag.1.Value': 'v' },
        { Action: 'DeleteTags' },
      ];
      for (const params of missing) {
        const r = await raw(params);
        assert.equal(r.status, 400, r.body);
        assert.equal(r.code, 'MissingParameter', r.body);
      }
      const badPaging: Record<string, string>[] = [
        { Action: 'DescribeTags', MaxResults: '2' },
        { Action: 'DescribeTags', NextToken: 'not-a-token' },
      ];
      for (const params of badPaging) {
        const r = await raw(params);
        assert.equal(r.status, 400, r.body);
        assert.equal(r.code, 'InvalidParameterValue', r.body);
      }
      assert.deepEqual(await tagsOf(w.client, w.instance), []);
    });

    it("keeps projects' tags apart; admin sees them all", async () => {
      const alice = await world();
      const bob = await t.newProject();
      await alice.client.send(
        new CreateTagsCommand({
          Resources: [alice.instance],
          Tags: [{ Key: 'owner', Value: 'alice' }],
        }),
      );
      for (const [id, code] of [
        [alice.instance, 'InvalidInstanceID.NotFound'],
        [alice.group, 'InvalidGroup.NotFound'],
        [alice.keyPair, 'InvalidKeyPair.NotFound'],
        [alice.allocation, 'InvalidAllocationID.NotFound'],
        [alice.image, 'InvalidAMIID.NotFound'],
      ] as const) {
        await expectError(
          () =>
            bob.client.send(
              new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'x', Value: 'y' }] }),
            ),
          code,
        );
        await expectError(() => bob.client.send(new DeleteTagsCommand({ Resources: [id] })), code);
      }
      assert.deepEqual(await describeTags(bob.client), []);
      assert.deepEqual(await tagsOf(alice.client, alice.instance), ['owner=alice']);
      assert.deepEqual(await tagsOf(t.admin, alice.instance), ['owner=alice']);
      // Admin may tag any project's resource; the tag belongs to that project.
      await t.admin.send(
        new CreateTagsCommand({
          Resources: [alice.group],
          Tags: [{ Key: 'audited', Value: 'yes' }],
        }),
      );
      assert.deepEqual(await tagsOf(alice.client, alice.group), ['audited=yes']);
    });

    it('forgets the tags of resources that are gone', async () => {
      const w = await world();
      await w.client.send(
        new CreateTagsCommand({
          Resources: [w.group, w.keyPair, w.allocation],
          Tags: [{ Key: 'doomed', Value: 'yes' }],
        }),
      );
      assert.equal((await describeTags(w.client, [{ Name: 'key', Values: ['doomed'] }])).length, 3);
      await w.client.send(new DeleteSecurityGroupCommand({ GroupId: w.group }));
      await w.client.send(new DeleteKeyPairCommand({ KeyPairId: w.keyPair }));
      await w.client.send(new ReleaseAddressCommand({ AllocationId: w.allocation }));
      assert.deepEqual(await describeTags(w.client, [{ Name: 'key', Values: ['doomed'] }]), []);
      // The next allocation of the same address starts without tags.
      const again = await w.client.send(new AllocateAddressCommand({ Domain: 'vpc' }));
      const eip = await w.client.send(
        new DescribeAddressesCommand({ AllocationIds: [again.AllocationId as string] }),
      );
      assert.deepEqual(eip.Addresses?.[0]?.Tags, []);
    });

    it('works from the AWS CLI', needs('awscli'), async () => {
      const w = await world();
      const env = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        AWS_ACCESS_KEY_ID: w.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: w.credentials.secretAccessKey,
        AWS_DEFAULT_REGION: t.region,
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
        AWS_EC2_METADATA_DISABLED: 'true',
      };
      const aws = (...args: string[]) =>
        run('/usr/bin/aws', ['--endpoint-url', t.endpoint, '--output', 'json', 'ec2', ...args], {
          env,
          timeout: 60_000,
        });
      await aws(
        'create-tags',
        '--resources',
        w.instance,
        '--tags',
        'Key=Name,Value=cli',
        'Key=bare',
      );
      const out = await aws('describe-tags', '--filters', `Name=resource-id,Values=${w.instance}`);
      const tags = (JSON.parse(out.stdout) as { Tags: TagDescription[] }).Tags;
      assert.deepEqual(tags.map((x) => `${x.ResourceType} ${x.Key}=${x.Value}`).sort(), [
        'instance Name=cli',
        'instance bare=',
      ]);
      await aws('delete-tags', '--resources', w.instance, '--tags', 'Key=Name');
      assert.deepEqual(await tagsOf(w.client, w.instance), ['bare=']);
    });
  });
}
