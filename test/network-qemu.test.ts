// Security groups on a real guest: the cloud on the qemu driver and the namespace data plane,
// driven with the AWS SDK. The guest's SSH, at its private IP from the data plane's namespace
// and at its Elastic IP from a client namespace (another "machine"), is refused while its
// group has no rule, accepted after AuthorizeSecurityGroupIngress, and refused again after
// RevokeSecurityGroupIngress (how long each took is noted); OpenSSH's client proves each state.
// Egress too: the guest's own connection out to a client namespace gets through with the
// allow-all egress rule, not once it is revoked, and again with a rule for that address.
// All traffic stays inside namespaces made here.
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeInstanceStatusCommand,
  GetConsoleOutputCommand,
  ImportKeyPairCommand,
  RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ImageRepo } from '../src/db/index.js';
import { removeDataPlane } from '../src/network/index.js';
import { sshCommandLine } from '../src/smoke/ssh.js';
import { needs } from './support/capabilities.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { GUEST_DIR, makeKey, sshAnswersIn } from './support/guest.js';

const NEEDS = needs('qemu', 'qemu-img', 'ssh', 'guest-image', 'netns');
const SCRIPTS = fileURLToPath(new URL('../../scripts/', import.meta.url));
const READY = /=== Stratus guest ready/;
const SSH_PORT: IpPermission = {
  IpProtocol: 'tcp',
  FromPort: 22,
  ToPort: 22,
  IpRanges: [{ CidrIp: '0.0.0.0/0' }],
};

interface Vantage {
  label: string;
  netns: string;
  address: string;
}

/** Runs `file args`; resolves with the exit code and output, never rejects. */
function run(
  file: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 255) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

/**
 * Milliseconds from `t0` until `probe` answers `want`: a new probe starts every 50 ms (they
 * overlap: one whose packet is dropped waits out its timeout), for 10 s at most. The state is
 * in force by the time the first probe that saw it started, since its connection's first
 * packet left then.
 */
/**
 * How long a rule change may take to show from a vantage, and how long one probe may wait for
 * the SSH banner. Both are generous: a busy machine (TCG guests beside other test files) slows
 * the probe's own processes and the guest's SSH server, and a probe that gives up too early
 * reads as "no answer".
 */
const PROBE_LIMIT_MS = 60_000;
const PROBE_SECONDS = 3;

async function msUntil(t0: number, probe: () => Promise<boolean>, want: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    let seen: number | undefined;
    let pending = 0;
    const tick = () => {
      if (seen !== undefined) return;
      const started = Date.now();
      if (started - t0 > PROBE_LIMIT_MS) {
        clearInterval(timer);
        reject(new Error(`still ${!want} after ${PROBE_LIMIT_MS / 1000} s`));
        return;
      }
      pending++;
      void probe().then((got) => {
        pending--;
        if (got === want) seen = Math.min(seen ?? Infinity, started - t0);
        // Earlier probes may still be waiting out their timeout; an earlier start wins.
        if (seen !== undefined && pending === 0) {
          clearInterval(timer);
          resolve(seen);
        }
      });
    };
    const timer = setInterval(tick, 250);
    tick();
  });
}

