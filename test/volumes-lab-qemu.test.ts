// A volume moved between real guests on two hosts of `stratus lab --virt qemu` (issue 17,
// part 5): the lab's storage host serves it over NBD from its own namespace on the storage
// segment, and the qemu of each guest, running in its compute host's namespace, reaches it
// there. A guest on lab-node1 makes ext4 on it, writes a file and syncs; detached and attached
// to a guest on lab-node2, the file is read back. Each attachment names the storage host's
// segment address, and the compute host's namespace holds an established TCP connection to it.
import {
  AttachVolumeCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreatePlacementGroupCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  GetConsoleOutputCommand,
  ImportKeyPairCommand,
  RunInstancesCommand,
  type _InstanceType,
  type EC2Client,
  type Volume,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDatabase, type Database } from '../src/db/index.js';
import { readState, type LabState } from '../src/lab/index.js';
import { sshCommandLine } from '../src/smoke/ssh.js';
import { needs } from './support/capabilities.js';
import { readRcFile, stratus } from './support/cli.js';
import { ec2Client } from './support/ec2.js';
import { eventually, makeKey } from './support/guest.js';

const NEEDS = needs(
  'root',
  'netns',
  'arping',
  'qemu',
  'qemu-img',
  'qemu-storage-daemon',
  'guest-image',
  'guest-ext4',
  'ssh',
  'postgres',
  'rabbitmq',
);

const ec2IdOf = (uuid: string) => `i-${uuid.replace(/-/g, '').slice(0, 17)}`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface Guest {
  uuid: string;
  ec2Id: string;
  host: string;
  /** The compute host's namespace: the guest's qemu runs there, and ssh reaches it from there. */
  namespace: string;
  stateDir: string;
  privateIp: string;
}

/** Runs `args` in `namespace`; resolves with its standard output. */
const inNamespace = (namespace: string, args: string[]): Promise<string> =>
  new Promise((resolve, reject) =>
    execFile('ip', ['netns', 'exec', namespace, ...args], (err, out, stderr) =>
      err ? reject(new Error(`${args.join(' ')} in ${namespace}: ${stderr}`)) : resolve(out),
    ),
  );

