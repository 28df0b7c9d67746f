// The whole cloud on the QEMU driver, driven through the real AWS SDK: the first start imports
// the guest image as kernel (aki), ramdisk (ari) and machine image (ami); RunInstances boots it,
// GetConsoleOutput shows its banner, ssh gets in with the imported key pair, a restart of the
// services re-adopts the running VM, a VM killed behind Stratus's back shows as stopped, and
// terminating leaves no process or file behind; a guest that runs poweroff is stopped, or
// terminated when its shutdown behaviour says so. Then five instances at once. Skipped when QEMU
// or the guest image is missing.
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  GetConsoleOutputCommand,
  ImportKeyPairCommand,
  RebootInstancesCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type EC2Client,
  type Instance,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ComputeClient } from '../src/compute/index.js';
import { loadConfig } from '../src/config/index.js';
import { systemContext } from '../src/context.js';
import { silentLogger } from '../src/log.js';
import { startCloud, type Cloud } from '../src/main.js';
import { needs } from './support/capabilities.js';
import { ec2Client } from './support/ec2.js';
import {
  BANNER,
  count,
  eventually,
  GUEST_DIR,
  makeKey,
  sshUntil,
  killLeftoverGuests,
} from './support/guest.js';
import { FREE_PORTS } from './support/ports.js';

const NEEDS = needs('qemu', 'qemu-img', 'ssh', 'guest-image');
const ec2Hex = (uuid: string) => uuid.replace(/-/g, '').slice(0, 17);

