// The volume service killed (SIGKILL, with the rest of the all-in-one process it runs in)
// during an attach and during a snapshot of a volume in use, on a real guest (issue 17, "Bad
// input and faults"): after the restart the volume ends available, in use or in error, never
// left attaching; the snapshot ends completed or in error, never left pending; and the guest
// runs on through both (its qemu outlives the services by design) and reads the volume when
// it ended attached.
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeAvailabilityZonesCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EC2Client,
  ImportKeyPairCommand,
  type Volume,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDatabase } from '../src/db/index.js';
import { needs } from './support/capabilities.js';
import { readRcFile, startStratus, type RunningStratus } from './support/cli.js';
import { eventually, GUEST_DIR, killLeftoverGuests, makeKey } from './support/guest.js';
import { FREE_PORT_ARGS } from './support/ports.js';
import {
  guestDisks,
  inGuest,
  launchGuests,
  type Guest,
  type GuestCloud,
} from './support/volume-guests.js';
import { stopStorageDaemon } from './support/volumes.js';

const NEEDS = needs('qemu', 'qemu-img', 'qemu-storage-daemon', 'ssh', 'guest-image');

describe('the volume service killed during an attach and a snapshot (qemu)', NEEDS, () => {
  let stateDir: string;
  let cloud: RunningStratus | undefined;
  let g: GuestCloud;
  let guest: Guest;
  let zone: string;

  /** Starts the all-in-one (again) on the state dir and points the EC2 client at it. */
  async function start(): Promise<void> {
    cloud = startStratus([
      'all-in-one',
      '--state-dir',
      stateDir,
      '--virt',
      'qemu',
      '--data-plane',
      'user',
      '--guest-image-dir',
      GUEST_DIR,
      '--power-sync-seconds',
      '1',
      '--log-level',
      'warn',
      ...FREE_PORT_ARGS,
    ]);
    await cloud.waitFor(/Press Ctrl-C to stop/, 180_000);
    const rc = readRcFile(path.join(stateDir, 'stratusrc'));
    g?.client?.destroy();
    const client = new EC2Client({
      endpoint: rc.EC2_URL,
      region: rc.AWS_DEFAULT_REGION,
      credentials: {
        accessKeyId: rc.AWS_ACCESS_KEY_ID as string,
        secretAccessKey: rc.AWS_SECRET_ACCESS_KEY as string,
      },
      maxAttempts: 1,
    });
    g = { ...g, client };
  }

  /**
   * Kills the whole all-in-one process, volume service and all, and starts it again; returns
   * the volume's and the snapshot's status as the killed process left them in the database.
   */
  async function killAndRestart(
    volumeUuidPrefix: string,
  ): Promise<{ volume?: string; snapshot?: string }> {
    assert.equal(await cloud?.stop('SIGKILL'), null);
    const database = await openDatabase(`sqlite:${path.join(stateDir, 'stratus.sqlite')}`);
    let left: { volume?: string; snapshot?: string } = {};
    try {
      const v = (await database.db.selectFrom('volumes').selectAll().execute()).find((r) =>
        r.id.replace(/-/g, '').startsWith(volumeUuidPrefix),
      );
      const s = (await database.db.selectFrom('snapshots').selectAll().execute()).at(-1);
      left = { ...(v ? { volume: v.status } : {}), ...(s ? { snapshot: s.status } : {}) };
    } finally {
      await database.close();
    }
    await start();
    return left;
  }

  const volume = async (id: string): Promise<Volume> => {
    const r = await g.client.send(new DescribeVolumesCommand({ VolumeIds: [id] }));
    return r.Volumes?.[0] as Volume;
  };

  /** Waits until the volume is in none of the passing states; returns it. */
  const settled = (id: string) =>
    eventually(
      async () => {
        const v = await volume(id);
        const passing =
          ['creating', 'attaching', 'detaching'].includes(v.State ?? '') ||
          ['attaching', 'detaching'].includes(v.Attachments?.[0]?.State ?? '');
        return passing ? undefined : v;
      },
      120_000,
      `${id} to settle`,
      250,
    );

  /** The guest's qemu runs and answers over ssh. */
  async function guestRuns(): Promise<void> {
    const r = await g.client.send(
      new DescribeInstancesCommand({ InstanceIds: [guest.instanceId] }),
    );
    assert.equal(r.Reservations?.[0]?.Instances?.[0]?.State?.Name, 'running');
    assert.equal((await inGuest(g, guest, 'echo alive')).trim(), 'alive');
  }

  before(async () => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sq-volfault-'));
    const { keyFile, publicKey } = makeKey(stateDir, 'volume-faults');
    g = { keyFile } as GuestCloud;
    await start();
    await g.client.send(
      new ImportKeyPairCommand({ KeyName: 'vol', PublicKeyMaterial: Buffer.from(publicKey) }),
    );
    const images = await g.client.send(
      new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['stratus-guest'] }] }),
    );
    const zones = await g.client.send(new DescribeAvailabilityZonesCommand({}));
    zone = zones.AvailabilityZones?.[0]?.ZoneName as string;
    g = { ...g, amiId: images.Images?.[0]?.ImageId as string, zone };
    [guest] = (await launchGuests(g, 1)) as [Guest];
  });

  after(async () => {
    await cloud?.stop('SIGTERM').catch(() => undefined);
    g?.client?.destroy();
    if (stateDir) {
      await stopStorageDaemon(stateDir);
      // The guest outlives the services by design: ended by its pid.
      killLeftoverGuests(stateDir);
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  });

  let volumeId = '';

  it('killed during an attach, the volume ends available, in use or in error, never attaching; the guest runs on', async () => {
    const c = await g.client.send(new CreateVolumeCommand({ Size: 1, AvailabilityZone: zone }));
    volumeId = c.VolumeId as string;
    await eventually(
      async () => ((await volume(volumeId)).State === 'available' ? true : undefined),
      60_000,
      `${volumeId} to be available`,
      100,
    );
    const disksBefore = await guestDisks(g, guest);
    const a = await g.client.send(
      new AttachVolumeCommand({
        VolumeId: volumeId,
        InstanceId: guest.instanceId,
        Device: '/dev/sdf',
      }),
    );
    assert.equal(a.State, 'attaching');
    const left = await killAndRestart(volumeId.slice(4));
    const v = await settled(volumeId);
    assert.ok(['available', 'in-use', 'error'].includes(v.State ?? ''), `ended ${v.State}`);
    console.log(`an attach cut by a kill (left ${left.volume}) ended ${v.State}`);
    await guestRuns();
    if (v.State === 'in-use') {
      const disk = await eventually(
        async () => (await guestDisks(g, guest)).find((d) => !disksBefore.includes(d)),
        60_000,
        'the volume in the guest',
        250,
      );
      const out = await inGuest(
        g,
        guest,
        `echo cut > /tmp/m && dd if=/tmp/m of=/dev/${disk} bs=512 count=1 conv=sync oflag=direct 2>/dev/null && dd if=/dev/${disk} bs=512 count=1 iflag=direct 2>/dev/null | head -c 3`,
      );
      assert.equal(out, 'cut');
    } else {
      assert.deepEqual(v.Attachments ?? [], []);
    }
  });

  it('killed during a snapshot of the volume in use, the snapshot ends completed or in error, the volume stays in use and the guest runs on', async () => {
    if ((await volume(volumeId)).State !== 'in-use') {
      await g.client.send(
        new AttachVolumeCommand({
          VolumeId: volumeId,
          InstanceId: guest.instanceId,
          Device: '/dev/sdg',
        }),
      );
      await eventually(
        async () => {
          const v = await volume(volumeId);
          return v.State === 'in-use' && v.Attachments?.[0]?.State === 'attached'
            ? true
            : undefined;
        },
        120_000,
        `${volumeId} to be attached`,
        250,
      );
    }
    const s = await g.client.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
    const snapshotId = s.SnapshotId as string;
    const left = await killAndRestart(volumeId.slice(4));
    const snap = await eventually(
      async () => {
        const r = await g.client.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
        const state = r.Snapshots?.[0]?.State;
        return state === 'completed' || state === 'error' ? state : undefined;
      },
      120_000,
      `${snapshotId} to settle`,
      250,
    );
    console.log(`a snapshot cut by a kill (left ${left.snapshot}) ended ${snap}`);
    const v = await settled(volumeId);
    assert.equal(v.State, 'in-use');
    assert.equal(v.Attachments?.[0]?.State, 'attached');
    await guestRuns();
  });
});
