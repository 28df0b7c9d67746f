// Volume attachments through the real AWS SDK and the AWS CLI on the fake driver, with the
// volume service's real storage daemon: the rules (whose volume, which zone, which device,
// which states) answer EC2's own errors and change nothing; attach and detach end in-use and
// available with the volume exported over NBD while attached; a failed attach never leaves a
// volume attaching; terminating an instance frees its volumes.
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  ModifyVolumeCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  DescribeInstancesCommand,
  type EC2Client,
  type Volume,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { VolumeRepo } from '../src/db/index.js';
import { FakeDriver } from '../src/virt/index.js';
import { awsEc2 } from './support/awscli.js';
import { needs } from './support/capabilities.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { expectError } from './support/expect.js';
import { stopWithStorageDaemon } from './support/volumes.js';
import { adminEnv, openstack, PASSWORD } from './support/openstack.js';
import { IdentityService } from '../src/identity/index.js';

const ALL = ['network', 'scheduler', 'compute', 'volume', 'api'] as const;

async function describe1(client: EC2Client, id: string): Promise<Volume | undefined> {
  const r = await client.send(new DescribeVolumesCommand({ VolumeIds: [id] }));
  return r.Volumes?.[0];
}

async function waitVolume(client: EC2Client, id: string, state: string): Promise<Volume> {
  return waitUntil(
    async () => {
      const v = await describe1(client, id);
      return v?.State === state &&
        !['attaching', 'detaching'].includes(v.Attachments?.[0]?.State ?? '')
        ? v
        : undefined;
    },
    60_000,
    `${id} to be ${state}`,
  );
}

async function uuidOf(t: TestCloud, ec2Id: string): Promise<string> {
  const hex = ec2Id.slice(ec2Id.indexOf('-') + 1);
  const rows = await new VolumeRepo(t.cloud.database.db).list();
  const row = rows.find((r) => r.id.replace(/-/g, '').startsWith(hex));
  assert.ok(row);
  return row.id;
}

/** Reads the NBD handshake of an export: the server greets with NBDMAGIC. */
function nbdGreets(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port }, () => undefined);
    s.once('data', (b) => {
      resolve(b.subarray(0, 8).toString('latin1') === 'NBDMAGIC');
      s.destroy();
    });
    s.once('error', () => resolve(false));
  });
}

