// Images from instances on real guests (the qemu driver under TCG, QEMU's user-mode network):
// a guest writes a marker to its disk over ssh and syncs; EC2 CreateImage copies the disk,
// once with NoReboot (a QMP backup job while the guest runs) and once without (the guest is
// powered off cleanly, the overlay copied with qemu-img, the guest booted again); new guests
// launched from the two images find each marker on their own disks. The project's guest lives
// in its initramfs and has no file system tools, so the "file" is a marker written straight to
// the block device past anything the image holds, as the rescue test does. Skipped when QEMU,
// ssh or the guest image is missing.
import { CreateImageCommand, DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/index.js';
import { ImageRepo } from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { silentLogger } from '../src/log.js';
import { startCloud, type Cloud } from '../src/main.js';
import { needs } from './support/capabilities.js';
import { eventually, GUEST_DIR, makeKey, sshUntil, killLeftoverGuests } from './support/guest.js';
import { login, PASSWORD } from './support/openstack.js';
import { FREE_PORTS } from './support/ports.js';

const NEEDS = needs('qemu', 'qemu-img', 'ssh', 'guest-image');

/** Where the marker goes on the disk, in MiB: past the image's own data. */
const MARK_OFFSET_MB = 900;
/** The machine is shared and TCG is slow: generous waits. */
const BOOT_MS = 420_000;

describe('images from instances on the qemu driver with the real guest image', NEEDS, () => {
  let stateDir: string;
  let cloud: Cloud;
  let token: string;
  let url: string;
  let keyFile: string;
  let imageId: string;
  let ec2: EC2Client;
  let sourceId: string;
  const made = new Map<string, { imageId: string; marker: string }>();

  const call = async (method: string, p: string, body?: unknown) => {
    const r = await fetch(`${url}${p}`, {
      method,
      headers: {
        'x-auth-token': token,
        'openstack-api-version': 'compute 2.73',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
  const show = async (id: string) =>
    (await call('GET', `/v2.1/servers/${id}`)).body.server as Record<string, unknown>;
  const settle = (id: string, ms = BOOT_MS) =>
    eventually(
      async () => {
        const s = await show(id);
        if (s.status === 'ERROR')
          throw new Error(`server ${id} went to ERROR: ${JSON.stringify(s.fault)}`);
        return s.status === 'ACTIVE' && s['OS-EXT-STS:task_state'] === null ? s : undefined;
      },
      ms,
      `server ${id} ACTIVE`,
      500,
    );
  /** The loopback port the driver forwards to the guest's ssh, from the latest boot. */
  const sshPort = async (id: string) => {
    const r = await call('POST', `/v2.1/servers/${id}/action`, { 'os-getConsoleOutput': {} });
    const m = /forwarded from 127\.0\.0\.1:(\d+)\n(?![\s\S]*forwarded from)/.exec(
      (r.body.output as string) ?? '',
    );
    assert.ok(m, 'the console names the ssh forward');
    return Number(m[1]);
  };
  const ssh = async (id: string, command: string) =>
    sshUntil(await sshPort(id), keyFile, command, BOOT_MS);
  const boot = async (name: string, image: string) => {
    const r = await call('POST', '/v2.1/servers', {
      server: { name, imageRef: image, flavorRef: '1', key_name: 'k', networks: 'auto' },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return (r.body.server as { id: string }).id;
  };
  const write = (id: string, marker: string) =>
    ssh(
      id,
      `printf ${marker} | dd of=/dev/vda bs=1M seek=${MARK_OFFSET_MB} conv=notrunc 2>/dev/null && sync && echo written`,
    );
  const read = (id: string) =>
    ssh(id, `dd if=/dev/vda bs=1M skip=${MARK_OFFSET_MB} count=1 2>/dev/null | head -c 16`);
  const ec2Id = (uuid: string) => `i-${uuid.replace(/-/g, '').slice(0, 17)}`;
  const uuidOfAmi = async (ami: string) => {
    const rows = await new ImageRepo(cloud.database.db).list({ idPrefixes: [ami.slice(4, 12)] });
    const row = rows.find((r) => r.id.replace(/-/g, '').startsWith(ami.slice(4)));
    assert.ok(row, `image ${ami}`);
    return row.id;
  };
  const available = (ami: string) =>
    eventually(
      async () => {
        const i = (await ec2.send(new DescribeImagesCommand({ ImageIds: [ami] }))).Images?.[0];
        if (i?.State === 'failed') throw new Error(`${ami} failed`);
        return i?.State === 'available' ? i : undefined;
      },
      BOOT_MS,
      `${ami} available`,
      500,
    );

  before(async () => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sq-img-'));
    let publicKey: string;
    ({ keyFile, publicKey } = makeKey(stateDir, 'images-from-instances-qemu'));
    const config = loadConfig({
      env: {},
      flags: {
        'state-dir': stateDir,
        virt: 'qemu',
        'data-plane': 'user',
        ...FREE_PORTS,
        'log-level': 'warn',
        'power-sync-seconds': '1',
        'qemu-power-off-timeout-seconds': '60',
        'guest-image-dir': GUEST_DIR,
      },
    });
    cloud = await startCloud(config, ['network', 'scheduler', 'compute', 'api'], {
      bootstrap: true,
      logger: silentLogger(),
    });
    assert.ok(cloud.urls && cloud.admin);
    url = cloud.urls.compute.replace(/\/v2\.1$/, '');
    ec2 = new EC2Client({
      endpoint: cloud.urls.ec2,
      region: config.region,
      credentials: {
        accessKeyId: cloud.admin.credential.accessKey,
        secretAccessKey: cloud.admin.credential.secretKey,
      },
      maxAttempts: 1,
    });
    await new IdentityService(cloud.database.db).setPassword('admin', PASSWORD);
    token = await login(cloud.urls.identity, 'admin', 'admin');
    const machine = await new ImageRepo(cloud.database.db).findByName(null, 'stratus-guest');
    assert.ok(machine, 'the first start imported the guest');
    imageId = machine.id;
    const key = await call('POST', '/v2.1/os-keypairs', {
      keypair: { name: 'k', public_key: publicKey },
    });
    assert.equal(key.status, 201, JSON.stringify(key.body));
  });

  after(async () => {
    ec2?.destroy();
    await cloud?.stop();
    // Whatever a failed step left running is ended by its pid.
    killLeftoverGuests(stateDir);
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('boots a guest and writes a marker to its disk', async () => {
    sourceId = await boot('source', imageId);
    await settle(sourceId);
    const marker = randomUUID().slice(0, 16);
    assert.equal((await write(sourceId, marker)).trim(), 'written');
    made.set('no-reboot', { imageId: '', marker });
  });

  it('CreateImage with NoReboot copies the running disk; the guest keeps running', async () => {
    const entry = made.get('no-reboot');
    assert.ok(entry);
    const uptime = async () => Number((await ssh(sourceId, 'cat /proc/uptime')).split(' ')[0]);
    const before = await uptime();
    const started = Date.now();
    const r = await ec2.send(
      new CreateImageCommand({ InstanceId: ec2Id(sourceId), Name: 'live copy', NoReboot: true }),
    );
    const image = await available(r.ImageId as string);
    console.log(`# CreateImage NoReboot: available after ${Date.now() - started} ms`);
    assert.equal(image.Architecture, 'x86_64');
    entry.imageId = await uuidOfAmi(r.ImageId as string);
    assert.ok((await uptime()) >= before, 'the guest did not boot again');
  });

  it('CreateImage without NoReboot powers the guest off around the copy and boots it again', async () => {
    const marker = randomUUID().slice(0, 16);
    assert.equal((await write(sourceId, marker)).trim(), 'written');
    const started = Date.now();
    const r = await ec2.send(
      new CreateImageCommand({ InstanceId: ec2Id(sourceId), Name: 'clean copy' }),
    );
    await available(r.ImageId as string);
    console.log(`# CreateImage with reboot: available after ${Date.now() - started} ms`);
    made.set('reboot', { imageId: await uuidOfAmi(r.ImageId as string), marker });
    await settle(sourceId);
    const uptime = Number((await ssh(sourceId, 'cat /proc/uptime')).split(' ')[0]);
    assert.ok(uptime < (Date.now() - started) / 1000 + 5, `the guest booted again (${uptime} s)`);
    assert.equal(await read(sourceId), marker, 'the source keeps its disk');
  });

  it('guests launched from the images find the markers on their disks', async () => {
    const launched: [string, string][] = [];
    for (const [name, { imageId: image, marker }] of made) {
      assert.ok(image, `the ${name} image was made`);
      launched.push([await boot(`from-${name}`, image), marker]);
    }
    for (const [id, marker] of launched) {
      await settle(id);
      assert.equal(await read(id), marker);
    }
  });
});