describe(
  'a volume moves between guests on two qemu lab hosts, over NBD on the storage segment',
  NEEDS,
  () => {
    const name = `vl${randomBytes(4).toString('hex')}`;
    // Short: each VM's control socket lives under the lab dir.
    const top = fs.mkdtempSync(path.join(os.tmpdir(), 'svl-'));
    const dir = path.join(top, 'lab');
    const started = Date.now();
    const token = randomBytes(6).toString('hex');
    const text = `stratus volume across hosts ${token}`;
    let state: LabState;
    let database: Database;
    let ec2: EC2Client;
    let key: { keyFile: string; publicKey: string };
    let zone = '';
    let guests: Guest[] = [];
    let volumeId = '';

    const lab = (...args: string[]) => stratus(['lab', ...args, '--dir', dir]);

    /** Runs a shell script in the guest over ssh from its host's namespace. */
    const inGuest = (g: Guest, script: string, timeoutMs = 120_000) => {
      const [file, args] = sshCommandLine(
        { host: g.privateIp, user: 'root', netns: g.namespace },
        key.keyFile,
        script,
        3,
      );
      return new Promise<string>((resolve, reject) =>
        execFile(
          file,
          args,
          { timeout: timeoutMs, killSignal: 'SIGKILL' },
          (err, stdout, stderr) =>
            err
              ? reject(new Error(`In ${g.ec2Id} on ${g.host}, this failed:\n${script}\n${stderr}`))
              : resolve(String(stdout)),
        ),
      );
    };
    const disks = async (g: Guest) =>
      (await inGuest(g, 'ls /sys/block')).split(/\s+/).filter((d) => /^vd[a-z]+$/.test(d));

    const volume = async (): Promise<Volume> => {
      const r = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
      return r.Volumes?.[0] as Volume;
    };
    const waitVolume = (want: 'available' | 'in-use') =>
      eventually(
        async () => {
          const v = await volume();
          if (v.State === 'error') throw new Error(`${volumeId} went to error`);
          if (v.State !== want) return undefined;
          return want === 'in-use' && v.Attachments?.[0]?.State !== 'attached' ? undefined : v;
        },
        120_000,
        `${volumeId} to be ${want}`,
        100,
      );

    /**
     * Attaches the volume to `g` and waits for the disk in the guest; proves the guest's qemu
     * reaches it at the storage host's segment address, over a TCP connection from the compute
     * host's namespace. Returns the disk and the time it took.
     */
    const attach = async (g: Guest, device: string) => {
      const before = await disks(g);
      const t0 = Date.now();
      await ec2.send(
        new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: g.ec2Id, Device: device }),
      );
      await waitVolume('in-use');
      const inUse = Date.now() - t0;
      const disk = await eventually(
        async () => (await disks(g)).find((d) => !before.includes(d)),
        120_000,
        `a new disk in ${g.ec2Id}`,
        250,
      );
      const inGuestMs = Date.now() - t0;
      const storage = state.plan.storage;
      assert.ok(storage, 'a qemu lab has a storage host');
      const nbdAddress = storage.address.split('/')[0] as string;
      // The driver's record of the attachment: the export on the storage segment.
      const vm = JSON.parse(
        fs.readFileSync(path.join(g.stateDir, 'qemu', 'instances', g.uuid, 'vm.json'), 'utf8'),
      ) as { volumes?: { volumeId: string; connection: { host: string; port: number } }[] };
      const record = vm.volumes?.find(
        (v) => `vol-${v.volumeId.replace(/-/g, '').slice(0, 17)}` === volumeId,
      );
      assert.ok(record, `${g.ec2Id}'s record lists the attachment: ${JSON.stringify(vm.volumes)}`);
      assert.equal(record.connection.host, nbdAddress);
      // qemu's NBD client, in the compute host's namespace, holds a connection to the export.
      const conns = await inNamespace(g.namespace, [
        'ss',
        '-Htn',
        'state',
        'established',
        'dst',
        `${nbdAddress}:${record.connection.port}`,
      ]);
      const hostAddress = (
        state.plan.hosts.find((h) => h.name === g.host)?.storageAddress as string
      ).split('/')[0] as string;
      assert.match(
        conns,
        new RegExp(
          `${hostAddress.replace(/\./g, '\\.')}:\\d+\\s+${nbdAddress.replace(/\./g, '\\.')}:${record.connection.port}`,
        ),
        `an established connection from ${g.namespace} to ${nbdAddress}:${record.connection.port}`,
      );
      return { disk, inUse, inGuestMs, port: record.connection.port };
    };

    const detach = async (g: Guest, disk: string) => {
      const t0 = Date.now();
      await ec2.send(new DetachVolumeCommand({ VolumeId: volumeId }));
      await waitVolume('available');
      const available = Date.now() - t0;
      await eventually(
        async () => ((await disks(g)).includes(disk) ? undefined : true),
        120_000,
        `${disk} to leave ${g.ec2Id}`,
        250,
      );
      return { available, gone: Date.now() - t0 };
    };

    before(async () => {
      const up = await lab(
        'up',
        '--hosts',
        '2',
        '--zones',
        '1',
        '--virt',
        'qemu',
        '--name',
        name,
        '--heartbeat-seconds',
        '1',
        '--down-after-seconds',
        '6',
      );
      assert.equal(up.code, 0, `lab up failed: ${up.stdout}\n${up.stderr}`);
      assert.match(
        up.stdout,
        /Storage segment 10\.98\.0\.0\/24 .*lab-storage1's NBD exports on 10\.98\.0\.2/,
      );
      state = readState(dir) as LabState;
      database = await openDatabase(state.plan.databaseUrl, { migrate: false });
      const rc = readRcFile(path.join(dir, 'stratusrc'));
      ec2 = ec2Client(rc.EC2_URL as string, rc.AWS_DEFAULT_REGION as string, {
        accessKeyId: rc.AWS_ACCESS_KEY_ID as string,
        secretAccessKey: rc.AWS_SECRET_ACCESS_KEY as string,
      });
      key = makeKey(top, 'volumes-lab');
    });

    after(async () => {
      ec2?.destroy();
      await database?.close();
      // A failed test still takes its lab away (guests, storage daemon, namespaces).
      if (fs.existsSync(dir)) {
        const down = await lab('down');
        if (down.code !== 0) console.error(`lab down failed: ${down.stdout}\n${down.stderr}`);
      }
      fs.rmSync(top, { recursive: true, force: true });
    });

    it('launches one guest on each host (a spread placement group), each reached by ssh from its host', async (t) => {
      const images = await ec2.send(
        new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['stratus-guest'] }] }),
      );
      const imageId = images.Images?.[0]?.ImageId as string;
      assert.ok(imageId);
      await ec2.send(
        new ImportKeyPairCommand({ KeyName: 'vl', PublicKeyMaterial: Buffer.from(key.publicKey) }),
      );
      await ec2.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupName: 'default',
          IpPermissions: [
            { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
          ],
        }),
      );
      await ec2.send(new CreatePlacementGroupCommand({ GroupName: 'apart', Strategy: 'spread' }));
      const t0 = Date.now();
      const r = await ec2.send(
        new RunInstancesCommand({
          ImageId: imageId,
          InstanceType: 'm1.nano' as _InstanceType,
          MinCount: 2,
          MaxCount: 2,
          KeyName: 'vl',
          Placement: { GroupName: 'apart' },
        }),
      );
      const ids = (r.Instances ?? []).map((i) => i.InstanceId as string);
      assert.equal(ids.length, 2);
      const described = await eventually(
        async () => {
          const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
          const all = (d.Reservations ?? []).flatMap((x) => x.Instances ?? []);
          const ended = all.find((i) =>
            ['terminated', 'shutting-down'].includes(i.State?.Name ?? ''),
          );
          if (ended) throw new Error(`${ended.InstanceId} ended: ${ended.StateReason?.Message}`);
          return all.length === 2 && all.every((i) => i.State?.Name === 'running')
            ? all
            : undefined;
        },
        180_000,
        'both guests to run',
        250,
      );
      zone = described[0]?.Placement?.AvailabilityZone as string;
      const rows = (
        await database.db.selectFrom('instances').select(['id', 'host']).execute()
      ).filter((x) => ids.includes(ec2IdOf(x.id)));
      guests = state.plan.hosts.map((h) => {
        const row = rows.find((x) => x.host === h.name);
        assert.ok(row, `a guest on ${h.name}: ${JSON.stringify(rows)}`);
        const ec2Id = ec2IdOf(row.id);
        return {
          uuid: row.id,
          ec2Id,
          host: h.name,
          namespace: h.namespace,
          stateDir: h.stateDir,
          privateIp: described.find((i) => i.InstanceId === ec2Id)?.PrivateIpAddress as string,
        };
      });
      await Promise.all(
        guests.map(async (g) => {
          await eventually(
            async () => {
              const c = await ec2.send(new GetConsoleOutputCommand({ InstanceId: g.ec2Id }));
              const out = Buffer.from(c.Output ?? '', 'base64').toString('utf8');
              return out.includes('=== Stratus guest ready') ? true : undefined;
            },
            180_000,
            `${g.ec2Id} on ${g.host} to be ready`,
            500,
          );
          await eventually(
            () => inGuest(g, 'hostname', 20_000).catch(() => undefined),
            60_000,
            `ssh to ${g.ec2Id} from ${g.namespace}`,
            500,
          );
        }),
      );
      t.diagnostic(
        `guests ${guests.map((g) => `${g.ec2Id} on ${g.host}`).join(', ')} ready ${seconds(Date.now() - t0)} after RunInstances (lab up to here: ${seconds(Date.now() - started)})`,
      );
    });

    it("the storage host's daemon serves NBD from its namespace on the storage segment", async () => {
      const storage = state.plan.storage;
      assert.ok(storage);
      const r = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: zone, Size: 1 }));
      volumeId = r.VolumeId as string;
      await waitVolume('available');
      const addresses = await inNamespace(storage.namespace, [
        'ip',
        '-4',
        '-o',
        'addr',
        'show',
        'st0',
      ]);
      assert.match(addresses, /inet 10\.98\.0\.2\/24/);
    });

    it('attached to the guest on lab-node1, the volume gets ext4 and a file, written and synced there', async (t) => {
      const [g1] = guests as [Guest];
      assert.ok(g1 && volumeId, 'the earlier tests ran');
      const a = await attach(g1, '/dev/sdf');
      // The storage daemon runs in the storage host's namespace, listening on its address there.
      const storage = state.plan.storage as NonNullable<LabState['plan']['storage']>;
      const volumeProcess = state.plan.processes.find((p) => p.binary === 'volume');
      const pid = fs
        .readFileSync(path.join(String(volumeProcess?.settings.stateDir), 'nbd', 'qsd.pid'), 'utf8')
        .trim();
      const pids = await new Promise<string>((resolve, reject) =>
        execFile('ip', ['netns', 'pids', storage.namespace], (err, out) =>
          err ? reject(err) : resolve(out),
        ),
      );
      assert.ok(
        pids.split(/\s+/).includes(pid),
        `the storage daemon ${pid} is in ${storage.namespace}`,
      );
      const listening = await inNamespace(storage.namespace, [
        'ss',
        '-Htln',
        'sport',
        `:${a.port}`,
      ]);
      assert.match(listening, /10\.98\.0\.2:\d+/);
      const out = await inGuest(
        g1,
        [
          'set -e',
          `mkfs.ext4 -q -L stratus /dev/${a.disk}`,
          'mkdir -p /mnt/vol',
          `mount -t ext4 /dev/${a.disk} /mnt/vol`,
          'mkdir /mnt/vol/stratus',
          `echo '${text}' > /mnt/vol/stratus/hello.txt`,
          'sync',
          'cat /mnt/vol/stratus/hello.txt',
          'umount /mnt/vol',
        ].join('\n'),
      );
      assert.equal(out.trim(), text);
      const d = await detach(g1, a.disk);
      t.diagnostic(
        `lab-node1: attach ${seconds(a.inUse)} to in-use, ${seconds(a.inGuestMs)} to the disk in the guest; detach ${seconds(d.available)} to available, ${seconds(d.gone)} to the disk gone`,
      );
    });

    it('detached and attached to the guest on lab-node2, the volume holds the file', async (t) => {
      const g2 = guests[1] as Guest;
      assert.ok(g2 && volumeId, 'the earlier tests ran');
      const a = await attach(g2, '/dev/sdg');
      const out = await inGuest(
        g2,
        [
          'set -e',
          'mkdir -p /mnt/vol',
          `mount -t ext4 -o ro /dev/${a.disk} /mnt/vol`,
          'cat /mnt/vol/stratus/hello.txt',
          'umount /mnt/vol',
        ].join('\n'),
      );
      assert.equal(out.trim(), text);
      const d = await detach(g2, a.disk);
      t.diagnostic(
        `lab-node2: attach ${seconds(a.inUse)} to in-use, ${seconds(a.inGuestMs)} to the disk in the guest; detach ${seconds(d.available)}; whole file so far ${seconds(Date.now() - started)}`,
      );
    });
  },
);
