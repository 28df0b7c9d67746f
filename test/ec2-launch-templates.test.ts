// EC2 launch templates through the real AWS SDK against a whole cloud on the fake driver: every
// action and its errors, RunInstances from a template (with overrides and the template's
// tags), tags on lt- ids, another project's view; then the main path through the AWS CLI.
import {
  CreateKeyPairCommand,
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteLaunchTemplateCommand,
  DeleteLaunchTemplateVersionsCommand,
  DeleteTagsCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeTagsCommand,
  ModifyLaunchTemplateCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type DescribeLaunchTemplateVersionsCommandInput,
  type EC2Client,
  type Instance,
  type RequestLaunchTemplateData,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { needs } from './support/capabilities.js';
import { rawEc2, startTestCloud, type TestCloud } from './support/ec2.js';
import { expectError, failure } from './support/expect.js';
import { awsEc2 } from './support/awscli.js';

const type = (t: string) => t as _InstanceType;
const userData = Buffer.from('#!/bin/sh\necho from the template\n').toString('base64');

describe('EC2 launch templates', () => {
  let t: TestCloud;
  let imageId: string;
  let groupId: string;

  before(async () => {
    t = await startTestCloud();
    const image = await t.addImage({ name: 'lt-image' });
    imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
    await t.admin.send(new CreateKeyPairCommand({ KeyName: 'lt-key' }));
    const g = await t.admin.send(
      new CreateSecurityGroupCommand({ GroupName: 'lt-web', Description: 'web' }),
    );
    groupId = g.GroupId as string;
  });
  after(() => t.stop());

  const create = (name: string, data: RequestLaunchTemplateData, more = {}, client?: EC2Client) =>
    (client ?? t.admin).send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: name,
        LaunchTemplateData: data,
        ...more,
      }),
    );
  const instanceOf = async (id: string): Promise<Instance> => {
    const r = await t.admin.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    return r.Reservations?.[0]?.Instances?.[0] as Instance;
  };
  const tagsOf = (i: Instance) =>
    Object.fromEntries((i.Tags ?? []).map((x) => [x.Key as string, x.Value as string]));

  it('creates a template with its first version, tags and an idempotent ClientToken', async () => {
    const data: RequestLaunchTemplateData = {
      ImageId: imageId,
      InstanceType: type('m1.tiny'),
      KeyName: 'lt-key',
      SecurityGroupIds: [groupId],
      UserData: userData,
      DisableApiStop: true,
      InstanceInitiatedShutdownBehavior: 'terminate',
      Placement: { AvailabilityZone: t.cloud.config.compute.availabilityZone },
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'role', Value: 'web' }] }],
    };
    const r = await create('web-tmpl', data, {
      VersionDescription: 'first',
      ClientToken: 'token-web-tmpl',
      TagSpecifications: [{ ResourceType: 'launch-template', Tags: [{ Key: 'team', Value: 'a' }] }],
    });
    const lt = r.LaunchTemplate;
    assert.match(lt?.LaunchTemplateId ?? '', /^lt-[0-9a-f]{17}$/);
    assert.equal(lt?.LaunchTemplateName, 'web-tmpl');
    assert.equal(lt?.DefaultVersionNumber, 1);
    assert.equal(lt?.LatestVersionNumber, 1);
    assert.ok(lt?.CreateTime instanceof Date);
    assert.match(lt?.CreatedBy ?? '', /^arn:aws:iam::/);
    assert.deepEqual(lt?.Tags, [{ Key: 'team', Value: 'a' }]);

    // The same token answers the same template, even though the name now exists.
    const again = await create('web-tmpl', data, { ClientToken: 'token-web-tmpl' });
    assert.equal(again.LaunchTemplate?.LaunchTemplateId, lt?.LaunchTemplateId);
    await expectError(
      () => create('web-tmpl', data),
      'InvalidLaunchTemplateName.AlreadyExistsException',
    );

    const v = await t.admin.send(
      new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: lt?.LaunchTemplateId }),
    );
    assert.equal(v.LaunchTemplateVersions?.length, 1);
    const first = v.LaunchTemplateVersions?.[0];
    assert.equal(first?.VersionNumber, 1);
    assert.equal(first?.VersionDescription, 'first');
    assert.equal(first?.DefaultVersion, true);
    const d = first?.LaunchTemplateData;
    assert.equal(d?.ImageId, imageId);
    assert.equal(d?.InstanceType, 'm1.tiny');
    assert.equal(d?.KeyName, 'lt-key');
    assert.deepEqual(d?.SecurityGroupIds, [groupId]);
    assert.equal(d?.UserData, userData);
    assert.equal(d?.DisableApiStop, true);
    assert.equal(d?.InstanceInitiatedShutdownBehavior, 'terminate');
    assert.equal(d?.Placement?.AvailabilityZone, t.cloud.config.compute.availabilityZone);
    assert.deepEqual(d?.TagSpecifications, [
      { ResourceType: 'instance', Tags: [{ Key: 'role', Value: 'web' }] },
    ]);
  });

  it('refuses bad names, empty data, members this cloud cannot honour and malformed ids', async () => {
    await expectError(
      () => create('has spaces', { ImageId: imageId }),
      'InvalidLaunchTemplateName.MalformedException',
    );
    await expectError(
      () => create('ab', { ImageId: imageId }),
      'InvalidLaunchTemplateName.MalformedException',
    );
    await expectError(() => create('empty-data', {}), 'MissingParameter');
    await expectError(
      () => create('iam', { ImageId: imageId, IamInstanceProfile: { Name: 'role' } }),
      'UnsupportedOperation',
    );
    const e = await failure(() =>
      create('cpu', { ImageId: imageId, CpuOptions: { CoreCount: 2 } }),
    );
    assert.equal(e.code, 'UnsupportedOperation');
    assert.match(e.message, /LaunchTemplateData\.CpuOptions\.CoreCount/);
    await expectError(
      () => create('mon', { ImageId: imageId, Monitoring: { Enabled: true } }),
      'UnsupportedOperation',
    );
    await expectError(() => create('bad-ami', { ImageId: 'ami-nothex' }), 'InvalidAMIID.Malformed');
    await expectError(
      () => create('bad-sg', { SecurityGroupIds: ['sg-zz'] }),
      'InvalidGroupId.Malformed',
    );
    await expectError(
      () => create('bad-ud', { ImageId: imageId, UserData: 'not base64!' }),
      'InvalidUserData.Malformed',
    );
    await expectError(
      () =>
        create('bad-tag-type', {
          ImageId: imageId,
          TagSpecifications: [{ ResourceType: 'snapshot', Tags: [{ Key: 'a', Value: 'b' }] }],
        }),
      'InvalidParameterValue',
    );
    // Ids are checked for their form only: an image that does not exist is taken here and
    // refused when a launch uses it.
    const r = await create('ghost-image', { ImageId: 'ami-0123456789abcdef0' });
    assert.equal(r.LaunchTemplate?.LatestVersionNumber, 1);
    // Nothing was made by the refused requests.
    const all = await t.admin.send(new DescribeLaunchTemplatesCommand({}));
    assert.deepEqual(all.LaunchTemplates?.map((x) => x.LaunchTemplateName).sort(), [
      'ghost-image',
      'web-tmpl',
    ]);
  });

  it('makes new versions from a source version, or from the data alone', async () => {
    const v2 = await t.admin.send(
      new CreateLaunchTemplateVersionCommand({
        LaunchTemplateName: 'web-tmpl',
        SourceVersion: '1',
        VersionDescription: 'smaller',
        LaunchTemplateData: { InstanceType: type('m1.nano') },
      }),
    );
    const d2 = v2.LaunchTemplateVersion?.LaunchTemplateData;
    assert.equal(v2.LaunchTemplateVersion?.VersionNumber, 2);
    assert.equal(v2.LaunchTemplateVersion?.DefaultVersion, false);
    assert.equal(d2?.InstanceType, 'm1.nano');
    assert.equal(d2?.ImageId, imageId, 'inherited from version 1');
    assert.equal(d2?.KeyName, 'lt-key');

    const v3 = await t.admin.send(
      new CreateLaunchTemplateVersionCommand({
        LaunchTemplateName: 'web-tmpl',
        LaunchTemplateData: { InstanceType: type('m1.small') },
      }),
    );
    assert.equal(v3.LaunchTemplateVersion?.VersionNumber, 3);
    assert.equal(v3.LaunchTemplateVersion?.LaunchTemplateData?.ImageId, undefined);

    await expectError(
      () =>
        t.admin.send(
          new CreateLaunchTemplateVersionCommand({
            LaunchTemplateName: 'web-tmpl',
            SourceVersion: '9',
            LaunchTemplateData: { InstanceType: type('m1.nano') },
          }),
        ),
      'InvalidLaunchTemplateId.VersionNotFound',
    );
    await expectError(
      () =>
        t.admin.send(
          new CreateLaunchTemplateVersionCommand({
            LaunchTemplateName: 'no-such-template',
            LaunchTemplateData: { InstanceType: type('m1.nano') },
          }),
        ),
      'InvalidLaunchTemplateName.NotFoundException',
    );
    const lt = await t.admin.send(
      new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: ['web-tmpl'] }),
    );
    assert.equal(lt.LaunchTemplates?.[0]?.LatestVersionNumber, 3);
    assert.equal(lt.LaunchTemplates?.[0]?.DefaultVersionNumber, 1);
  });

  it('describes templates by id, name, filters and pages, and refuses unknown ones', async () => {
    const byName = await t.admin.send(
      new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: ['web-tmpl'] }),
    );
    const id = byName.LaunchTemplates?.[0]?.LaunchTemplateId as string;
    const byId = await t.admin.send(
      new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [id] }),
    );
    assert.equal(byId.LaunchTemplates?.[0]?.LaunchTemplateName, 'web-tmpl');
    const filtered = await t.admin.send(
      new DescribeLaunchTemplatesCommand({
        Filters: [{ Name: 'launch-template-name', Values: ['web-*'] }],
      }),
    );
    assert.deepEqual(
      filtered.LaunchTemplates?.map((x) => x.LaunchTemplateName),
      ['web-tmpl'],
    );
    const tagged = await t.admin.send(
      new DescribeLaunchTemplatesCommand({ Filters: [{ Name: 'tag:team', Values: ['a'] }] }),
    );
    assert.deepEqual(
      tagged.LaunchTemplates?.map((x) => x.LaunchTemplateId),
      [id],
    );

    const page1 = await t.admin.send(new DescribeLaunchTemplatesCommand({ MaxResults: 1 }));
    assert.equal(page1.LaunchTemplates?.length, 1);
    assert.ok(page1.NextToken);
    const page2 = await t.admin.send(
      new DescribeLaunchTemplatesCommand({ MaxResults: 1, NextToken: page1.NextToken }),
    );
    assert.equal(page2.LaunchTemplates?.length, 1);
    assert.equal(page2.NextToken, undefined);
    assert.notEqual(
      page1.LaunchTemplates?.[0]?.LaunchTemplateId,
      page2.LaunchTemplates?.[0]?.LaunchTemplateId,
    );

    await expectError(
      () =>
        t.admin.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: ['nope-nope'] })),
      'InvalidLaunchTemplateName.NotFoundException',
    );
    await expectError(
      () =>
        t.admin.send(
          new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: ['lt-0123456789abcdef0'] }),
        ),
      'InvalidLaunchTemplateId.NotFound',
    );
    await expectError(
      () => t.admin.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: ['lt-xyz'] })),
      'InvalidLaunchTemplateId.Malformed',
    );
    await expectError(
      () =>
        t.admin.send(
          new DescribeLaunchTemplatesCommand({
            Filters: [{ Name: 'no-such-filter', Values: ['x'] }],
          }),
        ),
      'InvalidParameterValue',
    );
  });

  it('describes versions: numbers, $Latest, $Default, ranges, filters, and every template', async () => {
    const versions = async (input: DescribeLaunchTemplateVersionsCommandInput) =>
      (
        (await t.admin.send(new DescribeLaunchTemplateVersionsCommand(input)))
          .LaunchTemplateVersions ?? []
      ).map((v) => `${v.LaunchTemplateName}:${v.VersionNumber}`);
    const name = 'web-tmpl';
    assert.deepEqual(await versions({ LaunchTemplateName: name }), [
      'web-tmpl:1',
      'web-tmpl:2',
      'web-tmpl:3',
    ]);
    assert.deepEqual(await versions({ LaunchTemplateName: name, Versions: ['$Latest'] }), [
      'web-tmpl:3',
    ]);
    assert.deepEqual(await versions({ LaunchTemplateName: name, Versions: ['$Default', '2'] }), [
      'web-tmpl:1',
      'web-tmpl:2',
    ]);
    assert.deepEqual(
      await versions({ LaunchTemplateName: name, MinVersion: '2', MaxVersion: '2' }),
      ['web-tmpl:2'],
    );
    assert.deepEqual(
      await versions({
        LaunchTemplateName: name,
        Filters: [{ Name: 'is-default-version', Values: ['false'] }],
      }),
      ['web-tmpl:2', 'web-tmpl:3'],
    );
    assert.deepEqual(
      await versions({
        LaunchTemplateName: name,
        Filters: [{ Name: 'instance-type', Values: ['m1.nano'] }],
      }),
      ['web-tmpl:2'],
    );
    // Filters on what no version here holds match nothing.
    assert.deepEqual(
      await versions({
        LaunchTemplateName: name,
        Filters: [{ Name: 'http-tokens', Values: ['required'] }],
      }),
      [],
    );
    assert.deepEqual(await versions({ Versions: ['$Latest'] }), ['web-tmpl:3', 'ghost-image:1']);
    const paged = await t.admin.send(
      new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: name, MaxResults: 2 }),
    );
    assert.equal(paged.LaunchTemplateVersions?.length, 2);
    const rest = await t.admin.send(
      new DescribeLaunchTemplateVersionsCommand({
        LaunchTemplateName: name,
        MaxResults: 2,
        NextToken: paged.NextToken,
      }),
    );
    assert.deepEqual(
      rest.LaunchTemplateVersions?.map((v) => v.VersionNumber),
      [3],
    );

    await expectError(
      () =>
        t.admin.send(
          new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: name, Versions: ['7'] }),
        ),
      'InvalidLaunchTemplateId.VersionNotFound',
    );
    await expectError(
      () => t.admin.send(new DescribeLaunchTemplateVersionsCommand({ Versions: ['2'] })),
      'InvalidParameterCombination',
    );
    await expectError(
      () =>
        t.admin.send(
          new DescribeLaunchTemplateVersionsCommand({
            LaunchTemplateName: name,
            LaunchTemplateId: 'lt-0123456789abcdef0',
          }),
        ),
      'InvalidParameterCombination',
    );
  });

  it('sets the default version, and refuses one that does not exist', async () => {
    const r = await t.admin.send(
      new ModifyLaunchTemplateCommand({ LaunchTemplateName: 'web-tmpl', DefaultVersion: '2' }),
    );
    assert.equal(r.LaunchTemplate?.DefaultVersionNumber, 2);
    assert.equal(r.LaunchTemplate?.LatestVersionNumber, 3);
    await expectError(
      () =>
        t.admin.send(
          new ModifyLaunchTemplateCommand({
            LaunchTemplateName: 'web-tmpl',
            DefaultVersion: '666',
          }),
        ),
      'InvalidLaunchTemplateId.VersionNotFound',
    );
    const v = await t.admin.send(
      new DescribeLaunchTemplateVersionsCommand({
        LaunchTemplateName: 'web-tmpl',
        Versions: ['$Default'],
      }),
    );
    assert.equal(v.LaunchTemplateVersions?.[0]?.VersionNumber, 2);
  });

  it('launches from a template: default, latest or a number, with the request winning', async () => {
    const byName = await t.admin.send(
      new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        LaunchTemplate: { LaunchTemplateName: 'web-tmpl' },
        TagSpecifications: [
          {
            ResourceType: 'instance',
            Tags: [
              { Key: 'role', Value: 'db' },
              { Key: 'extra', Value: '1' },
            ],
          },
        ],
      }),
    );
    const a = await instanceOf(byName.Instances?.[0]?.InstanceId as string);
    const lt = await t.admin.send(
      new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: ['web-tmpl'] }),
    );
    const ltId = lt.LaunchTemplates?.[0]?.LaunchTemplateId as string;
    // The default version (2): m1.nano, with version 1's image, key, groups and flags.
    assert.equal(a.InstanceType, 'm1.nano');
    assert.equal(a.ImageId, imageId);
    assert.equal(a.KeyName, 'lt-key');
    assert.deepEqual(
      a.SecurityGroups?.map((g) => g.GroupId),
      [groupId],
    );
    assert.deepEqual(tagsOf(a), {
      role: 'db',
      extra: '1',
      'aws:ec2launchtemplate:id': ltId,
      'aws:ec2launchtemplate:version': '2',
    });
    const attr = (Attribute: 'instanceInitiatedShutdownBehavior' | 'disableApiStop' | 'userData') =>
      t.admin.send(new DescribeInstanceAttributeCommand({ InstanceId: a.InstanceId, Attribute }));
    assert.equal(
      (await attr('instanceInitiatedShutdownBehavior')).InstanceInitiatedShutdownBehavior?.Value,
      'terminate',
    );
    assert.equal((await attr('disableApiStop')).DisableApiStop?.Value, true);
    assert.equal((await attr('userData')).UserData?.Value, userData);

    const byId = await t.admin.send(
      new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        InstanceType: type('m1.tiny'),
        LaunchTemplate: { LaunchTemplateId: ltId, Version: '1' },
      }),
    );
    const b = await instanceOf(byId.Instances?.[0]?.InstanceId as string);
    assert.equal(b.InstanceType, 'm1.tiny');
    assert.deepEqual(tagsOf(b), {
      role: 'web',
      'aws:ec2launchtemplate:id': ltId,
      'aws:ec2launchtemplate:version': '1',
    });

    // $Latest (3) has no image: the request must give one, or it is missing.
    await expectError(
      () =>
        t.admin.send(
          new RunInstancesCommand({
            MinCount: 1,
            MaxCount: 1,
            LaunchTemplate: { LaunchTemplateName: 'web-tmpl', Version: '$Latest' },
          }),
        ),
      'MissingParameter',
    );
    const latest = await t.admin.send(
      new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        ImageId: imageId,
        LaunchTemplate: { LaunchTemplateName: 'web-tmpl', Version: '$Latest' },
      }),
    );
    const c = await instanceOf(latest.Instances?.[0]?.InstanceId as string);
    assert.equal(c.InstanceType, 'm1.small');
    assert.equal(tagsOf(c)['aws:ec2launchtemplate:version'], '3');

    // A template's reference is checked when a launch uses it.
    await expectError(
      () =>
        t.admin.send(
          new RunInstancesCommand({
            MinCount: 1,
            MaxCount: 1,
            LaunchTemplate: { LaunchTemplateName: 'ghost-image' },
          }),
        ),
      'InvalidAMIID.NotFound',
    );
    await expectError(
      () =>
        t.admin.send(
          new RunInstancesCommand({
            MinCount: 1,
            MaxCount: 1,
            LaunchTemplate: { LaunchTemplateName: 'web-tmpl', Version: '42' },
          }),
        ),
      'InvalidLaunchTemplateId.VersionNotFound',
    );
    await expectError(
      () =>
        t.admin.send(
          new RunInstancesCommand({
            MinCount: 1,
            MaxCount: 1,
            LaunchTemplate: { LaunchTemplateId: 'lt-12' },
          }),
        ),
      'InvalidLaunchTemplateId.Malformed',
    );
    // The template's tags are the cloud's: a user cannot remove them.
    await expectError(
      () =>
        t.admin.send(
          new DeleteTagsCommand({
            Resources: [a.InstanceId as string],
            Tags: [{ Key: 'aws:ec2launchtemplate:id' }],
          }),
        ),
      'InvalidParameterValue',
    );
    await t.admin.send(
      new TerminateInstancesCommand({
        InstanceIds: [a.InstanceId, b.InstanceId, c.InstanceId].map(String),
      }),
    );
  });

  it('keeps MetadataOptions in a version; a launch takes them, its own options winning one by one', async () => {
    const created = await t.admin.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: 'imds-tmpl',
        LaunchTemplateData: {
          ImageId: imageId,
          MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2 },
        },
      }),
    );
    const ltId = created.LaunchTemplate?.LaunchTemplateId as string;
    const versions = await t.admin.send(
      new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: ltId }),
    );
    const shown = versions.LaunchTemplateVersions?.[0]?.LaunchTemplateData?.MetadataOptions;
    assert.equal(shown?.HttpTokens, 'required');
    assert.equal(shown?.HttpPutResponseHopLimit, 2);

    const launch = async (own?: { HttpTokens?: 'optional'; InstanceMetadataTags?: 'enabled' }) => {
      const r = await t.admin.send(
        new RunInstancesCommand({
          MinCount: 1,
          MaxCount: 1,
          LaunchTemplate: { LaunchTemplateId: ltId },
          ...(own ? { MetadataOptions: own } : {}),
        }),
      );
      return (await instanceOf(r.Instances?.[0]?.InstanceId as string)).MetadataOptions;
    };
    const fromTemplate = await launch();
    assert.equal(fromTemplate?.HttpTokens, 'required');
    assert.equal(fromTemplate?.HttpPutResponseHopLimit, 2);
    const mixed = await launch({ HttpTokens: 'optional', InstanceMetadataTags: 'enabled' });
    assert.equal(mixed?.HttpTokens, 'optional');
    assert.equal(mixed?.HttpPutResponseHopLimit, 2);
    assert.equal(mixed?.InstanceMetadataTags, 'enabled');

    // A value the metadata service refuses is refused in a template too.
    const e = await failure(() =>
      t.admin.send(
        new CreateLaunchTemplateVersionCommand({
          LaunchTemplateId: ltId,
          LaunchTemplateData: { MetadataOptions: { HttpProtocolIpv6: 'enabled' } },
        }),
      ),
    );
    assert.equal(e.code, 'UnsupportedOperation');
  });

  it("does not count the template's aws: tags against an instance's 50", async () => {
    const tags = Array.from({ length: 48 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
    await create('many-tags', {
      ImageId: imageId,
      InstanceType: type('m1.nano'),
      TagSpecifications: [{ ResourceType: 'instance', Tags: tags }],
    });
    const r = await t.admin.send(
      new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        LaunchTemplate: { LaunchTemplateName: 'many-tags' },
      }),
    );
    const id = r.Instances?.[0]?.InstanceId as string;
    assert.equal(Object.keys(tagsOf(await instanceOf(id))).length, 50);
    await t.admin.send(
      new CreateTagsCommand({
        Resources: [id],
        Tags: [
          { Key: 'k48', Value: 'v' },
          { Key: 'k49', Value: 'v' },
        ],
      }),
    );
    await expectError(
      () =>
        t.admin.send(
          new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'k50', Value: 'v' }] }),
        ),
      'TagLimitExceeded',
    );
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await t.admin.send(new DeleteLaunchTemplateCommand({ LaunchTemplateName: 'many-tags' }));
  });

  it('tags templates by their lt- id through CreateTags, DescribeTags and DeleteTags', async () => {
    const lt = await t.admin.send(
      new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: ['ghost-image'] }),
    );
    const id = lt.LaunchTemplates?.[0]?.LaunchTemplateId as string;
    await t.admin.send(
      new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'env', Value: 'test' }] }),
    );
    const tags = await t.admin.send(
      new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [id] }] }),
    );
    assert.deepEqual(
      tags.Tags?.map((x) => [x.ResourceType, x.Key, x.Value]),
      [['launch-template', 'env', 'test']],
    );
    const shown = await t.admin.send(
      new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [id] }),
    );
    assert.deepEqual(shown.LaunchTemplates?.[0]?.Tags, [{ Key: 'env', Value: 'test' }]);
    await t.admin.send(new DeleteTagsCommand({ Resources: [id], Tags: [{ Key: 'env' }] }));
    const none = await t.admin.send(
      new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [id] }] }),
    );
    assert.deepEqual(none.Tags, []);
    await expectError(
      () =>
        t.admin.send(
          new CreateTagsCommand({
            Resources: ['lt-0123456789abcdef0'],
            Tags: [{ Key: 'a', Value: 'b' }],
          }),
        ),
      'InvalidLaunchTemplateId.NotFound',
    );
  });

  it('deletes versions one by one, never the default, and then the template', async () => {
    const r = await t.admin.send(
      new DeleteLaunchTemplateVersionsCommand({
        LaunchTemplateName: 'web-tmpl',
        Versions: ['1', '2', '7'],
      }),
    );
    assert.deepEqual(
      r.SuccessfullyDeletedLaunchTemplateVersions?.map((v) => v.VersionNumber),
      [1],
    );
    assert.deepEqual(
      r.UnsuccessfullyDeletedLaunchTemplateVersions?.map((v) => [
        v.VersionNumber,
        v.ResponseError?.Code,
      ]),
      [
        [2, 'unexpectedError'],
        [7, 'launchTemplateVersionDoesNotExist'],
      ],
    );
    // Deleting the latest lowers the latest version number; numbers are not given twice.
    const d3 = await t.admin.send(
      new DeleteLaunchTemplateVersionsCommand({ LaunchTemplateName: 'web-tmpl', Versions: ['3'] }),
    );
    assert.deepEqual(
      d3.SuccessfullyDeletedLaunchTemplateVersions?.map((v) => v.VersionNumber),
      [3],
    );
    const lt = await t.admin.send(
      new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: ['web-tmpl'] }),
    );
    assert.equal(lt.LaunchTemplates?.[0]?.LatestVersionNumber, 2);
    const v4 = await t.admin.send(
      new CreateLaunchTemplateVersionCommand({
        LaunchTemplateName: 'web-tmpl',
        LaunchTemplateData: { InstanceType: type('m1.tiny') },
      }),
    );
    assert.equal(v4.LaunchTemplateVersion?.VersionNumber, 4);

    const id = lt.LaunchTemplates?.[0]?.LaunchTemplateId as string;
    const gone = await t.admin.send(new DeleteLaunchTemplateCommand({ LaunchTemplateId: id }));
    assert.equal(gone.LaunchTemplate?.LaunchTemplateName, 'web-tmpl');
    await expectError(
      () => t.admin.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [id] })),
      'InvalidLaunchTemplateId.NotFound',
    );
    await expectError(
      () => t.admin.send(new DeleteLaunchTemplateCommand({ LaunchTemplateName: 'web-tmpl' })),
      'InvalidLaunchTemplateName.NotFoundException',
    );
    const tags = await t.admin.send(
      new DescribeTagsCommand({
        Filters: [{ Name: 'resource-type', Values: ['launch-template'] }],
      }),
    );
    assert.deepEqual(tags.Tags, []);
    // The name is free again.
    await create('web-tmpl', { ImageId: imageId });
  });

  it('keeps each project to its own templates, and checks what the SDK would not send', async () => {
    const other = await t.newProject();
    await expectError(
      () =>
        other.client.send(
          new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: ['web-tmpl'] }),
        ),
      'InvalidLaunchTemplateName.NotFoundException',
    );
    assert.deepEqual(
      (await other.client.send(new DescribeLaunchTemplatesCommand({}))).LaunchTemplates,
      [],
    );
    // The same name in another project is another template.
    const mine = await create('web-tmpl', { InstanceType: type('m1.tiny') }, {}, other.client);
    assert.match(mine.LaunchTemplate?.LaunchTemplateId ?? '', /^lt-/);

    const raw = (params: Record<string, string>) =>
      rawEc2(t.endpoint, t.region, t.adminCredentials, { Version: '2016-11-15', ...params });
    const missing = await raw({
      Action: 'CreateLaunchTemplate',
      'LaunchTemplateData.ImageId': imageId,
    });
    assert.equal(missing.code, 'MissingParameter');
    const noVersions = await raw({
      Action: 'DeleteLaunchTemplateVersions',
      LaunchTemplateName: 'web-tmpl',
    });
    assert.equal(noVersions.code, 'MissingParameter');
    const operator = await raw({
      Action: 'CreateLaunchTemplate',
      LaunchTemplateName: 'op',
      'LaunchTemplateData.ImageId': imageId,
      'Operator.Principal': 'someone',
    });
    assert.equal(operator.code, 'UnsupportedOperation');
    const noTemplate = await raw({ Action: 'ModifyLaunchTemplate', SetDefaultVersion: '1' });
    assert.equal(noTemplate.code, 'MissingParameter');
    assert.equal(noTemplate.status, 400);
  });
});

