// Images from instances on the fake driver: EC2 CreateImage through the AWS SDK and the AWS
// CLI, the Compute API's createImage (raw HTTP at 2.1 and 2.45, and openstackclient's
// `server image create --wait`), the Block Storage API's os-volume_upload_image, and the bad
// input of each, which leaves nothing behind. The fake driver's copy of a disk is an empty
// qcow2; the real copy of a real guest's disk is test/images-from-instances-qemu.test.ts.
import {
  CreateImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type EC2Client,
  type Image,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImageRepo, InstanceRepo } from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { FakeDriver } from '../src/virt/index.js';
import { awsEc2 } from './support/awscli.js';
import { needs } from './support/capabilities.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { insertImage } from './support/images.js';
import { adminEnv, login, openstack, PASSWORD } from './support/openstack.js';

const ALL = ['network', 'scheduler', 'compute', 'volume', 'api'] as const;
/** Each fake power change and disk copy takes this long, so the steps can be seen. */
const STEP_MS = 700;

describe('images from instances (fake driver)', needs('qemu-img'), () => {
  let t: TestCloud;
  let driver: FakeDriver;
  let ec2: EC2Client;
  let projectId: string;
  let machineId: string;
  let kernelId: string;
  let ramdiskId: string;
  let home: string;
  /** Images whose instances' disk copies the fake driver fails. */
  const failCopies = new Set<string>();

  const ami = (id: string) => `ami-${id.replace(/-/g, '').slice(0, 17)}`;
  const liveImages = async () =>
    (await new ImageRepo(t.cloud.database.db).list({})).filter((r) => r.status !== 'deleted')
      .length;

  /** The instance's uuid from its EC2 id, through the fake driver's own list. */
  const uuidOf = async (ec2Id: string): Promise<string> => {
    const hex = ec2Id.slice(2);
    const vm = (await driver.list()).find((g) => g.instanceId.replace(/-/g, '').startsWith(hex));
    assert.ok(vm, `the fake driver runs ${ec2Id}`);
    return vm.instanceId;
  };
  const consoleOf = async (ec2Id: string) => driver.consoleOutput(await uuidOf(ec2Id), 1 << 16);

  const launch = async (imageId: string): Promise<string> => {
    const r = await ec2.send(
      new RunInstancesCommand({
        ImageId: imageId,
        MinCount: 1,
        MaxCount: 1,
        InstanceType: 'm1.tiny' as _InstanceType,
      }),
    );
    const id = r.Instances?.[0]?.InstanceId as string;
    await waitUntil(
      async () => ((await stateOf(id)) === 'running' ? true : undefined),
      20_000,
      `${id} running`,
    );
    return id;
  };
  const stateOf = async (id: string) =>
    (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]
      ?.Instances?.[0]?.State?.Name;
  const image = async (id: string): Promise<Image> =>
    (await ec2.send(new DescribeImagesCommand({ ImageIds: [id] }))).Images?.[0] as Image;
  const available = (id: string) =>
    waitUntil(
      async () => {
        const i = await image(id);
        if (i.State === 'failed') throw new Error(`${id} failed`);
        return i.State === 'available' ? i : undefined;
      },
      20_000,
      `${id} available`,
    );
  const ec2Error = async (p: Promise<unknown>, code: string) => {
    await assert.rejects(p, (err: Error & { Code?: string }) => {
      assert.equal(err.name, code, err.message);
      return true;
    });
  };

  before(async () => {
    driver = new FakeDriver({ powerDelayMs: STEP_MS, failDiskCopyImageIds: failCopies });
    t = await startTestCloud({}, { services: ALL, driver });
    const p = await t.newProject('imaging');
    ec2 = p.client;
    projectId = p.projectId;
    const db = t.cloud.database.db;
    kernelId = (await insertImage(db, { name: 'k', kind: 'kernel', isPublic: 1 })).id;
    ramdiskId = (await insertImage(db, { name: 'r', kind: 'ramdisk', isPublic: 1 })).id;
    machineId = (
      await insertImage(db, {
        name: 'base',
        kind: 'machine',
        isPublic: 1,
        kernelId,
        ramdiskId,
        architecture: 'x86_64',
      })
    ).id;
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'vimage-home-'));
  });
  after(async () => {
    await t?.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  describe('EC2 CreateImage', () => {
    let instanceId: string;
    before(async () => {
      instanceId = await launch(ami(machineId));
    });

    it('makes a pending image, available once copied, with the kernel, ramdisk and architecture; the guest is rebooted around the copy', async () => {
      const before = await consoleOf(instanceId);
      const r = await ec2.send(
        new CreateImageCommand({
          InstanceId: instanceId,
          Name: 'web server (v1)',
          Description: 'from a running instance',
          TagSpecifications: [
            { ResourceType: 'image', Tags: [{ Key: 'role', Value: 'web' }] },
            { ResourceType: 'snapshot', Tags: [{ Key: 'ignored', Value: 'x' }] },
          ],
        }),
      );
      assert.match(r.ImageId ?? '', /^ami-[0-9a-f]{17}$/);
      const pending = await image(r.ImageId as string);
      assert.equal(pending.State, 'pending');
      const done = await available(r.ImageId as string);
      assert.equal(done.Name, 'web server (v1)');
      assert.equal(done.Description, 'from a running instance');
      assert.equal(done.KernelId, `aki-${kernelId.replace(/-/g, '').slice(0, 17)}`);
      assert.equal(done.RamdiskId, `ari-${ramdiskId.replace(/-/g, '').slice(0, 17)}`);
      assert.equal(done.Architecture, 'x86_64');
      assert.equal(done.OwnerId, projectId);
      assert.equal(done.Public, false);
      assert.deepEqual(done.Tags, [{ Key: 'role', Value: 'web' }]);
      assert.equal(await stateOf(instanceId), 'running');
      const console = (await consoleOf(instanceId)).slice(before.length);
      // Without NoReboot: powered off (asked), copied, powered on again, in that order.
      assert.match(console, /^power off\ndisk copied to .*\npower on\n$/);
    });

    it('NoReboot copies the running guest without powering it off; the image launches', async () => {
      const before = await consoleOf(instanceId);
      const r = await ec2.send(
        new CreateImageCommand({ InstanceId: instanceId, Name: 'no-reboot', NoReboot: true }),
      );
      await available(r.ImageId as string);
      const console = (await consoleOf(instanceId)).slice(before.length);
      assert.match(console, /^disk copied to .*\n$/);
      const again = await launch(r.ImageId as string);
      assert.equal(
        (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [again] }))).Reservations?.[0]
          ?.Instances?.[0]?.ImageId,
        r.ImageId,
      );
    });

    it('refuses bad input with EC2 errors and makes nothing', async () => {
      const count = await liveImages();
      const create = (input: Record<string, unknown>) =>
        ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'x-ok', ...input }));
      await ec2Error(create({ Name: 'web server (v1)' }), 'InvalidAMIName.Duplicate');
      await ec2Error(create({ Name: 'ab' }), 'InvalidAMIName.Malformed');
      await ec2Error(create({ Name: 'bad*name' }), 'InvalidAMIName.Malformed');
      await ec2Error(create({ InstanceId: 'i-0123456789abcdef0' }), 'InvalidInstanceID.NotFound');
      await ec2Error(create({ InstanceId: 'i-xyz' }), 'InvalidInstanceID.Malformed');
      await ec2Error(
        create({ BlockDeviceMappings: [{ DeviceName: '/dev/sdb', Ebs: { VolumeSize: 1 } }] }),
        'InvalidParameterValue',
      );
      await ec2Error(
        create({
          TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'a', Value: 'b' }] }],
        }),
        'InvalidParameterValue',
      );
      // Another project's instance does not exist for this one.
      const other = await t.newProject('other');
      await ec2Error(
        other.client.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'theirs' })),
        'InvalidInstanceID.NotFound',
      );
      const doomed = await launch(ami(machineId));
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [doomed] }));
      await waitUntil(
        async () => ((await stateOf(doomed)) === 'terminated' ? true : undefined),
        20_000,
        'terminated',
      );
      await ec2Error(create({ InstanceId: doomed }), 'IncorrectInstanceState');
      assert.equal(await liveImages(), count);
    });

    it('a failed copy deletes the image, boots the guest again and clears the task; the action record says why', async () => {
      const db = t.cloud.database.db;
      const broken = await insertImage(db, {
        name: 'copies-fail',
        kind: 'machine',
        isPublic: 1,
        kernelId,
        ramdiskId,
      });
      failCopies.add(broken.id);
      const id = await launch(ami(broken.id));
      const uuid = await uuidOf(id);
      const before = await consoleOf(id);
      const count = await liveImages();
      const r = await ec2.send(new CreateImageCommand({ InstanceId: id, Name: 'doomed' }));
      assert.match(r.ImageId ?? '', /^ami-/);
      const instances = new InstanceRepo(db);
      const failed = await waitUntil(
        async () => {
          const record = (await instances.actions(uuid)).find((a) => a.action === 'createImage');
          return record?.result === 'error' ? record : undefined;
        },
        20_000,
        'the createImage record',
      );
      assert.match(failed.message ?? '', /told to fail copying/);
      const inst = await instances.get(uuid);
      assert.equal(inst.taskState, null);
      assert.equal(inst.vmState, 'active');
      assert.equal(await driver.getState(uuid), 'running');
      assert.equal((await consoleOf(id)).slice(before.length), 'power off\npower on\n');
      assert.equal(await liveImages(), count, 'the image is gone');
      const left = await ec2.send(
        new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['doomed'] }] }),
      );
      assert.deepEqual(left.Images ?? [], []);
    });

    it(
      'through the AWS CLI: create-image --no-reboot, then describe-images',
      needs('awscli'),
      async () => {
        const cli = awsEc2({
          endpoint: t.endpoint,
          region: t.region,
          credentials: (await t.newProject('cli')).credentials,
          home,
        });
        const run = (await cli.json(
          'run-instances',
          '--image-id',
          ami(machineId),
          '--instance-type',
          'm1.tiny',
        )) as { Instances: { InstanceId: string }[] };
        const id = run.Instances[0]?.InstanceId as string;
        await waitUntil(
          async () => {
            const d = (await cli.json('describe-instances', '--instance-ids', id)) as {
              Reservations: { Instances: { State: { Name: string } }[] }[];
            };
            return d.Reservations[0]?.Instances[0]?.State.Name === 'running' ? true : undefined;
          },
          20_000,
          'running',
        );
        const made = (await cli.json(
          'create-image',
          '--instance-id',
          id,
          '--name',
          'cli-image',
          '--no-reboot',
        )) as { ImageId: string };
        assert.match(made.ImageId, /^ami-/);
        await waitUntil(
          async () => {
            const d = (await cli.json('describe-images', '--image-ids', made.ImageId)) as {
              Images: { State: string; Name: string }[];
            };
            return d.Images[0]?.State === 'available' ? true : undefined;
          },
          20_000,
          'available',
        );
        const dup = await cli.run('create-image', '--instance-id', id, '--name', 'cli-image');
        assert.notEqual(dup.code, 0);
        assert.match(dup.stderr, /InvalidAMIName\.Duplicate/);
      },
    );
  });

  describe('Compute API createImage', () => {
    let compute: string;
    let imageUrl: string;
    let token: string;
    let serverId: string;

    const call = async (method: string, p: string, body?: unknown, version = '2.45') => {
      const r = await fetch(`${compute}${p}`, {
        method,
        headers: {
          'x-auth-token': token,
          'openstack-api-version': `compute ${version}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await r.text();
      return {
        status: r.status,
        location: r.headers.get('location'),
        body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
      };
    };
    const server = async () =>
      (await call('GET', `/servers/${serverId}`)).body.server as Record<string, unknown>;
    const glanceImage = async (id: string) => {
      const r = await fetch(`${imageUrl}/v2/images/${id}`, { headers: { 'x-auth-token': token } });
      assert.equal(r.status, 200);
      return (await r.json()) as Record<string, unknown>;
    };

    before(async () => {
      compute = t.cloud.urls?.compute as string;
      imageUrl = t.cloud.urls?.image as string;
      await new IdentityService(t.cloud.database.db).setPassword('admin', PASSWORD);
      token = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
      const r = await call('POST', '/servers', {
        server: { name: 'snap-me', imageRef: machineId, flavorRef: '1', networks: 'auto' },
      });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      serverId = (r.body.server as { id: string }).id;
      await waitUntil(
        async () => ((await server()).status === 'ACTIVE' ? true : undefined),
        20_000,
        'ACTIVE',
      );
    });

    it('2.45: answers image_id; the task state goes image_snapshot -> image_pending_upload -> image_uploading -> none', async () => {
      const seen: unknown[] = [];
      const r = await call('POST', `/servers/${serverId}/action`, {
        createImage: { name: 'nova-snap', metadata: { purpose: 'test' } },
      });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const imageId = r.body.image_id as string;
      assert.match(imageId, /^[0-9a-f-]{36}$/);
      await waitUntil(
        async () => {
          const s = await server();
          const task = s['OS-EXT-STS:task_state'];
          if (seen[seen.length - 1] !== task) seen.push(task);
          return task === null && seen.length > 1 ? true : undefined;
        },
        20_000,
        'the task ends',
      );
      // Every state seen is one of the steps, in order (a quick one may be missed).
      const order = ['image_snapshot', 'image_pending_upload', 'image_uploading', null];
      const at = seen.map((s) => order.indexOf(s as string | null));
      assert.ok(
        at.every((i) => i >= 0),
        JSON.stringify(seen),
      );
      assert.deepEqual([...at].sort(), at, JSON.stringify(seen));
      assert.ok(seen.includes('image_pending_upload'), JSON.stringify(seen));
      assert.equal((await server()).status, 'ACTIVE');
      const g = await glanceImage(imageId);
      assert.equal(g.status, 'active');
      assert.equal(g.disk_format, 'qcow2');
      assert.equal(g.image_type, 'snapshot');
      assert.equal(g.instance_uuid, serverId);
      assert.equal(g.base_image_ref, machineId);
      assert.equal(g.purpose, 'test');
      assert.equal(g.owner, (await server()).tenant_id);
      assert.equal(g.visibility, 'private');
    });

    it('before 2.45: 202 with the image in the Location header', async () => {
      const r = await call(
        'POST',
        `/servers/${serverId}/action`,
        { createImage: { name: 'old-style' } },
        '2.1',
      );
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const m = /\/images\/([0-9a-f-]{36})$/.exec(r.location ?? '');
      assert.ok(m, `Location: ${r.location}`);
      await waitUntil(
        async () => ((await glanceImage(m[1] as string)).status === 'active' ? true : undefined),
        20_000,
        'active',
      );
    });

    it('refuses bad bodies (400), a taken name or a busy server (409) and an unknown one (404)', async () => {
      const count = await liveImages();
      const act = (body: unknown, id = serverId) => call('POST', `/servers/${id}/action`, body);
      assert.equal((await act({ createImage: {} })).status, 400);
      assert.equal((await act({ createImage: { name: '' } })).status, 400);
      assert.equal((await act({ createImage: { name: ' pad' } })).status, 400);
      assert.equal((await act({ createImage: { name: 'a', extra: 1 } })).status, 400);
      assert.equal((await act({ createImage: { name: 'a', metadata: { k: 1 } } })).status, 400);
      assert.equal((await act({ createImage: null })).status, 400);
      assert.equal(
        (await act({ createImage: { name: 'a' } }, '00000000-0000-0000-0000-000000000000')).status,
        404,
      );
      // A name the project has already: the image service's conflict.
      assert.equal((await act({ createImage: { name: 'nova-snap' } })).status, 409);
      // While one image is being made, another is refused.
      const first = await act({ createImage: { name: 'first' } });
      assert.equal(first.status, 202);
      const second = await act({ createImage: { name: 'second' } });
      assert.equal(second.status, 409, JSON.stringify(second.body));
      await waitUntil(
        async () => ((await server())['OS-EXT-STS:task_state'] === null ? true : undefined),
        20_000,
        'idle',
      );
      assert.equal(await liveImages(), count + 1);
    });

    it('openstackclient: server image create --wait', needs('openstackclient'), async () => {
      const env = adminEnv(t, home);
      const r = await openstack(env, [
        'server',
        'image',
        'create',
        '--name',
        'osc-snap',
        '--wait',
        '-f',
        'json',
        serverId,
      ]);
      assert.equal(r.code, 0, r.err);
      const made = JSON.parse(r.out) as { id: string; status: string; name: string };
      assert.equal(made.name, 'osc-snap');
      assert.equal(made.status, 'active');
      assert.equal((await glanceImage(made.id)).instance_uuid, serverId);
    });
  });

  describe('Block Storage os-volume_upload_image', () => {
    let volumeUrl: string;
    let imageUrl: string;
    let token: string;

    const call = async (method: string, p: string, body?: unknown) => {
      const r = await fetch(`${volumeUrl}${p}`, {
        method,
        headers: {
          'x-auth-token': token,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await r.text();
      return { status: r.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
    };
    const volumeStatus = async (id: string) =>
      ((await call('GET', `/volumes/${id}`)).body.volume as { status: string }).status;
    const newVolume = async () => {
      const r = await call('POST', '/volumes', { volume: { size: 1 } });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const id = (r.body.volume as { id: string }).id;
      await waitUntil(
        async () => ((await volumeStatus(id)) === 'available' ? true : undefined),
        20_000,
        'available',
      );
      return id;
    };

    before(async () => {
      volumeUrl = t.cloud.urls?.volume as string;
      imageUrl = t.cloud.urls?.image as string;
      await new IdentityService(t.cloud.database.db).setPassword('admin', PASSWORD);
      token = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
    });

    it("copies an available volume's data into a new image (raw by default, or qcow2)", async () => {
      const id = await newVolume();
      for (const format of [undefined, 'qcow2']) {
        const name = `vol-image-${format ?? 'default'}`;
        const r = await call('POST', `/volumes/${id}/action`, {
          'os-volume_upload_image': {
            image_name: name,
            force: false,
            container_format: 'bare',
            ...(format ? { disk_format: format } : {}),
          },
        });
        assert.equal(r.status, 202, JSON.stringify(r.body));
        const up = r.body['os-volume_upload_image'] as Record<string, unknown>;
        assert.equal(up.id, id);
        assert.equal(up.status, 'uploading');
        assert.equal(up.image_name, name);
        assert.equal(up.disk_format, format ?? 'raw');
        assert.equal(up.size, 1);
        const imageId = up.image_id as string;
        await waitUntil(
          async () => ((await volumeStatus(id)) === 'available' ? true : undefined),
          // A raw image of a 1 GiB volume is 1 GiB to copy, hash and write: slow on a busy machine.
          120_000,
          'available again',
        );
        const g = (await (
          await fetch(`${imageUrl}/v2/images/${imageId}`, { headers: { 'x-auth-token': token } })
        ).json()) as Record<string, unknown>;
        assert.equal(g.status, 'active', JSON.stringify(g));
        assert.equal(g.disk_format, format ?? 'raw');
        assert.equal(g.virtual_size, 1024 ** 3);
        assert.equal(g.min_disk, 1);
      }
    });

    it('openstackclient: image create --volume', needs('openstackclient'), async () => {
      const id = await newVolume();
      const r = await openstack(adminEnv(t, home), [
        'image',
        'create',
        '--volume',
        id,
        '-f',
        'json',
        '--disk-format',
        'qcow2',
        'osc-from-volume',
      ]);
      assert.equal(r.code, 0, r.err);
      const shown = JSON.parse(r.out) as Record<string, unknown>;
      assert.equal(shown.image_name, 'osc-from-volume', r.out);
      const imageId = shown.image_id as string;
      await waitUntil(
        async () => {
          const row = await new ImageRepo(t.cloud.database.db).get(imageId);
          return row.status === 'active' && (await volumeStatus(id)) === 'available'
            ? true
            : undefined;
        },
        120_000,
        'the image active and the volume available',
      );
    });

    it('refuses bad input (400) and a volume that is not available, making no image', async () => {
      const id = await newVolume();
      const count = await liveImages();
      const act = (args: unknown) =>
        call('POST', `/volumes/${id}/action`, { 'os-volume_upload_image': args });
      const refused = async (args: unknown, status = 400) => {
        const r = await act(args);
        assert.equal(r.status, status, JSON.stringify(r.body));
        assert.ok('badRequest' in r.body || status !== 400, JSON.stringify(r.body));
      };
      await refused({});
      await refused({ image_name: '' });
      await refused({ image_name: 'x', disk_format: 'vhd' });
      await refused({ image_name: 'x', container_format: 'ovf' });
      await refused({ image_name: 'x', force: true });
      await refused(null);
      const reset = await call('POST', `/volumes/${id}/action`, {
        'os-reset_status': { status: 'error' },
      });
      assert.equal(reset.status, 202);
      await refused({ image_name: 'from-error' });
      assert.equal(await liveImages(), count);
    });
  });
});
