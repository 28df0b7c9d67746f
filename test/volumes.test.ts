// Volumes through the real AWS SDK and the AWS CLI, on SQLite and PostgreSQL: the volume
// service makes, grows and removes a qcow2 file per volume (checked with qemu-img); EC2's
// listing with filters, tags and paging; quotas; tenancy; and bad input that changes nothing.
import {
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeTagsCommand,
  DescribeVolumesCommand,
  DescribeVolumeStatusCommand,
  ModifyVolumeCommand,
  type EC2Client,
  type Volume,
  type VolumeType,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { systemContext } from '../src/context.js';
import { QuotaRepo, VolumeRepo } from '../src/db/index.js';
import { VolumeClient } from '../src/volume/index.js';
import { awsEc2 } from './support/awscli.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { IdentityService } from '../src/identity/index.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { disconnected, expectError, failure } from './support/expect.js';
import { stopWithStorageDaemon } from './support/volumes.js';

const ALL = ['network', 'scheduler', 'compute', 'volume', 'api'] as const;
const GIB = 1024 ** 3;

/** The UUID behind a `vol-` id, found in the database (ids are the UUID's leading digits). */
async function uuidOf(t: TestCloud, volumeId: string): Promise<string> {
  const hex = volumeId.slice(4);
  const rows = await new VolumeRepo(t.cloud.database.db).list();
  const row = rows.find((r) => r.id.replace(/-/g, '').startsWith(hex));
  assert.ok(row, `${volumeId} is recorded`);
  return row.id;
}

/** What qemu-img says of a volume's file (read shared, while the service may hold it). */
function fileInfo(t: TestCloud, uuid: string): { format: string; 'virtual-size': number } {
  const file = path.join(t.cloud.config.stateDir, 'volumes', `${uuid}.qcow2`);
  return JSON.parse(
    execFileSync('qemu-img', ['info', '-U', '--output=json', file], { encoding: 'utf8' }),
  );
}

async function describe1(client: EC2Client, id: string): Promise<Volume | undefined> {
  const r = await client.send(new DescribeVolumesCommand({ VolumeIds: [id] }));
  return r.Volumes?.[0];
}

async function waitVolume(client: EC2Client, id: string, state: string): Promise<Volume> {
  return waitUntil(
    async () => {
      const v = await describe1(client, id);
      return v?.State === state ? v : undefined;
    },
    20_000,
    `${id} to be ${state}`,
  );
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(`EC2 volumes on ${backend.name}`, needs(...backend.needs, 'qemu-img'), () => {
    let t: TestCloud;
    let zone: string;
    let database: { url: string; remove(): Promise<void> };

    before(async () => {
      database = await backend.create();
      t = await startTestCloud(
        { database: database.url, 'quota-volumes': '10', 'quota-gigabytes': '100' },
        { services: ALL },
      );
      zone = t.cloud.config.compute.availabilityZone;
    });
    after(async () => {
      // A volume recorded in use is exported: the storage daemon ends with the cloud.
      await stopWithStorageDaemon(t.cloud.config.stateDir, () => t.stop());
      if (backend.name === 'postgres') await disconnected(database.url);
      await database.remove();
    });

    const create = async (
      client: EC2Client,
      size = 1,
      more: Partial<Record<string, unknown>> = {},
    ) => {
      const r = await client.send(
        new CreateVolumeCommand({ Size: size, AvailabilityZone: zone, ...more }),
      );
      assert.match(r.VolumeId ?? '', /^vol-[0-9a-f]{17}$/);
      return r;
    };
    const count = async (client: EC2Client) =>
      ((await client.send(new DescribeVolumesCommand({}))).Volumes ?? []).length;

    it('creates a volume as a qcow2 file of its size, which DescribeVolumes shows available', async () => {
      const p = await t.newProject();
      const r = await create(p.client, 2, {
        VolumeType: 'gp3',
        TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'Name', Value: 'data' }] }],
      });
      assert.equal(r.Size, 2);
      assert.equal(r.State, 'creating');
      assert.equal(r.VolumeType, 'gp3');
      assert.equal(r.AvailabilityZone, zone);
      assert.deepEqual(r.Tags, [{ Key: 'Name', Value: 'data' }]);
      const v = await waitVolume(p.client, r.VolumeId as string, 'available');
      assert.equal(v.Size, 2);
      assert.equal(v.VolumeType, 'gp3');
      assert.equal(v.Iops, 3000);
      assert.equal(v.Throughput, 125);
      assert.equal(v.Encrypted, false);
      assert.deepEqual(v.Attachments, []);
      assert.deepEqual(v.Tags, [{ Key: 'Name', Value: 'data' }]);
      assert.ok(v.CreateTime instanceof Date);
      const info = fileInfo(t, await uuidOf(t, r.VolumeId as string));
      assert.equal(info.format, 'qcow2');
      assert.equal(info['virtual-size'], 2 * GIB);
      const status = await p.client.send(
        new DescribeVolumeStatusCommand({ VolumeIds: [r.VolumeId as string] }),
      );
      assert.equal(status.VolumeStatuses?.[0]?.VolumeStatus?.Status, 'ok');
      assert.deepEqual(
        status.VolumeStatuses?.[0]?.VolumeStatus?.Details?.map((d) => [d.Name, d.Status]),
        [
          ['io-enabled', 'passed'],
          ['io-performance', 'not-applicable'],
        ],
      );
    });

    it('filters, tags and pages DescribeVolumes as EC2 does', async () => {
      const p = await t.newProject();
      const ids: string[] = [];
      for (let i = 1; i <= 7; i++) {
        const r = await create(p.client, i, { VolumeType: i % 2 ? 'gp2' : 'standard' });
        ids.push(r.VolumeId as string);
      }
      for (const id of ids) await waitVolume(p.client, id, 'available');
      await p.client.send(
        new CreateTagsCommand({
          Resources: [ids[2] as string],
          Tags: [{ Key: 'role', Value: 'db' }],
        }),
      );
      const tags = await p.client.send(
        new DescribeTagsCommand({ Filters: [{ Name: 'resource-type', Values: ['volume'] }] }),
      );
      assert.deepEqual(
        tags.Tags?.map((x) => [x.ResourceId, x.Key, x.Value]),
        [[ids[2], 'role', 'db']],
      );
      const byFilter = async (Name: string, Values: string[]) =>
        (
          (await p.client.send(new DescribeVolumesCommand({ Filters: [{ Name, Values }] })))
            .Volumes ?? []
        ).map((v) => v.VolumeId);
      assert.deepEqual(await byFilter('tag:role', ['db']), [ids[2]]);
      assert.deepEqual(await byFilter('size', ['3', '4']), [ids[2], ids[3]]);
      assert.deepEqual(await byFilter('volume-type', ['standard']), [ids[1], ids[3], ids[5]]);
      assert.deepEqual(await byFilter('status', ['available']), ids);
      assert.deepEqual(await byFilter('volume-id', [ids[6] as string]), [ids[6]]);
      assert.deepEqual(await byFilter('availability-zone', ['elsewhere']), []);
      const e = await failure(() => byFilter('no-such-filter', ['x']));
      assert.equal(e.code, 'InvalidParameterValue');

      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const r = await p.client.send(
          new DescribeVolumesCommand({ MaxResults: 5, ...(token ? { NextToken: token } : {}) }),
        );
        seen.push(...(r.Volumes ?? []).map((v) => v.VolumeId as string));
        token = r.NextToken;
        pages++;
      } while (token);
      assert.equal(pages, 2);
      assert.deepEqual(seen, ids);
      await expectError(
        () =>
          p.client.send(
            new DescribeVolumesCommand({ MaxResults: 5, VolumeIds: [ids[0] as string] }),
          ),
        'InvalidParameterCombination',
      );
    });

    it('grows a volume with ModifyVolume, and its file with it; it never shrinks', async () => {
      const p = await t.newProject();
      const { VolumeId: id } = await create(p.client, 1);
      await waitVolume(p.client, id as string, 'available');
      const m = await p.client.send(
        new ModifyVolumeCommand({ VolumeId: id, Size: 3, VolumeType: 'gp2' }),
      );
      assert.equal(m.VolumeModification?.OriginalSize, 1);
      assert.equal(m.VolumeModification?.TargetSize, 3);
      // EC2 shows an extending volume as available: the record says when the file has grown.
      const uuid = await uuidOf(t, id as string);
      await waitUntil(async () => {
        const v = await new VolumeRepo(t.cloud.database.db).get(uuid);
        return v?.sizeGb === 3 && v.status === 'available';
      });
      await waitUntil(
        async () => fileInfo(t, await uuidOf(t, id as string))['virtual-size'] === 3 * GIB,
      );
      assert.equal((await describe1(p.client, id as string))?.Iops, 100);
      await expectError(
        () => p.client.send(new ModifyVolumeCommand({ VolumeId: id, Size: 2 })),
        'InvalidParameterValue',
      );
      assert.equal((await describe1(p.client, id as string))?.Size, 3);
    });

    it('deletes a volume: its file, its record and its tags go', async () => {
      const p = await t.newProject();
      const { VolumeId: id } = await create(p.client, 1, {
        TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'k', Value: 'v' }] }],
      });
      await waitVolume(p.client, id as string, 'available');
      const uuid = await uuidOf(t, id as string);
      const file = path.join(t.cloud.config.stateDir, 'volumes', `${uuid}.qcow2`);
      assert.ok(fs.existsSync(file));
      const r = await p.client.send(new DeleteVolumeCommand({ VolumeId: id }));
      assert.equal(r.$metadata.httpStatusCode, 200);
      await waitUntil(async () => (await count(p.client)) === 0, 20_000, 'the volume to go');
      assert.equal(fs.existsSync(file), false);
      const tags = await p.client.send(new DescribeTagsCommand({}));
      assert.deepEqual(tags.Tags, []);
      await expectError(() => describe1(p.client, id as string), 'InvalidVolume.NotFound');
    });

    it("keeps a project with volumes from deletion; the operator's cascade deletes them", async () => {
      const p = await t.newProject();
      const { VolumeId: id } = await create(p.client, 1);
      await waitVolume(p.client, id as string, 'available');
      const uuid = await uuidOf(t, id as string);
      const file = path.join(t.cloud.config.stateDir, 'volumes', `${uuid}.qcow2`);
      const identity = new IdentityService(t.cloud.database.db);
      await assert.rejects(identity.deleteProject(p.projectId), (err: Error) =>
        /still has 1 volume; .*--cascade/.test(err.message),
      );
      assert.ok(fs.existsSync(file), 'the refusal kept the volume');
      // The volume service removes the file and record on its next pass.
      await identity.deleteProject(p.projectId, { cascade: true, waitMs: 90_000 });
      assert.equal(fs.existsSync(file), false);
      assert.equal(
        (await new VolumeRepo(t.cloud.database.db).list()).some((v) => v.id === uuid),
        false,
      );
    });

    it('refuses deleting an attached volume with VolumeInUse, and keeps it', async () => {
      const p = await t.newProject();
      const { VolumeId: id } = await create(p.client, 1);
      await waitVolume(p.client, id as string, 'available');
      // Attaching is not served yet: the record is made to say what an attachment would.
      await new VolumeRepo(t.cloud.database.db).update(await uuidOf(t, id as string), {
        status: 'in-use',
        instanceId: '00000000-0000-4000-8000-000000000001',
        device: '/dev/vdb',
        attachedAt: Date.now(),
      });
      await expectError(
        () => p.client.send(new DeleteVolumeCommand({ VolumeId: id })),
        'VolumeInUse',
      );
      const v = await describe1(p.client, id as string);
      assert.equal(v?.State, 'in-use');
      assert.equal(v?.Attachments?.[0]?.Device, '/dev/vdb');
      assert.equal(v?.Attachments?.[0]?.State, 'attached');
      assert.match(v?.Attachments?.[0]?.InstanceId ?? '', /^i-[0-9a-f]{17}$/);
    });

    it("hides another project's volume: describe, modify and delete say InvalidVolume.NotFound", async () => {
      const owner = await t.newProject();
      const other = await t.newProject();
      const { VolumeId: id } = await create(owner.client, 1);
      await waitVolume(owner.client, id as string, 'available');
      await expectError(() => describe1(other.client, id as string), 'InvalidVolume.NotFound');
      await expectError(
        () => other.client.send(new DeleteVolumeCommand({ VolumeId: id })),
        'InvalidVolume.NotFound',
      );
      await expectError(
        () => other.client.send(new ModifyVolumeCommand({ VolumeId: id, Size: 5 })),
        'InvalidVolume.NotFound',
      );
      await expectError(
        () => other.client.send(new DescribeVolumeStatusCommand({ VolumeIds: [id as string] })),
        'InvalidVolume.NotFound',
      );
      assert.equal(await count(other.client), 0);
      assert.equal((await describe1(owner.client, id as string))?.Size, 1);
    });

    it('refuses bad input with EC2 error codes and creates nothing', async () => {
      const p = await t.newProject();
      const bad: [string, () => Promise<unknown>][] = [
        ['InvalidParameterValue', () => create(p.client, 0)],
        ['InvalidParameterValue', () => create(p.client, 16_385)],
        ['InvalidParameterValue', () => create(p.client, 1, { VolumeType: 'io9' as VolumeType })],
        ['InvalidParameterValue', () => create(p.client, 1, { AvailabilityZone: 'no-such-zone' })],
        ['InvalidParameterValue', () => create(p.client, 1, { Iops: 4000 })],
        ['InvalidParameterValue', () => create(p.client, 1, { Encrypted: true })],
        [
          'InvalidSnapshot.NotFound',
          () => create(p.client, 1, { SnapshotId: 'snap-0123456789abcdef0' }),
        ],
        [
          'InvalidParameterValue',
          () =>
            create(p.client, 1, {
              TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'a', Value: 'b' }] }],
            }),
        ],
        [
          'MissingParameter',
          () => p.client.send(new CreateVolumeCommand({ AvailabilityZone: zone })),
        ],
        ['MissingParameter', () => p.client.send(new CreateVolumeCommand({ Size: 1 } as never))],
        ['InvalidVolumeID.Malformed', () => describe1(p.client, 'vol-xyz')],
        ['InvalidVolume.NotFound', () => describe1(p.client, 'vol-0123456789abcdef0')],
        [
          'InvalidVolume.NotFound',
          () => p.client.send(new DeleteVolumeCommand({ VolumeId: 'vol-0123456789abcdef0' })),
        ],
      ];
      for (const [code, send] of bad) {
        const e = await failure(send);
        assert.equal(e.code, code, `${send.toString()}: ${e.message}`);
        assert.equal(e.status, 400);
      }
      assert.equal(await count(p.client), 0);
      assert.deepEqual(
        fs
          .readdirSync(path.join(t.cloud.config.stateDir, 'volumes'))
          .filter((f) => f.endsWith('.part')),
        [],
      );
    });

    it('keeps to the volume and GiB quotas with VolumeLimitExceeded', async () => {
      const p = await t.newProject();
      const quotas = new QuotaRepo(t.cloud.database.db);
      await quotas.set(p.projectId, 'volumes', 2);
      await quotas.set(p.projectId, 'gigabytes', 5);
      const a = await create(p.client, 2);
      await expectError(() => create(p.client, 4), 'VolumeLimitExceeded');
      const b = await create(p.client, 3);
      await expectError(() => create(p.client, 1), 'VolumeLimitExceeded');
      assert.equal(await count(p.client), 2);
      await waitVolume(p.client, b.VolumeId as string, 'available');
      await quotas.set(p.projectId, 'volumes', 5);
      await expectError(
        () => p.client.send(new ModifyVolumeCommand({ VolumeId: b.VolumeId, Size: 4 })),
        'VolumeLimitExceeded',
      );
      assert.equal((await describe1(p.client, b.VolumeId as string))?.Size, 3);
      await waitVolume(p.client, a.VolumeId as string, 'available');
      await p.client.send(new DeleteVolumeCommand({ VolumeId: a.VolumeId }));
      await waitUntil(async () => (await count(p.client)) === 1, 20_000, 'the volume to go');
      await create(p.client, 2);
    });

    it('reports its capacity and what its volumes take of it over the bus', async () => {
      const client = new VolumeClient(t.cloud.bus);
      const host = t.cloud.config.host;
      const mine = await new VolumeRepo(t.cloud.database.db).list({ host });
      const d = await client.describeHost(systemContext(), host);
      assert.equal(d.host, host);
      assert.equal(d.volumes, mine.length);
      assert.equal(
        d.allocatedGb,
        mine.reduce((sum, v) => sum + v.sizeGb, 0),
      );
      assert.ok(d.capacityGb > 0 && d.freeGb <= d.capacityGb, JSON.stringify(d));
      const status = await client.status(systemContext(), host);
      assert.equal(status.binary, 'volume');
      assert.equal(status.details['allocatedGb'], d.allocatedGb);
    });

    it('works from the AWS CLI', needs('awscli'), async () => {
      const p = await t.newProject();
      const home = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-aws-'));
      try {
        const aws = awsEc2({
          endpoint: t.endpoint,
          region: t.region,
          credentials: p.credentials,
          home,
        });
        const made = (await aws.json(
          'create-volume',
          '--size',
          '1',
          '--availability-zone',
          zone,
          '--volume-type',
          'gp2',
          '--tag-specifications',
          'ResourceType=volume,Tags=[{Key=Name,Value=cli}]',
        )) as { VolumeId: string; State: string; Size: number };
        assert.match(made.VolumeId, /^vol-[0-9a-f]{17}$/);
        assert.equal(made.Size, 1);
        await aws.json('wait', 'volume-available', '--volume-ids', made.VolumeId);
        const listed = (await aws.json(
          'describe-volumes',
          '--filters',
          'Name=tag:Name,Values=cli',
        )) as {
          Volumes: { VolumeId: string; State: string }[];
        };
        assert.deepEqual(
          listed.Volumes.map((v) => [v.VolumeId, v.State]),
          [[made.VolumeId, 'available']],
        );
        const modified = (await aws.json(
          'modify-volume',
          '--volume-id',
          made.VolumeId,
          '--size',
          '2',
        )) as {
          VolumeModification: { TargetSize: number };
        };
        assert.equal(modified.VolumeModification.TargetSize, 2);
        await waitVolume(p.client, made.VolumeId, 'available');
        await aws.json('delete-volume', '--volume-id', made.VolumeId);
        await aws.json('wait', 'volume-deleted', '--volume-ids', made.VolumeId);
        const gone = await aws.run('describe-volumes', '--volume-ids', made.VolumeId);
        assert.notEqual(gone.code, 0);
        assert.match(gone.stderr, /InvalidVolume\.NotFound/);
      } finally {
        fs.rmSync(home, { recursive: true, force: true });
      }
    });
  });
}

describe('EC2 volumes without a volume service', () => {
  let t: TestCloud;
  before(async () => {
    t = await startTestCloud({}, { services: ['network', 'scheduler', 'compute', 'api'] });
  });
  after(() => t.stop());

  it('answers InsufficientVolumeCapacity and records nothing', async () => {
    const p = await t.newProject();
    const e = await failure(() =>
      p.client.send(
        new CreateVolumeCommand({
          Size: 1,
          AvailabilityZone: t.cloud.config.compute.availabilityZone,
        }),
      ),
    );
    assert.equal(e.code, 'InsufficientVolumeCapacity');
    assert.equal(e.status, 503);
    assert.deepEqual(await new VolumeRepo(t.cloud.database.db).list(), []);
  });
});