describe(
  'EC2 launch templates through the AWS CLI',
  // Debian's AWS CLI, as users run it.
  needs('awscli'),
  () => {
    let t: TestCloud;
    let home: string;
    let imageId: string;

    before(async () => {
      t = await startTestCloud();
      const image = await t.addImage({ name: 'lt-cli-image' });
      imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
      home = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-awscli-'));
    });
    after(async () => {
      await t.stop();
      fs.rmSync(home, { recursive: true, force: true });
    });

    const cli = () =>
      awsEc2({
        endpoint: t.endpoint,
        region: t.region,
        credentials: t.adminCredentials,
        home,
      });
    const aws = (...args: string[]) => cli().run(...args);
    const json = (...args: string[]) => cli().json(...args);

    it('creates a template, launches from it, lists its versions and deletes it', async () => {
      const created = (await json(
        'create-launch-template',
        '--launch-template-name',
        'cli-tmpl',
        '--version-description',
        'from the CLI',
        '--launch-template-data',
        JSON.stringify({ ImageId: imageId, InstanceType: 'm1.tiny' }),
      )) as { LaunchTemplate: { LaunchTemplateId: string; LatestVersionNumber: number } };
      const id = created.LaunchTemplate.LaunchTemplateId;
      assert.match(id, /^lt-/);
      await json(
        'create-launch-template-version',
        '--launch-template-id',
        id,
        '--source-version',
        '1',
        '--launch-template-data',
        JSON.stringify({ InstanceType: 'm1.nano' }),
      );
      const run = (await json(
        'run-instances',
        '--launch-template',
        'LaunchTemplateName=cli-tmpl,Version=2',
        '--count',
        '1',
      )) as { Instances: { InstanceId: string; InstanceType: string; ImageId: string }[] };
      const inst = run.Instances[0];
      assert.equal(inst?.InstanceType, 'm1.nano');
      assert.equal(inst?.ImageId, imageId);

      const versions = (await json(
        'describe-launch-template-versions',
        '--launch-template-id',
        id,
      )) as {
        LaunchTemplateVersions: { VersionNumber: number; DefaultVersion: boolean }[];
      };
      assert.deepEqual(
        versions.LaunchTemplateVersions.map((v) => [v.VersionNumber, v.DefaultVersion]),
        [
          [1, true],
          [2, false],
        ],
      );
      const described = (await json(
        'describe-instances',
        '--instance-ids',
        inst?.InstanceId ?? '',
      )) as {
        Reservations: { Instances: { Tags: { Key: string; Value: string }[] }[] }[];
      };
      const tags = described.Reservations[0]?.Instances[0]?.Tags ?? [];
      assert.ok(tags.some((x) => x.Key === 'aws:ec2launchtemplate:id' && x.Value === id));

      await json('terminate-instances', '--instance-ids', inst?.InstanceId ?? '');
      const deleted = (await json('delete-launch-template', '--launch-template-id', id)) as {
        LaunchTemplate: { LaunchTemplateName: string };
      };
      assert.equal(deleted.LaunchTemplate.LaunchTemplateName, 'cli-tmpl');
      const gone = await aws('describe-launch-templates', '--launch-template-ids', id);
      assert.notEqual(gone.code, 0);
      assert.match(gone.stderr, /InvalidLaunchTemplateId\.NotFound/);
    });
  },
);
