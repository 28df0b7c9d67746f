// The EC2 parameter table (src/api/ec2/parameters/, docs/ec2-parameters.md) walked against a
// whole cloud on the fake driver through raw signed requests: every action answers an unknown
// parameter with UnknownParameter, every refused parameter with its declared error, and accepts
// every ignored one and every value a refused one accepts; DryRun runs nothing. Then, through
// the AWS SDK, the parameters the audit found dropped and made honoured or refused.
import {
  AllocateAddressCommand,
  DescribeAddressesCommand,
  DescribeAvailabilityZonesCommand,
  DescribeInstancesCommand,
  DescribeInstanceStatusCommand,
  DescribeInstanceTypesCommand,
  ReleaseAddressCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  type _InstanceType,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { EC2_PARAMETERS, type ParameterRule } from '../src/api/ec2/parameters/index.js';
import { ImageStore } from '../src/image/index.js';
import { needs } from './support/capabilities.js';
import { rawEc2, startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { documentedParameters } from './support/ec2-model.js';

const VERSION = '2016-11-15';
const run = promisify(execFile);

/** A concrete parameter name for a declared pattern: indexes 1, a `.*` pattern's first leaf. */
function concrete(action: string, pattern: string): string {
  let name = pattern;
  if (pattern.endsWith('.*')) {
    const prefix = pattern.slice(0, -1);
    const leaf = (documentedParameters(action) ?? []).find((p) => p.startsWith(prefix));
    assert.ok(leaf, `${action} ${pattern} covers a documented parameter`);
    name = leaf;
  }
  return name.replace(/\.N(?=\.|$)/g, '.1');
}

function each(use: ParameterRule['use']): [string, string, ParameterRule][] {
  return Object.entries(EC2_PARAMETERS).flatMap(([action, rules]) =>
    Object.entries(rules)
      .filter(([, rule]) => rule.use === use)
      .map(([pattern, rule]): [string, string, ParameterRule] => [action, pattern, rule]),
  );
}

describe('EC2 parameters as docs/ec2-parameters.md declares them', () => {
  let t: TestCloud;
  let imageId: string;
  let instanceId: string;
  const raw = (params: Record<string, string>) =>
    rawEc2(t.endpoint, t.region, t.adminCredentials, { Version: VERSION, ...params });

  const liveInstances = async () => {
    const r = await t.admin.send(new DescribeInstancesCommand({}));
    return (r.Reservations ?? [])
      .flatMap((x) => x.Instances ?? [])
      .filter((i) => i.State?.Name !== 'terminated').length;
  };
  const state = async (id: string) => {
    const r = await t.admin.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    return r.Reservations?.[0]?.Instances?.[0]?.State?.Name;
  };
  const launch = async (extra: Partial<RunInstancesCommandInput> = {}): Promise<string[]> => {
    const r = await t.admin.send(
      new RunInstancesCommand({
        ImageId: imageId,
        InstanceType: 'm1.nano' as _InstanceType,
        MinCount: 1,
        MaxCount: 1,
        ...extra,
      }),
    );
    const ids = (r.Instances ?? []).map((i) => i.InstanceId as string);
    for (const id of ids)
      await waitUntil(async () => (await state(id)) === 'running', 10_000, `${id} running`);
    return ids;
  };

  before(async () => {
    t = await startTestCloud({ 'quota-instances': '40', 'quota-cores': '80' });
    const image = await t.addImage({ name: 'parameters-image' });
    imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
    [instanceId] = (await launch()) as [string];
  });
  after(() => t.stop());

  it('answers a parameter the action does not declare with UnknownParameter, on every action', async () => {
    const wrong: string[] = [];
    for (const action of Object.keys(EC2_PARAMETERS)) {
      const r = await raw({ Action: action, 'NoSuch.1.Parameter': 'x' });
      if (
        r.status !== 400 ||
        r.code !== 'UnknownParameter' ||
        !r.body.includes('NoSuch.1.Parameter')
      )
        wrong.push(`${action}: ${r.status} ${r.code}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('refuses every refused parameter sent with a refusable value, with its error naming it', async () => {
    const before = await liveInstances();
    const wrong: string[] = [];
    const refused = each('refused');
    assert.ok(refused.length > 50, `only ${refused.length} refused parameters`);
    for (const [action, pattern, rule] of refused) {
      if (rule.use !== 'refused') continue;
      const name = concrete(action, pattern);
      // With what the action needs besides, so that only the parameter can be refused.
      const r = await raw({ Action: action, ...basics(action), [name]: rule.sample });
      const ok =
        r.status === 400 &&
        r.code === rule.code &&
        r.body.includes(`<Message>`) &&
        r.body.includes(name);
      if (!ok) wrong.push(`${action} ${name}=${rule.sample}: ${r.status} ${r.code}`);
    }
    assert.deepEqual(wrong, []);
    assert.equal(await liveInstances(), before, 'a refused request launched nothing');
  });

  it('accepts every ignored parameter and every value a refused one accepts (DryRun)', async () => {
    const wrong: string[] = [];
    const accepted: [string, string, string][] = [
      ...each('ignored').map(([a, p, r]): [string, string, string] => [
        a,
        p,
        r.use === 'ignored' ? r.sample : '',
      ]),
      ...each('refused').flatMap(([a, p, r]) =>
        (r.use === 'refused' ? (r.accepts ?? []) : []).map((v): [string, string, string] => [
          a,
          p,
          v,
        ]),
      ),
    ];
    for (const [action, pattern, value] of accepted) {
      const name = concrete(action, pattern);
      // An action without DryRun (ModifyVpcAttribute, ModifySubnetAttribute) runs: the value
      // passes its declaration, then the action asks for the id it needs.
      const dry = Object.hasOwn(EC2_PARAMETERS[action] ?? {}, 'DryRun');
      const r = await raw({ Action: action, ...(dry ? { DryRun: 'true' } : {}), [name]: value });
      const ok = dry
        ? r.status === 412 && r.code === 'DryRunOperation'
        : r.code === 'MissingParameter';
      if (!ok) wrong.push(`${action} ${name}=${value}: ${r.status} ${r.code}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('runs actions with their ignored parameters as without them', async () => {
    const cases: Record<string, string>[] = [
      { Action: 'DescribeInstances', IncludeManagedResources: 'true' },
      { Action: 'DescribeInstanceStatus', IncludeManagedResources: 'false' },
      { Action: 'DescribeInstanceTypes', IncludeUnsupportedInRegion: 'true' },
      { Action: 'DescribeImages', IncludeDeprecated: 'true', IncludeDisabled: 'true' },
      { Action: 'DescribeRegions', AllRegions: 'true' },
      { Action: 'DescribeAvailabilityZones', AllAvailabilityZones: 'true' },
      { Action: 'GetConsoleOutput', InstanceId: instanceId, Latest: 'true' },
      { Action: 'UnmonitorInstances', 'InstanceId.1': instanceId, 'MetricCategoryId.1': 'x' },
      {
        Action: 'RunInstances',
        ImageId: imageId,
        InstanceType: 'm1.nano',
        MinCount: '1',
        MaxCount: '1',
        AdditionalInfo: 'anything',
        'CreditSpecification.CpuCredits': 'unlimited',
        'Monitoring.Enabled': 'false',
        'Placement.Tenancy': 'default',
      },
    ];
    for (const params of cases) {
      const r = await raw(params);
      assert.equal(r.status, 200, `${params['Action']}: ${r.code} ${r.body.slice(0, 300)}`);
    }
    const [doomed] = (await launch()) as [string];
    const r = await raw({
      Action: 'TerminateInstances',
      'InstanceId.1': doomed,
      Force: 'true',
      SkipOsShutdown: 'true',
    });
    assert.equal(r.status, 200, r.body);
  });

  it(
    'registers and deregisters an image with their ignored parameters',
    needs('qemu-img'),
    async () => {
      const files = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-ec2-parameters-'));
      const disk = path.join(files, 'disk.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '32M']);
      const store = new ImageStore({ db: t.cloud.database.db, stateDir: t.cloud.config.stateDir });
      const source = await store.import({ name: 'parameters-disk', file: disk });
      fs.rmSync(files, { recursive: true, force: true });
      const registered = `ignored-${Date.now()}`;
      const made = await raw({
        Action: 'RegisterImage',
        Name: registered,
        ImageLocation: `ami-${source.id.replace(/-/g, '').slice(0, 17)}`,
        RootDeviceName: '/dev/sda1',
      });
      assert.equal(made.status, 200, made.body);
      const image = /<imageId>([^<]+)<\/imageId>/.exec(
        (
          await raw({
            Action: 'DescribeImages',
            'Filter.1.Name': 'name',
            'Filter.1.Value.1': registered,
          })
        ).body,
      )?.[1];
      assert.ok(image, 'the registered image is listed');
      const gone = await raw({
        Action: 'DeregisterImage',
        ImageId: image,
        DeleteAssociatedSnapshots: 'true',
      });
      assert.equal(gone.status, 200, gone.body);
    },
  );

  it('checks STS GetCallerIdentity and IAM GetUser parameters too, in their own format', async () => {
    for (const [api, params] of [
      ['sts', { Action: 'GetCallerIdentity', Version: '2011-06-15' }],
      ['iam', { Action: 'GetUser', Version: '2010-05-08' }],
    ] as const) {
      const call = (extra: Record<string, string>) =>
        rawEc2(
          t.endpoint,
          t.region,
          t.adminCredentials,
          { ...params, ...extra },
          { path: `/${api}/`, service: api },
        );
      assert.equal((await call({})).status, 200, api);
      const r = await call({ Bogus: '1' });
      assert.equal(r.status, 400, api);
      assert.equal(r.code, 'ValidationError', api);
      assert.match(r.body, /The parameter Bogus is not recognized/);
    }
  });

  it('answers DryRun with DryRunOperation and runs nothing, raw and through the SDK', async () => {
    const before = await liveInstances();
    const r = await raw({
      Action: 'RunInstances',
      DryRun: 'true',
      ImageId: imageId,
      MinCount: '1',
      MaxCount: '1',
    });
    assert.equal(r.status, 412);
    assert.equal(r.code, 'DryRunOperation');
    await assert.rejects(
      t.admin.send(
        new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, DryRun: true }),
      ),
      (err: Error) => err.name === 'DryRunOperation',
    );
    const term = await raw({
      Action: 'TerminateInstances',
      DryRun: 'true',
      'InstanceId.1': instanceId,
    });
    assert.equal(term.code, 'DryRunOperation');
    assert.equal(await state(instanceId), 'running');
    const bad = await raw({ Action: 'DescribeInstances', DryRun: 'maybe' });
    assert.equal(bad.code, 'InvalidParameterValue');
    const dryFalse = await raw({ Action: 'DescribeInstances', DryRun: 'false' });
    assert.equal(dryFalse.status, 200);
    assert.equal(await liveInstances(), before);
  });

  it('refuses through the SDK what RunInstances used to drop, launching nothing', async () => {
    const before = await liveInstances();
    const cases: [string, Partial<RunInstancesCommandInput>, string][] = [
      [
        'NetworkInterface',
        { NetworkInterfaces: [{ DeviceIndex: 0, InterfaceType: 'efa' }] },
        'UnsupportedOperation',
      ],
      [
        'BlockDeviceMapping',
        { BlockDeviceMappings: [{ DeviceName: '/dev/sdb', Ebs: { VolumeSize: 10, Iops: 3000 } }] },
        'UnsupportedOperation',
      ],
      ['PrivateIpAddress', { PrivateIpAddress: '10.20.0.200' }, 'InvalidParameterValue'],
      [
        'MetadataOptions.HttpProtocolIpv6',
        { MetadataOptions: { HttpProtocolIpv6: 'enabled' } },
        'UnsupportedOperation',
      ],
      ['IamInstanceProfile', { IamInstanceProfile: { Name: 'role' } }, 'UnsupportedOperation'],
    ];
    for (const [name, extra, code] of cases) {
      await assert.rejects(
        t.admin.send(
          new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, ...extra }),
        ),
        (err: Error) => {
          assert.equal(err.name, code, name);
          assert.match(err.message, new RegExp(name.replace('.', '\\.')));
          return true;
        },
      );
    }
    assert.equal(await liveInstances(), before);
  });

  it('pages DescribeInstanceStatus and DescribeInstanceTypes by MaxResults and NextToken', async () => {
    await launch({ MinCount: 5, MaxCount: 5 });
    const all = await t.admin.send(new DescribeInstanceStatusCommand({}));
    const total = all.InstanceStatuses?.length ?? 0;
    assert.ok(total >= 6, `${total} running instances`);
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await t.admin.send(
        new DescribeInstanceStatusCommand({ MaxResults: 5, NextToken: token }),
      );
      assert.ok((page.InstanceStatuses?.length ?? 0) <= 5);
      seen.push(...(page.InstanceStatuses ?? []).map((s) => s.InstanceId as string));
      token = page.NextToken;
    } while (token);
    assert.equal(seen.length, total);
    assert.equal(new Set(seen).size, total);

    const types = await t.admin.send(new DescribeInstanceTypesCommand({ MaxResults: 5 }));
    assert.equal(types.InstanceTypes?.length, 5);
    assert.ok(types.NextToken);
    const rest = await t.admin.send(
      new DescribeInstanceTypesCommand({ MaxResults: 5, NextToken: types.NextToken }),
    );
    assert.ok((rest.InstanceTypes?.length ?? 0) >= 1);
    assert.equal(rest.NextToken, undefined);
  });

  it('stops an instance with SkipOsShutdown, tags an address as it is allocated, and finds zones by id, launching into one', async () => {
    const [id] = (await launch()) as [string];
    await t.admin.send(new StopInstancesCommand({ InstanceIds: [id], SkipOsShutdown: true }));
    await waitUntil(async () => (await state(id)) === 'stopped', 10_000, `${id} stopped`);

    const allocated = await t.admin.send(
      new AllocateAddressCommand({
        Domain: 'vpc',
        NetworkBorderGroup: t.region,
        TagSpecifications: [{ ResourceType: 'elastic-ip', Tags: [{ Key: 'role', Value: 'web' }] }],
      }),
    );
    const shown = await t.admin.send(
      new DescribeAddressesCommand({ AllocationIds: [allocated.AllocationId as string] }),
    );
    assert.deepEqual(shown.Addresses?.[0]?.Tags, [{ Key: 'role', Value: 'web' }]);
    await assert.rejects(
      t.admin.send(
        new ReleaseAddressCommand({
          AllocationId: allocated.AllocationId,
          NetworkBorderGroup: 'elsewhere',
        }),
      ),
      (err: Error) => err.name === 'InvalidParameterValue',
    );
    await t.admin.send(
      new ReleaseAddressCommand({
        AllocationId: allocated.AllocationId,
        NetworkBorderGroup: t.region,
      }),
    );
    await assert.rejects(
      t.admin.send(
        new AllocateAddressCommand({
          TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'k', Value: 'v' }] }],
        }),
      ),
      (err: Error) => err.name === 'InvalidParameterValue',
    );
    const left = await t.admin.send(new DescribeAddressesCommand({}));
    assert.equal(left.Addresses?.length ?? 0, 0, 'no address is left allocated');

    const zones = await t.admin.send(new DescribeAvailabilityZonesCommand({}));
    const zone = zones.AvailabilityZones?.[0];
    assert.ok(zone?.ZoneId);
    const byId = await t.admin.send(
      new DescribeAvailabilityZonesCommand({ ZoneIds: [zone.ZoneId] }),
    );
    assert.deepEqual(
      byId.AvailabilityZones?.map((z) => z.ZoneName),
      [zone.ZoneName],
    );
    await assert.rejects(
      t.admin.send(new DescribeAvailabilityZonesCommand({ ZoneIds: ['nowhere-1'] })),
      (err: Error) => err.name === 'InvalidParameterValue',
    );
    const [placed] = (await launch({ Placement: { AvailabilityZoneId: zone.ZoneId } })) as [string];
    const shownZone = await t.admin.send(new DescribeInstancesCommand({ InstanceIds: [placed] }));
    assert.equal(
      shownZone.Reservations?.[0]?.Instances?.[0]?.Placement?.AvailabilityZone,
      zone.ZoneName,
    );
    await assert.rejects(
      launch({ Placement: { AvailabilityZoneId: 'nowhere-1' } }),
      (err: Error) => err.name === 'InvalidParameterValue',
    );
  });

  it('refuses and dry-runs from the AWS CLI', needs('awscli'), async () => {
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      AWS_ACCESS_KEY_ID: t.adminCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: t.adminCredentials.secretAccessKey,
      AWS_DEFAULT_REGION: t.region,
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    const aws = async (...args: string[]): Promise<{ code: number; stderr: string }> => {
      try {
        await run('/usr/bin/aws', ['--endpoint-url', t.endpoint, 'ec2', ...args], {
          env,
          timeout: 60_000,
        });
        return { code: 0, stderr: '' };
      } catch (err) {
        const e = err as { code?: number; stderr?: string };
        return { code: e.code ?? 1, stderr: e.stderr ?? '' };
      }
    };
    const before = await liveInstances();
    const runArgs = ['run-instances', '--image-id', imageId, '--count', '1'];
    const subnet = await aws(...runArgs, '--subnet-id', 'subnet-0123456789abcdef0');
    assert.notEqual(subnet.code, 0);
    assert.match(subnet.stderr, /InvalidSubnetID\.NotFound/);
    assert.match(subnet.stderr, /subnet-0123456789abcdef0/);
    const dry = await aws(...runArgs, '--dry-run');
    assert.notEqual(dry.code, 0);
    assert.match(dry.stderr, /DryRunOperation/);
    assert.equal(await liveInstances(), before);
  });

  /** What an action needs besides the parameter under test, so that only it can be refused. */
  function basics(action: string): Record<string, string> {
    switch (action) {
      case 'RunInstances':
        return { ImageId: imageId, MinCount: '1', MaxCount: '1', InstanceType: 'm1.nano' };
      case 'ModifyInstanceAttribute':
      case 'MonitorInstances':
        return { InstanceId: instanceId };
      default:
        return {};
    }
  }
});
