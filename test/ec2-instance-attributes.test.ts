// Instance attributes through the real AWS SDK against a whole cloud on the fake driver:
// termination and stop protection, what a guest powering itself off does, the attributes
// that change only while stopped, groups, GetPasswordData and monitoring; then STS
// GetCallerIdentity and IAM GetUser through a raw SigV4-signed request and the AWS CLI.
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  GetPasswordDataCommand,
  ModifyInstanceAttributeCommand,
  MonitorInstancesCommand,
  ResetInstanceAttributeCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  UnmonitorInstancesCommand,
  type _InstanceType,
  type EC2Client,
  type Instance,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import http from 'node:http';
import { MetadataServer, MetadataService } from '../src/api/metadata/index.js';
import { InstanceMetadataReader } from '../src/compute/index.js';
import { renderRcFile } from '../src/identity/index.js';
import { FakeDriver } from '../src/virt/index.js';
import { needs } from './support/capabilities.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';

const uuidOf = (ec2: string) => ec2.replace(/^i-/, '');

describe('EC2 instance attributes', () => {
  let t: TestCloud;
  let driver: FakeDriver;
  let imageId: string;

  before(async () => {
    driver = new FakeDriver();
    t = await startTestCloud({}, { driver });
    const image = await t.addImage({ name: 'attr-image' });
    imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
  });
  after(() => t.stop());

  async function describe1(client: EC2Client, id: string): Promise<Instance | undefined> {
    const r = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    return r.Reservations?.[0]?.Instances?.[0];
  }
  async function waitState(id: string, state: string, client = t.admin): Promise<Instance> {
    return waitUntil(
      async () => {
        const i = await describe1(client, id);
        return i?.State?.Name === state ? i : undefined;
      },
      10_000,
      `${id} to be ${state}`,
    );
  }
  async function run(extra: Partial<RunInstancesCommandInput> = {}): Promise<string> {
    const r = await t.admin.send(
      new RunInstancesCommand({
        ImageId: imageId,
        InstanceType: 'm1.tiny' as _InstanceType,
        MinCount: 1,
        MaxCount: 1,
        ...extra,
      }),
    );
    const id = r.Instances?.[0]?.InstanceId as string;
    await waitState(id, 'running');
    return id;
  }
  const attr = async (id: string, name: string) =>
    t.admin.send(
      new DescribeInstanceAttributeCommand({
        InstanceId: id,
        Attribute: name as never,
      }),
    );
  const refused = async (p: Promise<unknown>, code: string, message?: RegExp) => {
    await assert.rejects(
      p,
      (err: { name?: string; message?: string; $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(err.name, code);
        assert.ok(
          (err.$metadata?.httpStatusCode ?? 0) >= 400 && (err.$metadata?.httpStatusCode ?? 0) < 500,
        );
        if (message) assert.match(err.message ?? '', message);
        return true;
      },
    );
  };

  it('DisableApiTermination: TerminateInstances is refused, naming the instance, until it is cleared', async () => {
    const id = await run({ DisableApiTermination: true });
    assert.equal((await attr(id, 'disableApiTermination')).DisableApiTermination?.Value, true);
    await refused(
      t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] })),
      'OperationNotPermitted',
      new RegExp(`'${id}' may not be terminated`),
    );
    assert.equal((await describe1(t.admin, id))?.State?.Name, 'running');
    await t.admin.send(
      new ModifyInstanceAttributeCommand({
        InstanceId: id,
        DisableApiTermination: { Value: false },
      }),
    );
    assert.equal((await attr(id, 'disableApiTermination')).DisableApiTermination?.Value, false);
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await waitState(id, 'terminated');
  });

  it('DisableApiStop: StopInstances is refused until ResetInstanceAttribute clears it', async () => {
    const id = await run({ DisableApiStop: true });
    assert.equal((await attr(id, 'disableApiStop')).DisableApiStop?.Value, true);
    await refused(
      t.admin.send(new StopInstancesCommand({ InstanceIds: [id] })),
      'OperationNotPermitted',
      /may not be stopped/,
    );
    await t.admin.send(
      new ResetInstanceAttributeCommand({ InstanceId: id, Attribute: 'disableApiStop' as never }),
    );
    await t.admin.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await waitState(id, 'stopped');
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  });

  it('a guest that powers itself off is stopped, or terminated when its shutdown behaviour says so', async () => {
    const stopping = await run();
    const ending = await run({ InstanceInitiatedShutdownBehavior: 'terminate' });
    assert.equal(
      (await attr(ending, 'instanceInitiatedShutdownBehavior')).InstanceInitiatedShutdownBehavior
        ?.Value,
      'terminate',
    );
    driver.guestPowerOff(uuidOf(await fullId(stopping)));
    driver.guestPowerOff(uuidOf(await fullId(ending)));
    const stopped = await waitState(stopping, 'stopped');
    assert.equal(stopped.StateReason?.Code, 'Client.InstanceInitiatedShutdown');
    const terminated = await waitState(ending, 'terminated');
    assert.equal(terminated.StateReason?.Code, 'Client.InstanceInitiatedShutdown');
    // Changed on a running instance: the next power-off ends it.
    await t.admin.send(new StartInstancesCommand({ InstanceIds: [stopping] }));
    await waitState(stopping, 'running');
    await t.admin.send(
      new ModifyInstanceAttributeCommand({
        InstanceId: stopping,
        InstanceInitiatedShutdownBehavior: { Value: 'terminate' },
      }),
    );
    driver.guestPowerOff(uuidOf(await fullId(stopping)));
    await waitState(stopping, 'terminated');
  });

  it('instanceType and userData change only while stopped; the next start uses them', async () => {
    const id = await run({ UserData: Buffer.from('#!/bin/sh\necho one\n').toString('base64') });
    const two = Buffer.from('#!/bin/sh\necho two\n');
    await refused(
      t.admin.send(
        new ModifyInstanceAttributeCommand({ InstanceId: id, UserData: { Value: two } }),
      ),
      'IncorrectInstanceState',
      /not in the 'stopped' state/,
    );
    await refused(
      t.admin.send(
        new ModifyInstanceAttributeCommand({ InstanceId: id, InstanceType: { Value: 'm1.small' } }),
      ),
      'IncorrectInstanceState',
    );
    await t.admin.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await waitState(id, 'stopped');
    await t.admin.send(
      new ModifyInstanceAttributeCommand({ InstanceId: id, UserData: { Value: two } }),
    );
    await t.admin.send(
      new ModifyInstanceAttributeCommand({ InstanceId: id, InstanceType: { Value: 'm1.small' } }),
    );
    await refused(
      t.admin.send(
        new ModifyInstanceAttributeCommand({ InstanceId: id, InstanceType: { Value: 'm9.huge' } }),
      ),
      'InvalidParameterValue',
    );
    const userData = (await attr(id, 'userData')).UserData?.Value;
    assert.equal(Buffer.from(userData ?? '', 'base64').toString(), two.toString());
    assert.equal((await attr(id, 'instanceType')).InstanceType?.Value, 'm1.small');
    await t.admin.send(new StartInstancesCommand({ InstanceIds: [id] }));
    const running = await waitState(id, 'running');
    assert.equal(running.InstanceType, 'm1.small');
    const console = await driver.consoleOutput(uuidOf(await fullId(id)), 10_000);
    assert.match(console, /power on \(1 vCPUs, 2048 MiB\)/);
    await t.admin.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await waitState(id, 'stopped');
    await t.admin.send(
      new ResetInstanceAttributeCommand({ InstanceId: id, Attribute: 'userData' as never }),
    );
    assert.equal((await attr(id, 'userData')).UserData?.Value, undefined);
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  });

  it('groupSet replaces the instance groups; sourceDestCheck is kept and reset', async () => {
    const id = await run();
    const g = await t.admin.send(
      new CreateSecurityGroupCommand({ GroupName: 'attr-web', Description: 'web' }),
    );
    await t.admin.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: g.GroupId,
        IpPermissions: [
          { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
        ],
      }),
    );
    await t.admin.send(
      new ModifyInstanceAttributeCommand({ InstanceId: id, Groups: [g.GroupId as string] }),
    );
    assert.deepEqual(
      (await attr(id, 'groupSet')).Groups?.map((x) => x.GroupId),
      [g.GroupId],
    );
    assert.deepEqual(
      (await describe1(t.admin, id))?.SecurityGroups?.map((x) => x.GroupName),
      ['attr-web'],
    );
    await refused(
      t.admin.send(
        new ModifyInstanceAttributeCommand({ InstanceId: id, Groups: ['sg-00000000000000001'] }),
      ),
      'InvalidGroup.NotFound',
    );
    await t.admin.send(
      new ModifyInstanceAttributeCommand({ InstanceId: id, SourceDestCheck: { Value: false } }),
    );
    assert.equal((await attr(id, 'sourceDestCheck')).SourceDestCheck?.Value, false);
    await t.admin.send(
      new ResetInstanceAttributeCommand({ InstanceId: id, Attribute: 'sourceDestCheck' as never }),
    );
    assert.equal((await attr(id, 'sourceDestCheck')).SourceDestCheck?.Value, true);
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  });

  it('GetPasswordData is empty for a guest that posted none; monitoring is answered honestly', async () => {
    const id = await run();
    const p = await t.admin.send(new GetPasswordDataCommand({ InstanceId: id }));
    assert.equal(p.InstanceId, id);
    assert.equal(p.PasswordData ?? '', '');
    assert.ok(p.Timestamp instanceof Date);
    await refused(
      t.admin.send(new MonitorInstancesCommand({ InstanceIds: [id] })),
      'UnsupportedOperation',
      /monitoring/,
    );
    const u = await t.admin.send(new UnmonitorInstancesCommand({ InstanceIds: [id] }));
    assert.equal(u.InstanceMonitorings?.[0]?.Monitoring?.State, 'disabled');
    assert.equal((await describe1(t.admin, id))?.Monitoring?.State, 'disabled');
    await refused(
      t.admin.send(
        new RunInstancesCommand({
          ImageId: imageId,
          MinCount: 1,
          MaxCount: 1,
          Monitoring: { Enabled: true },
        }),
      ),
      'UnsupportedOperation',
    );
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  });

  it('GetPasswordData answers what the guest posted to the metadata service, once', async () => {
    const id = await run();
    const ip = (await describe1(t.admin, id))?.PrivateIpAddress as string;
    assert.ok(ip);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-md-'));
    const socketPath = path.join(dir, 'md.sock');
    const server = new MetadataServer(
      new MetadataService(new InstanceMetadataReader(t.cloud.database.db), t.region),
    );
    await server.listen(socketPath);
    const call = (method: string, body?: string) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = http.request(
          {
            socketPath,
            method,
            path: '/openstack/latest/password',
            headers: { 'x-forwarded-for': ip },
          },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    try {
      const blob = Buffer.from('encrypted-by-the-guest').toString('base64');
      assert.equal((await call('POST', blob)).status, 200);
      assert.equal((await call('POST', 'QUJD')).status, 409);
      assert.equal((await call('GET')).text, blob);
      assert.equal((await call('POST', 'not base64!')).status, 400);
      const p = await t.admin.send(new GetPasswordDataCommand({ InstanceId: id }));
      assert.equal(p.PasswordData, blob);
    } finally {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  });

  it('bad input gets EC2 codes with 4xx', async () => {
    const id = await run();
    await refused(
      t.admin.send(
        new RunInstancesCommand({
          ImageId: imageId,
          MinCount: 1,
          MaxCount: 1,
          InstanceInitiatedShutdownBehavior: 'hibernate' as never,
        }),
      ),
      'InvalidParameterValue',
      /InstanceInitiatedShutdownBehavior/,
    );
    await refused(
      t.admin.send(
        new ModifyInstanceAttributeCommand({ InstanceId: id, Kernel: { Value: 'aki-1' } }),
      ),
      'UnsupportedOperation',
      /kernel/,
    );
    await refused(
      t.admin.send(
        new ModifyInstanceAttributeCommand({
          InstanceId: id,
          InstanceInitiatedShutdownBehavior: { Value: 'explode' },
        }),
      ),
      'InvalidParameterValue',
    );
    await refused(
      t.admin.send(new ModifyInstanceAttributeCommand({ InstanceId: id })),
      'MissingParameter',
    );
    await refused(
      t.admin.send(
        new ModifyInstanceAttributeCommand({
          InstanceId: id,
          DisableApiStop: { Value: true },
          SourceDestCheck: { Value: true },
        }),
      ),
      'InvalidParameterCombination',
    );
    await refused(
      t.admin.send(
        new ResetInstanceAttributeCommand({ InstanceId: id, Attribute: 'instanceType' as never }),
      ),
      'InvalidParameterValue',
    );
    await refused(
      t.admin.send(new GetPasswordDataCommand({ InstanceId: 'i-0' })),
      'InvalidInstanceID.Malformed',
    );
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  });

  /** The whole id: DescribeInstances shows 17 hex digits, the driver keys by UUID. */
  async function fullId(shown: string): Promise<string> {
    const rows = await t.cloud.database.db.selectFrom('instances').select('id').execute();
    const hex = shown.replace(/^i-/, '');
    const row = rows.find((r) => r.id.replace(/-/g, '').startsWith(hex));
    assert.ok(row, `no instance ${shown}`);
    return row.id;
  }
});

