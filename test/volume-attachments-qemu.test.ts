// Volume attachments on a real guest (the qemu driver, TCG here), through the AWS SDK: the
// guest sees a new virtio disk, whose serial is the volume id, appear after AttachVolume with
// the volume's size, sees it grow after ModifyVolume, and sees it go after DetachVolume. The
// disk is reached over NBD from the volume service's storage daemon. Faults: a storage daemon
// that hangs during an attach leaves the volume available, never attaching, and the guest runs
// on; a storage daemon killed while a volume is attached is started again and exports the
// volume again, and the guest reads it; a restart of the services (compute among them) adopts
// the same VM with the volume attached, which the guest reads and writes and then detaches.
// Skipped when QEMU or the guest image is missing.
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  GetConsoleOutputCommand,
  ImportKeyPairCommand,
  ModifyVolumeCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type EC2Client,
  type Volume,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/index.js';
import { VolumeRepo } from '../src/db/index.js';
import { silentLogger } from '../src/log.js';
import { startCloud, type Cloud } from '../src/main.js';
import { NbdExports } from '../src/volume/index.js';
import { needs } from './support/capabilities.js';
import { ec2Client } from './support/ec2.js';
import {
  eventually,
  GUEST_DIR,
  makeKey,
  sshOnce,
  sshUntil,
  killLeftoverGuests,
} from './support/guest.js';
import { FREE_PORTS } from './support/ports.js';
import { stopStorageDaemon } from './support/volumes.js';

const NEEDS = needs('qemu', 'qemu-img', 'qemu-storage-daemon', 'ssh', 'guest-image');
const SECTORS_PER_GIB = (1024 * 1024 * 1024) / 512;

