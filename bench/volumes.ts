// Benchmark of volumes on a real guest (issue 17): the whole cloud on the qemu driver with its
// volume service, one guest from the guest image; times AttachVolume to the volume in use and
// to the disk seen in the guest, DetachVolume to available and to the disk gone from the
// guest, CreateSnapshot to completed; and the throughput the guest sees with `dd` (direct I/O,
// 1 MiB blocks) on the volume, which reaches qemu over the volume service's NBD path, against
// the guest's own local disk (a qcow2 overlay in the compute host's state dir). With --lab, the
// same on a one-host qemu lab (`stratus lab up`, as root with PostgreSQL and RabbitMQ): the
// guest's qemu, in its compute host's namespace, reaches the storage host's export across the
// lab's storage segment instead of over loopback.
//   npm run bench:volumes      (or: node dist/bench/volumes.js [--runs N] [--mib N] [--lab])
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeSnapshotsCommand,
  DetachVolumeCommand,
} from '@aws-sdk/client-ec2';
import { unavailable } from '../test/support/capabilities.js';
import { eventually } from '../test/support/guest.js';
import {
  launchLabGuests,
  startLabGuestCloud,
  stopLabGuestCloud,
} from '../test/support/lab-guests.js';
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
  type GuestClient,
} from '../test/support/volume-guests.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) || fallback : fallback;
};
const RUNS = arg('--runs', 3);
const MIB = arg('--mib', 256);
const LAB = process.argv.includes('--lab');
/** Where the local-disk dd writes on the guest's root disk: past the FAT it boots from. */
const LOCAL_SEEK_MIB = 64;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const secs = (ms: number[]) =>
  `${(median(ms) / 1000).toFixed(2)} s (${ms.map((m) => (m / 1000).toFixed(2)).join(', ')})`;
const rates = (r: number[]) =>
  `${median(r).toFixed(1)} MiB/s (${r.map((x) => x.toFixed(1)).join(', ')})`;

/**
 * Runs dd in the guest; returns MiB/s, timed by the guest's own clock (/proc/uptime, 10 ms
 * steps), since busybox's dd does not print a rate.
 */
async function dd(g: GuestClient, guest: Guest, args: string): Promise<number> {
  const script = [
    'set -e',
    "s=$(cut -d' ' -f1 /proc/uptime)",
    `dd ${args} bs=1M count=${MIB} 2>/dev/null`,
    "e=$(cut -d' ' -f1 /proc/uptime)",
    'echo "$s $e"',
  ].join('\n');
  const out = await inGuest(g, guest, script, 600_000);
  const [start, end] = out.trim().split(' ').map(Number) as [number, number];
  return MIB / Math.max(end - start, 0.01);
}

async function throughput(
  g: GuestClient,
  guest: Guest,
  device: string,
  seekMib: number,
): Promise<{ write: number; read: number }> {
  const write = await dd(g, guest, `if=/dev/zero of=/dev/${device} seek=${seekMib} oflag=direct`);
  const read = await dd(g, guest, `if=/dev/${device} of=/dev/null skip=${seekMib} iflag=direct`);
  return { write, read };
}

/** A cloud with one guest to measure on, and how to take both away. */
interface Setup {
  g: GuestClient;
  zone: string;
  guest: Guest;
  /** Where the volume's NBD path runs, for the report. */
  path: string;
  stop: () => Promise<void>;
}

/** The all-in-one on the qemu driver (user-mode network): NBD over loopback. */
async function allInOne(): Promise<Setup> {
  const g = await startGuestCloud();
  try {
    const [guest] = (await launchGuests(g, 1)) as [Guest];
    return {
      g,
      zone: g.zone,
      guest,
      path: 'loopback',
      stop: async () => {
        await terminate(g, [guest.instanceId]).catch(() => undefined);
        await stopGuestCloud(g);
      },
    };
  } catch (err) {
    await stopGuestCloud(g);
    throw err;
  }
}

/** A one-host qemu lab: NBD from the compute host's namespace across the storage segment. */
async function lab(): Promise<Setup> {
  const g = await startLabGuestCloud(1, 'bvl');
  try {
    const [guest] = await launchLabGuests(g, 1);
    if (!guest) throw new Error('no guest was launched');
    const storage = g.state.plan.storage;
    return {
      g,
      zone: g.zone,
      guest,
      path: `${guest.host} (${guest.netns}) to ${storage?.host} at ${storage?.address} over the storage segment`,
      // lab down kills the guest too.
      stop: () => stopLabGuestCloud(g),
    };
  } catch (err) {
    await stopLabGuestCloud(g);
    throw err;
  }
}

