// Volumes from RunInstances' block device mappings, through the real AWS SDK and the AWS CLI
// on the fake driver with the volume service's real storage daemon: a launch makes each
// mapping's volume (empty or from a snapshot) and the instance's host plugs it over NBD before
// the instance runs; DescribeInstances and DescribeInstanceAttribute show them; termination
// deletes those marked DeleteOnTermination and frees the others; bad mappings answer EC2's
// errors and make nothing; a launch that fails takes its volumes with it.
import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type Instance,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import fs from 'node:fs';
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

describe(
  'RunInstances block device mappings (fake driver)',
  needs('qemu-img', 'qemu-storage-daemon'),
  () => {
    let t: TestCloud;
    let zone: string;
    let imageId: string;
    const failing = new Set<string>();
    const driver = new FakeDriver({ failVolumeIds: failing });

    before(async () => {
      t = await startTestCloud({}, { services: ALL, driver });
      zone = t.cloud.config.compute.availabilityZone;
      const image = await t.addImage({ name: 'bdm-image' });
      imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
    });
    after(() => stopWithStorageDaemon(t.cloud.config.stateDir, () => t.stop()));

    const instance = async (client: EC2Client, id: string): Promise<Instance | undefined> => {
      const d = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
      return d.Reservations?.[0]?.Instances?.[0];
    };
    const running = (client: EC2Client, id: string) =>
      waitUntil(
        async () => {
          const i = await instance(client, id);
          return i?.State?.Name === 'running' ? i : undefined;
        },
        60_000,
        `${id} to run`,
      );
    const volumeRows = () => new VolumeRepo(t.cloud.database.db).list();

    const snapshotOf = async (client: EC2Client, sizeGb: number) => {
      const v = await client.send(
        new CreateVolumeCommand({ Size: sizeGb, AvailabilityZone: zone }),
      );
      await waitUntil(async () => {
        const d = await client.send(
          new DescribeVolumesCommand({ VolumeIds: [v.VolumeId as string] }),
        );
        return d.Volumes?.[0]?.State === 'available';
      }, 60_000);
      const s = await client.send(new CreateSnapshotCommand({ VolumeId: v.VolumeId }));
      await waitUntil(async () => {
        const d = await client.send(
          new DescribeSnapshotsCommand({ SnapshotIds: [s.SnapshotId as string] }),
        );
        return d.Snapshots?.[0]?.State === 'completed';
      }, 60_000);
      return s.SnapshotId as string;
    };

    it('makes the mapped volumes, plugs them before the instance runs, shows them, and deletes those marked DeleteOnTermination', async () => {
      const p = await t.newProject();
      const snapshotId = await snapshotOf(p.client, 1);
      const r = await p.client.send(
        new RunInstancesCommand({
          ImageId: imageId,
          MinCount: 1,
          MaxCount: 1,
          BlockDeviceMappings: [
            { DeviceName: '/dev/sdf', Ebs: { VolumeSize: 2, VolumeType: 'gp3' } },
            {
              DeviceName: '/dev/sdg',
              Ebs: { SnapshotId: snapshotId, VolumeSize: 3, DeleteOnTermination: false },
            },
          ],
        }),
      );
      const id = r.Instances?.[0]?.InstanceId as string;
      const inst = await running(p.client, id);
      // Running means plugged: the host attached both before it recorded the instance running.
      const uuid = (await volumeRows()).find((v) => v.device === '/dev/sdf')?.instanceId as string;
      const plugged = await driver.listVolumes(uuid);
      assert.deepEqual(plugged.map((v) => v.device).sort(), ['/dev/sdf', '/dev/sdg']);
      assert.ok(plugged.every((v) => v.connection.kind === 'nbd'));

      assert.equal(inst.RootDeviceType, 'instance-store');
      const bdm = [...(inst.BlockDeviceMappings ?? [])].sort((a, b) =>
        (a.DeviceName ?? '').localeCompare(b.DeviceName ?? ''),
      );
      assert.deepEqual(
        bdm.map((m) => [m.DeviceName, m.Ebs?.Status, m.Ebs?.DeleteOnTermination]),
        [
          ['/dev/sdf', 'attached', true],
          ['/dev/sdg', 'attached', false],
        ],
      );
      assert.ok(bdm.every((m) => m.Ebs?.VolumeId?.startsWith('vol-') && m.Ebs.AttachTime));
      const a = await p.client.send(
        new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: 'blockDeviceMapping' }),
      );
      assert.equal(a.BlockDeviceMappings?.length, 2);

      const vols = await p.client.send(
        new DescribeVolumesCommand({ VolumeIds: bdm.map((m) => m.Ebs?.VolumeId as string) }),
      );
      const byId = new Map((vols.Volumes ?? []).map((v) => [v.VolumeId, v]));
      const kept = bdm[1]?.Ebs?.VolumeId as string;
      const gone = bdm[0]?.Ebs?.VolumeId as string;
      assert.equal(byId.get(gone)?.Size, 2);
      assert.equal(byId.get(gone)?.VolumeType, 'gp3');
      assert.equal(byId.get(kept)?.Size, 3);
      assert.equal(byId.get(kept)?.SnapshotId, snapshotId);
      assert.equal(byId.get(kept)?.State, 'in-use');

      await p.client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
      await waitUntil(
        async () => {
          const d = await p.client.send(new DescribeVolumesCommand({}));
          const ids = (d.Volumes ?? []).map((v) => [v.VolumeId, v.State]);
          const k = ids.find(([v]) => v === kept);
          return !ids.some(([v]) => v === gone) && k?.[1] === 'available' ? true : undefined;
        },
        60_000,
        'the DeleteOnTermination volume to go and the other to be free',
      );
    });

    it('refuses bad mappings with EC2 errors and makes nothing', async () => {
      const p = await t.newProject();
      const snapshotId = await snapshotOf(p.client, 2);
      const before = (await volumeRows()).length;
      const send = (BlockDeviceMappings: unknown) => () =>
        p.client.send(
          new RunInstancesCommand({
            ImageId: imageId,
            MinCount: 1,
            MaxCount: 1,
            BlockDeviceMappings: BlockDeviceMappings as never,
          }),
        );
      await expectError(
        send([{ DeviceName: '/dev/sdf', Ebs: { SnapshotId: 'snap-0123456789abcdef0' } }]),
        'InvalidSnapshot.NotFound',
      );
      await expectError(
        send([{ DeviceName: '/dev/sdf', Ebs: { SnapshotId: snapshotId, VolumeSize: 1 } }]),
        'InvalidParameterValue',
      );
      await expectError(
        send([
          { DeviceName: '/dev/sdf', Ebs: { VolumeSize: 1 } },
          { DeviceName: 'sdf', Ebs: { VolumeSize: 1 } },
        ]),
        'InvalidParameterValue',
      );
      await expectError(send([{ DeviceName: '/dev/sdf', Ebs: {} }]), 'MissingParameter');
      await expectError(
        send([{ DeviceName: '/dev/sda1', Ebs: { VolumeSize: 8 } }]),
        'UnsupportedOperation',
      );
      await expectError(
        send([{ DeviceName: '/dev/sdf', Ebs: { VolumeSize: 1, Iops: 3000 } }]),
        'UnsupportedOperation',
      );
      assert.equal((await volumeRows()).length, before, 'no volume made');
      const d = await p.client.send(new DescribeInstancesCommand({}));
      assert.equal(d.Reservations?.length ?? 0, 0, 'no instance made');
    });

    it('takes the volumes of a launch whose attach fails with the failed instance', async () => {
      const p = await t.newProject();
      // The fake driver refuses to plug one volume: its uuid is known once the launch made it.
      const launched = p.client.send(
        new RunInstancesCommand({
          ImageId: imageId,
          MinCount: 1,
          MaxCount: 1,
          BlockDeviceMappings: [
            { DeviceName: '/dev/sdh', Ebs: { VolumeSize: 1, DeleteOnTermination: false } },
          ],
        }),
      );
      const doomed = await waitUntil(async () => {
        const row = (await volumeRows()).find(
          (v) => v.device === '/dev/sdh' && v.projectId === p.projectId,
        );
        if (row) failing.add(row.id);
        return row;
      }, 30_000);
      const id = (await launched).Instances?.[0]?.InstanceId as string;
      const ended = await waitUntil(
        async () => {
          const i = await instance(p.client, id);
          return i?.State?.Name === 'terminated' ? i : undefined;
        },
        60_000,
        `${id} to fail`,
      );
      assert.ok(ended.StateReason?.Message);
      await waitUntil(
        async () => ((await new VolumeRepo(t.cloud.database.db).get(doomed.id)) ? undefined : true),
        60_000,
        'the launch volume to be deleted',
      );
    });

    it('takes mappings from the AWS CLI', async () => {
      const p = await t.newProject();
      const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bdm-cli-'));
      try {
        const cli = awsEc2({
          endpoint: t.endpoint,
          region: t.region,
          credentials: p.credentials,
          home,
        });
        const r = await cli.json(
          'run-instances',
          '--image-id',
          imageId,
          '--count',
          '1',
          '--block-device-mappings',
          '[{"DeviceName":"/dev/xvdf","Ebs":{"VolumeSize":1}}]',
        );
        const id = (r.Instances as { InstanceId: string }[])[0]?.InstanceId as string;
        const inst = await running(p.client, id);
        assert.equal(inst.BlockDeviceMappings?.[0]?.DeviceName, '/dev/xvdf');
        assert.equal(inst.BlockDeviceMappings?.[0]?.Ebs?.Status, 'attached');
      } finally {
        fs.rmSync(home, { recursive: true, force: true });
      }
    });

    it(
      'makes volumes from block_device_mapping_v2 through openstackclient: server create --block-device, and shows them as volumes_attached',
      needs('openstackclient'),
      async () => {
        await new IdentityService(t.cloud.database.db).setPassword('admin', PASSWORD);
        const env = adminEnv(t);
        const os = async (...args: string[]) => {
          const r = await openstack(env, args);
          assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.err}`);
          return r.out;
        };
        const image = await t.addImage({ name: 'bdm-osc-image' });
        const created = JSON.parse(
          await os(
            '--os-compute-api-version',
            '2.79',
            'server',
            'create',
            '--image',
            image.id,
            '--flavor',
            'm1.nano',
            '--block-device',
            'source_type=blank,destination_type=volume,volume_size=1,delete_on_termination=true',
            '--block-device',
            'source_type=blank,destination_type=volume,volume_size=2,device_name=vdd',
            '--wait',
            '-f',
            'json',
            'bdm-osc',
          ),
        ) as Record<string, unknown>;
        assert.equal(created.status, 'ACTIVE');
        const id = created.id as string;
        const rows = (await volumeRows()).filter((v) => v.instanceId === id);
        assert.deepEqual(
          rows.map((v) => [v.device, v.sizeGb, v.status, v.deleteOnTermination]).sort(),
          [
            ['/dev/vdb', 1, 'in-use', 1],
            ['/dev/vdd', 2, 'in-use', 0],
          ],
        );
        const shown = JSON.parse(
          await os('--os-compute-api-version', '2.79', 'server', 'show', id, '-f', 'json'),
        ) as Record<string, unknown>;
        const attached = shown.volumes_attached ?? shown['os-extended-volumes:volumes_attached'];
        assert.ok(JSON.stringify(attached).includes(rows[0]?.id as string), JSON.stringify(shown));

        // A blank boot volume is refused whole: no server, no volume.
        const before = (await volumeRows()).length;
        const refused = await openstack(env, [
          '--os-compute-api-version',
          '2.79',
          'server',
          'create',
          '--image',
          image.id,
          '--flavor',
          'm1.nano',
          '--block-device',
          'source_type=blank,destination_type=volume,volume_size=1,boot_index=0',
          'bdm-bfv',
        ]);
        assert.notEqual(refused.code, 0);
        assert.match(refused.err, /Blank volumes cannot be the boot device/);
        assert.equal((await volumeRows()).length, before);

        await os('server', 'delete', '--wait', id);
        const kept = rows.find((v) => v.device === '/dev/vdd')?.id as string;
        const gone = rows.find((v) => v.device === '/dev/vdb')?.id as string;
        await waitUntil(
          async () => {
            const repo = new VolumeRepo(t.cloud.database.db);
            const [k, g] = await Promise.all([repo.get(kept), repo.get(gone)]);
            return k?.status === 'available' && g === undefined ? true : undefined;
          },
          60_000,
          'the delete_on_termination volume to go and the other to be free',
        );
      },
    );
  },
);