describe('EC2 volume attachments (fake driver)', needs('qemu-img', 'qemu-storage-daemon'), () => {
  let t: TestCloud;
  let zone: string;
  let imageId: string;
  const failing = new Set<string>();
  const driver = new FakeDriver({ failVolumeIds: failing });

  before(async () => {
    t = await startTestCloud({}, { services: ALL, driver });
    zone = t.cloud.config.compute.availabilityZone;
    const image = await t.addImage({ name: 'attach-image' });
    imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
  });
  after(() => stopWithStorageDaemon(t.cloud.config.stateDir, () => t.stop()));

  const run = async (client: EC2Client) => {
    const r = await client.send(
      new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 }),
    );
    const id = r.Instances?.[0]?.InstanceId as string;
    await waitUntil(async () => {
      const d = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
      return d.Reservations?.[0]?.Instances?.[0]?.State?.Name === 'running';
    }, 30_000);
    return id;
  };
  const volume = async (client: EC2Client, more: Record<string, unknown> = {}) => {
    const r = await client.send(
      new CreateVolumeCommand({ Size: 1, AvailabilityZone: zone, ...more }),
    );
    await waitVolume(client, r.VolumeId as string, 'available');
    return r.VolumeId as string;
  };

  it('attaches a volume to a running instance over NBD and detaches it again', async () => {
    const p = await t.newProject();
    const instanceId = await run(p.client);
    const volumeId = await volume(p.client);
    const a = await p.client.send(
      new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sdf' }),
    );
    assert.equal(a.State, 'attaching');
    assert.equal(a.Device, '/dev/sdf');
    assert.equal(a.InstanceId, instanceId);
    assert.equal(a.VolumeId, volumeId);
    assert.equal(a.DeleteOnTermination, false);
    assert.ok(a.AttachTime instanceof Date);
    const v = await waitVolume(p.client, volumeId, 'in-use');
    assert.deepEqual(
      v.Attachments?.map((x) => [x.InstanceId, x.Device, x.State, x.DeleteOnTermination]),
      [[instanceId, '/dev/sdf', 'attached', false]],
    );
    // The filters of attachments.
    const byInstance = await p.client.send(
      new DescribeVolumesCommand({
        Filters: [
          { Name: 'attachment.instance-id', Values: [instanceId] },
          { Name: 'attachment.status', Values: ['attached'] },
          { Name: 'attachment.device', Values: ['/dev/sdf'] },
        ],
      }),
    );
    assert.deepEqual(
      byInstance.Volumes?.map((x) => x.VolumeId),
      [volumeId],
    );
    // The driver has it, reached over NBD at the volume host's daemon, which answers.
    const uuid = await uuidOf(t, volumeId);
    const instanceUuid = (await t.cloud.database.db.selectFrom('instances').select('id').execute())
      .map((r) => r.id)
      .find((id) => id.replace(/-/g, '').startsWith(instanceId.slice(2)));
    const attached = await driver.listVolumes(instanceUuid as string);
    assert.equal(attached.length, 1);
    assert.equal(attached[0]?.volumeId, uuid);
    assert.equal(attached[0]?.connection.exportName, uuid);
    assert.equal(attached[0]?.connection.host, '127.0.0.1');
    assert.ok(await nbdGreets('127.0.0.1', attached[0]?.connection.port as number));
    // An attached volume cannot be deleted.
    await expectError(
      () => p.client.send(new DeleteVolumeCommand({ VolumeId: volumeId })),
      'VolumeInUse',
    );

    const d = await p.client.send(
      new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId }),
    );
    assert.equal(d.State, 'detaching');
    const after = await waitVolume(p.client, volumeId, 'available');
    assert.deepEqual(after.Attachments, []);
    assert.deepEqual(await driver.listVolumes(instanceUuid as string), []);
  });

  it('refuses what EC2 refuses, changing nothing', async () => {
    const p = await t.newProject();
    const other = await t.newProject();
    const instanceId = await run(p.client);
    const second = await run(p.client);
    const volumeId = await volume(p.client);
    const otherZone = await volume(p.client, {});
    const attach = (VolumeId: string, InstanceId: string, Device: string, c = p.client) =>
      c.send(new AttachVolumeCommand({ VolumeId, InstanceId, Device }));
    // Another project's volume is not there for the caller.
    const foreign = await volume(other.client);
    await expectError(() => attach(foreign, instanceId, '/dev/sdf'), 'InvalidVolume.NotFound');
    await expectError(
      () => attach(volumeId, 'i-0123456789abcdef0', '/dev/sdf'),
      'InvalidInstanceID.NotFound',
    );
    await expectError(() => attach(volumeId, instanceId, 'floppy'), 'InvalidParameterValue');
    await expectError(() => attach(volumeId, instanceId, '/dev/sda'), 'InvalidParameterValue');
    // Another zone than the instance's.
    await t.cloud.database.db
      .updateTable('volumes')
      .set({ availabilityZone: 'elsewhere-1a' })
      .where('id', '=', await uuidOf(t, otherZone))
      .execute();
    await expectError(
      () => attach(otherZone, instanceId, '/dev/sdg'),
      'InvalidVolume.ZoneMismatch',
    );
    // Detaching a volume that is not attached.
    await expectError(
      () => p.client.send(new DetachVolumeCommand({ VolumeId: volumeId })),
      'InvalidAttachment.NotFound',
    );
    assert.equal((await describe1(p.client, volumeId))?.State, 'available');

    await attach(volumeId, instanceId, '/dev/sdf');
    await waitVolume(p.client, volumeId, 'in-use');
    // In use: by another instance too.
    await expectError(() => attach(volumeId, second, '/dev/sdf'), 'VolumeInUse');
    // The device name is taken on the instance.
    const third = await volume(p.client);
    await expectError(() => attach(third, instanceId, '/dev/sdf'), 'InvalidParameterValue');
    assert.equal((await describe1(p.client, third))?.State, 'available');
    // Detaching from an instance that does not hold it.
    await expectError(
      () => p.client.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: second })),
      'InvalidAttachment.NotFound',
    );
    // A stopped instance takes volumes too; a terminated one does not.
    await p.client.send(new StopInstancesCommand({ InstanceIds: [second] }));
    await waitUntil(async () => {
      const r = await p.client.send(new DescribeInstancesCommand({ InstanceIds: [second] }));
      return r.Reservations?.[0]?.Instances?.[0]?.State?.Name === 'stopped';
    }, 30_000);
    await attach(third, second, '/dev/sdh');
    await waitVolume(p.client, third, 'in-use');
    // Terminating frees the instance's volumes.
    await p.client.send(new TerminateInstancesCommand({ InstanceIds: [second] }));
    const freed = await waitVolume(p.client, third, 'available');
    assert.deepEqual(freed.Attachments, []);
    await expectError(() => attach(third, second, '/dev/sdh'), 'IncorrectInstanceState');
    // The same rules through the AWS CLI.
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'attach-cli-'));
    try {
      const cli = awsEc2({
        endpoint: t.endpoint,
        region: t.region,
        credentials: p.credentials,
        home,
      });
      const r = await cli.run(
        'attach-volume',
        '--volume-id',
        volumeId,
        '--instance-id',
        instanceId,
        '--device',
        '/dev/sdg',
      );
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /VolumeInUse/);
      const d = await cli.json('detach-volume', '--volume-id', volumeId, '--force');
      assert.equal(d.State, 'detaching');
      assert.equal(d.Device, '/dev/sdf');
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
    await waitVolume(p.client, volumeId, 'available');
  });

  it('grows an attached volume, and a failed attach ends available, never attaching', async () => {
    const p = await t.newProject();
    const instanceId = await run(p.client);
    const volumeId = await volume(p.client);
    await p.client.send(
      new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/vdc' }),
    );
    await waitVolume(p.client, volumeId, 'in-use');
    await p.client.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 2 }));
    const grown = await waitUntil(async () => {
      const v = await describe1(p.client, volumeId);
      const row = await new VolumeRepo(t.cloud.database.db).get(await uuidOf(t, volumeId));
      return row?.status === 'in-use' && v?.Size === 2 ? row : undefined;
    }, 60_000);
    assert.equal(grown.statusReason, null);
    assert.equal(grown.sizeGb, 2);

    const broken = await volume(p.client);
    failing.add(await uuidOf(t, broken));
    await p.client.send(
      new AttachVolumeCommand({ VolumeId: broken, InstanceId: instanceId, Device: '/dev/vdd' }),
    );
    const v = await waitVolume(p.client, broken, 'available');
    assert.deepEqual(v.Attachments, []);
  });

  it(
    'attaches and detaches through openstackclient: server add volume, volume show, server remove volume',
    needs('openstackclient'),
    async () => {
      await new IdentityService(t.cloud.database.db).setPassword('admin', PASSWORD);
      const env = adminEnv(t);
      const os = async (...args: string[]) => {
        const r = await openstack(env, args);
        assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.err}`);
        // Commands without -f json may print a table: only JSON answers are read.
        return r.out.trim().startsWith('{')
          ? (JSON.parse(r.out) as Record<string, unknown>)
          : undefined;
      };
      const instanceId = await run(t.admin);
      const hex = instanceId.slice(2);
      const server = (await t.cloud.database.db.selectFrom('instances').select('id').execute())
        .map((r) => r.id)
        .find((id) => id.replace(/-/g, '').startsWith(hex)) as string;
      const made = (await os('volume', 'create', '--size', '1', 'osc-attach', '-f', 'json')) as {
        id: string;
      };
      await waitUntil(async () => {
        const v = await os('volume', 'show', made.id, '-f', 'json');
        return v?.status === 'available';
      }, 60_000);
      await os('server', 'add', 'volume', server, made.id, '--device', '/dev/vdb');
      const shown = await waitUntil(async () => {
        const v = await os('volume', 'show', made.id, '-f', 'json');
        return v?.status === 'in-use' ? v : undefined;
      }, 60_000);
      const attachments = shown.attachments as { server_id: string; device: string }[];
      assert.deepEqual(
        attachments.map((a) => [a.server_id, a.device]),
        [[server, '/dev/vdb']],
      );
      // The Compute API's view of the same attachment, at 2.89.
      const listed = await openstack(env, [
        '--os-compute-api-version',
        '2.89',
        'server',
        'volume',
        'list',
        server,
        '-f',
        'json',
      ]);
      assert.equal(listed.code, 0, listed.err);
      const rows = JSON.parse(listed.out) as Record<string, unknown>[];
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.['Volume ID'], made.id);
      assert.equal(rows[0]?.Device, '/dev/vdb');
      // Attaching it again is refused.
      const again = await openstack(env, ['server', 'add', 'volume', server, made.id]);
      assert.notEqual(again.code, 0);
      await os('server', 'remove', 'volume', server, made.id);
      await waitUntil(async () => {
        const v = await os('volume', 'show', made.id, '-f', 'json');
        return v?.status === 'available' && (v.attachments as unknown[]).length === 0;
      }, 60_000);
      await os('volume', 'delete', made.id);
    },
  );
});
