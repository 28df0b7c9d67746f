// The Block Storage API's attachments (microversion 3.27, os-complete at 3.44) on the fake
// driver with the volume service's real storage daemon: an attachment created with a server is
// a real attach (the volume ends in use, Compute and EC2 see it), shown, listed and updated as
// Cinder serves them, completed, and deleted (a detach); the microversion is negotiated (3.0 by
// default, 404 for attachments below 3.27, 406 past 3.44); bad input gets the API's faults and
// changes nothing; openstackclient's `volume attachment list` and `show` read them.
import { DescribeVolumesCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IdentityService } from '../src/identity/index.js';
import { ec2Id } from '../src/ids/index.js';
import { needs } from './support/capabilities.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { adminEnv, login, openstack, PASSWORD } from './support/openstack.js';
import { stopWithStorageDaemon } from './support/volumes.js';

const ALL = ['network', 'scheduler', 'compute', 'volume', 'api'] as const;

interface Attachment {
  id: string;
  status: string;
  instance: string | null;
  volume_id: string;
  attached_at?: string | null;
  attach_mode?: string;
  connection_info?: Record<string, unknown>;
}

describe(
  'Block Storage attachments (fake driver)',
  needs('qemu-img', 'qemu-storage-daemon'),
  () => {
    let t: TestCloud;
    let url: string;
    let admin: string;
    let bob: string;
    let server: string;

    before(async () => {
      t = await startTestCloud({}, { services: ALL });
      url = t.cloud.urls?.volume as string;
      const identity = new IdentityService(t.cloud.database.db);
      await identity.setPassword('admin', PASSWORD);
      await identity.createUser({ name: 'bob', password: PASSWORD });
      await identity.createProject({ name: 'bob-project' });
      await identity.grantRole('bob', 'bob-project', 'member');
      const identityUrl = t.cloud.urls?.identity as string;
      admin = await login(identityUrl, 'admin', 'admin');
      bob = await login(identityUrl, 'bob', 'bob-project');
      const image = await t.addImage({ name: 'attachments-image' });
      const r = await t.admin.send(
        new RunInstancesCommand({ ImageId: ec2Id('ami', image.id), MinCount: 1, MaxCount: 1 }),
      );
      const hex = (r.Instances?.[0]?.InstanceId as string).slice(2);
      await waitUntil(async () => {
        const row = (await t.cloud.database.db.selectFrom('instances').selectAll().execute()).find(
          (i) => i.id.replace(/-/g, '').startsWith(hex),
        );
        if (row?.vmState === 'active') server = row.id;
        return row?.vmState === 'active';
      }, 30_000);
    });
    after(() => stopWithStorageDaemon(t.cloud.config.stateDir, () => t.stop()));

    const call = async (
      token: string,
      method: string,
      p: string,
      body?: unknown,
      version: string | null = '3.44',
    ) => {
      const r = await fetch(`${url}${p}`, {
        method,
        headers: {
          'x-auth-token': token,
          ...(version === null ? {} : { 'openstack-api-version': `volume ${version}` }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await r.text();
      return {
        status: r.status,
        version: r.headers.get('openstack-api-version'),
        body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      };
    };
    const fault = (r: { status: number; body: unknown }, status: number, name: string) => {
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.ok(name in (r.body as object), JSON.stringify(r.body));
    };
    const volumeOf = async (id: string) =>
      (await call(admin, 'GET', `/volumes/${id}`)).body['volume'] as {
        status: string;
        attachments: { attachment_id: string; server_id: string }[];
      };
    const newVolume = async () => {
      const r = await call(admin, 'POST', '/volumes', { volume: { size: 1 } });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const id = (r.body['volume'] as { id: string }).id;
      await waitUntil(async () => (await volumeOf(id)).status === 'available', 60_000);
      return id;
    };
    const list = async (p = '/attachments') =>
      (await call(admin, 'GET', p)).body['attachments'] as Attachment[];

    it('negotiates the microversion: 3.0 by default, up to 3.44, 406 past it', async () => {
      const plain = await call(admin, 'GET', '/volumes', undefined, null);
      assert.equal(plain.status, 200);
      assert.equal(plain.version, 'volume 3.0');
      const at = await call(admin, 'GET', '/volumes', undefined, '3.27');
      assert.equal(at.version, 'volume 3.27');
      const latest = await call(admin, 'GET', '/volumes', undefined, 'latest');
      assert.equal(latest.version, 'volume 3.44');
      fault(await call(admin, 'GET', '/volumes', undefined, '3.45'), 406, 'notAcceptable');
      fault(await call(admin, 'GET', '/volumes', undefined, '3.x'), 406, 'notAcceptable');
      // Attachments came with 3.27: below it they are not there.
      fault(await call(admin, 'GET', '/attachments', undefined, null), 404, 'itemNotFound');
      fault(await call(admin, 'GET', '/attachments', undefined, '3.26'), 404, 'itemNotFound');
      assert.equal((await call(admin, 'GET', '/attachments', undefined, '3.27')).status, 200);
    });

    it('attaches through an attachment, shows, lists, updates and completes it, and detaches by deleting it', async () => {
      const volumeId = await newVolume();
      const made = await call(
        admin,
        'POST',
        '/attachments',
        {
          attachment: {
            volume_uuid: volumeId,
            instance_uuid: server,
            connector: { host: 'elsewhere', initiator: 'iqn.example' },
          },
        },
        '3.27',
      );
      assert.equal(made.status, 200, JSON.stringify(made.body));
      const a = made.body['attachment'] as Attachment;
      assert.equal(a.id, volumeId);
      assert.equal(a.volume_id, volumeId);
      assert.equal(a.instance, server);
      assert.equal(a.status, 'attaching');
      const shown = await waitUntil(async () => {
        const r = await call(admin, 'GET', `/attachments/${a.id}`);
        const s = r.body['attachment'] as Attachment;
        return s.status === 'attached' ? s : undefined;
      }, 60_000);
      assert.equal(shown.attach_mode, 'rw');
      assert.ok(shown.attached_at);
      assert.deepEqual(shown.connection_info, {});
      // One model: the volume and EC2 show the same attachment.
      const v = await volumeOf(volumeId);
      assert.equal(v.status, 'in-use');
      assert.deepEqual(
        v.attachments.map((x) => [x.attachment_id, x.server_id]),
        [[a.id, server]],
      );
      const e = await t.admin.send(
        new DescribeVolumesCommand({ VolumeIds: [ec2Id('vol', volumeId)] }),
      );
      assert.equal(e.Volumes?.[0]?.Attachments?.[0]?.State, 'attached');

      assert.deepEqual(await list(), [
        { id: a.id, status: 'attached', instance: server, volume_id: volumeId },
      ]);
      const detail = await list('/attachments/detail');
      assert.equal(detail[0]?.attach_mode, 'rw');
      assert.deepEqual(await list(`/attachments?volume_id=${volumeId}`), await list());
      assert.deepEqual(await list('/attachments?status=detaching'), []);
      // Another project sees none of it.
      assert.deepEqual((await call(bob, 'GET', '/attachments')).body['attachments'], []);
      fault(await call(bob, 'GET', `/attachments/${a.id}`), 404, 'itemNotFound');

      const updated = await call(admin, 'PUT', `/attachments/${a.id}`, {
        attachment: { connector: { host: 'elsewhere' } },
      });
      assert.equal(updated.status, 200, JSON.stringify(updated.body));
      assert.equal((updated.body['attachment'] as Attachment).status, 'attached');
      fault(
        await call(admin, 'PUT', `/attachments/${a.id}`, { attachment: {} }),
        400,
        'badRequest',
      );

      const early = await call(
        admin,
        'POST',
        `/attachments/${a.id}/action`,
        { 'os-complete': null },
        '3.43',
      );
      fault(early, 404, 'itemNotFound');
      const complete = await call(admin, 'POST', `/attachments/${a.id}/action`, {
        'os-complete': null,
      });
      assert.equal(complete.status, 204, JSON.stringify(complete.body));

      // Attaching it again is refused, and the volume stays as it was.
      fault(
        await call(admin, 'POST', '/attachments', {
          attachment: { volume_uuid: volumeId, instance_uuid: server },
        }),
        400,
        'badRequest',
      );

      const gone = await call(admin, 'DELETE', `/attachments/${a.id}`);
      assert.equal(gone.status, 200, JSON.stringify(gone.body));
      assert.deepEqual(gone.body, { attachments: [] });
      await waitUntil(async () => (await volumeOf(volumeId)).status === 'available', 60_000);
      assert.deepEqual(await list(), []);
      fault(await call(admin, 'GET', `/attachments/${a.id}`), 404, 'itemNotFound');
      assert.equal((await call(admin, 'DELETE', `/volumes/${volumeId}`)).status, 202);
    });

    it('refuses bad input with the API faults and attaches nothing', async () => {
      const volumeId = await newVolume();
      const post = (attachment: Record<string, unknown>) =>
        call(admin, 'POST', '/attachments', { attachment });
      fault(await post({ instance_uuid: server }), 400, 'badRequest');
      // A reservation without a server is not needed here.
      fault(await post({ volume_uuid: volumeId }), 400, 'badRequest');
      fault(await post({ volume_uuid: volumeId, instance_uuid: 'nope' }), 400, 'badRequest');
      fault(
        await post({
          volume_uuid: volumeId,
          instance_uuid: '00000000-0000-4000-8000-000000000009',
        }),
        404,
        'itemNotFound',
      );
      fault(
        await post({ volume_uuid: '00000000-0000-4000-8000-000000000009', instance_uuid: server }),
        404,
        'itemNotFound',
      );
      fault(
        await post({ volume_uuid: volumeId, instance_uuid: server, mode: 'ro' }),
        400,
        'badRequest',
      );
      fault(
        await post({ volume_uuid: volumeId, instance_uuid: server, connector: 'x' }),
        400,
        'badRequest',
      );
      // Another project's server and volume are not found.
      fault(
        await call(bob, 'POST', '/attachments', {
          attachment: { volume_uuid: volumeId, instance_uuid: server },
        }),
        404,
        'itemNotFound',
      );
      fault(await call(admin, 'GET', `/attachments/${volumeId}`), 404, 'itemNotFound');
      fault(await call(admin, 'DELETE', `/attachments/${volumeId}`), 404, 'itemNotFound');
      fault(
        await call(admin, 'POST', `/attachments/${volumeId}/action`, { 'os-complete': null }),
        404,
        'itemNotFound',
      );
      assert.equal((await volumeOf(volumeId)).status, 'available');
      assert.deepEqual(await list(), []);
      assert.equal((await call(admin, 'DELETE', `/volumes/${volumeId}`)).status, 202);
    });

    it(
      'creates, lists, shows and deletes attachments from openstackclient (volume attachment ...)',
      needs('openstackclient'),
      async () => {
        const volumeId = await newVolume();
        const env = adminEnv(t);
        const made = await openstack(env, [
          '--os-volume-api-version',
          '3.27',
          'volume',
          'attachment',
          'create',
          volumeId,
          server,
          '-f',
          'json',
        ]);
        assert.equal(made.code, 0, made.err);
        assert.equal((JSON.parse(made.out) as Record<string, unknown>)['ID'], volumeId);
        await waitUntil(async () => (await volumeOf(volumeId)).status === 'in-use', 60_000);
        const listed = await openstack(env, [
          '--os-volume-api-version',
          '3.27',
          'volume',
          'attachment',
          'list',
          '-f',
          'json',
        ]);
        assert.equal(listed.code, 0, listed.err);
        assert.deepEqual(JSON.parse(listed.out), [
          { ID: volumeId, 'Volume ID': volumeId, 'Server ID': server, Status: 'attached' },
        ]);
        const shown = await openstack(env, [
          '--os-volume-api-version',
          '3.27',
          'volume',
          'attachment',
          'show',
          volumeId,
          '-f',
          'json',
        ]);
        assert.equal(shown.code, 0, shown.err);
        const s = JSON.parse(shown.out) as Record<string, unknown>;
        assert.equal(s['Instance ID'], server);
        assert.equal(s['Status'], 'attached');
        const deleted = await openstack(env, [
          '--os-volume-api-version',
          '3.27',
          'volume',
          'attachment',
          'delete',
          volumeId,
        ]);
        assert.equal(deleted.code, 0, deleted.err);
        await waitUntil(async () => (await volumeOf(volumeId)).status === 'available', 60_000);
        assert.equal((await call(admin, 'DELETE', `/volumes/${volumeId}`)).status, 202);
      },
    );
  },
);
