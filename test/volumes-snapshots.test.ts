// Volume snapshots through the real AWS SDK and the AWS CLI, on SQLite and PostgreSQL, with
// the real volume service (qemu-img): data written into a volume's qcow2 file with qemu-io is
// in a snapshot taken then, and in a volume made from it, and data written after is not;
// copies; DescribeSnapshots' owners, filters, tags and paging; sharing with another project
// through createVolumePermission; quotas; and bad input that changes nothing.
import {
  CopySnapshotCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteSnapshotCommand,
  DeleteVolumeCommand,
  DescribeSnapshotAttributeCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  ModifySnapshotAttributeCommand,
  ModifyVolumeCommand,
  ResetSnapshotAttributeCommand,
  type EC2Client,
  type Snapshot,
  type Volume,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { SnapshotRepo, VolumeRepo } from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { QemuImg } from '../src/image/index.js';
import { NbdExports, VolumeManager } from '../src/volume/index.js';
import { awsEc2 } from './support/awscli.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { disconnected, expectError, failure } from './support/expect.js';
import { stopWithStorageDaemon } from './support/volumes.js';

const ALL = ['network', 'scheduler', 'compute', 'volume', 'api'] as const;
const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

/** The UUID behind an EC2 id (`vol-`, `snap-`): ids are the UUID's first 17 hex digits. */
function uuidIn(rows: readonly { id: string }[], shown: string): string {
  const hex = shown.slice(shown.indexOf('-') + 1);
  const row = rows.find((r) => r.id.replace(/-/g, '').startsWith(hex));
  assert.ok(row, `${shown} is recorded`);
  return row.id;
}

/** qemu-io on a qcow2 file; true when every command succeeded (a `read -P` that differs fails). */
/** Asserts that `send` fails with UnauthorizedOperation, HTTP 403. */
async function expectForbidden(send: () => Promise<unknown>): Promise<void> {
  const e = await failure(send);
  assert.deepEqual([e.code, e.status], ['UnauthorizedOperation', 403], e.message);
}

function qemuIo(file: string, command: string): boolean {
  const r = spawnSync('qemu-io', ['-f', 'qcow2', '-c', command, file], { encoding: 'utf8' });
  return r.status === 0 && !/Pattern verification failed|failed/i.test(`${r.stdout}${r.stderr}`);
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(`EC2 snapshots on ${backend.name}`, needs(...backend.needs, 'qemu-img'), () => {
    let t: TestCloud;
    let zone: string;
    let database: { url: string; remove(): Promise<void> };

    before(async () => {
      database = await backend.create();
      t = await startTestCloud(
        {
          database: database.url,
          'quota-volumes': '10',
          'quota-gigabytes': '40',
          'quota-snapshots': '8',
        },
        { services: ALL },
      );
      zone = t.cloud.config.compute.availabilityZone;
    });
    after(async () => {
      // The volume service's storage daemon outlives the cloud by design: ended here.
      await stopWithStorageDaemon(t.cloud.config.stateDir, () => t.stop());
      if (backend.name === 'postgres') await disconnected(database.url);
      await database.remove();
    });

    const volumeFile = async (id: string) =>
      path.join(
        t.cloud.config.stateDir,
        'volumes',
        `${uuidIn(await new VolumeRepo(t.cloud.database.db).list(), id)}.qcow2`,
      );
    const snapshotFile = async (id: string) =>
      path.join(
        t.cloud.config.stateDir,
        'snapshots',
        `${uuidIn(await new SnapshotRepo(t.cloud.database.db).list(), id)}.qcow2`,
      );
    const volume = async (client: EC2Client, id: string): Promise<Volume | undefined> =>
      (await client.send(new DescribeVolumesCommand({ VolumeIds: [id] }))).Volumes?.[0];
    const snapshot = async (client: EC2Client, id: string): Promise<Snapshot | undefined> =>
      (await client.send(new DescribeSnapshotsCommand({ SnapshotIds: [id] }))).Snapshots?.[0];
    const waitVolume = (client: EC2Client, id: string, state = 'available') =>
      waitUntil(
        async () => {
          const v = await volume(client, id);
          return v?.State === state ? v : undefined;
        },
        60_000,
        `${id} to be ${state}`,
      );
    const waitSnapshot = (client: EC2Client, id: string, state = 'completed') =>
      waitUntil(
        async () => {
          const s = await snapshot(client, id);
          return s?.State === state ? s : undefined;
        },
        60_000,
        `${id} to be ${state}`,
      );
    const newVolume = async (client: EC2Client, size = 1) => {
      const r = await client.send(new CreateVolumeCommand({ Size: size, AvailabilityZone: zone }));
      await waitVolume(client, r.VolumeId as string);
      return r.VolumeId as string;
    };
    const newSnapshot = async (client: EC2Client, volumeId: string, description?: string) => {
      const r = await client.send(
        new CreateSnapshotCommand({ VolumeId: volumeId, Description: description }),
      );
      await waitSnapshot(client, r.SnapshotId as string);
      return r.SnapshotId as string;
    };
    const snapshotCount = async () => (await new SnapshotRepo(t.cloud.database.db).list()).length;

    it('keeps the data a volume held when the snapshot was taken, and a volume made from it holds that data', async () => {
      const p = await t.newProject();
      const vol = await newVolume(p.client, 1);
      const file = await volumeFile(vol);
      assert.ok(qemuIo(file, 'write -P 0x5a 0 1M'));
      assert.ok(qemuIo(file, `write -P 0x33 ${512 * MIB} 1M`));

      const made = await p.client.send(
        new CreateSnapshotCommand({
          VolumeId: vol,
          Description: 'before the change',
          TagSpecifications: [
            { ResourceType: 'snapshot', Tags: [{ Key: 'Name', Value: 'first' }] },
          ],
        }),
      );
      assert.match(made.SnapshotId ?? '', /^snap-[0-9a-f]{17}$/);
      assert.equal(made.VolumeId, vol);
      assert.equal(made.State, 'pending');
      assert.equal(made.VolumeSize, 1);
      assert.equal(made.OwnerId, p.projectId);
      assert.equal(made.Description, 'before the change');
      assert.deepEqual(made.Tags, [{ Key: 'Name', Value: 'first' }]);
      const done = await waitSnapshot(p.client, made.SnapshotId as string);
      assert.equal(done.Progress, '100%');
      assert.equal(done.Encrypted, false);
      assert.ok(done.StartTime instanceof Date);
      assert.deepEqual(done.Tags, [{ Key: 'Name', Value: 'first' }]);
      // The snapshot is a file of its own, with no backing file.
      const info = JSON.parse(
        execFileSync(
          'qemu-img',
          ['info', '--output=json', await snapshotFile(made.SnapshotId as string)],
          { encoding: 'utf8' },
        ),
      ) as { format: string; 'virtual-size': number; 'backing-filename'?: string };
      assert.equal(info.format, 'qcow2');
      assert.equal(info['virtual-size'], GIB);
      assert.equal(info['backing-filename'], undefined);

      // Written after the snapshot: in the volume, not in the snapshot.
      assert.ok(qemuIo(file, 'write -P 0xa5 0 1M'));

      const restored = await p.client.send(
        new CreateVolumeCommand({ SnapshotId: made.SnapshotId, AvailabilityZone: zone }),
      );
      assert.equal(restored.Size, 1);
      assert.equal(restored.SnapshotId, made.SnapshotId);
      const shown = await waitVolume(p.client, restored.VolumeId as string);
      assert.equal(shown.SnapshotId, made.SnapshotId);
      const restoredFile = await volumeFile(restored.VolumeId as string);
      assert.ok(qemuIo(restoredFile, 'read -P 0x5a 0 1M'), 'the snapshot data is there');
      assert.ok(qemuIo(restoredFile, `read -P 0x33 ${512 * MIB} 1M`));
      assert.ok(!qemuIo(restoredFile, 'read -P 0xa5 0 1M'), 'later data is not');
      assert.ok(qemuIo(file, 'read -P 0xa5 0 1M'), 'the volume kept its own');

      // Larger than the snapshot: the data and the new size.
      const bigger = await p.client.send(
        new CreateVolumeCommand({ SnapshotId: made.SnapshotId, Size: 3, AvailabilityZone: zone }),
      );
      await waitVolume(p.client, bigger.VolumeId as string);
      const biggerFile = await volumeFile(bigger.VolumeId as string);
      assert.ok(qemuIo(biggerFile, 'read -P 0x5a 0 1M'));
      const biggerInfo = JSON.parse(
        execFileSync('qemu-img', ['info', '-U', '--output=json', biggerFile], { encoding: 'utf8' }),
      ) as { 'virtual-size': number };
      assert.equal(biggerInfo['virtual-size'], 3 * GIB);
      const filtered = await p.client.send(
        new DescribeVolumesCommand({
          Filters: [{ Name: 'snapshot-id', Values: [made.SnapshotId as string] }],
        }),
      );
      assert.deepEqual(
        filtered.Volumes?.map((v) => v.VolumeId).sort(),
        [restored.VolumeId, bigger.VolumeId].sort(),
      );
    });

    it('copies a snapshot: a new snapshot with the same data, independent of its source', async () => {
      const p = await t.newProject();
      const vol = await newVolume(p.client);
      assert.ok(qemuIo(await volumeFile(vol), 'write -P 0x42 4M 2M'));
      const source = await newSnapshot(p.client, vol, 'source');
      const copy = await p.client.send(
        new CopySnapshotCommand({
          SourceRegion: t.region,
          SourceSnapshotId: source,
          TagSpecifications: [{ ResourceType: 'snapshot', Tags: [{ Key: 'copy', Value: 'yes' }] }],
        }),
      );
      assert.match(copy.SnapshotId ?? '', /^snap-[0-9a-f]{17}$/);
      assert.notEqual(copy.SnapshotId, source);
      const done = await waitSnapshot(p.client, copy.SnapshotId as string);
      assert.equal(done.Description, 'source');
      assert.equal(done.VolumeId, vol);
      assert.deepEqual(done.Tags, [{ Key: 'copy', Value: 'yes' }]);
      // The source goes; the copy still makes volumes with the data.
      await p.client.send(new DeleteSnapshotCommand({ SnapshotId: source }));
      await waitUntil(async () => !(await exists(source)), 60_000, 'the source to go');
      const restored = await p.client.send(
        new CreateVolumeCommand({ SnapshotId: copy.SnapshotId, AvailabilityZone: zone }),
      );
      await waitVolume(p.client, restored.VolumeId as string);
      assert.ok(qemuIo(await volumeFile(restored.VolumeId as string), 'read -P 0x42 4M 2M'));
      await expectError(
        () =>
          p.client.send(
            new CopySnapshotCommand({
              SourceRegion: 'elsewhere-1',
              SourceSnapshotId: copy.SnapshotId,
            }),
          ),
        'InvalidParameterValue',
      );
      async function exists(id: string) {
        const rows = await new SnapshotRepo(t.cloud.database.db).list();
        const hex = id.slice(5);
        return rows.some((r) => r.id.replace(/-/g, '').startsWith(hex));
      }
    });

    it('finishes snapshot work a restart cut short: a volume service starting makes and deletes what is recorded', async () => {
      const p = await t.newProject();
      const vol = await newVolume(p.client);
      const volumes = new VolumeRepo(t.cloud.database.db);
      const row = await volumes.get(uuidIn(await volumes.list(), vol));
      assert.ok(row?.host);
      assert.ok(qemuIo(await volumeFile(vol), 'write -P 0x6b 0 1M'));
      // Recorded as the API side records them, with the casts lost on the way.
      const repo = new SnapshotRepo(t.cloud.database.db);
      const at = Date.now();
      const base = {
        projectId: p.projectId,
        userId: '',
        volumeId: row.id,
        volumeSizeGb: row.sizeGb,
        progress: 0,
        host: row.host,
        name: null,
        description: null,
        sourceSnapshotId: null,
        isPublic: 0,
        statusReason: null,
        createdAt: at,
        updatedAt: at,
      };
      const pending = { ...base, id: randomUUID(), status: 'creating' as const };
      const going = { ...base, id: randomUUID(), status: 'deleting' as const };
      await repo.insert(pending);
      await repo.insert(going);
      fs.mkdirSync(path.join(t.cloud.config.stateDir, 'snapshots'), { recursive: true });
      fs.writeFileSync(path.join(t.cloud.config.stateDir, 'snapshots', `${going.id}.qcow2`), '');
      const restarted = new VolumeManager({
        db: t.cloud.database.db,
        host: row.host,
        directory: path.join(t.cloud.config.stateDir, 'volumes'),
        qemuImg: new QemuImg(),
        // No volume is attached here: the storage daemon is never started.
        nbd: new NbdExports({
          directory: path.join(t.cloud.config.stateDir, 'nbd'),
          address: '127.0.0.1',
          port: 0,
        }),
      });
      await restarted.service().start?.();
      assert.equal((await repo.get(pending.id))?.status, 'available');
      assert.equal(await repo.get(going.id), undefined);
      assert.ok(
        !fs.existsSync(path.join(t.cloud.config.stateDir, 'snapshots', `${going.id}.qcow2`)),
      );
      const shown = `snap-${pending.id.replace(/-/g, '').slice(0, 17)}`;
      assert.equal((await snapshot(p.client, shown))?.State, 'completed');
      const restored = await p.client.send(
        new CreateVolumeCommand({ SnapshotId: shown, AvailabilityZone: zone }),
      );
      await waitVolume(p.client, restored.VolumeId as string);
      assert.ok(qemuIo(await volumeFile(restored.VolumeId as string), 'read -P 0x6b 0 1M'));
    });

    it("keeps a project with snapshots from deletion; the operator's cascade deletes them with its volumes", async () => {
      const p = await t.newProject();
      const vol = await newVolume(p.client);
      const snap = await newSnapshot(p.client, vol);
      const snapFile = await snapshotFile(snap);
      const identity = new IdentityService(t.cloud.database.db);
      await assert.rejects(identity.deleteProject(p.projectId), (err: Error) =>
        /still has 1 volume, 1 snapshot; .*--cascade/.test(err.message),
      );
      assert.ok(fs.existsSync(snapFile), 'the refusal kept the snapshot');
      await identity.deleteProject(p.projectId, { cascade: true, waitMs: 90_000 });
      assert.equal(fs.existsSync(snapFile), false);
      assert.deepEqual(
        await new SnapshotRepo(t.cloud.database.db).list({ projectId: p.projectId, ownOnly: true }),
        [],
      );
    });

    it('refuses to delete a volume that has snapshots, and deletes it once they are gone', async () => {
      const p = await t.newProject();
      const vol = await newVolume(p.client);
      const snap = await newSnapshot(p.client, vol);
      await expectError(
        () => p.client.send(new DeleteVolumeCommand({ VolumeId: vol })),
        'IncorrectState',
      );
      assert.equal((await volume(p.client, vol))?.State, 'available');
      await p.client.send(new DeleteSnapshotCommand({ SnapshotId: snap }));
      await waitUntil(
        async () =>
          (
            (await p.client.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots ??
            []
          ).length === 0,
        60_000,
        'the snapshot to go',
      );
      await expectError(() => snapshot(p.client, snap), 'InvalidSnapshot.NotFound');
      await p.client.send(new DeleteVolumeCommand({ VolumeId: vol }));
      await waitUntil(
        async () =>
          ((await p.client.send(new DescribeVolumesCommand({}))).Volumes ?? []).length === 0,
        60_000,
        'the volume to go',
      );
    });

    it('filters, tags and pages DescribeSnapshots as EC2 does', async () => {
      const p = await t.newProject();
      const small = await newVolume(p.client, 1);
      const large = await newVolume(p.client, 2);
      const ids: string[] = [];
      for (let i = 0; i < 6; i++)
        ids.push(await newSnapshot(p.client, i < 4 ? small : large, `s${i}`));
      await p.client.send(
        new CreateTagsCommand({
          Resources: [ids[1] as string],
          Tags: [{ Key: 'role', Value: 'db' }],
        }),
      );
      const by = async (Name: string, Values: string[]) =>
        (
          (await p.client.send(new DescribeSnapshotsCommand({ Filters: [{ Name, Values }] })))
            .Snapshots ?? []
        ).map((s) => s.SnapshotId);
      assert.deepEqual(await by('tag:role', ['db']), [ids[1]]);
      assert.deepEqual(await by('tag-key', ['role']), [ids[1]]);
      assert.deepEqual(await by('volume-id', [large]), ids.slice(4));
      assert.deepEqual(await by('volume-size', ['2']), ids.slice(4));
      assert.deepEqual(await by('status', ['completed']), ids);
      assert.deepEqual(await by('status', ['pending', 'error']), []);
      assert.deepEqual(await by('description', ['s3']), [ids[3]]);
      assert.deepEqual(await by('snapshot-id', [ids[5] as string]), [ids[5]]);
      assert.deepEqual(await by('owner-id', [p.projectId]), ids);
      const first = await snapshot(p.client, ids[0] as string);
      assert.deepEqual(
        await by('start-time', [(first?.StartTime as Date).toISOString().replace(/Z$/, '*')]),
        [ids[0]],
      );
      await expectError(() => by('no-such-filter', ['x']), 'InvalidParameterValue');
      const owned = async (OwnerIds: string[]) =>
        ((await p.client.send(new DescribeSnapshotsCommand({ OwnerIds }))).Snapshots ?? []).map(
          (s) => s.SnapshotId,
        );
      assert.deepEqual(await owned(['self']), ids);
      assert.deepEqual(await owned([p.projectId]), ids);
      assert.deepEqual(await owned(['amazon']), []);

      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const r = await p.client.send(
          new DescribeSnapshotsCommand({ MaxResults: 5, ...(token ? { NextToken: token } : {}) }),
        );
        seen.push(...(r.Snapshots ?? []).map((s) => s.SnapshotId as string));
        token = r.NextToken;
        pages++;
      } while (token);
      assert.equal(pages, 2);
      assert.deepEqual(seen, ids);
      await expectError(
        () =>
          p.client.send(
            new DescribeSnapshotsCommand({ MaxResults: 5, SnapshotIds: [ids[0] as string] }),
          ),
        'InvalidParameterCombination',
      );
      for (const id of ids) await p.client.send(new DeleteSnapshotCommand({ SnapshotId: id }));
    });

    it("hides another project's snapshot until it is shared through createVolumePermission", async () => {
      const owner = await t.newProject();
      const other = await t.newProject();
      const vol = await newVolume(owner.client);
      assert.ok(qemuIo(await volumeFile(vol), 'write -P 0x77 0 64k'));
      const snap = await newSnapshot(owner.client, vol);
      await expectError(() => snapshot(other.client, snap), 'InvalidSnapshot.NotFound');
      await expectError(
        () =>
          other.client.send(new CreateVolumeCommand({ SnapshotId: snap, AvailabilityZone: zone })),
        'InvalidSnapshot.NotFound',
      );
      await expectError(
        () => other.client.send(new DeleteSnapshotCommand({ SnapshotId: snap })),
        'InvalidSnapshot.NotFound',
      );
      assert.deepEqual((await other.client.send(new DescribeSnapshotsCommand({}))).Snapshots, []);

      await owner.client.send(
        new ModifySnapshotAttributeCommand({
          SnapshotId: snap,
          Attribute: 'createVolumePermission',
          CreateVolumePermission: { Add: [{ UserId: other.projectId }] },
        }),
      );
      const attr = await owner.client.send(
        new DescribeSnapshotAttributeCommand({
          SnapshotId: snap,
          Attribute: 'createVolumePermission',
        }),
      );
      assert.equal(attr.SnapshotId, snap);
      assert.deepEqual(attr.CreateVolumePermissions, [{ UserId: other.projectId }]);
      const seen = await snapshot(other.client, snap);
      assert.equal(seen?.OwnerId, owner.projectId);
      const restorable = async (client: EC2Client, RestorableByUserIds: string[]) =>
        (
          (await client.send(new DescribeSnapshotsCommand({ RestorableByUserIds }))).Snapshots ?? []
        ).map((s) => s.SnapshotId);
      assert.deepEqual(await restorable(other.client, ['self']), [snap]);
      assert.deepEqual(await restorable(owner.client, [other.projectId]), [snap]);
      assert.deepEqual(await restorable(owner.client, ['all']), []);
      assert.deepEqual(
        (await other.client.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots ??
          [],
        [],
      );
      // The other project makes a volume with the data, but may not change or delete the snapshot.
      const theirs = await other.client.send(
        new CreateVolumeCommand({ SnapshotId: snap, AvailabilityZone: zone }),
      );
      await waitVolume(other.client, theirs.VolumeId as string);
      assert.ok(qemuIo(await volumeFile(theirs.VolumeId as string), 'read -P 0x77 0 64k'));
      await expectForbidden(() =>
        other.client.send(new DeleteSnapshotCommand({ SnapshotId: snap })),
      );
      await expectForbidden(() =>
        other.client.send(
          new ResetSnapshotAttributeCommand({
            SnapshotId: snap,
            Attribute: 'createVolumePermission',
          }),
        ),
      );

      // Public, then private again; reset ends the share too.
      await owner.client.send(
        new ModifySnapshotAttributeCommand({
          SnapshotId: snap,
          CreateVolumePermission: { Add: [{ Group: 'all' }] },
        }),
      );
      const third = await t.newProject();
      assert.equal((await snapshot(third.client, snap))?.SnapshotId, snap);
      assert.deepEqual(await restorable(owner.client, ['all']), [snap]);
      await owner.client.send(
        new ModifySnapshotAttributeCommand({
          SnapshotId: snap,
          CreateVolumePermission: { Remove: [{ Group: 'all' }] },
        }),
      );
      await expectError(() => snapshot(third.client, snap), 'InvalidSnapshot.NotFound');
      await owner.client.send(
        new ResetSnapshotAttributeCommand({
          SnapshotId: snap,
          Attribute: 'createVolumePermission',
        }),
      );
      await expectError(() => snapshot(other.client, snap), 'InvalidSnapshot.NotFound');
      const after = await owner.client.send(
        new DescribeSnapshotAttributeCommand({
          SnapshotId: snap,
          Attribute: 'createVolumePermission',
        }),
      );
      assert.deepEqual(after.CreateVolumePermissions, []);
      await expectError(
        () =>
          owner.client.send(
            new ModifySnapshotAttributeCommand({
              SnapshotId: snap,
              CreateVolumePermission: { Add: [{ UserId: 'not-an-account' }] },
            }),
          ),
        'InvalidParameterValue',
      );
      await expectError(
        () =>
          owner.client.send(
            new ModifySnapshotAttributeCommand({
              SnapshotId: snap,
              CreateVolumePermission: { Add: [{ Group: 'everyone' as 'all' }] },
            }),
          ),
        'InvalidParameterValue',
      );
      await expectError(
        () => owner.client.send(new ModifySnapshotAttributeCommand({ SnapshotId: snap })),
        'MissingParameter',
      );
    });

    it('refuses bad input with EC2 error codes and creates nothing', async () => {
      const p = await t.newProject();
      const vol = await newVolume(p.client, 2);
      const snap = await newSnapshot(p.client, vol);
      const before = await snapshotCount();
      const volumesBefore = (await p.client.send(new DescribeVolumesCommand({}))).Volumes?.length;
      const cases: [string, () => Promise<unknown>][] = [
        [
          'MissingParameter',
          () => p.client.send(new CreateSnapshotCommand({} as { VolumeId: string })),
        ],
        [
          'InvalidVolumeID.Malformed',
          () => p.client.send(new CreateSnapshotCommand({ VolumeId: 'vol-xyz' })),
        ],
        [
          'InvalidVolume.NotFound',
          () => p.client.send(new CreateSnapshotCommand({ VolumeId: 'vol-0123456789abcdef0' })),
        ],
        [
          'InvalidParameterValue',
          () =>
            p.client.send(
              new CreateSnapshotCommand({
                VolumeId: vol,
                TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'a', Value: 'b' }] }],
              }),
            ),
        ],
        ['InvalidSnapshotID.Malformed', () => snapshot(p.client, 'snap-nothex')],
        ['InvalidSnapshot.NotFound', () => snapshot(p.client, 'snap-0123456789abcdef0')],
        [
          'InvalidSnapshot.NotFound',
          () => p.client.send(new DeleteSnapshotCommand({ SnapshotId: 'snap-0123456789abcdef0' })),
        ],
        [
          'InvalidParameterValue',
          () =>
            p.client.send(
              new CreateVolumeCommand({ SnapshotId: snap, Size: 1, AvailabilityZone: zone }),
            ),
        ],
        [
          'InvalidSnapshot.NotFound',
          () =>
            p.client.send(
              new CreateVolumeCommand({
                SnapshotId: 'snap-0123456789abcdef0',
                AvailabilityZone: zone,
              }),
            ),
        ],
        [
          'InvalidParameterValue',
          () =>
            p.client.send(
              new DescribeSnapshotAttributeCommand({
                SnapshotId: snap,
                Attribute: 'volumeSize' as 'productCodes',
              }),
            ),
        ],
        [
          'UnsupportedOperation',
          () =>
            p.client.send(
              new CopySnapshotCommand({
                SourceRegion: t.region,
                SourceSnapshotId: snap,
                KmsKeyId: 'k',
              }),
            ),
        ],
      ];
      for (const [code, send] of cases) await expectError(send, code);

      // A volume being attached is refused (one in use is copied by its storage daemon).
      const uuid = uuidIn(await new VolumeRepo(t.cloud.database.db).list(), vol);
      await new VolumeRepo(t.cloud.database.db).update(uuid, {
        status: 'attaching',
        instanceId: '00000000-0000-4000-8000-000000000001',
        device: '/dev/sdf',
      });
      await expectError(
        () => p.client.send(new CreateSnapshotCommand({ VolumeId: vol })),
        'IncorrectState',
      );
      await new VolumeRepo(t.cloud.database.db).update(uuid, {
        status: 'available',
        instanceId: null,
        device: null,
      });
      // While a snapshot is being taken (here one whose host never answers), the volume keeps
      // its size.
      const taking = {
        id: randomUUID(),
        projectId: p.projectId,
        userId: '',
        volumeId: uuid,
        volumeSizeGb: 2,
        status: 'creating' as const,
        progress: 0,
        host: 'no-such-host',
        name: null,
        description: null,
        sourceSnapshotId: null,
        isPublic: 0,
        statusReason: null,
        createdAt: Date.now(),
        updatedAt: Date.now(),
      };
      await new SnapshotRepo(t.cloud.database.db).insert(taking);
      await expectError(
        () => p.client.send(new ModifyVolumeCommand({ VolumeId: vol, Size: 3 })),
        'IncorrectState',
      );
      assert.equal((await volume(p.client, vol))?.Size, 2);
      await new SnapshotRepo(t.cloud.database.db).delete(taking.id);
      assert.equal(await snapshotCount(), before);
      assert.equal(
        (await p.client.send(new DescribeVolumesCommand({}))).Volumes?.length,
        volumesBefore,
      );
    });

    it('holds snapshots to the snapshots quota and their size to the GiB quota', async () => {
      const p = await t.newProject();
      const vol = await newVolume(p.client, 10);
      const made: string[] = [];
      // 10 GiB of volume plus two snapshots of 10 GiB fill 30 of 40 GiB; a third is 40.
      for (let i = 0; i < 3; i++) made.push(await newSnapshot(p.client, vol));
      await expectError(
        () => p.client.send(new CreateSnapshotCommand({ VolumeId: vol })),
        'VolumeLimitExceeded',
      );
      await expectError(
        () =>
          p.client.send(new CreateVolumeCommand({ SnapshotId: made[0], AvailabilityZone: zone })),
        'VolumeLimitExceeded',
      );
      const small = await t.newProject();
      const one = await newVolume(small.client, 1);
      for (let i = 0; i < 8; i++) await newSnapshot(small.client, one);
      await expectError(
        () => small.client.send(new CreateSnapshotCommand({ VolumeId: one })),
        'SnapshotLimitExceeded',
      );
      assert.equal(
        (
          (await small.client.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] })))
            .Snapshots ?? []
        ).length,
        8,
      );
    });

    it(
      'works from the AWS CLI: create-snapshot, wait, describe-snapshots, create-volume --snapshot-id, delete-snapshot',
      needs('awscli'),
      async () => {
        const p = await t.newProject();
        const home = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-awscli-'));
        try {
          const aws = awsEc2({
            endpoint: t.endpoint,
            region: t.region,
            credentials: p.credentials,
            home,
          });
          const vol = await newVolume(p.client);
          assert.ok(qemuIo(await volumeFile(vol), 'write -P 0x11 0 1M'));
          const made = await aws.json(
            'create-snapshot',
            '--volume-id',
            vol,
            '--description',
            'from the cli',
            '--tag-specifications',
            'ResourceType=snapshot,Tags=[{Key=Name,Value=cli}]',
          );
          const id = made['SnapshotId'] as string;
          assert.match(id, /^snap-[0-9a-f]{17}$/);
          assert.equal(made['State'], 'pending');
          await aws.json('wait', 'snapshot-completed', '--snapshot-ids', id);
          const listed = await aws.json('describe-snapshots', '--owner-ids', 'self');
          const snaps = listed['Snapshots'] as {
            SnapshotId: string;
            State: string;
            Description: string;
          }[];
          assert.deepEqual(
            snaps.map((s) => [s.SnapshotId, s.State, s.Description]),
            [[id, 'completed', 'from the cli']],
          );
          const filtered = await aws.json(
            'describe-snapshots',
            '--filters',
            'Name=tag:Name,Values=cli',
          );
          assert.equal((filtered['Snapshots'] as unknown[]).length, 1);
          const restored = await aws.json(
            'create-volume',
            '--snapshot-id',
            id,
            '--availability-zone',
            zone,
          );
          assert.equal(restored['SnapshotId'], id);
          await aws.json(
            'wait',
            'volume-available',
            '--volume-ids',
            restored['VolumeId'] as string,
          );
          assert.ok(qemuIo(await volumeFile(restored['VolumeId'] as string), 'read -P 0x11 0 1M'));
          const refused = await aws.run('delete-volume', '--volume-id', vol);
          assert.notEqual(refused.code, 0);
          assert.match(refused.stderr, /IncorrectState/);
          await aws.json('delete-snapshot', '--snapshot-id', id);
          const missing = await aws.run(
            'describe-snapshots',
            '--snapshot-ids',
            'snap-0123456789abcdef0',
          );
          assert.match(missing.stderr, /InvalidSnapshot\.NotFound/);
        } finally {
          fs.rmSync(home, { recursive: true, force: true });
        }
      },
    );
  });
}
