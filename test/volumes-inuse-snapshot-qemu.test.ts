// A snapshot of a volume in use on a real guest (issue 17): the guest makes ext4 on an attached
// volume, writes a file and syncs, and keeps writing while EC2's CreateSnapshot copies the
// volume through the storage daemon that exports it; the volume stays in use and the guest's
// writes go on during the copy; a volume made from the snapshot, attached beside it, holds the
// file (ext4 replays its journal on mount: the copy is crash consistent).
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeSnapshotsCommand,
  DetachVolumeCommand,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { needs } from './support/capabilities.js';
import { eventually } from './support/guest.js';
import {
  describeVolume,
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

const NEEDS = needs('qemu', 'qemu-img', 'qemu-storage-daemon', 'ssh', 'guest-image', 'guest-ext4');

describe('a snapshot of a volume in use, on a real guest (qemu)', NEEDS, () => {
  let g: GuestCloud;
  let guest: Guest;
  const text = `stratus live snapshot ${randomBytes(6).toString('hex')}`;

  async function createVolume(params: { Size?: number; SnapshotId?: string }): Promise<string> {
    const r = await g.client.send(new CreateVolumeCommand({ AvailabilityZone: g.zone, ...params }));
    assert.ok(r.VolumeId);
    await waitVolume(g, r.VolumeId, 'available');
    return r.VolumeId;
  }

  async function attach(id: string, device: string): Promise<string> {
    const disks = await guestDisks(g, guest);
    await g.client.send(
      new AttachVolumeCommand({ VolumeId: id, InstanceId: guest.instanceId, Device: device }),
    );
    await waitVolume(g, id, 'in-use');
    return waitNewDisk(g, guest, disks);
  }

  const counter = async () => Number(await inGuest(g, guest, 'cat /mnt/vol/counter'));

  before(async () => {
    g = await startGuestCloud();
    [guest] = (await launchGuests(g, 1)) as [Guest];
  });

  after(async () => {
    if (g && guest) await terminate(g, [guest.instanceId]).catch(() => undefined);
    await stopGuestCloud(g);
  });

  it('copies an attached volume while the guest writes to it; a volume made from the copy holds the synced file', async () => {
    const volumeId = await createVolume({ Size: 1 });
    const disk = await attach(volumeId, '/dev/sdf');
    await inGuest(
      g,
      guest,
      [
        'set -e',
        `mkfs.ext4 -q -L live /dev/${disk}`,
        'mkdir -p /mnt/vol',
        `mount -t ext4 /dev/${disk} /mnt/vol`,
        `echo '${text}' > /mnt/vol/hello.txt`,
        'echo 0 > /mnt/vol/counter',
        'sync',
        // A writer that runs on, detached from this session, while the snapshot is taken.
        "sh -c 'i=0; while :; do i=$((i+1)); dd if=/dev/urandom of=/mnt/vol/noise bs=64k count=4 2>/dev/null; echo $i > /mnt/vol/counter; sync; done' </dev/null >/dev/null 2>&1 &",
        'echo $! > /tmp/writer.pid',
      ].join('\n'),
    );
    await eventually(
      async () => ((await counter()) > 2 ? true : undefined),
      60_000,
      'the writer in the guest to run',
      250,
    );
    const before = await counter();
    const s = await g.client.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
    const snapshotId = s.SnapshotId as string;
    assert.ok(snapshotId.startsWith('snap-'));
    const started = Date.now();
    const done = await eventually(
      async () => {
        const r = await g.client.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
        const snap = r.Snapshots?.[0];
        if (snap?.State === 'error') throw new Error(`${snapshotId}: ${snap.StateMessage}`);
        return snap?.State === 'completed' ? snap : undefined;
      },
      180_000,
      `${snapshotId} to complete`,
      200,
    );
    console.log(`snapshot of an attached 1 GiB volume: ${Date.now() - started} ms`);
    assert.equal(done.VolumeId, volumeId);
    // The volume stayed attached and the guest went on writing.
    const v = await describeVolume(g, volumeId);
    assert.equal(v.State, 'in-use');
    assert.equal(v.Attachments?.[0]?.State, 'attached');
    await eventually(
      async () => ((await counter()) > before ? true : undefined),
      60_000,
      'the writer to go on after the snapshot',
      250,
    );

    const copyId = await createVolume({ SnapshotId: snapshotId });
    const copyDisk = await attach(copyId, '/dev/sdg');
    const out = await inGuest(
      g,
      guest,
      [
        'set -e',
        'mkdir -p /mnt/copy',
        // Read-write, so ext4 replays the journal of a file system copied while mounted.
        `mount -t ext4 /dev/${copyDisk} /mnt/copy`,
        'cat /mnt/copy/hello.txt',
        'umount /mnt/copy',
      ].join('\n'),
    );
    assert.equal(out.trim(), text);

    // Both detach; the writer is stopped first so the file system unmounts.
    await inGuest(g, guest, 'kill $(cat /tmp/writer.pid); sleep 1; sync; umount /mnt/vol');
    for (const [id, d] of [
      [copyId, copyDisk],
      [volumeId, disk],
    ] as const) {
      await g.client.send(new DetachVolumeCommand({ VolumeId: id }));
      await waitVolume(g, id, 'available');
      await waitDiskGone(g, guest, d);
    }
  });
});
