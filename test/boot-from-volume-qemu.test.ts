// Booting from a volume on real guests (the qemu driver under TCG, QEMU's user-mode network,
// the volume service's storage daemon over NBD on loopback): a server made through the
// Compute API with a root volume from the guest image boots from it (the guest's first disk
// has the volume's serial); a marker written to that disk and synced is found by a guest
// launched through EC2 from the volume-backed image CreateImage makes of the server, and by a
// server booted from the same root volume after the first one is deleted with
// delete_on_termination false. The root volume cannot be detached. As in the images test, the
// project's guest lives in its initramfs, so the "file" is a marker written straight to the
// block device past anything the image holds.
import {
  CreateImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DetachVolumeCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/index.js';
import { ImageRepo, VolumeRepo, type VolumeRow } from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { silentLogger } from '../src/log.js';
import { startCloud, type Cloud } from '../src/main.js';
import { needs } from './support/capabilities.js';
import { expectError } from './support/expect.js';
import { eventually, GUEST_DIR, killLeftoverGuests, makeKey, sshUntil } from './support/guest.js';
import { login, PASSWORD } from './support/openstack.js';
import { FREE_PORTS } from './support/ports.js';
import { stopWithStorageDaemon } from './support/volumes.js';

const NEEDS = needs('qemu', 'qemu-img', 'qemu-storage-daemon', 'ssh', 'guest-image');

/** Where the marker goes on the disk, in MiB: past the image's own data, within 1 GiB. */
const MARK_OFFSET_MB = 900;
/** The machine is shared and TCG is slow: generous waits. */
const BOOT_MS = 420_000;

describe('boot from volume on the qemu driver with the real guest image', NEEDS, () => {
  let stateDir: string;
  let cloud: Cloud;
  let token: string;
  let url: string;
  let keyFile: string;
  let guestImage: string;
  let ec2: EC2Client;
  let serverId: string;
  let rootVolume: VolumeRow;
  const marker = randomUUID().slice(0, 16);

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
  const settle = (id: string) =>
    eventually(
      async () => {
        const s = await show(id);
        if (s.status === 'ERROR')
          throw new Error(`server ${id} went to ERROR: ${JSON.stringify(s.fault)}`);
        return s.status === 'ACTIVE' && s['OS-EXT-STS:task_state'] === null ? s : undefined;
      },
      BOOT_MS,
      `server ${id} ACTIVE`,
      500,
    );
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
  const read = (id: string) =>
    ssh(id, `dd if=/dev/vda bs=1M skip=${MARK_OFFSET_MB} count=1 2>/dev/null | head -c 16`);
  const serial = (id: string) => ssh(id, 'cat /sys/block/vda/serial');
  const volumes = () => new VolumeRepo(cloud.database.db).list();
  const ec2Id = (prefix: string, uuid: string) =>
    `${prefix}-${uuid.replace(/-/g, '').slice(0, 17)}`;
  const uuidOf = async (shown: string) => {
    const rows = await cloud.database.db.selectFrom('instances').select('id').execute();
    const row = rows.find((r) => ec2Id('i', r.id) === shown);
    assert.ok(row, `instance ${shown}`);
    return row.id;
  };

  before(async () => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sq-bfv-'));
    let publicKey: string;
    ({ keyFile, publicKey } = makeKey(stateDir, 'boot-from-volume-qemu'));
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
    cloud = await startCloud(config, ['network', 'scheduler', 'compute', 'volume', 'api'], {
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
    guestImage = machine.id;
    const key = await call('POST', '/v2.1/os-keypairs', {
      keypair: { name: 'k', public_key: publicKey },
    });
    assert.equal(key.status, 201, JSON.stringify(key.body));
  });

  after(async () => {
    ec2?.destroy();
    if (cloud) await stopWithStorageDaemon(stateDir, () => cloud.stop());
    killLeftoverGuests(stateDir);
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('boots a server from a root volume made from the guest image; the guest writes to it', async () => {
    const started = Date.now();
    const r = await call('POST', '/v2.1/servers', {
      server: {
        name: 'bfv-source',
        imageRef: '',
        flavorRef: '1',
        key_name: 'k',
        networks: 'auto',
        block_device_mapping_v2: [
          {
            boot_index: 0,
            source_type: 'image',
            destination_type: 'volume',
            uuid: guestImage,
            volume_size: 1,
            delete_on_termination: false,
          },
        ],
      },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    serverId = (r.body.server as { id: string }).id;
    await settle(serverId);
    rootVolume = (await volumes()).find((v) => v.instanceId === serverId) as VolumeRow;
    assert.equal(rootVolume.device, '/dev/vda');
    // The guest's first disk is the volume: its serial is the volume id's first 20 characters.
    assert.equal((await serial(serverId)).trim(), rootVolume.id.slice(0, 20));
    console.log(`# boot from a new root volume: ssh after ${Date.now() - started} ms`);
    const out = await ssh(
      serverId,
      `printf ${marker} | dd of=/dev/vda bs=1M seek=${MARK_OFFSET_MB} conv=notrunc 2>/dev/null && sync && echo written`,
    );
    assert.equal(out.trim(), 'written');
  });

  it('refuses to detach the root volume', async () => {
    const del = await call(
      'DELETE',
      `/v2.1/servers/${serverId}/os-volume_attachments/${rootVolume.id}`,
    );
    assert.equal(del.status, 400, JSON.stringify(del.body));
    await expectError(
      () => ec2.send(new DetachVolumeCommand({ VolumeId: ec2Id('vol', rootVolume.id) })),
      'OperationNotPermitted',
    );
    assert.equal(await read(serverId), marker);
  });

  it('CreateImage makes a volume-backed image; an instance launched from it finds the marker', async () => {
    const started = Date.now();
    const c = await ec2.send(
      new CreateImageCommand({ InstanceId: ec2Id('i', serverId), Name: 'bfv-ebs' }),
    );
    const ami = c.ImageId as string;
    const image = await eventually(
      async () => {
        const i = (await ec2.send(new DescribeImagesCommand({ ImageIds: [ami] }))).Images?.[0];
        if (i === undefined || i.State === 'failed') throw new Error(`${ami} failed`);
        return i.State === 'available' ? i : undefined;
      },
      BOOT_MS,
      `${ami} available`,
      500,
    );
    console.log(`# CreateImage of a volume root: available after ${Date.now() - started} ms`);
    assert.equal(image.RootDeviceType, 'ebs');
    assert.equal(image.RootDeviceName, '/dev/vda');
    assert.equal(image.BlockDeviceMappings?.length, 1);
    assert.match(image.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId ?? '', /^snap-/);
    // The server was powered off for the copy and booted again.
    await settle(serverId);

    const run = await ec2.send(
      new RunInstancesCommand({
        ImageId: ami,
        MinCount: 1,
        MaxCount: 1,
        InstanceType: 'm1.nano' as _InstanceType,
        KeyName: 'k',
      }),
    );
    const shown = run.Instances?.[0]?.InstanceId as string;
    const id = await uuidOf(shown);
    await settle(id);
    const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [shown] }));
    const inst = d.Reservations?.[0]?.Instances?.[0];
    assert.equal(inst?.RootDeviceType, 'ebs');
    assert.equal(inst?.BlockDeviceMappings?.[0]?.Ebs?.DeleteOnTermination, false);
    assert.equal(await read(id), marker);
    const root = (await volumes()).find((v) => v.instanceId === id) as VolumeRow;
    assert.equal((await serial(id)).trim(), root.id.slice(0, 20));
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [shown] }));
    // The image's mapping says what the source volume said: it stays.
    await eventually(
      async () =>
        (await volumes()).find((v) => v.id === root.id)?.status === 'available' ? true : undefined,
      120_000,
      'the launched root volume to be available',
      500,
    );
  });

  it('the root volume outlives its server and boots a new one (source_type volume)', async () => {
    assert.equal((await call('DELETE', `/v2.1/servers/${serverId}`)).status, 204);
    await eventually(
      async () =>
        (await volumes()).find((v) => v.id === rootVolume.id)?.status === 'available'
          ? true
          : undefined,
      120_000,
      'the root volume to be available',
      500,
    );
    const r = await call('POST', '/v2.1/servers', {
      server: {
        name: 'bfv-again',
        flavorRef: '1',
        key_name: 'k',
        networks: 'auto',
        block_device_mapping_v2: [
          { boot_index: 0, source_type: 'volume', destination_type: 'volume', uuid: rootVolume.id },
        ],
      },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = (r.body.server as { id: string }).id;
    await settle(id);
    assert.equal((await serial(id)).trim(), rootVolume.id.slice(0, 20));
    assert.equal(await read(id), marker);
    assert.equal((await call('DELETE', `/v2.1/servers/${id}`)).status, 204);
  });
});
