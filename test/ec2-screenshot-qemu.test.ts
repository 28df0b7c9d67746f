// GetConsoleScreenshot of a real guest: the whole cloud on the QEMU driver boots the guest
// image, and the screenshot the AWS SDK gets is a JPEG (FF D8 FF) of the guest's VGA screen,
// of plausible size, decodable to the screen's dimensions; a stopped guest has none. Skipped
// when QEMU or the guest image is missing.
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  GetConsoleOutputCommand,
  GetConsoleScreenshotCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type EC2Client,
  type Instance,
} from '@aws-sdk/client-ec2';
import { decode } from 'jpeg-js';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import { startCloud, type Cloud } from '../src/main.js';
import { needs } from './support/capabilities.js';
import { ec2Client } from './support/ec2.js';
import { BANNER, eventually, GUEST_DIR, killLeftoverGuests } from './support/guest.js';
import { FREE_PORTS } from './support/ports.js';

describe('GetConsoleScreenshot of a real guest', needs('qemu', 'qemu-img', 'guest-image'), () => {
  let stateDir: string;
  let cloud: Cloud;
  let client: EC2Client;
  let instanceId: string | undefined;

  async function describe1(id: string): Promise<Instance | undefined> {
    const r = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    return r.Reservations?.[0]?.Instances?.[0];
  }

  before(async () => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sq-shot-'));
    const config = loadConfig({
      env: {},
      flags: {
        'state-dir': stateDir,
        virt: 'qemu',
        'data-plane': 'user',
        ...FREE_PORTS,
        'log-level': 'warn',
        'power-sync-seconds': '1',
        'qemu-power-off-timeout-seconds': '20',
        'guest-image-dir': GUEST_DIR,
      },
    });
    cloud = await startCloud(config, ['network', 'scheduler', 'compute', 'api'], {
      bootstrap: true,
      logger: silentLogger(),
    });
    assert.ok(cloud.admin && cloud.urls);
    client = ec2Client(cloud.urls.ec2, config.region, {
      accessKeyId: cloud.admin.credential.accessKey,
      secretAccessKey: cloud.admin.credential.secretKey,
    });
  });

  after(async () => {
    if (instanceId) {
      await client
        .send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }))
        .catch(() => {});
      await eventually(
        async () =>
          (await describe1(instanceId as string))?.State?.Name === 'terminated' ? true : undefined,
        60_000,
        'the instance to be terminated',
        500,
      ).catch(() => {});
    }
    await cloud?.stop();
    client?.destroy();
    // Whatever a failed step left running is ended by its pid.
    killLeftoverGuests(stateDir);
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('answers a JPEG of the screen while the guest runs, and IncorrectInstanceState once stopped', async () => {
    const images = await client.send(
      new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['stratus-guest'] }] }),
    );
    const amiId = images.Images?.[0]?.ImageId as string;
    const r = await client.send(
      new RunInstancesCommand({
        ImageId: amiId,
        InstanceType: 'm1.nano' as _InstanceType,
        MinCount: 1,
        MaxCount: 1,
      }),
    );
    const id = r.Instances?.[0]?.InstanceId as string;
    instanceId = id;
    await eventually(
      async () => {
        const out = await client.send(new GetConsoleOutputCommand({ InstanceId: id }));
        return Buffer.from(out.Output ?? '', 'base64')
          .toString()
          .match(BANNER)
          ? true
          : undefined;
      },
      90_000,
      'the banner in GetConsoleOutput',
      500,
    );

    const shot = await client.send(
      new GetConsoleScreenshotCommand({ InstanceId: id, WakeUp: true }),
    );
    assert.equal(shot.InstanceId, id);
    const jpeg = Buffer.from(shot.ImageData ?? '', 'base64');
    assert.deepEqual([...jpeg.subarray(0, 3)], [0xff, 0xd8, 0xff]);
    assert.ok(jpeg.length > 1000 && jpeg.length < 2_000_000, `${jpeg.length} bytes`);
    const { width, height } = decode(jpeg);
    assert.ok(width >= 320 && height >= 200, `${width}x${height}`);

    await client.send(new StopInstancesCommand({ InstanceIds: [id], Force: true }));
    await eventually(
      async () => ((await describe1(id))?.State?.Name === 'stopped' ? true : undefined),
      60_000,
      'the instance to be stopped',
      500,
    );
    await assert.rejects(
      client.send(new GetConsoleScreenshotCommand({ InstanceId: id })),
      (err: Error) => err.name === 'IncorrectInstanceState',
    );
  });
});
