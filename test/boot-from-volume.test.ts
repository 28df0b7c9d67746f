// Booting from a volume and volume-backed (EBS-style) images, through the Compute API's
// block_device_mapping_v2 (raw HTTP and openstackclient) and EC2 (the AWS SDK and the AWS CLI),
// on the fake driver with the volume service's real storage daemon: a root volume made from an
// image is the VM's first disk over NBD; it cannot be detached; with delete_on_termination
// false it outlives the server and boots another; RegisterImage makes an image of a snapshot
// whose launches get a root volume made from it (DeleteOnTermination true by default); bad
// combinations are a 400 and make nothing.
import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DetachVolumeCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type Instance,
} from '@aws-sdk/client-ec2';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { VolumeRepo, type VolumeRow } from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { ImageStore } from '../src/image/index.js';
import { FakeDriver } from '../src/virt/index.js';
import { awsEc2 } from './support/awscli.js';
import { needs } from './support/capabilities.js';
import { assertFault, computeCaller } from './support/compute-http.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { expectError } from './support/expect.js';
import { adminEnv, login, openstack, PASSWORD } from './support/openstack.js';
import { stopWithStorageDaemon } from './support/volumes.js';

const ALL = ['network', 'scheduler', 'compute', 'volume', 'api'] as const;
const GIB = 1024 ** 3;

