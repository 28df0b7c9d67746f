// Volumes proved on real guests (issue 17, part 5), through the AWS SDK against the whole cloud
// on the qemu driver: a volume attached to a running guest is a new virtio disk there, on which
// the guest makes ext4, writes a file and syncs; detached, it leaves the guest, and attached to
// a second guest it holds the same file (grown there while attached, the guest sees the new size
// and grows the filesystem online); a snapshot of it becomes a new volume with the file;
// and an image made from a running guest (NoReboot) launches a guest whose own disk holds a
// file written before. Two guests on the all-in-one stand for two hosts: the attach goes
// through the same NBD path either way.
import {
  AttachVolumeCommand,
  CreateImageCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  DetachVolumeCommand,
  ModifyVolumeCommand,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { needs } from './support/capabilities.js';
import { eventually } from './support/guest.js';
import {
  guestDisks,
  inGuest,
  launchGuests,
  startGuestCloud,
  stopGuestCloud,
  terminate,
  waitDiskGone,
  waitNewDisk,
  waitVolume,
  type Guest,
  type GuestCloud,
} from './support/volume-guests.js';

const NEEDS = needs('qemu', 'qemu-img', 'ssh', 'guest-image', 'guest-ext4');

describe('volumes and images on real guests (qemu, all-in-one)', NEEDS, () => {
  let g: GuestCloud;
  let first: Guest;
  let second: Guest;
  const launched: string[] = [];
  const token = randomBytes(6).toString('hex');
  const text = `stratus volume file ${token}`;
  let volumeId = '';
  let snapshotId = '';

  /** Attaches a volume, waits until it is in use and the guest sees it; returns the disk. */
  async function attach(id: string, guest: Guest, device = '/dev/sdf'): Promise<string> {
    const disks = await guestDisks(g, guest);
    const r = await g.client.send(
      new AttachVolumeCommand({ VolumeId: id, InstanceId: guest.instanceId, Device: device }),
    );
    assert.equal(r.VolumeId, id);
    assert.equal(r.InstanceId, guest.instanceId);
    assert.match(r.State ?? '', /^(attaching|attached)$/);
    const v = await waitVolume(g, id, 'in-use');
    assert.equal(v.Attachments?.[0]?.InstanceId, guest.instanceId);
    assert.equal(v.Attachments?.[0]?.Device, device);
    const disk = await waitNewDisk(g, guest, disks);
    // The disk's serial is the volume's UUID as far as virtio's 20 bytes hold it: its hex
    // digits are the ones the vol- id carries.
    const serial = (await inGuest(g, guest, `cat /sys/block/${disk}/serial`)).trim();
    assert.match(serial, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]$/);
    assert.equal(`vol-${serial.replace(/-/g, '')}`, id);
    return disk;
  }

  async function detach(id: string, guest: Guest, disk: string): Promise<void> {
    const r = await g.client.send(new DetachVolumeCommand({ VolumeId: id }));
    assert.match(r.State ?? '', /^(detaching|detached)$/);
    const v = await waitVolume(g, id, 'available');
    assert.equal(v.Attachments?.length ?? 0, 0);
    await waitDiskGone(g, guest, disk);
  }

  /** Mounts `disk` read-only in the guest and prints the volume file. */
  const readBack = (guest: Guest, disk: string) =>
    inGuest(
      g,
      guest,
      [
        'set -e',
        'mkdir -p /mnt/vol',
        `mount -t ext4 -o ro /dev/${disk} /mnt/vol`,
        'cat /mnt/vol/stratus/hello.txt',
        'umount /mnt/vol',
      ].join('\n'),
    );

  async function createVolume(params: { Size?: number; SnapshotId?: string }): Promise<string> {
    const r = await g.client.send(new CreateVolumeCommand({ AvailabilityZone: g.zone, ...params }));
    assert.ok(r.VolumeId);
    await waitVolume(g, r.VolumeId, 'available');
    return r.VolumeId;
  }

  before(async () => {
    g = await startGuestCloud();
    [first, second] = (await launchGuests(g, 2)) as [Guest, Guest];
    launched.push(first.instanceId, second.instanceId);
  });

  after(async () => {
    if (g) await terminate(g, launched).catch(() => undefined);
    await stopGuestCloud(g);
  });

  it('a volume attached to a running guest is a new disk there; the guest makes ext4 on it, writes a file and syncs', async () => {
    volumeId = await createVolume({ Size: 1 });
    const disk = await attach(volumeId, first);
    const size = await inGuest(g, first, `cat /sys/block/${disk}/size`);
    assert.equal(Number(size) * 512, 1024 ** 3);
    const out = await inGuest(
      g,
      first,
      [
        'set -e',
        `mkfs.ext4 -q -L stratus /dev/${disk}`,
        'mkdir -p /mnt/vol',
        `mount -t ext4 /dev/${disk} /mnt/vol`,
        'mkdir /mnt/vol/stratus',
        `echo '${text}' > /mnt/vol/stratus/hello.txt`,
        'sync',
        'cat /mnt/vol/stratus/hello.txt',
        'umount /mnt/vol',
      ].join('\n'),
    );
    assert.equal(out.trim(), text);
    await detach(volumeId, first, disk);
  });

  it('detached and attached to a second guest, the volume holds the file; grown while attached, the guest sees the new size and grows ext4 online', async () => {
    const disk = await attach(volumeId, second, '/dev/sdg');
    assert.equal((await readBack(second, disk)).trim(), text);
    await g.client.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 2 }));
    await eventually(
      async () => {
        const sectors = await inGuest(g, second, `cat /sys/block/${disk}/size`);
        return Number(sectors) * 512 === 2 * 1024 ** 3 ? true : undefined;
      },
      120_000,
      `${disk} in ${second.instanceId} to be 2 GiB`,
      250,
    );
    const out = await inGuest(
      g,
      second,
      [
        'set -e',
        `mount -t ext4 /dev/${disk} /mnt/vol`,
        `resize2fs /dev/${disk} >/dev/null 2>&1`,
        "df -k /mnt/vol | awk 'NR == 2 { print $2 }'",
        'cat /mnt/vol/stratus/hello.txt',
        'umount /mnt/vol',
      ].join('\n'),
    );
    const [kib, file] = out.trim().split('\n');
    assert.ok(Number(kib) > 1.5 * 1024 ** 2, `ext4 grew to ${kib} KiB`);
    assert.equal(file, text);
    await detach(volumeId, second, disk);
  });

  it('a snapshot of the volume becomes a new volume that holds the file too', async () => {
    const s = await g.client.send(
      new CreateSnapshotCommand({ VolumeId: volumeId, Description: `of ${volumeId}` }),
    );
    assert.ok(s.SnapshotId?.startsWith('snap-'));
    snapshotId = s.SnapshotId as string;
    const done = await eventually(
      async () => {
        const r = await g.client.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
        const snap = r.Snapshots?.[0];
        if (snap?.State === 'error') throw new Error(`${snapshotId} went to error`);
        return snap?.State === 'completed' ? snap : undefined;
      },
      120_000,
      `${snapshotId} to complete`,
      200,
    );
    assert.equal(done.VolumeId, volumeId);
    assert.equal(done.VolumeSize, 2);
    const copy = await createVolume({ SnapshotId: snapshotId });
    const disk = await attach(copy, first);
    assert.equal((await readBack(first, disk)).trim(), text);
    await detach(copy, first, disk);
  });

  it('an image made from a running guest launches a guest whose disk holds the same file', async () => {
    // The guest's own disk is the image's FAT disk: write a file there, from the guest.
    await inGuest(
      g,
      first,
      [
        'set -e',
        'mkdir -p /mnt/root',
        'mount -t vfat /dev/vda /mnt/root',
        `echo '${text}' > /mnt/root/hello.txt`,
        'sync',
        'umount /mnt/root',
      ].join('\n'),
    );
    const r = await g.client.send(
      new CreateImageCommand({
        InstanceId: first.instanceId,
        Name: `from-${first.instanceId}-${token}`,
        NoReboot: true,
      }),
    );
    assert.ok(r.ImageId?.startsWith('ami-'));
    const imageId = r.ImageId as string;
    await eventually(
      async () => {
        const d = await g.client.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
        const state = d.Images?.[0]?.State;
        if (state === 'failed' || state === 'error') throw new Error(`${imageId} is ${state}`);
        return state === 'available' ? true : undefined;
      },
      300_000,
      `${imageId} to be available`,
      500,
    );
    // The source guest kept running through it (NoReboot).
    assert.match(await inGuest(g, first, 'echo still here'), /still here/);
    const [third] = (await launchGuests(g, 1, imageId)) as [Guest];
    launched.push(third.instanceId);
    const out = await inGuest(
      g,
      third,
      [
        'set -e',
        'mkdir -p /mnt/root',
        'mount -t vfat -o ro /dev/vda /mnt/root',
        'cat /mnt/root/hello.txt',
        'umount /mnt/root',
      ].join('\n'),
    );
    assert.equal(out.trim(), text);
  });
});