describe('security groups on a real guest over its SSH', NEEDS, () => {
  const tag = randomBytes(3).toString('hex');
  const hostNetns = `st-sgq-${tag}`;
  const clientNetns = `st-sgq-${tag}-c`;
  let cloud: TestCloud;
  let dir: string;
  let keyFile: string;
  let instanceId: string;
  let vantages: Vantage[];

  /** OpenSSH's client with the key pair, as `stratus smoke` runs it. */
  const sshLine = (v: Vantage, connectTimeout: number, command: string) =>
    sshCommandLine(
      { host: v.address, user: 'root', netns: v.netns },
      keyFile,
      command,
      connectTimeout,
    );
  /** `uname -n` over ssh, once: its output, or why it failed. */
  const ssh = (v: Vantage, connectTimeout: number) =>
    run(...sshLine(v, connectTimeout, 'uname -n'), 60_000);

  /**
   * Waits until, from each vantage, the SSH port answers (or is refused), for a minute at most, and
   * notes how long each took (a figure, not an assertion: timings belong to bench:qemu).
   */
  async function inForce(t: TestContext, state: 'answers' | 'refused'): Promise<void> {
    const t0 = Date.now();
    const ms = await Promise.all(
      vantages.map((v) =>
        msUntil(t0, () => sshAnswersIn(v.netns, v.address, PROBE_SECONDS), state === 'answers'),
      ),
    );
    vantages.forEach((v, i) => t.diagnostic(`${v.label}: ${state} after ${ms[i]} ms`));
  }

  /** OpenSSH's client, from each vantage, gets no answer. */
  async function sshTimesOut(): Promise<void> {
    for (const v of vantages) {
      const r = await ssh(v, 2);
      assert.equal(r.code, 255, `${v.label}: ${r.out}`);
      assert.match(r.out, /timed out/, v.label);
    }
  }

  before(async () => {
    cloud = await startTestCloud({
      virt: 'qemu',
      'data-plane': 'namespace',
      'data-plane-namespace': hostNetns,
      'guest-image-dir': GUEST_DIR,
    });
    dir = fs.mkdtempSync(path.join(cloud.cloud.config.stateDir, 'keys-'));
    const key = makeKey(dir, 'sg-test');
    keyFile = key.keyFile;
    await cloud.admin.send(
      new ImportKeyPairCommand({ KeyName: 'sg', PublicKeyMaterial: Buffer.from(key.publicKey) }),
    );
    await cloud.admin.send(
      new CreateSecurityGroupCommand({ GroupName: 'locked', Description: 'no ingress rule yet' }),
    );
    const ami = await new ImageRepo(cloud.cloud.database.db).findByName(null, 'stratus-guest');
    assert.ok(ami, `the cloud did not import the guest image from ${GUEST_DIR}`);
    const run = await cloud.admin.send(
      new RunInstancesCommand({
        ImageId: `ami-${ami.id.replace(/-/g, '').slice(0, 17)}`,
        InstanceType: 'm1.nano' as _InstanceType,
        MinCount: 1,
        MaxCount: 1,
        KeyName: 'sg',
        SecurityGroups: ['locked'],
      }),
    );
    instanceId = run.Instances?.[0]?.InstanceId as string;
    // Its ssh server listens once the console says it is ready.
    await waitUntil(
      async () => {
        const o = await cloud.admin.send(new GetConsoleOutputCommand({ InstanceId: instanceId }));
        return READY.test(Buffer.from(o.Output ?? '', 'base64').toString());
      },
      180_000,
      'the guest to be ready',
    );
    const address = await cloud.admin.send(new AllocateAddressCommand({}));
    await cloud.admin.send(
      new AssociateAddressCommand({ InstanceId: instanceId, AllocationId: address.AllocationId }),
    );
    const d = await cloud.admin.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const instance = d.Reservations?.[0]?.Instances?.[0];
    assert.equal(instance?.PublicIpAddress, address.PublicIp);
    execFileSync(path.join(SCRIPTS, 'client-netns'), ['add', clientNetns, hostNetns]);
    vantages = [
      {
        label: 'private IP, from the host',
        netns: hostNetns,
        address: instance?.PrivateIpAddress ?? '',
      },
      { label: 'Elastic IP, from a client', netns: clientNetns, address: address.PublicIp ?? '' },
    ];
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
    execFileSync(path.join(SCRIPTS, 'client-netns'), ['del', clientNetns, hostNetns], {
      stdio: 'ignore',
    });
    await cloud?.stop();
    await removeDataPlane(hostNetns);
  });

  it('reports the guest reachable in DescribeInstanceStatus once it took its DHCP lease', async () => {
    // The lease event reaches the database through the network service; poll for it.
    const s = await waitUntil(
      async () => {
        const r = await cloud.admin.send(
          new DescribeInstanceStatusCommand({ InstanceIds: [instanceId] }),
        );
        const found = r.InstanceStatuses?.[0];
        return found?.InstanceStatus?.Status === 'ok' ? found : undefined;
      },
      30_000,
      'the instance status to be ok',
    );
    assert.equal(s.SystemStatus?.Status, 'ok');
    assert.deepEqual(s.InstanceStatus?.Details, [{ Name: 'reachability', Status: 'passed' }]);
  });

  it('refuses SSH while the group has no rule', async () => {
    for (const v of vantages) {
      assert.equal(await sshAnswersIn(v.netns, v.address, PROBE_SECONDS), false, v.label);
    }
    await sshTimesOut();
  });

  it('accepts SSH after AuthorizeSecurityGroupIngress', async (t) => {
    await cloud.admin.send(
      new AuthorizeSecurityGroupIngressCommand({ GroupName: 'locked', IpPermissions: [SSH_PORT] }),
    );
    await inForce(t, 'answers');
    for (const v of vantages) {
      const r = await ssh(v, 10);
      assert.equal(r.code, 0, `${v.label}: ${r.out}`);
      assert.match(r.out, /^ip-10-/, v.label);
    }
  });

  it('lets the guest connect out by its egress rules only', async () => {
    const v0 = vantages[0] as Vantage;
    const line = (
      await run('ip', ['-n', clientNetns, '-4', '-o', 'addr', 'show', 'dev', 'eth0'], 10_000)
    ).out;
    const client = /inet (192\.0\.2\.\d+)\//.exec(line)?.[1] as string;
    assert.ok(client, line);
    spawn(
      'ip',
      [
        'netns',
        'exec',
        clientNetns,
        'busybox',
        'nc',
        '-ll',
        '-p',
        '9100',
        '-e',
        'busybox',
        'echo',
        'out-ok',
      ],
      { stdio: 'ignore' },
    );
    const out = async () =>
      (
        await run(...sshLine(v0, 10, `busybox nc -w 3 ${client} 9100 </dev/null; true`), 60_000)
      ).out.trim();
    await waitUntil(
      async () => (await out()).includes('out-ok'),
      30_000,
      'the guest to connect out',
    );
    const groupId = (
      await cloud.admin.send(new DescribeSecurityGroupsCommand({ GroupNames: ['locked'] }))
    ).SecurityGroups?.[0]?.GroupId as string;
    const allowAll = { IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] };
    await cloud.admin.send(
      new RevokeSecurityGroupEgressCommand({ GroupId: groupId, IpPermissions: [allowAll] }),
    );
    // Its SSH session (a reply to an accepted connection) still works; its own connection not.
    assert.doesNotMatch(await out(), /out-ok/);
    const toClient = {
      IpProtocol: 'tcp',
      FromPort: 9100,
      ToPort: 9100,
      IpRanges: [{ CidrIp: `${client}/32` }],
    };
    await cloud.admin.send(
      new AuthorizeSecurityGroupEgressCommand({ GroupId: groupId, IpPermissions: [toClient] }),
    );
    assert.match(await out(), /out-ok/);
    await cloud.admin.send(
      new RevokeSecurityGroupEgressCommand({ GroupId: groupId, IpPermissions: [toClient] }),
    );
    await cloud.admin.send(
      new AuthorizeSecurityGroupEgressCommand({ GroupId: groupId, IpPermissions: [allowAll] }),
    );
  });

  it('refuses SSH again after RevokeSecurityGroupIngress, keeping open sessions', async (t) => {
    // A session opened before the revoke is an established connection: it goes on.
    const v0 = vantages[0] as Vantage;
    const session = spawn(...sshLine(v0, 10, 'echo in; sleep 3; echo still here'));
    let sessionOut = '';
    session.stdout.on('data', (b: Buffer) => (sessionOut += b.toString()));
    const sessionEnd = new Promise<number | null>((r) => session.once('exit', r));
    await waitUntil(async () => sessionOut.includes('in\n'), 20_000, 'the ssh session to open');
    await cloud.admin.send(
      new RevokeSecurityGroupIngressCommand({ GroupName: 'locked', IpPermissions: [SSH_PORT] }),
    );
    await inForce(t, 'refused');
    await sshTimesOut();
    assert.equal(await sessionEnd, 0);
    assert.equal(sessionOut, 'in\nstill here\n');
  });
});