describe(
  'Boot from volume and volume-backed images (fake driver)',
  needs('qemu-img', 'qemu-storage-daemon'),
  () => {
    let t: TestCloud;
    let token: string;
    let call: ReturnType<typeof computeCaller>;
    let imageId: string;
    let bigImageId: string;
    let dir: string;
    const driver = new FakeDriver();

    before(async () => {
      t = await startTestCloud({}, { services: ALL, driver });
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-bfv-'));
      const store = new ImageStore({ db: t.cloud.database.db, stateDir: t.cloud.config.stateDir });
      const file = path.join(dir, 'root.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '64M']);
      imageId = (await store.import({ name: 'bfv-root', file, isPublic: true })).id;
      const big = path.join(dir, 'big.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', big, String(GIB + 4096)]);
      bigImageId = (await store.import({ name: 'bfv-big', file: big, isPublic: true })).id;
      await new IdentityService(t.cloud.database.db).setPassword('admin', PASSWORD);
      token = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
      call = computeCaller(t.cloud.urls?.compute as string);
    });
    after(async () => {
      fs.rmSync(dir, { recursive: true, force: true });
      await stopWithStorageDaemon(t.cloud.config.stateDir, () => t.stop());
    });

    const volumes = () => new VolumeRepo(t.cloud.database.db).list();
    const volume = async (id: string) =>
      (await new VolumeRepo(t.cloud.database.db).get(id)) as VolumeRow;
    const createServer = (name: string, bdm: unknown[], imageRef = '') =>
      call(token, 'POST', '/servers', {
        version: '2.67',
        body: {
          server: {
            name,
            imageRef,
            flavorRef: 'm1.nano',
            networks: 'auto',
            block_device_mapping_v2: bdm,
          },
        },
      });
    const active = (id: string) =>
      waitUntil(
        async () => {
          const r = await call(token, 'GET', `/servers/${id}`);
          const s = (r.body.server ?? {}) as Record<string, unknown>;
          if (s.status === 'ERROR') throw new Error(`server ${id} failed: ${JSON.stringify(s)}`);
          return s.status === 'ACTIVE' ? s : undefined;
        },
        60_000,
        `${id} to be ACTIVE`,
      );
    const gone = (id: string) =>
      waitUntil(
        async () => (await call(token, 'GET', `/servers/${id}`)).status === 404,
        60_000,
        `${id} to be deleted`,
      );
    const ec2Instance = async (client: EC2Client, id: string): Promise<Instance | undefined> => {
      const d = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
      return d.Reservations?.[0]?.Instances?.[0];
    };
    const ec2Id = (prefix: string, uuid: string) =>
      `${prefix}-${uuid.replace(/-/g, '').slice(0, 17)}`;

    let keptVolume: string;

    it('boots a server from a volume made from an image, as its first disk over NBD, and refuses to detach it', async () => {
      const r = await createServer('bfv-image', [
        {
          boot_index: 0,
          source_type: 'image',
          destination_type: 'volume',
          uuid: imageId,
          volume_size: 1,
          delete_on_termination: false,
        },
      ]);
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const id = (r.body.server as { id: string }).id;
      const s = await active(id);
      const root = (await volumes()).find((v) => v.instanceId === id) as VolumeRow;
      assert.equal(root.device, '/dev/vda');
      assert.equal(root.status, 'in-use');
      assert.equal(root.imageId, imageId);
      assert.equal(root.sizeGb, 1);
      assert.deepEqual(
        (s['os-extended-volumes:volumes_attached'] as { id: string }[]).map((v) => v.id),
        [root.id],
      );
      const plugged = await driver.listVolumes(id);
      assert.equal(plugged[0]?.volumeId, root.id);
      assert.equal(plugged[0]?.connection.kind, 'nbd');

      // EC2 shows it as an EBS root.
      const inst = await ec2Instance(t.admin, ec2Id('i', id));
      assert.equal(inst?.RootDeviceType, 'ebs');
      assert.equal(inst?.RootDeviceName, '/dev/vda');
      assert.equal(inst?.BlockDeviceMappings?.[0]?.Ebs?.VolumeId, ec2Id('vol', root.id));
      assert.equal(inst?.BlockDeviceMappings?.[0]?.Ebs?.DeleteOnTermination, false);

      // The root cannot be detached through any API.
      const del = await call(token, 'DELETE', `/servers/${id}/os-volume_attachments/${root.id}`);
      assertFault(del, 400, 'badRequest', /root device/);
      await expectError(
        () =>
          t.admin.send(new DetachVolumeCommand({ VolumeId: ec2Id('vol', root.id), Force: true })),
        'OperationNotPermitted',
      );
      assert.equal((await volume(root.id)).status, 'in-use');

      // Its disk is the volume: rebuilding it is not offered.
      const rebuild = await call(token, 'POST', `/servers/${id}/action`, {
        body: { rebuild: { imageRef: imageId } },
      });
      assertFault(rebuild, 409, 'conflictingRequest', /boots from a volume/);

      // Stop and start keep it.
      await call(token, 'POST', `/servers/${id}/action`, { body: { 'os-stop': null } });
      await waitUntil(async () => {
        const g = await call(token, 'GET', `/servers/${id}`);
        return (g.body.server as { status: string }).status === 'SHUTOFF';
      }, 30_000);
      await call(token, 'POST', `/servers/${id}/action`, { body: { 'os-start': null } });
      await active(id);
      assert.equal((await volume(root.id)).status, 'in-use');

      // delete_on_termination false: the volume outlives the server.
      assert.equal((await call(token, 'DELETE', `/servers/${id}`)).status, 204);
      await gone(id);
      await waitUntil(async () => (await volume(root.id)).status === 'available', 30_000);
      const after = await volume(root.id);
      assert.equal(after.instanceId, null);
      assert.equal(after.imageId, imageId);
      // The Block Storage API shows it bootable, with its image.
      const shown = await fetch(`${t.cloud.urls?.volume as string}/volumes/${root.id}`, {
        headers: { 'x-auth-token': token },
      });
      const body = (await shown.json()) as { volume: Record<string, unknown> };
      assert.equal(body.volume.bootable, 'true');
      assert.deepEqual(body.volume.volume_image_metadata, { image_id: imageId });
      keptVolume = root.id;
    });

    it(
      'boots a new server from the available volume through openstackclient (source_type=volume)',
      needs('openstackclient'),
      async () => {
        const env = adminEnv(t);
        const r = await openstack(env, [
          '--os-compute-api-version',
          '2.67',
          'server',
          'create',
          '--flavor',
          'm1.nano',
          '--volume',
          keptVolume,
          '--wait',
          '-f',
          'json',
          'bfv-volume',
        ]);
        assert.equal(r.code, 0, r.err);
        const created = JSON.parse(r.out) as Record<string, unknown>;
        assert.equal(created.status, 'ACTIVE');
        const id = created.id as string;
        const v = await volume(keptVolume);
        assert.equal(v.instanceId, id);
        assert.equal(v.device, '/dev/vda');
        assert.equal(v.status, 'in-use');
        // In use now: another server cannot boot from it.
        const again = await createServer('bfv-in-use', [
          { boot_index: 0, source_type: 'volume', destination_type: 'volume', uuid: keptVolume },
        ]);
        assertFault(again, 400, 'badRequest', /in use/);
        assert.equal((await call(token, 'DELETE', `/servers/${id}`)).status, 204);
        await gone(id);
        await waitUntil(async () => (await volume(keptVolume)).status === 'available', 30_000);
      },
    );

    it('refuses bad boot devices with a 400 and makes nothing', async () => {
      const before = (await volumes()).length;
      const cases: [unknown[], RegExp][] = [
        [
          [
            {
              boot_index: 0,
              source_type: 'image',
              destination_type: 'volume',
              uuid: imageId,
              volume_size: 1,
            },
            { boot_index: 0, source_type: 'volume', destination_type: 'volume', uuid: keptVolume },
          ],
          /more than one/,
        ],
        [
          [{ boot_index: 0, source_type: 'blank', destination_type: 'volume', volume_size: 1 }],
          /Blank/,
        ],
        [
          [{ boot_index: 0, source_type: 'image', destination_type: 'volume', uuid: imageId }],
          /size/,
        ],
        [
          [
            {
              boot_index: 0,
              source_type: 'image',
              destination_type: 'volume',
              uuid: bigImageId,
              volume_size: 1,
            },
          ],
          /smaller than the minimum size/,
        ],
        [
          [
            {
              boot_index: 0,
              source_type: 'volume',
              destination_type: 'volume',
              uuid: '00000000-0000-0000-0000-000000000000',
            },
          ],
          /does not exist/,
        ],
        [
          [{ boot_index: 1, source_type: 'volume', destination_type: 'volume', uuid: keptVolume }],
          /boot device/,
        ],
      ];
      for (const [bdm, message] of cases) {
        const r = await createServer('bfv-bad', bdm, imageId);
        assertFault(r, 400, 'badRequest', message);
      }
      // A data volume without its image is not bootable.
      const blank = await t.admin.send(
        new CreateVolumeCommand({
          Size: 1,
          AvailabilityZone: t.cloud.config.compute.availabilityZone,
        }),
      );
      const blankId = blank.VolumeId as string;
      await waitUntil(
        async () =>
          (await volumes()).some((v) => ec2Id('vol', v.id) === blankId && v.status === 'available'),
        30_000,
      );
      const uuid = (await volumes()).find((v) => ec2Id('vol', v.id) === blankId)?.id as string;
      const r = await createServer('bfv-blank', [
        { boot_index: 0, source_type: 'volume', destination_type: 'volume', uuid },
      ]);
      assertFault(r, 400, 'badRequest', /not bootable/);
      assert.equal((await volumes()).length, before + 1);
      const servers = await call(token, 'GET', '/servers');
      assert.ok(
        !(servers.body.servers as { name: string }[]).some((s) => s.name.startsWith('bfv-bad')),
      );
    });

    it('registers an EBS image from a snapshot (AWS CLI); launching it boots from a new root volume made from the snapshot, deleted at terminate', async () => {
      const p = t.admin;
      const snap = await p.send(
        new CreateSnapshotCommand({ VolumeId: ec2Id('vol', keptVolume), Description: 'root' }),
      );
      const snapshotId = snap.SnapshotId as string;
      await waitUntil(async () => {
        const d = await p.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
        return d.Snapshots?.[0]?.State === 'completed';
      }, 60_000);
      const home = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-bfv-cli-'));
      try {
        const cli = awsEc2({
          endpoint: t.endpoint,
          region: t.region,
          credentials: t.adminCredentials,
          home,
        });
        const reg = await cli.json(
          'register-image',
          '--name',
          'bfv-ebs',
          '--root-device-name',
          '/dev/sda1',
          '--block-device-mappings',
          JSON.stringify([
            { DeviceName: '/dev/sda1', Ebs: { SnapshotId: snapshotId, VolumeSize: 2 } },
          ]),
        );
        const ami = reg.ImageId as string;
        const d = await p.send(new DescribeImagesCommand({ ImageIds: [ami] }));
        const image = d.Images?.[0];
        assert.equal(image?.State, 'available');
        assert.equal(image?.RootDeviceType, 'ebs');
        assert.equal(image?.RootDeviceName, '/dev/sda1');
        assert.deepEqual(
          image?.BlockDeviceMappings?.map((m) => [
            m.DeviceName,
            m.Ebs?.SnapshotId,
            m.Ebs?.VolumeSize,
            m.Ebs?.DeleteOnTermination,
          ]),
          [['/dev/sda1', snapshotId, 2, true]],
        );
        // The kernel of the image the snapshot's volume was made from (none here) and no data.
        const filtered = await p.send(
          new DescribeImagesCommand({ Filters: [{ Name: 'root-device-type', Values: ['ebs'] }] }),
        );
        assert.deepEqual(
          filtered.Images?.map((i) => i.ImageId),
          [ami],
        );

        // Too small a root volume for the snapshot.
        const small = await cli.run(
          'register-image',
          '--name',
          'bfv-small',
          '--block-device-mappings',
          JSON.stringify([
            { DeviceName: '/dev/sda1', Ebs: { SnapshotId: snapshotId, VolumeSize: 0 } },
          ]),
        );
        assert.notEqual(small.code, 0);

        const run = await cli.json(
          'run-instances',
          '--image-id',
          ami,
          '--instance-type',
          'm1.nano',
          '--count',
          '1',
          '--block-device-mappings',
          JSON.stringify([{ DeviceName: '/dev/sda1', Ebs: { VolumeSize: 3 } }]),
        );
        const id = (run.Instances as { InstanceId: string }[])[0]?.InstanceId as string;
        const inst = await waitUntil(
          async () => {
            const i = await ec2Instance(p, id);
            return i?.State?.Name === 'running' ? i : undefined;
          },
          60_000,
          `${id} to run`,
        );
        assert.equal(inst.RootDeviceType, 'ebs');
        assert.equal(inst.RootDeviceName, '/dev/sda1');
        const m = inst.BlockDeviceMappings?.[0];
        assert.equal(m?.DeviceName, '/dev/sda1');
        assert.equal(m?.Ebs?.DeleteOnTermination, true);
        assert.equal(m?.Ebs?.Status, 'attached');
        const rootId = (await volumes()).find(
          (v) => ec2Id('vol', v.id) === m?.Ebs?.VolumeId,
        ) as VolumeRow;
        assert.equal(rootId.sizeGb, 3);
        assert.equal(ec2Id('snap', rootId.snapshotId as string), snapshotId);
        const fromEc2 = await cli.json(
          'describe-volumes',
          '--volume-ids',
          m?.Ebs?.VolumeId as string,
        );
        assert.equal((fromEc2.Volumes as { SnapshotId: string }[])[0]?.SnapshotId, snapshotId);

        const attr = await cli.json(
          'describe-instance-attribute',
          '--instance-id',
          id,
          '--attribute',
          'rootDeviceName',
        );
        assert.deepEqual(attr.RootDeviceName, { Value: '/dev/sda1' });

        await p.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
        await waitUntil(async () => !(await volumes()).some((v) => v.id === rootId.id), 60_000);

        // Deregistering leaves the snapshot.
        await p.send(new DeregisterImageCommand({ ImageId: ami }));
        const s = await p.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
        assert.equal(s.Snapshots?.[0]?.State, 'completed');
      } finally {
        fs.rmSync(home, { recursive: true, force: true });
      }
    });
  },
);
