// What the end-to-end test and the benchmark of volumes on real guests share: the whole cloud
// on the qemu driver with its volume service (QEMU's user-mode network, ssh forwarded on
// loopback), guests launched through EC2, commands run in them over ssh, and waits on a
// volume's state and on a disk appearing in or leaving a guest.
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  GetConsoleOutputCommand,
  ImportKeyPairCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type EC2Client,
  type Volume,
} from '@aws-sdk/client-ec2';
import { startTestCloud, type TestCloud } from './ec2.js';
import {
  eventually,
  GUEST_DIR,
  leftoverGuestPids,
  makeKey,
  sshFrom,
  sshOnce,
  sshUntil,
} from './guest.js';
import { stopWithStorageDaemon } from './volumes.js';

export const VOLUME_SERVICES = ['network', 'scheduler', 'compute', 'volume', 'api'] as const;

export interface GuestCloud {
  t: TestCloud;
  client: EC2Client;
  /** The availability zone the compute host and the volume service are in. */
  zone: string;
  /** The imported stratus-guest machine image. */
  amiId: string;
  keyFile: string;
}

/**
 * A guest and how ssh reaches it: the loopback port forwarded to its port 22 (QEMU's user-mode
 * network), or its address from a namespace that routes to it (a lab host's data plane).
 */
export type Guest = { instanceId: string } & (
  { port: number } | { netns: string; address: string }
);

/** What the helpers below need of a cloud: an EC2 client and the key pair's private key. */
export type GuestClient = Pick<GuestCloud, 'client' | 'keyFile'>;

/** Starts the all-in-one on the qemu driver with a volume service, and imports a key pair. */
export async function startGuestCloud(flags: Record<string, string> = {}): Promise<GuestCloud> {
  const t = await startTestCloud(
    {
      virt: 'qemu',
      'data-plane': 'user',
      'guest-image-dir': GUEST_DIR,
      'power-sync-seconds': '1',
      'qemu-power-off-timeout-seconds': '20',
      ...flags,
    },
    { services: VOLUME_SERVICES },
  );
  const client = t.admin;
  const images = await client.send(
    new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['stratus-guest'] }] }),
  );
  const amiId = images.Images?.[0]?.ImageId;
  if (!amiId) throw new Error('the first start did not import the guest image');
  const { keyFile, publicKey } = makeKey(t.cloud.config.stateDir, 'volumes-on-guests');
  await client.send(
    new ImportKeyPairCommand({ KeyName: 'vol', PublicKeyMaterial: Buffer.from(publicKey) }),
  );
  return { t, client, zone: t.cloud.config.compute.availabilityZone, amiId, keyFile };
}

/**
 * Stops the cloud and ends what it leaves running on purpose: the qemu of each guest (by the
 * pid in its instance directory, checked against its command line) and the volume service's
 * storage daemon.
 */
export async function stopGuestCloud(g: GuestCloud | undefined): Promise<void> {
  if (!g) return;
  const pids = leftoverGuestPids(g.t.cloud.config.stateDir);
  await stopWithStorageDaemon(g.t.cloud.config.stateDir, () => g.t.stop());
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}

async function consoleText(g: GuestCloud, instanceId: string): Promise<string> {
  const r = await g.client.send(new GetConsoleOutputCommand({ InstanceId: instanceId }));
  return Buffer.from(r.Output ?? '', 'base64').toString();
}

/**
 * Launches `count` guests of `imageId` (default: the guest image) in one RunInstances and waits
 * until each runs a command over ssh.
 */
export async function launchGuests(
  g: GuestCloud,
  count: number,
  imageId = g.amiId,
  timeoutMs = 300_000,
): Promise<Guest[]> {
  const r = await g.client.send(
    new RunInstancesCommand({
      ImageId: imageId,
      InstanceType: 'm1.nano' as _InstanceType,
      MinCount: count,
      MaxCount: count,
      KeyName: 'vol',
      Placement: { AvailabilityZone: g.zone },
    }),
  );
  const ids = (r.Instances ?? []).map((i) => i.InstanceId as string);
  return Promise.all(ids.map((id) => reachGuest(g, id, timeoutMs)));
}