describe('EC2 on the qemu driver with the real guest image', NEEDS, () => {
  let stateDir: string;
  let cloud: Cloud;
  let client: EC2Client;
  let keyFile: string;
  let publicKey: string;
  let amiId: string;
  let instanceId: string;

  async function start(): Promise<void> {
    const config = loadConfig({
      env: {},
      flags: {
        'state-dir': stateDir,
        virt: 'qemu',
        // QEMU's user-mode network: ssh forwarded on loopback, measured as the bare boot is.
        'data-plane': 'user',
        ...FREE_PORTS,
        'log-level': 'warn',
        'power-sync-seconds': '1',
        'qemu-power-off-timeout-seconds': '20',
        'qemu-reboot-timeout-seconds': '20',
        'guest-image-dir': GUEST_DIR,
      },
    });
    cloud = await startCloud(config, ['network', 'scheduler', 'compute', 'api'], {
      bootstrap: true,
      logger: silentLogger(),
    });
    const admin = cloud.admin;
    assert.ok(admin && cloud.urls);
    client?.destroy();
    client = ec2Client(cloud.urls.ec2, config.region, {
      accessKeyId: admin.credential.accessKey,
      secretAccessKey: admin.credential.secretKey,
    });
  }

  async function describe1(id: string): Promise<Instance | undefined> {
    const r = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    return r.Reservations?.[0]?.Instances?.[0];
  }

  async function waitState(id: string, state: string, ms = 60_000): Promise<Instance> {
    return eventually(
      async () => {
        const i = await describe1(id);
        return i?.State?.Name === state ? i : undefined;
      },
      ms,
      `${id} to be ${state}`,
      200,
    );
  }

  /** Waits until the compute host has finished `n` power-state syncs that started after `since`. */
  async function powerSyncsSince(since: number, n: number): Promise<void> {
    const compute = new ComputeClient(cloud.bus);
    const seen = new Set<number>();
    await eventually(
      async () => {
        const { details } = await compute.status(systemContext(), cloud.config.host);
        const at = details.lastPowerSyncAt;
        if (typeof at === 'number' && at > since) seen.add(at);
        return seen.size >= n + 1 ? true : undefined;
      },
      30_000,
      `${n} power syncs`,
      100,
    );
  }

  async function consoleText(id: string): Promise<string> {
    const r = await client.send(new GetConsoleOutputCommand({ InstanceId: id }));
    return Buffer.from(r.Output ?? '', 'base64').toString();
  }

  async function sshPort(id: string): Promise<number> {
    const m = /forwarded from 127\.0\.0\.1:(\d+)\n(?![\s\S]*forwarded from)/.exec(
      await consoleText(id),
    );
    assert.ok(m, 'the console names the ssh forward');
    return Number(m[1]);
  }

  /** The driver's directory of the instance with this EC2 id. */
  function vmDir(id: string): string | undefined {
    const dir = path.join(stateDir, 'qemu', 'instances');
    const hex = id.slice(2);
    const name = fs.existsSync(dir)
      ? fs.readdirSync(dir).find((d) => ec2Hex(d) === hex)
      : undefined;
    return name ? path.join(dir, name) : undefined;
  }

  function alive(pid: number): boolean {
    try {
      return !/^\d+ \(.*\) [ZX] /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  }

  before(async () => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sq-ec2-'));
    ({ keyFile, publicKey } = makeKey(stateDir, 'ec2-qemu-test'));
    await start();
    // The first start imported the guest image as aki, ari and ami.
    assert.match(cloud.guestImage ?? '', /^ami-[0-9a-f]{17} \(stratus-guest, imported from /);
    const images = await client.send(
      new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['stratus-guest'] }] }),
    );
    const ami = images.Images?.[0];
    assert.ok(
      ami?.ImageId && ami.KernelId?.startsWith('aki-') && ami.RamdiskId?.startsWith('ari-'),
    );
    amiId = ami.ImageId;
    await client.send(
      new ImportKeyPairCommand({ KeyName: 'test', PublicKeyMaterial: Buffer.from(publicKey) }),
    );
  });

  after(async () => {
    await cloud?.stop();
    client?.destroy();
    // Whatever a failed step left running is ended by its pid.
    killLeftoverGuests(stateDir);
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('RunInstances boots the guest: running, banner on the console', async () => {
    const r = await client.send(
      new RunInstancesCommand({
        ImageId: amiId,
        InstanceType: 'm1.nano' as _InstanceType,
        MinCount: 1,
        MaxCount: 1,
        KeyName: 'test',
        UserData: Buffer.from('#!/bin/sh\necho "hello from user data"\n').toString('base64'),
      }),
    );
    instanceId = r.Instances?.[0]?.InstanceId as string;
    const inst = await waitState(instanceId, 'running');
    assert.equal(inst.KernelId?.startsWith('aki-'), true);
    await eventually(
      async () => ((await consoleText(instanceId)).match(BANNER) ? true : undefined),
      90_000,
      'the banner in GetConsoleOutput',
      500,
    );
  });

  it('lets ssh in with the key pair; the guest knows its EC2 id and name and ran the user data', async () => {
    const md = 'http://169.254.169.254/latest/meta-data';
    const out = await sshUntil(
      await sshPort(instanceId),
      keyFile,
      `hostname; wget -qO- ${md}/instance-id; echo; wget -qO- ${md}/local-hostname`,
      120_000,
    );
    const name = (await describe1(instanceId))?.PrivateDnsName ?? '';
    assert.match(name, /^ip-10-20-\d+-\d+\./);
    assert.deepEqual(out.trim().split('\n'), [name.split('.')[0], instanceId, name]);
    await eventually(
      async () =>
        (await consoleText(instanceId)).includes('hello from user data') ? true : undefined,
      30_000,
      'user data output',
    );
  });

  it('RebootInstances reboots the guest itself, which comes back', async () => {
    const banners = count(await consoleText(instanceId), BANNER);
    await client.send(new RebootInstancesCommand({ InstanceIds: [instanceId] }));
    await eventually(
      async () => (count(await consoleText(instanceId), BANNER) > banners ? true : undefined),
      90_000,
      'a banner after the reboot',
      500,
    );
    assert.match(await consoleText(instanceId), /rebooting \(ctrl-alt-del\)/);
    assert.equal((await describe1(instanceId))?.State?.Name, 'running');
    assert.match(
      await sshUntil(await sshPort(instanceId), keyFile, 'echo rebooted', 120_000),
      /rebooted/,
    );
  });

  it('StopInstances powers the guest off; StartInstances boots it again', async () => {
    const pid = Number(fs.readFileSync(path.join(vmDir(instanceId) as string, 'pid'), 'utf8'));
    await client.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    const stopped = await waitState(instanceId, 'stopped');
    assert.equal(stopped.StateReason?.Code, 'Client.UserInitiatedShutdown');
    assert.equal(alive(pid), false);
    assert.match(await consoleText(instanceId), /powering off \(ACPI power button\)/);
    const banners = count(await consoleText(instanceId), BANNER);
    await client.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
    await waitState(instanceId, 'running');
    await eventually(
      async () => (count(await consoleText(instanceId), BANNER) > banners ? true : undefined),
      90_000,
      'a banner after the start',
      500,
    );
    assert.match(
      await sshUntil(await sshPort(instanceId), keyFile, 'echo started', 120_000),
      /started/,
    );
  });

  it('re-adopts the running VM when the services restart', async () => {
    const pid = Number(fs.readFileSync(path.join(vmDir(instanceId) as string, 'pid'), 'utf8'));
    await cloud.stop();
    assert.ok(alive(pid), 'the VM outlives the compute service');
    await start();
    assert.equal(cloud.guestImage, undefined, 'the guest image is imported only once');
    assert.equal((await describe1(instanceId))?.State?.Name, 'running');
    // Two power syncs later it is still running, on the same qemu.
    await powerSyncsSince(Date.now(), 2);
    assert.equal((await describe1(instanceId))?.State?.Name, 'running');
    assert.ok(alive(pid));
    assert.match(
      await sshUntil(await sshPort(instanceId), keyFile, 'echo adopted', 60_000),
      /adopted/,
    );
  });

  it('shows a VM killed with SIGKILL as stopped, and starts it again', async () => {
    const pid = Number(fs.readFileSync(path.join(vmDir(instanceId) as string, 'pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    const stopped = await waitState(instanceId, 'stopped', 15_000);
    assert.equal(stopped.StateReason?.Code, 'Client.InstanceInitiatedShutdown');
    const banners = count(await consoleText(instanceId), BANNER);
    await client.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
    await waitState(instanceId, 'running');
    await eventually(
      async () => (count(await consoleText(instanceId), BANNER) > banners ? true : undefined),
      90_000,
      'a new banner',
      500,
    );
  });

  it('terminates: no process and no file left', async () => {
    const dir = vmDir(instanceId) as string;
    const pid = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));
    await client.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    await waitState(instanceId, 'terminated');
    await eventually(async () => (alive(pid) ? undefined : true), 10_000, 'qemu to end');
    assert.equal(fs.existsSync(dir), false);
  });

  it('a guest that runs poweroff is stopped, or terminated when its shutdown behaviour says so', async () => {
    const launch = async (behaviour: 'stop' | 'terminate') => {
      const r = await client.send(
        new RunInstancesCommand({
          ImageId: amiId,
          InstanceType: 'm1.nano' as _InstanceType,
          MinCount: 1,
          MaxCount: 1,
          KeyName: 'test',
          InstanceInitiatedShutdownBehavior: behaviour,
        }),
      );
      return r.Instances?.[0]?.InstanceId as string;
    };
    const stops = await launch('stop');
    const ends = await launch('terminate');
    try {
      await Promise.all([waitState(stops, 'running'), waitState(ends, 'running')]);
      // The guest powers itself off (ACPI, as its own `poweroff` does) after ssh has answered.
      const off = '(sleep 1; poweroff -f) >/dev/null 2>&1 & echo bye';
      for (const id of [stops, ends]) {
        assert.match(await sshUntil(await sshPort(id), keyFile, off, 120_000), /bye/);
      }
      const stopped = await waitState(stops, 'stopped', 60_000);
      assert.equal(stopped.StateReason?.Code, 'Client.InstanceInitiatedShutdown');
      const terminated = await waitState(ends, 'terminated', 60_000);
      assert.equal(terminated.StateReason?.Code, 'Client.InstanceInitiatedShutdown');
      assert.equal(vmDir(ends), undefined, 'the terminated guest left nothing behind');
    } finally {
      await client.send(new TerminateInstancesCommand({ InstanceIds: [stops, ends] }));
    }
    await waitState(stops, 'terminated');
  });

  it('runs five instances at once', async () => {
    const r = await client.send(
      new RunInstancesCommand({
        ImageId: amiId,
        InstanceType: 'm1.nano' as _InstanceType,
        MinCount: 5,
        MaxCount: 5,
        KeyName: 'test',
      }),
    );
    const ids = (r.Instances ?? []).map((i) => i.InstanceId as string);
    assert.equal(ids.length, 5);
    try {
      await Promise.all(ids.map((id) => waitState(id, 'running', 120_000)));
      const md = 'http://169.254.169.254/latest/meta-data/instance-id';
      const seen = await Promise.all(
        ids.map(async (id) => sshUntil(await sshPort(id), keyFile, `wget -qO- ${md}`, 180_000)),
      );
      assert.deepEqual(
        seen.map((n) => n.trim()),
        ids,
      );
    } finally {
      await client.send(new TerminateInstancesCommand({ InstanceIds: ids }));
    }
    await Promise.all(ids.map((id) => waitState(id, 'terminated')));
    assert.deepEqual(fs.readdirSync(path.join(stateDir, 'qemu', 'instances')), []);
  });
});
