// IMDSv2 from a real guest: the cloud on the qemu driver and the namespace data plane, driven
// with the AWS SDK. Over ssh (from the host namespace to the guest's private IP) the guest asks
// 169.254.169.254 for a session token and reads its instance id with it; once
// ModifyInstanceMetadataOptions makes tokens required, a read without one is refused (401) and
// one with a token is served. The guest image is busybox: the token request is a raw HTTP PUT
// through `nc`, the reads are busybox `wget --header`.
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeInstancesCommand,
  GetConsoleOutputCommand,
  ImportKeyPairCommand,
  ModifyInstanceMetadataOptionsCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImageRepo } from '../src/db/index.js';
import { removeDataPlane } from '../src/network/index.js';
import { sshCommandLine } from '../src/smoke/ssh.js';
import { needs } from './support/capabilities.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { GUEST_DIR, makeKey } from './support/guest.js';

const NEEDS = needs('qemu', 'qemu-img', 'ssh', 'guest-image', 'netns');
const READY = /=== Stratus guest ready/;
const MD = 'http://169.254.169.254';

/**
 * The guest's shell: a session token by a raw PUT (busybox has no curl), the body's last line.
 * Busybox nc gives up the connection when its input ends, so the input stays open a moment for
 * the answer to arrive.
 */
const PUT_TOKEN =
  "{ printf 'PUT /latest/api/token HTTP/1.0\\r\\nHost: 169.254.169.254\\r\\n" +
  "X-aws-ec2-metadata-token-ttl-seconds: 120\\r\\n\\r\\n'; sleep 2; } | timeout 5 nc 169.254.169.254 80 | tail -n 1";
const GET = (p: string, withToken: boolean) =>
  `timeout 5 wget -q -O - ${withToken ? '--header "X-aws-ec2-metadata-token: $T" ' : ''}${MD}${p} 2>&1`;

describe('IMDSv2 from a real guest', NEEDS, () => {
  const hostNetns = `st-imq-${randomBytes(3).toString('hex')}`;
  let cloud: TestCloud;
  let keyFile: string;
  let instanceId: string;
  let address: string;

  /** Runs `command` on the guest over ssh; its exit code and output. */
  function ssh(command: string): Promise<{ code: number; out: string }> {
    const [file, args] = sshCommandLine(
      { host: address, user: 'root', netns: hostNetns },
      keyFile,
      command,
      10,
    );
    return new Promise((resolve) => {
      execFile(file, args, { timeout: 60_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 255) : 0;
        resolve({ code, out: `${stdout}${stderr}` });
      });
    });
  }

  before(async () => {
    cloud = await startTestCloud({
      virt: 'qemu',
      'data-plane': 'namespace',
      'data-plane-namespace': hostNetns,
      'guest-image-dir': GUEST_DIR,
    });
    const dir = fs.mkdtempSync(path.join(cloud.cloud.config.stateDir, 'keys-'));
    const key = makeKey(dir, 'imds-test');
    keyFile = key.keyFile;
    await cloud.admin.send(
      new ImportKeyPairCommand({ KeyName: 'imds', PublicKeyMaterial: Buffer.from(key.publicKey) }),
    );
    await cloud.admin.send(
      new CreateSecurityGroupCommand({ GroupName: 'imds-ssh', Description: 'ssh for the test' }),
    );
    await cloud.admin.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupName: 'imds-ssh',
        IpPermissions: [
          { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
        ],
      }),
    );
    const ami = await new ImageRepo(cloud.cloud.database.db).findByName(null, 'stratus-guest');
    assert.ok(ami, `the cloud did not import the guest image from ${GUEST_DIR}`);
    const run = await cloud.admin.send(
      new RunInstancesCommand({
        ImageId: `ami-${ami.id.replace(/-/g, '').slice(0, 17)}`,
        InstanceType: 'm1.nano' as _InstanceType,
        MinCount: 1,
        MaxCount: 1,
        KeyName: 'imds',
        SecurityGroups: ['imds-ssh'],
      }),
    );
    instanceId = run.Instances?.[0]?.InstanceId as string;
    await waitUntil(
      async () => {
        const o = await cloud.admin.send(new GetConsoleOutputCommand({ InstanceId: instanceId }));
        return READY.test(Buffer.from(o.Output ?? '', 'base64').toString());
      },
      180_000,
      'the guest to be ready',
    );
    const d = await cloud.admin.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    address = d.Reservations?.[0]?.Instances?.[0]?.PrivateIpAddress ?? '';
    assert.ok(address);
  });

  after(async () => {
    if (instanceId) {
      await cloud.admin.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
      await waitUntil(
        async () => {
          const d = await cloud.admin.send(
            new DescribeInstancesCommand({ InstanceIds: [instanceId] }),
          );
          return d.Reservations?.[0]?.Instances?.[0]?.State?.Name === 'terminated';
        },
        60_000,
        'the instance to terminate',
      );
    }
    await cloud?.stop();
    await removeDataPlane(hostNetns);
  });

  it('fetches its instance id with a session token, and without one while tokens are optional', async () => {
    const r = await ssh(
      `T=$(${PUT_TOKEN}); echo "token:$T"; ${GET('/latest/meta-data/instance-id', true)}; echo; ${GET('/latest/meta-data/instance-id', false)}`,
    );
    assert.equal(r.code, 0, r.out);
    const lines = r.out.trim().split('\n');
    assert.match(lines[0] ?? '', /^token:[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, r.out);
    assert.equal(lines[1], instanceId, r.out);
    assert.equal(lines[2], instanceId, r.out);
  });

  it('is refused without a token once tokens are required, and served with one', async () => {
    const m = await cloud.admin.send(
      new ModifyInstanceMetadataOptionsCommand({ InstanceId: instanceId, HttpTokens: 'required' }),
    );
    assert.equal(m.InstanceMetadataOptions?.HttpTokens, 'required');
    const without = await ssh(GET('/latest/meta-data/instance-id', false));
    assert.notEqual(without.code, 0, without.out);
    assert.match(without.out, /401/);
    const withToken = await ssh(`T=$(${PUT_TOKEN}); ${GET('/latest/meta-data/instance-id', true)}`);
    assert.equal(withToken.code, 0, withToken.out);
    assert.equal(withToken.out.trim(), instanceId);
  });
});
