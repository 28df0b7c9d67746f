// A volume moved between real guests on two hosts of `stratus lab --virt qemu` (issue 17,
// part 5): the lab's storage host serves it over NBD from its own namespace on the storage
// segment, and the qemu of each guest, running in its compute host's namespace, reaches it
// there. A guest on lab-node1 makes ext4 on it, writes a file and syncs; detached and attached
// to a guest on lab-node2, the file is read back. Each attachment names the storage host's
// segment address, and the compute host's namespace holds an established TCP connection to it.
import {
  AttachVolumeCommand,
  CreatePlacementGroupCommand,
  CreateVolumeCommand,
  DetachVolumeCommand,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LabStatus, LabStorage } from '../src/lab/index.js';
import { needs } from './support/capabilities.js';
import { stratus } from './support/cli.js';
import {
  launchLabGuests,
  startLabGuestCloud,
  stopLabGuestCloud,
  type LabGuest,
  type LabGuestCloud,
} from './support/lab-guests.js';
import {
  guestDisks,
  inGuest,
  waitDiskGone,
  waitNewDisk,
  waitVolume,
} from './support/volume-guests.js';

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

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const pattern = (address: string) => address.replace(/\./g, '\\.');

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
    const started = Date.now();
    const text = `stratus volume across hosts ${randomBytes(6).toString('hex')}`;
    let g: LabGuestCloud;
    let storage: LabStorage;
    let guests: LabGuest[] = [];
    let volumeId = '';

    /**
     * Attaches the volume to `guest` and waits for the disk in it; proves the guest's qemu
     * reaches the export at the storage host's segment address, over a TCP connection from the
     * compute host's namespace. Returns the disk, the export's port and the times it took.
     */
    const attach = async (guest: LabGuest, device: string) => {
      const before = await guestDisks(g, guest);
      const t0 = Date.now();
      await g.client.send(
        new AttachVolumeCommand({
          VolumeId: volumeId,
          InstanceId: guest.instanceId,
          Device: device,
        }),
      );
      await waitVolume(g, volumeId, 'in-use');
      const inUse = Date.now() - t0;
      const disk = await waitNewDisk(g, guest, before);
      const seen = Date.now() - t0;
      const nbdAddress = storage.address.split('/')[0] as string;
      // The driver's record of the attachment: the export on the storage segment.
      const vm = JSON.parse(
        fs.readFileSync(
          path.join(guest.stateDir, 'qemu', 'instances', guest.uuid, 'vm.json'),
          'utf8',
        ),
      ) as { volumes?: { volumeId: string; connection: { host: string; port: number } }[] };
      const record = vm.volumes?.find(
        (v) => `vol-${v.volumeId.replace(/-/g, '').slice(0, 17)}` === volumeId,
      );
      assert.ok(record, `${guest.instanceId}'s record lists the volume: ${JSON.stringify(vm)}`);
      assert.equal(record.connection.host, nbdAddress);
      const port = record.connection.port;
      // qemu's NBD client, in the compute host's namespace, holds a connection to the export
      // from the host's own address on the storage segment.
      const hostAddress = g.state.plan.hosts
        .find((h) => h.name === guest.host)
        ?.storageAddress?.split('/')[0];
      assert.ok(hostAddress);
      const conns = await inNamespace(guest.netns, [
        'ss',
        '-Htn',
        'state',
        'established',
        'dst',
        `${nbdAddress}:${port}`,
      ]);
      assert.match(
        conns,
        new RegExp(`${pattern(hostAddress)}:\\d+\\s+${pattern(nbdAddress)}:${port}\\b`),
        `an established connection from ${guest.netns} to ${nbdAddress}:${port}`,
      );
      return { disk, port, inUse, seen };
    };

    const detach = async (guest: LabGuest, disk: string) => {
      const t0 = Date.now();
      await g.client.send(new DetachVolumeCommand({ VolumeId: volumeId }));
      await waitVolume(g, volumeId, 'available');
      const available = Date.now() - t0;
      await waitDiskGone(g, guest, disk);
      return { available, gone: Date.now() - t0 };
    };

    before(async () => {
      g = await startLabGuestCloud(2, 'vl');
      storage = g.state.plan.storage as LabStorage;
    });

    after(async () => {
      // Takes the lab away, failed test or not: guests, storage daemon, namespaces, database.
      await stopLabGuestCloud(g);
    });

    it('launches one guest on each host (a spread placement group), each reached by ssh from its host', async (t) => {
      assert.ok(storage, 'a qemu lab has a storage host');
      await g.client.send(
        new CreatePlacementGroupCommand({ GroupName: 'apart', Strategy: 'spread' }),
      );
      const t0 = Date.now();
      guests = await launchLabGuests(g, 2, 'apart');
      assert.deepEqual(
        guests.map((x) => x.host),
        ['lab-node1', 'lab-node2'],
      );
      t.diagnostic(
        `lab up ${g.upSeconds.toFixed(1)} s; ${guests.map((x) => `${x.instanceId} on ${x.host}`).join(', ')} ready ${seconds(Date.now() - t0)} after RunInstances`,
      );
    });

    it('the storage host has its address on the storage segment, and each compute host its own', async () => {
      assert.match(
        await inNamespace(storage.namespace, ['ip', '-4', '-o', 'addr', 'show', 'st0']),
        new RegExp(`inet ${pattern(storage.address)}`),
      );
      for (const h of g.state.plan.hosts) {
        assert.match(
          await inNamespace(h.namespace, ['ip', '-4', '-o', 'addr', 'show', 'st0']),
          new RegExp(`inet ${pattern(h.storageAddress as string)}`),
        );
      }
      const r = await g.client.send(new CreateVolumeCommand({ AvailabilityZone: g.zone, Size: 1 }));
      volumeId = r.VolumeId as string;
      await waitVolume(g, volumeId, 'available');
    });

    it('attached to the guest on lab-node1, the volume gets ext4 and a file, written and synced there', async (t) => {
      const g1 = guests[0] as LabGuest;
      assert.ok(g1 && volumeId, 'the earlier tests ran');
      const a = await attach(g1, '/dev/sdf');
      // The storage daemon runs in the storage host's namespace, listening on its address there.
      const volumeProcess = g.state.plan.processes.find((p) => p.binary === 'volume');
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
        `the storage daemon (${pid}) runs in ${storage.namespace}`,
      );
      const status = await stratus(['lab', 'status', '--format', 'json', '--dir', g.dir]);
      assert.equal(
        (JSON.parse(status.stdout) as LabStatus).storage?.daemonPid,
        Number(pid),
        'lab status shows the storage daemon',
      );
      assert.match(
        await inNamespace(storage.namespace, ['ss', '-Htln', 'sport', `:${a.port}`]),
        new RegExp(`${pattern(storage.address.split('/')[0] as string)}:${a.port}\\b`),
      );
      const out = await inGuest(
        g,
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
        `lab-node1: attach ${seconds(a.inUse)} to in-use, ${seconds(a.seen)} to the disk in the guest; detach ${seconds(d.available)} to available, ${seconds(d.gone)} to the disk gone`,
      );
    });

    it('detached and attached to the guest on lab-node2, the volume holds the file', async (t) => {
      const g2 = guests[1] as LabGuest;
      assert.ok(g2 && volumeId, 'the earlier tests ran');
      const a = await attach(g2, '/dev/sdg');
      const out = await inGuest(
        g,
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
        `lab-node2: attach ${seconds(a.inUse)} to in-use, ${seconds(a.seen)} to the disk in the guest; detach ${seconds(d.available)}; whole file ${seconds(Date.now() - started)}`,
      );
    });
  },
);