async function main(): Promise<void> {
  const missing = LAB
    ? unavailable(
        'root',
        'netns',
        'arping',
        'qemu',
        'qemu-img',
        'qemu-storage-daemon',
        'ssh',
        'guest-image',
        'guest-ext4',
        'postgres',
        'rabbitmq',
      )
    : unavailable('qemu', 'qemu-img', 'ssh', 'guest-image', 'guest-ext4');
  if (missing) {
    console.log(`bench:volumes skipped: ${missing}`);
    return;
  }
  console.log(
    `volumes on a real guest${LAB ? ' of a qemu lab' : ''}: ${RUNS} runs, dd of ${MIB} MiB with direct I/O`,
  );
  const t0 = Date.now();
  const setup = LAB ? await lab() : await allInOne();
  const { g, zone, guest } = setup;
  try {
    console.log(
      `${LAB ? 'lab' : 'cloud'} up and a guest answering ssh in ${((Date.now() - t0) / 1000).toFixed(1)} s; NBD path: ${setup.path}`,
    );
    const local: { write: number[]; read: number[] } = { write: [], read: [] };
    for (let i = 0; i < RUNS; i++) {
      const r = await throughput(g, guest, 'vda', LOCAL_SEEK_MIB);
      local.write.push(r.write);
      local.read.push(r.read);
    }

    const created = await g.client.send(
      new CreateVolumeCommand({ AvailabilityZone: zone, Size: 1 }),
    );
    const volumeId = created.VolumeId as string;
    await waitVolume(g, volumeId, 'available');
    const t = {
      attachInUse: [] as number[],
      attachSeen: [] as number[],
      detachAvailable: [] as number[],
      detachGone: [] as number[],
      snapshot: [] as number[],
    };
    const volume: { write: number[]; read: number[] } = { write: [], read: [] };
    let attachError: string | undefined;
    let snapshotError: string | undefined;
    for (let i = 0; i < RUNS && !attachError; i++) {
      const before = await guestDisks(g, guest);
      const a0 = Date.now();
      try {
        await g.client.send(
          new AttachVolumeCommand({
            VolumeId: volumeId,
            InstanceId: guest.instanceId,
            Device: '/dev/sdf',
          }),
        );
      } catch (err) {
        attachError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        break;
      }
      await waitVolume(g, volumeId, 'in-use');
      t.attachInUse.push(Date.now() - a0);
      const disk = await waitNewDisk(g, guest, before);
      t.attachSeen.push(Date.now() - a0);

      const r = await throughput(g, guest, disk, 0);
      volume.write.push(r.write);
      volume.read.push(r.read);

      const d0 = Date.now();
      await g.client.send(new DetachVolumeCommand({ VolumeId: volumeId }));
      await waitVolume(g, volumeId, 'available');
      t.detachAvailable.push(Date.now() - d0);
      await waitDiskGone(g, guest, disk);
      t.detachGone.push(Date.now() - d0);

      if (snapshotError) continue;
      const s0 = Date.now();
      let snapshotId: string;
      try {
        const s = await g.client.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
        snapshotId = s.SnapshotId as string;
      } catch (err) {
        snapshotError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        continue;
      }
      await eventually(
        async () => {
          const d = await g.client.send(
            new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }),
          );
          const state = d.Snapshots?.[0]?.State;
          if (state === 'error') throw new Error(`${snapshotId} went to error`);
          return state === 'completed' ? true : undefined;
        },
        300_000,
        `${snapshotId} to complete`,
        50,
      );
      t.snapshot.push(Date.now() - s0);
    }

    console.log(`local disk (vda, qcow2 overlay)  write ${rates(local.write)}`);
    console.log(`                                 read  ${rates(local.read)}`);
    if (attachError) {
      console.log(`volume: AttachVolume is not available in this build (${attachError})`);
    } else {
      console.log(`volume over NBD                  write ${rates(volume.write)}`);
      console.log(`                                 read  ${rates(volume.read)}`);
      console.log(`AttachVolume to in-use           ${secs(t.attachInUse)}`);
      console.log(`AttachVolume to disk in guest    ${secs(t.attachSeen)}`);
      console.log(`DetachVolume to available        ${secs(t.detachAvailable)}`);
      console.log(`DetachVolume to disk gone        ${secs(t.detachGone)}`);
      console.log(
        snapshotError
          ? `CreateSnapshot: not available in this build (${snapshotError})`
          : `CreateSnapshot to completed      ${secs(t.snapshot)} (1 GiB volume, ${MIB} MiB written)`,
      );
    }
    await g.client.send(new DeleteVolumeCommand({ VolumeId: volumeId })).catch(() => undefined);
  } finally {
    await setup.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