describe('Volume attachments on the qemu driver with the real guest image', NEEDS, () => {
  let stateDir: string;
  let cloud: Cloud;
  let client: EC2Client;
  let keyFile: string;
  let instanceId: string;
  let port: number;
  let zone: string;
  let start: () => Promise<void>;

  const guest = (command: string) => sshUntil(port, keyFile, command, 180_000);
  /** Each virtio disk of the guest as `name serial sectors`. */
  const disks = async () =>
    (
      await guest(
        'for d in /sys/block/vd*; do echo "$(basename $d) $(cat $d/serial 2>/dev/null) $(cat $d/size)"; done',
      )
    )
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '');
  const volumeDisk = async (uuid: string) =>
    (await disks()).find((l) => l.split(' ')[1] === uuid.slice(0, 20));

  async function describeVolume(id: string): Promise<Volume | undefined> {
    return (await client.send(new DescribeVolumesCommand({ VolumeIds: [id] }))).Volumes?.[0];
  }
  async function uuidOf(id: string): Promise<string> {
    const rows = await new VolumeRepo(cloud.database.db).list();
    const row = rows.find((r) => r.id.replace(/-/g, '').startsWith(id.slice(4)));
    assert.ok(row);
    return row.id;
  }
  async function waitVolume(id: string, status: string) {
    const uuid = await uuidOf(id);
    return eventually(
      async () => {
        const row = await new VolumeRepo(cloud.database.db).get(uuid);
        return row?.status === status ? row : undefined;
      },
      180_000,
      `${id} to be ${status}`,
      250,
    );
  }
  async function createVolume(): Promise<string> {
    const r = await client.send(new CreateVolumeCommand({ Size: 1, AvailabilityZone: zone }));
    await waitVolume(r.VolumeId as string, 'available');
    return r.VolumeId as string;
  }

  before(async () => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sq-vol-'));
    let publicKey: string;
    ({ keyFile, publicKey } = makeKey(stateDir, 'volume-qemu-test'));
    const config = loadConfig({
      env: {},
      flags: {
        'state-dir': stateDir,
        virt: 'qemu',
        'data-plane': 'user',
        ...FREE_PORTS,
        'log-level': 'warn',
        'guest-image-dir': GUEST_DIR,
      },
    });
    zone = config.compute.availabilityZone;
    start = async () => {
      cloud = await startCloud(config, ['network', 'scheduler', 'compute', 'volume', 'api'], {
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
    };
    await start();
    const images = await client.send(
      new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['stratus-guest'] }] }),
    );
    await client.send(
      new ImportKeyPairCommand({ KeyName: 'vol', PublicKeyMaterial: Buffer.from(publicKey) }),
    );
    const r = await client.send(
      new RunInstancesCommand({
        ImageId: images.Images?.[0]?.ImageId as string,
        InstanceType: 'm1.nano' as _InstanceType,
        MinCount: 1,
        MaxCount: 1,
        KeyName: 'vol',
      }),
    );
    instanceId = r.Instances?.[0]?.InstanceId as string;
    await eventually(
      async () => {
        const d = await client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
        return d.Reservations?.[0]?.Instances?.[0]?.State?.Name === 'running' ? true : undefined;
      },
      120_000,
      'the instance to run',
      500,
    );
    const out = await eventually(
      async () => {
        const c = await client.send(new GetConsoleOutputCommand({ InstanceId: instanceId }));
        const text = Buffer.from(c.Output ?? '', 'base64').toString();
        return /forwarded from 127\.0\.0\.1:(\d+)/.exec(text) ?? undefined;
      },
      60_000,
      'the ssh forward',
      500,
    );
    port = Number(out[1]);
  });

  after(async () => {
    if (instanceId) {
      await client
        .send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }))
        .catch(() => undefined);
      await eventually(
        async () => {
          const dir = path.join(stateDir, 'qemu', 'instances');
          return !fs.existsSync(dir) || fs.readdirSync(dir).length === 0 ? true : undefined;
        },
        60_000,
        'the VM to go',
        500,
      ).catch(() => undefined);
    }
    await cloud?.stop();
    client?.destroy();
    await stopStorageDaemon(stateDir);
    // Whatever a failed step left running is ended by its pid.
    killLeftoverGuests(stateDir);
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  let volumeId: string;
  let uuid: string;

  it('the guest sees a new disk after AttachVolume, with the volume id as its serial', async () => {
    const before = await disks();
    assert.equal(before.length, 1, `only the root disk: ${before.join('; ')}`);
    volumeId = await createVolume();
    uuid = await uuidOf(volumeId);
    const a = await client.send(
      new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sdf' }),
    );
    assert.equal(a.State, 'attaching');
    await waitVolume(volumeId, 'in-use');
    const disk = await eventually(
      () => volumeDisk(uuid),
      120_000,
      'the new disk in the guest',
      1000,
    );
    assert.equal(Number(disk.split(' ')[2]), SECTORS_PER_GIB);
    // Its blocks are there to write and read back.
    const name = disk.split(' ')[0] as string;
    const out = await guest(
      `echo stratus-volume > /tmp/m && dd if=/tmp/m of=/dev/${name} bs=512 count=1 conv=sync 2>/dev/null && sync && dd if=/dev/${name} bs=512 count=1 2>/dev/null | head -c 14`,
    );
    assert.equal(out, 'stratus-volume');
  });

  it('the guest sees the new size after ModifyVolume grows the attached volume', async () => {
    await client.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 2 }));
    const row = await waitVolume(volumeId, 'in-use');
    assert.equal(row.statusReason, null);
    assert.equal((await describeVolume(volumeId))?.Size, 2);
    await eventually(
      async () => {
        const d = await volumeDisk(uuid);
        return d && Number(d.split(' ')[2]) === 2 * SECTORS_PER_GIB ? true : undefined;
      },
      60_000,
      'the guest to see 2 GiB',
      1000,
    );
  });

  it('a restart of every service (compute with it) keeps the volume attached: the VM and its disk are adopted, and the guest reads and writes it', async () => {
    const pidFile = path.join(stateDir, 'qemu', 'instances');
    const vmPids = () =>
      fs
        .readdirSync(pidFile)
        .map((d) => path.join(pidFile, d, 'qemu.pid'))
        .filter((f) => fs.existsSync(f))
        .map((f) => fs.readFileSync(f, 'utf8').trim());
    const pidsBefore = vmPids();
    await cloud.stop();
    await start();
    // The same qemu process: adopted, not started again.
    assert.deepEqual(vmPids(), pidsBefore);
    assert.equal((await describeVolume(volumeId))?.Attachments?.[0]?.State, 'attached');
    const name = ((await volumeDisk(uuid)) as string).split(' ')[0] as string;
    const out = await guest(
      `dd if=/dev/${name} bs=512 count=1 iflag=direct 2>/dev/null | head -c 14`,
    );
    assert.equal(out, 'stratus-volume');
    // Writes after the restart reach the volume (past the guest's cache: direct I/O both ways).
    const written = await guest(
      `echo after-restart > /tmp/w && dd if=/tmp/w of=/dev/${name} bs=512 seek=8 count=1 conv=sync oflag=direct 2>/dev/null && dd if=/dev/${name} bs=512 skip=8 count=1 iflag=direct 2>/dev/null | head -c 13`,
    );
    assert.equal(written, 'after-restart');
    assert.equal((await new VolumeRepo(cloud.database.db).get(uuid))?.status, 'in-use');
  });

  it('a storage daemon killed while the volume is attached is started again, and the guest reads the volume', async () => {
    const nbd = new NbdExports({ directory: path.join(stateDir, 'nbd'), address: '', port: 0 });
    const pid = nbd.pid();
    assert.ok(pid);
    process.kill(pid, 'SIGKILL');
    await eventually(
      async () => {
        const now = nbd.pid();
        return now !== undefined && now !== pid ? true : undefined;
      },
      60_000,
      'a new storage daemon',
      500,
    );
    const name = ((await volumeDisk(uuid)) as string).split(' ')[0] as string;
    const read = await eventually(
      async () => {
        const r = await sshOnce(
          port,
          keyFile,
          `dd if=/dev/${name} bs=512 count=1 iflag=direct 2>/dev/null | head -c 14`,
          60_000,
        );
        return r.ok && r.stdout === 'stratus-volume' ? r.stdout : undefined;
      },
      120_000,
      'the guest to read the volume again',
      1000,
    );
    assert.equal(read, 'stratus-volume');
  });

  it('the disk goes away in the guest after DetachVolume', async () => {
    const d = await client.send(new DetachVolumeCommand({ VolumeId: volumeId }));
    assert.equal(d.State, 'detaching');
    await waitVolume(volumeId, 'available');
    await eventually(
      async () => ((await volumeDisk(uuid)) === undefined ? true : undefined),
      60_000,
      'the disk to go from the guest',
      1000,
    );
    assert.deepEqual((await describeVolume(volumeId))?.Attachments, []);
  });

  it('a storage daemon that hangs during an attach leaves the volume available and the guest running', async () => {
    const nbd = new NbdExports({ directory: path.join(stateDir, 'nbd'), address: '', port: 0 });
    const pid = nbd.pid();
    assert.ok(pid);
    process.kill(pid, 'SIGSTOP');
    try {
      await client.send(
        new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sdg' }),
      );
      const row = await waitVolume(volumeId, 'available');
      assert.match(row.statusReason ?? '', /storage daemon/);
    } finally {
      process.kill(pid, 'SIGKILL');
    }
    assert.equal((await describeVolume(volumeId))?.State, 'available');
    const out = await guest('echo alive');
    assert.equal(out.trim(), 'alive');
    assert.equal(await volumeDisk(uuid), undefined);
  });
});