/** Waits until `instanceId` runs and answers ssh; returns how to reach it. */
export async function reachGuest(
  g: GuestCloud,
  instanceId: string,
  timeoutMs = 300_000,
): Promise<Guest> {
  const deadline = Date.now() + timeoutMs;
  await eventually(
    async () => {
      const r = await g.client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      const state = r.Reservations?.[0]?.Instances?.[0]?.State?.Name;
      if (state === 'terminated' || state === 'stopped') {
        throw new Error(`${instanceId} is ${state}:\n${await consoleText(g, instanceId)}`);
      }
      return state === 'running' ? true : undefined;
    },
    timeoutMs,
    `${instanceId} to run`,
    500,
  );
  const port = await eventually(
    async () => {
      const m = /forwarded from 127\.0\.0\.1:(\d+)\n(?![\s\S]*forwarded from)/.exec(
        await consoleText(g, instanceId),
      );
      return m ? Number(m[1]) : undefined;
    },
    Math.max(deadline - Date.now(), 1000),
    `the ssh forward of ${instanceId}`,
    500,
  );
  await sshUntil(port, g.keyFile, 'true', Math.max(deadline - Date.now(), 1000));
  return { instanceId, port };
}

/** Runs a shell script in the guest; resolves with its output, rejects with its errors. */
export async function inGuest(
  g: GuestClient,
  guest: Guest,
  script: string,
  timeoutMs = 180_000,
): Promise<string> {
  const r =
    'port' in guest
      ? await sshOnce(guest.port, g.keyFile, script, timeoutMs)
      : await sshFrom(guest.netns, guest.address, g.keyFile, script, timeoutMs);
  if (!r.ok) {
    throw new Error(
      `In ${guest.instanceId}, this failed:\n${script}\n--- stdout ---\n${r.stdout}` +
        `--- stderr ---\n${r.stderr}`,
    );
  }
  return r.stdout;
}

/** The guest's virtio disks (vda, vdb, ...). */
export async function guestDisks(g: GuestClient, guest: Guest): Promise<string[]> {
  const out = await inGuest(g, guest, 'ls /sys/block');
  return out.split(/\s+/).filter((d) => /^vd[a-z]+$/.test(d));
}

/** Waits until the guest has a disk that `before` did not list; returns its name. */
export async function waitNewDisk(
  g: GuestClient,
  guest: Guest,
  before: readonly string[],
  timeoutMs = 120_000,
): Promise<string> {
  return eventually(
    async () => (await guestDisks(g, guest)).find((d) => !before.includes(d)),
    timeoutMs,
    `a new disk in ${guest.instanceId}`,
    250,
  );
}

/** Waits until the guest no longer has `disk`. */
export async function waitDiskGone(
  g: GuestClient,
  guest: Guest,
  disk: string,
  timeoutMs = 120_000,
): Promise<void> {
  await eventually(
    async () => ((await guestDisks(g, guest)).includes(disk) ? undefined : true),
    timeoutMs,
    `${disk} to leave ${guest.instanceId}`,
    250,
  );
}

export async function describeVolume(g: GuestClient, volumeId: string): Promise<Volume> {
  const r = await g.client.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
  const v = r.Volumes?.[0];
  if (!v) throw new Error(`${volumeId} is not listed`);
  return v;
}

/**
 * Waits until the volume is in `state` (and, for `in-use`, its attachment is `attached`);
 * fails at once when it ends in `error`.
 */
export async function waitVolume(
  g: GuestClient,
  volumeId: string,
  state: 'available' | 'in-use',
  timeoutMs = 120_000,
): Promise<Volume> {
  return eventually(
    async () => {
      const v = await describeVolume(g, volumeId);
      if (v.State === 'error') throw new Error(`${volumeId} went to error`);
      if (v.State !== state) return undefined;
      if (state === 'in-use' && v.Attachments?.[0]?.State !== 'attached') return undefined;
      return v;
    },
    timeoutMs,
    `${volumeId} to be ${state}`,
    100,
  );
}

/** Asks for the instances to be terminated (does not wait). */
export async function terminate(g: GuestClient, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await g.client.send(new TerminateInstancesCommand({ InstanceIds: ids }));
}
