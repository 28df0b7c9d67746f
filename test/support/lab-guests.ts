// What the volume test and benchmark on a qemu lab share: `stratus lab up --virt qemu` (its
// hosts in one zone, so one volume can go to a guest on any of them), the admin's key pair and
// ssh open in the default group, guests launched through EC2 and reached by ssh from their
// compute host's namespace, and `stratus lab down` at the end.
import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  GetConsoleOutputCommand,
  ImportKeyPairCommand,
  RunInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, type Database } from '../../src/db/index.js';
import { readState, type LabState } from '../../src/lab/index.js';
import { readRcFile, stratus } from './cli.js';
import { ec2Client } from './ec2.js';
import { eventually, makeKey, sshFrom } from './guest.js';
import type { GuestClient } from './volume-guests.js';

export interface LabGuestCloud extends GuestClient {
  /** The temporary directory holding the lab dir and the key. */
  top: string;
  dir: string;
  state: LabState;
  database: Database;
  /** The one zone of the lab's hosts. */
  zone: string;
  amiId: string;
  /** The seconds `stratus lab up` took. */
  upSeconds: number;
}

/** A guest on a lab host: ssh reaches its private address from the host's namespace. */
export interface LabGuest {
  instanceId: string;
  /** The instance's UUID (its directory on the host). */
  uuid: string;
  host: string;
  /** The compute host's namespace, where the guest's qemu runs. */
  netns: string;
  address: string;
  /** The compute host's state dir. */
  stateDir: string;
}

const ec2IdOf = (uuid: string) => `i-${uuid.replace(/-/g, '').slice(0, 17)}`;

function labDown(dir: string) {
  return stratus(['lab', 'down', '--dir', dir]);
}

/** Starts a qemu lab of `hosts` compute hosts in one zone, with a key pair 'vol' imported. */
export async function startLabGuestCloud(hosts: number, prefix: string): Promise<LabGuestCloud> {
  // Short: each VM's control socket lives under the lab dir.
  const top = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  const dir = path.join(top, 'lab');
  const t0 = Date.now();
  const up = await stratus([
    'lab',
    'up',
    '--dir',
    dir,
    '--hosts',
    String(hosts),
    '--zones',
    '1',
    '--virt',
    'qemu',
    '--name',
    `${prefix}${randomBytes(4).toString('hex')}`,
    '--heartbeat-seconds',
    '1',
    '--down-after-seconds',
    '6',
  ]);
  if (up.code !== 0) {
    if (fs.existsSync(dir)) await labDown(dir);
    fs.rmSync(top, { recursive: true, force: true });
    throw new Error(`lab up failed: ${up.stdout}\n${up.stderr}`);
  }
  const upSeconds = (Date.now() - t0) / 1000;
  const state = readState(dir) as LabState;
  const rc = readRcFile(path.join(dir, 'stratusrc'));
  const client = ec2Client(rc.EC2_URL as string, rc.AWS_DEFAULT_REGION as string, {
    accessKeyId: rc.AWS_ACCESS_KEY_ID as string,
    secretAccessKey: rc.AWS_SECRET_ACCESS_KEY as string,
  });
  const database = await openDatabase(state.plan.databaseUrl, { migrate: false });
  const g = { top, dir, state, database, client, upSeconds };
  try {
    const images = await client.send(
      new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['stratus-guest'] }] }),
    );
    const amiId = images.Images?.[0]?.ImageId;
    if (!amiId) throw new Error('the lab did not import the guest image');
    const { keyFile, publicKey } = makeKey(top, 'lab-guests');
    await client.send(
      new ImportKeyPairCommand({ KeyName: 'vol', PublicKeyMaterial: Buffer.from(publicKey) }),
    );
    await client.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupName: 'default',
        IpPermissions: [
          { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
        ],
      }),
    );
    return { ...g, keyFile, amiId, zone: state.plan.hosts[0]?.zone as string };
  } catch (err) {
    await stopLabGuestCloud({ ...g, keyFile: '', amiId: '', zone: '' });
    throw err;
  }
}

/**
 * Launches `count` guests in one RunInstances (in `placementGroup` when given) and waits until
 * each is ready on its console and runs a command over ssh; returns them in host order.
 */
export async function launchLabGuests(
  g: LabGuestCloud,
  count: number,
  placementGroup?: string,
  timeoutMs = 300_000,
): Promise<LabGuest[]> {
  const r = await g.client.send(
    new RunInstancesCommand({
      ImageId: g.amiId,
      InstanceType: 'm1.nano' as _InstanceType,
      MinCount: count,
      MaxCount: count,
      KeyName: 'vol',
      ...(placementGroup ? { Placement: { GroupName: placementGroup } } : {}),
    }),
  );
  const ids = (r.Instances ?? []).map((i) => i.InstanceId as string);
  const described = await eventually(
    async () => {
      const d = await g.client.send(new DescribeInstancesCommand({ InstanceIds: ids }));
      const all = (d.Reservations ?? []).flatMap((x) => x.Instances ?? []);
      const ended = all.find((i) => ['terminated', 'shutting-down'].includes(i.State?.Name ?? ''));
      if (ended) throw new Error(`${ended.InstanceId} ended: ${ended.StateReason?.Message}`);
      return all.length === ids.length && all.every((i) => i.State?.Name === 'running')
        ? all
        : undefined;
    },
    timeoutMs,
    `${ids.length} guest(s) to run`,
    250,
  );
  const rows = (await g.database.db.selectFrom('instances').select(['id', 'host']).execute())
    .filter((x) => ids.includes(ec2IdOf(x.id)))
    .sort((a, b) => String(a.host).localeCompare(String(b.host)));
  const guests = rows.map((row): LabGuest => {
    const instanceId = ec2IdOf(row.id);
    const host = g.state.plan.hosts.find((h) => h.name === row.host);
    if (!host) throw new Error(`${instanceId} is on ${row.host}, not a lab host`);
    return {
      instanceId,
      uuid: row.id,
      host: host.name,
      netns: host.namespace,
      address: described.find((i) => i.InstanceId === instanceId)?.PrivateIpAddress as string,
      stateDir: host.stateDir,
    };
  });
  await Promise.all(
    guests.map(async (guest) => {
      await eventually(
        async () => {
          const c = await g.client.send(
            new GetConsoleOutputCommand({ InstanceId: guest.instanceId }),
          );
          const out = Buffer.from(c.Output ?? '', 'base64').toString('utf8');
          return out.includes('=== Stratus guest ready') ? true : undefined;
        },
        timeoutMs,
        `${guest.instanceId} on ${guest.host} to be ready`,
        500,
      );
      await eventually(
        async () =>
          (await sshFrom(guest.netns, guest.address, g.keyFile, 'true')).ok ? true : undefined,
        60_000,
        `ssh to ${guest.instanceId} from ${guest.netns}`,
        500,
      );
    }),
  );
  return guests;
}

/** Takes the lab down (guests, storage daemon, namespaces, database) and removes its files. */
export async function stopLabGuestCloud(g: LabGuestCloud | undefined): Promise<void> {
  if (!g) return;
  g.client.destroy();
  await g.database.close();
  if (fs.existsSync(g.dir)) {
    const down = await labDown(g.dir);
    if (down.code !== 0) console.error(`lab down failed: ${down.stdout}\n${down.stderr}`);
  }
  fs.rmSync(g.top, { recursive: true, force: true });
}