describe('STS GetCallerIdentity and IAM GetUser', () => {
  let t: TestCloud;
  let user: { projectId: string; credentials: { accessKeyId: string; secretAccessKey: string } };

  before(async () => {
    t = await startTestCloud();
    user = await t.newProject('caller-project');
  });
  after(() => t.stop());

  async function signed(
    api: 'sts' | 'iam',
    body: string,
    options: { service?: string; region?: string; secret?: string } = {},
  ): Promise<{ status: number; text: string }> {
    const url = new URL(`/${api}/`, t.endpoint);
    const signer = new SignatureV4({
      service: options.service ?? api,
      region: options.region ?? t.region,
      credentials: {
        accessKeyId: user.credentials.accessKeyId,
        secretAccessKey: options.secret ?? user.credentials.secretAccessKey,
      },
      sha256: Sha256,
    });
    const request = await signer.sign({
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      headers: {
        host: url.host,
        'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      },
      body,
    });
    const r = await fetch(url, {
      method: 'POST',
      headers: request.headers,
      body,
    });
    return { status: r.status, text: await r.text() };
  }

  it('GetCallerIdentity: the project is the account, the ARN names the user (signed for sts)', async () => {
    const r = await signed('sts', 'Action=GetCallerIdentity&Version=2011-06-15');
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, new RegExp(`<Account>${user.projectId}</Account>`));
    assert.match(
      r.text,
      new RegExp(`<Arn>arn:aws:iam::${user.projectId}:user/caller-project-user</Arn>`),
    );
    assert.match(r.text, /<UserId>[0-9a-f-]{32,36}<\/UserId>/);
  });

  it('GetUser answers the caller, and refuses another user with NoSuchEntity', async () => {
    const r = await signed('iam', 'Action=GetUser&Version=2010-05-08');
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, /<UserName>caller-project-user<\/UserName>/);
    assert.match(r.text, /<CreateDate>\d{4}-\d{2}-\d{2}T/);
    // IAM is global: clients sign it for us-east-1.
    const global = await signed('iam', 'Action=GetUser&Version=2010-05-08', {
      region: 'us-east-1',
    });
    assert.equal(global.status, 200, global.text);
    const other = await signed('iam', 'Action=GetUser&Version=2010-05-08&UserName=admin');
    assert.equal(other.status, 404);
    assert.match(other.text, /<Code>NoSuchEntity<\/Code>/);
  });

  it('each endpoint checks its own service name and the signature', async () => {
    const asEc2 = await signed('sts', 'Action=GetCallerIdentity&Version=2011-06-15', {
      service: 'ec2',
    });
    assert.equal(asEc2.status, 403);
    assert.match(
      asEc2.text,
      /<Code>SignatureDoesNotMatch<\/Code>.*this endpoint is &apos;sts&apos;/s,
    );
    const asSts = await signed('iam', 'Action=GetUser&Version=2010-05-08', { service: 'sts' });
    assert.equal(asSts.status, 403);
    const badSecret = await signed('sts', 'Action=GetCallerIdentity&Version=2011-06-15', {
      secret: 'wrong',
    });
    assert.equal(badSecret.status, 403);
    const unknown = await signed('sts', 'Action=AssumeRole&Version=2011-06-15');
    assert.equal(unknown.status, 400);
    assert.match(unknown.text, /<Code>InvalidAction<\/Code>/);
    // And the EC2 endpoint still refuses a signature made for sts.
    const r = await fetch(t.endpoint, { method: 'POST', body: 'Action=DescribeRegions' });
    assert.equal(r.status, 401);
  });

  describe('through the AWS CLI', needs('awscli'), () => {
    let home: string;
    before(() => {
      home = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-sts-cli-'));
    });
    after(() => fs.rmSync(home, { recursive: true, force: true }));

    function aws(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
      return new Promise((resolve) => {
        execFile(
          '/usr/bin/aws',
          ['--output', 'json', ...args],
          {
            env: {
              PATH: process.env.PATH,
              HOME: home,
              AWS_ACCESS_KEY_ID: user.credentials.accessKeyId,
              AWS_SECRET_ACCESS_KEY: user.credentials.secretAccessKey,
              AWS_DEFAULT_REGION: t.region,
              AWS_PAGER: '',
              AWS_EC2_METADATA_DISABLED: 'true',
              AWS_MAX_ATTEMPTS: '1',
            },
            timeout: 60_000,
          },
          (err, stdout, stderr) =>
            resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
        );
      });
    }

    it('aws sts get-caller-identity and aws iam get-user, at the endpoints the rc file names', async () => {
      const rc = renderRcFile({
        ec2Url: t.endpoint,
        accessKey: user.credentials.accessKeyId,
        secretKey: user.credentials.secretAccessKey,
        region: t.region,
        identityUrl: 'http://127.0.0.1:1/v3',
        username: 'caller-project-user',
        password: null,
        projectName: 'caller-project',
      });
      const stsUrl = /^export AWS_ENDPOINT_URL_STS='([^']+)'$/m.exec(rc)?.[1] ?? '';
      const iamUrl = /^export AWS_ENDPOINT_URL_IAM='([^']+)'$/m.exec(rc)?.[1] ?? '';
      assert.equal(stsUrl, new URL('/sts/', t.endpoint).toString());
      assert.equal(iamUrl, new URL('/iam/', t.endpoint).toString());
      const sts = await aws('sts', 'get-caller-identity', '--endpoint-url', stsUrl);
      assert.equal(sts.code, 0, sts.stderr);
      const who = JSON.parse(sts.stdout) as { Account: string; Arn: string; UserId: string };
      assert.equal(who.Account, user.projectId);
      assert.equal(who.Arn, `arn:aws:iam::${user.projectId}:user/caller-project-user`);
      const iam = await aws('iam', 'get-user', '--endpoint-url', iamUrl);
      assert.equal(iam.code, 0, iam.stderr);
      const u = JSON.parse(iam.stdout) as { User: { UserName: string; Arn: string } };
      assert.equal(u.User.UserName, 'caller-project-user');
    });

    it('aws ec2: termination protection, instance attributes and password data', async () => {
      const ec2 = async (...args: string[]) => {
        const r = await aws('ec2', '--endpoint-url', t.endpoint, ...args);
        return r;
      };
      const imageId = `ami-${(await t.addImage({ name: 'cli-attr' })).id.replace(/-/g, '').slice(0, 17)}`;
      const run = await ec2(
        'run-instances',
        '--image-id',
        imageId,
        '--instance-type',
        'm1.tiny',
        '--disable-api-termination',
        '--instance-initiated-shutdown-behavior',
        'terminate',
      );
      assert.equal(run.code, 0, run.stderr);
      const id = (JSON.parse(run.stdout) as { Instances: { InstanceId: string }[] }).Instances[0]
        ?.InstanceId as string;
      const refusedTerminate = await ec2('terminate-instances', '--instance-ids', id);
      assert.notEqual(refusedTerminate.code, 0);
      assert.match(refusedTerminate.stderr, /OperationNotPermitted.*may not be terminated/);
      const behaviour = await ec2(
        'describe-instance-attribute',
        '--instance-id',
        id,
        '--attribute',
        'instanceInitiatedShutdownBehavior',
      );
      assert.equal(
        (JSON.parse(behaviour.stdout) as { InstanceInitiatedShutdownBehavior: { Value: string } })
          .InstanceInitiatedShutdownBehavior.Value,
        'terminate',
      );
      const modify = await ec2(
        'modify-instance-attribute',
        '--instance-id',
        id,
        '--no-disable-api-termination',
      );
      assert.equal(modify.code, 0, modify.stderr);
      const password = await ec2('get-password-data', '--instance-id', id);
      assert.equal(password.code, 0, password.stderr);
      assert.equal((JSON.parse(password.stdout) as { PasswordData: string }).PasswordData, '');
      const terminate = await ec2('terminate-instances', '--instance-ids', id);
      assert.equal(terminate.code, 0, terminate.stderr);
    });
  });
});
