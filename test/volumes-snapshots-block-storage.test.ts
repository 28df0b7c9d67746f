// Volume snapshots in the OpenStack Block Storage API v3, over the same snapshots as EC2's,
// with the real volume service (qemu-img): raw HTTP checked against the API reference's
// schemas, openstackclient's `volume snapshot` commands and `volume create --snapshot` (the
// data checked with qemu-io), one model with EC2 (a snapshot made there is in `openstack volume
// snapshot list`), quota sets and limits, and bad input answered with the API's faults.
import { CreateSnapshotCommand, CreateVolumeCommand } from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SnapshotRepo, VolumeRepo } from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { assertSchema } from './support/api-schema.js';
import { needs } from './support/capabilities.js';
import { sqliteBackend } from './support/databases.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { login, openstack, PASSWORD } from './support/openstack.js';
import { stopWithStorageDaemon } from './support/volumes.js';
import {
  faultResponse,
  limitsResponse,
  snapshotList,
  snapshotResponse,
  volumeResponse,
} from './support/schemas/block-storage.js';

const ALL = ['network', 'scheduler', 'compute', 'volume', 'api'] as const;

interface Snapshot {
  id: string;
  name: string | null;
  description: string | null;
  status: string;
  size: number;
  volume_id: string;
}

function qemuIo(file: string, command: string): boolean {
  const r = spawnSync('qemu-io', ['-f', 'qcow2', '-c', command, file], { encoding: 'utf8' });
  return r.status === 0 && !/Pattern verification failed|failed/i.test(`${r.stdout}${r.stderr}`);
}

describe('Block Storage snapshots', needs(...sqliteBackend.needs, 'qemu-img'), () => {
  let t: TestCloud;
  let database: { url: string; remove(): Promise<void> };
  let url: string;
  let identityUrl: string;
  let admin: string;
  let alice: string;
  let bob: string;
  let aliceProject: string;

  before(async () => {
    database = await sqliteBackend.create();
    t = await startTestCloud(
      {
        database: database.url,
        'quota-volumes': '8',
        'quota-gigabytes': '20',
        'quota-snapshots': '4',
      },
      { services: ALL },
    );
    url = t.cloud.urls?.volume as string;
    identityUrl = t.cloud.urls?.identity as string;
    const identity = new IdentityService(t.cloud.database.db);
    await identity.setPassword('admin', PASSWORD);
    for (const name of ['alice', 'bob']) {
      await identity.createUser({ name, password: PASSWORD });
      const project = await identity.createProject({ name: `${name}-project` });
      if (name === 'alice') aliceProject = project.id;
      await identity.grantRole(name, `${name}-project`, 'member');
    }
    admin = await login(identityUrl, 'admin', 'admin');
    alice = await login(identityUrl, 'alice', 'alice-project');
    bob = await login(identityUrl, 'bob', 'bob-project');
  });
  after(async () => {
    await stopWithStorageDaemon(t.cloud.config.stateDir, () => t.stop());
    await database.remove();
  });

  const call = async (token: string, method: string, p: string, body?: unknown) => {
    const r = await fetch(`${url}${p}`, {
      method,
      headers: {
        'x-auth-token': token,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    return { status: r.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
  const fault = (r: { status: number; body: unknown }, status: number, name: string) => {
    assert.equal(r.status, status, JSON.stringify(r.body));
    assertSchema(faultResponse, r.body, `a ${status} fault`);
    assert.ok(name in (r.body as object), JSON.stringify(r.body));
  };
  const showSnapshot = async (token: string, id: string) => {
    const r = await call(token, 'GET', `/snapshots/${id}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assertSchema(snapshotResponse, r.body, 'GET /v3/snapshots/{id}');
    return r.body['snapshot'] as Snapshot;
  };
  const waitFor = <T>(what: string, probe: () => Promise<T | undefined>) =>
    waitUntil(probe, 60_000, what);
  const volumeStatus = async (token: string, id: string) =>
    ((await call(token, 'GET', `/volumes/${id}`)).body['volume'] as { status: string } | undefined)
      ?.status;
  const newVolume = async (token: string, volume: Record<string, unknown>) => {
    const r = await call(token, 'POST', '/volumes', { volume });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assertSchema(volumeResponse, r.body, 'POST /v3/volumes');
    const v = r.body['volume'] as { id: string; size: number; snapshot_id: string | null };
    await waitFor(`volume ${v.id} available`, async () =>
      (await volumeStatus(token, v.id)) === 'available' ? true : undefined,
    );
    return v;
  };
  const newSnapshot = async (token: string, snapshot: Record<string, unknown>) => {
    const r = await call(token, 'POST', '/snapshots', { snapshot });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assertSchema(snapshotResponse, r.body, 'POST /v3/snapshots');
    const s = r.body['snapshot'] as Snapshot;
    assert.equal(s.status, 'creating');
    await waitFor(`snapshot ${s.id} available`, async () =>
      (await showSnapshot(token, s.id)).status === 'available' ? true : undefined,
    );
    return s;
  };
  const file = (kind: 'volumes' | 'snapshots', id: string) =>
    path.join(t.cloud.config.stateDir, kind, `${id}.qcow2`);

  it('creates, shows, lists, renames and deletes a snapshot, and makes a volume from it with its data', async () => {
    const vol = await newVolume(alice, { size: 1, name: 'data' });
    assert.ok(qemuIo(file('volumes', vol.id), 'write -P 0x5a 0 1M'));
    const snap = await newSnapshot(alice, {
      volume_id: vol.id,
      name: 'nightly',
      description: 'before the upgrade',
    });
    assert.equal(snap.volume_id, vol.id);
    assert.equal(snap.size, 1);
    assert.equal(snap.name, 'nightly');
    assert.ok(qemuIo(file('volumes', vol.id), 'write -P 0xa5 0 1M'));

    for (const p of ['/snapshots', '/snapshots/detail']) {
      const listed = await call(alice, 'GET', p);
      assert.equal(listed.status, 200);
      assertSchema(snapshotList, listed.body, `GET /v3${p}`);
      assert.deepEqual(
        (listed.body['snapshots'] as Snapshot[]).map((s) => [s.id, s.status]),
        [[snap.id, 'available']],
      );
    }
    const byVolume = await call(alice, 'GET', `/snapshots?volume_id=${vol.id}`);
    assert.equal((byVolume.body['snapshots'] as Snapshot[]).length, 1);
    const byName = await call(alice, 'GET', '/snapshots?name=other');
    assert.deepEqual(byName.body['snapshots'], []);
    // Admins see the project and progress; members do not.
    const asAdmin = await call(admin, 'GET', `/snapshots/${snap.id}`);
    assertSchema(snapshotResponse, asAdmin.body, 'GET /v3/snapshots/{id} as admin');
    const extended = asAdmin.body['snapshot'] as Record<string, unknown>;
    assert.equal(extended['os-extended-snapshot-attributes:progress'], '100%');
    assert.ok(
      !('os-extended-snapshot-attributes:progress' in (await showSnapshot(alice, snap.id))),
    );

    const renamed = await call(alice, 'PUT', `/snapshots/${snap.id}`, {
      snapshot: { name: 'weekly', description: null },
    });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    assertSchema(snapshotResponse, renamed.body, 'PUT /v3/snapshots/{id}');
    assert.deepEqual(
      [(await showSnapshot(alice, snap.id)).name, (await showSnapshot(alice, snap.id)).description],
      ['weekly', null],
    );

    const restored = await newVolume(alice, { snapshot_id: snap.id, name: 'restored' });
    assert.equal(restored.size, 1);
    assert.equal(restored.snapshot_id, snap.id);
    assert.ok(qemuIo(file('volumes', restored.id), 'read -P 0x5a 0 1M'));
    assert.ok(!qemuIo(file('volumes', restored.id), 'read -P 0xa5 0 1M'));

    // A volume with snapshots is not deleted; a smaller volume than the snapshot is refused.
    fault(await call(alice, 'DELETE', `/volumes/${vol.id}`), 400, 'badRequest');
    assert.equal(await volumeStatus(alice, vol.id), 'available');
    fault(
      await call(alice, 'POST', '/volumes', { volume: { snapshot_id: snap.id, size: 0 } }),
      400,
      'badRequest',
    );
    assert.equal((await call(alice, 'DELETE', `/snapshots/${snap.id}`)).status, 202);
    await waitFor('the snapshot to go', async () =>
      (await call(alice, 'GET', `/snapshots/${snap.id}`)).status === 404 ? true : undefined,
    );
    assert.equal((await call(alice, 'DELETE', `/volumes/${vol.id}`)).status, 202);
    assert.equal((await call(alice, 'DELETE', `/volumes/${restored.id}`)).status, 202);
  });

  it(
    'snapshots a volume in use only with force, copied by the storage daemon that holds it',
    needs('qemu-storage-daemon'),
    async () => {
      const vol = await newVolume(alice, { size: 1, name: 'held' });
      assert.ok(qemuIo(file('volumes', vol.id), 'write -P 0x3c 0 1M'));
      const volumes = new VolumeRepo(t.cloud.database.db);
      // Held by an instance as far as the records say: the daemon opens the file for the copy.
      await volumes.update(vol.id, {
        status: 'in-use',
        instanceId: '00000000-0000-4000-8000-000000000002',
        device: '/dev/vdb',
      });
      const before = (await call(alice, 'GET', '/snapshots')).body['snapshots'] as Snapshot[];
      fault(
        await call(alice, 'POST', '/snapshots', { snapshot: { volume_id: vol.id } }),
        400,
        'badRequest',
      );
      fault(
        await call(alice, 'POST', '/snapshots', { snapshot: { volume_id: vol.id, force: false } }),
        400,
        'badRequest',
      );
      assert.equal(
        ((await call(alice, 'GET', '/snapshots')).body['snapshots'] as Snapshot[]).length,
        before.length,
      );
      const snap = await newSnapshot(alice, { volume_id: vol.id, force: true, name: 'live' });
      assert.equal(await volumeStatus(alice, vol.id), 'in-use');
      await volumes.update(vol.id, { status: 'available', instanceId: null, device: null });
      const restored = await newVolume(alice, { snapshot_id: snap.id });
      assert.ok(qemuIo(file('volumes', restored.id), 'read -P 0x3c 0 1M'));
      assert.equal((await call(alice, 'DELETE', `/volumes/${restored.id}`)).status, 202);
      assert.equal((await call(alice, 'DELETE', `/snapshots/${snap.id}`)).status, 202);
      await waitFor('the snapshot to go', async () =>
        (await call(alice, 'GET', `/snapshots/${snap.id}`)).status === 404 ? true : undefined,
      );
      assert.equal((await call(alice, 'DELETE', `/volumes/${vol.id}`)).status, 202);
    },
  );

  it('shows the snapshot quota in quota sets and limits, and is held to it', async () => {
    const vol = await newVolume(alice, { size: 2 });
    const made: Snapshot[] = [];
    for (let i = 0; i < 2; i++) made.push(await newSnapshot(alice, { volume_id: vol.id }));
    const limits = await call(alice, 'GET', '/limits');
    assertSchema(limitsResponse, limits.body, 'GET /v3/limits');
    const absolute = (limits.body['limits'] as { absolute: Record<string, number> }).absolute;
    assert.equal(absolute['maxTotalSnapshots'], 4);
    assert.equal(absolute['totalSnapshotsUsed'], 2);
    // Snapshots count in the GiB used, as Cinder counts them.
    assert.equal(absolute['totalGigabytesUsed'], 2 + 2 * 2);
    const set = (await call(alice, 'GET', `/os-quota-sets/${aliceProject}?usage=true`)).body
      .quota_set as Record<string, { limit: number; in_use: number }>;
    assert.deepEqual([set.snapshots?.limit, set.snapshots?.in_use], [4, 2]);
    // An admin lowers it to what is used: the next one is 413.
    const changed = await call(admin, 'PUT', `/os-quota-sets/${aliceProject}`, {
      quota_set: { snapshots: 2 },
    });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    const before = (await new SnapshotRepo(t.cloud.database.db).list()).length;
    fault(
      await call(alice, 'POST', '/snapshots', { snapshot: { volume_id: vol.id } }),
      413,
      'overLimit',
    );
    assert.equal((await new SnapshotRepo(t.cloud.database.db).list()).length, before);
    fault(
      await call(admin, 'PUT', `/os-quota-sets/${aliceProject}`, { quota_set: { snapshots: 1 } }),
      400,
      'badRequest',
    );
    await call(admin, 'PUT', `/os-quota-sets/${aliceProject}`, { quota_set: { snapshots: 4 } });
    for (const s of made) await call(alice, 'DELETE', `/snapshots/${s.id}`);
    await waitFor('the snapshots to go', async () =>
      ((await call(alice, 'GET', '/snapshots')).body['snapshots'] as unknown[]).length === 0
        ? true
        : undefined,
    );
    assert.equal((await call(alice, 'DELETE', `/volumes/${vol.id}`)).status, 202);
  });

  it('refuses bad input with the API faults, hides other projects’ snapshots, and resets status for admins only', async () => {
    const vol = await newVolume(alice, { size: 1 });
    const snap = await newSnapshot(alice, { volume_id: vol.id });
    const count = async () => (await new SnapshotRepo(t.cloud.database.db).list()).length;
    const before = await count();
    fault(await call(alice, 'POST', '/snapshots', { snapshot: {} }), 400, 'badRequest');
    fault(await call(alice, 'POST', '/snapshots', { volume_id: vol.id }), 400, 'badRequest');
    fault(
      await call(alice, 'POST', '/snapshots', { snapshot: { volume_id: 'nope' } }),
      404,
      'itemNotFound',
    );
    fault(
      await call(alice, 'POST', '/snapshots', {
        snapshot: { volume_id: vol.id, metadata: { a: 'b' } },
      }),
      400,
      'badRequest',
    );
    fault(
      await call(alice, 'POST', '/snapshots', { snapshot: { volume_id: vol.id, name: 7 } }),
      400,
      'badRequest',
    );
    fault(await call(alice, 'GET', '/snapshots?limit=0'), 400, 'badRequest');
    fault(await call(alice, 'GET', '/snapshots?marker=nope'), 404, 'itemNotFound');
    // Another project's snapshot and volume are not there for bob.
    fault(await call(bob, 'GET', `/snapshots/${snap.id}`), 404, 'itemNotFound');
    fault(await call(bob, 'DELETE', `/snapshots/${snap.id}`), 404, 'itemNotFound');
    fault(
      await call(bob, 'POST', '/snapshots', { snapshot: { volume_id: vol.id } }),
      404,
      'itemNotFound',
    );
    fault(
      await call(bob, 'POST', '/volumes', { volume: { snapshot_id: snap.id } }),
      404,
      'itemNotFound',
    );
    assert.deepEqual((await call(bob, 'GET', '/snapshots')).body['snapshots'], []);
    assert.equal(await count(), before);

    fault(
      await call(alice, 'POST', `/snapshots/${snap.id}/action`, {
        'os-reset_status': { status: 'error' },
      }),
      403,
      'forbidden',
    );
    fault(
      await call(admin, 'POST', `/snapshots/${snap.id}/action`, {
        'os-reset_status': { status: 'broken' },
      }),
      400,
      'badRequest',
    );
    fault(
      await call(admin, 'POST', `/snapshots/${snap.id}/action`, { 'os-force_delete': {} }),
      400,
      'badRequest',
    );
    const reset = await call(admin, 'POST', `/snapshots/${snap.id}/action`, {
      'os-reset_status': { status: 'error' },
    });
    assert.equal(reset.status, 202, JSON.stringify(reset.body));
    assert.equal((await showSnapshot(alice, snap.id)).status, 'error');
    // A snapshot in error makes no volume.
    fault(
      await call(alice, 'POST', '/volumes', { volume: { snapshot_id: snap.id } }),
      400,
      'badRequest',
    );
    assert.equal((await call(alice, 'DELETE', `/snapshots/${snap.id}`)).status, 202);
    await waitFor('the snapshot to go', async () =>
      (await call(alice, 'GET', `/snapshots/${snap.id}`)).status === 404 ? true : undefined,
    );
    assert.equal((await call(alice, 'DELETE', `/volumes/${vol.id}`)).status, 202);
  });

  it(
    'works from openstackclient, over the same snapshots as EC2: snapshot create, list, show, delete and volume create --snapshot',
    needs('openstackclient'),
    async () => {
      const name = 'osc-snap';
      const p = await t.newProject(name);
      await new IdentityService(t.cloud.database.db).setPassword(`${name}-user`, PASSWORD);
      const env = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        OS_AUTH_URL: identityUrl,
        OS_IDENTITY_API_VERSION: '3',
        OS_USERNAME: `${name}-user`,
        OS_PASSWORD: PASSWORD,
        OS_PROJECT_NAME: name,
        OS_USER_DOMAIN_NAME: 'Default',
        OS_PROJECT_DOMAIN_NAME: 'Default',
        OS_REGION_NAME: t.region,
      };
      const os = async (...args: string[]) => {
        const r = await openstack(env, args);
        assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.err}`);
        return r.out.trim() ? (JSON.parse(r.out) as unknown) : undefined;
      };
      const token = await login(identityUrl, `${name}-user`, name);

      // Made through EC2, listed by openstackclient.
      const ec2Volume = await p.client.send(
        new CreateVolumeCommand({
          Size: 1,
          AvailabilityZone: t.cloud.config.compute.availabilityZone,
        }),
      );
      const volUuid = (
        (await call(token, 'GET', '/volumes/detail')).body['volumes'] as { id: string }[]
      )[0]?.id as string;
      assert.equal(`vol-${volUuid.replace(/-/g, '').slice(0, 17)}`, ec2Volume.VolumeId);
      await waitFor('the volume', async () =>
        (await volumeStatus(token, volUuid)) === 'available' ? true : undefined,
      );
      assert.ok(qemuIo(file('volumes', volUuid), 'write -P 0x3c 0 1M'));
      const ec2Snap = await p.client.send(
        new CreateSnapshotCommand({ VolumeId: ec2Volume.VolumeId, Description: 'from ec2' }),
      );
      const listed = (await os('volume', 'snapshot', 'list', '-f', 'json')) as {
        ID: string;
        Description: string;
        Size: number;
      }[];
      assert.equal(listed.length, 1);
      assert.equal(`snap-${listed[0]?.ID.replace(/-/g, '').slice(0, 17)}`, ec2Snap.SnapshotId);
      assert.equal(listed[0]?.Description, 'from ec2');

      const made = (await os(
        'volume',
        'snapshot',
        'create',
        '--volume',
        volUuid,
        '--description',
        'from the cli',
        'cli-snap',
        '-f',
        'json',
      )) as { id: string; size: number; volume_id: string };
      assert.equal(made.size, 1);
      assert.equal(made.volume_id, volUuid);
      await waitFor('the cli snapshot', async () =>
        (await showSnapshot(token, made.id)).status === 'available' ? true : undefined,
      );
      const shown = (await os('volume', 'snapshot', 'show', 'cli-snap', '-f', 'json')) as {
        id: string;
        status: string;
        description: string;
      };
      assert.deepEqual(
        [shown.id, shown.status, shown.description],
        [made.id, 'available', 'from the cli'],
      );

      const restored = (await os(
        'volume',
        'create',
        '--snapshot',
        'cli-snap',
        'from-snap',
        '-f',
        'json',
      )) as { id: string; size: number; snapshot_id: string };
      assert.equal(restored.snapshot_id, made.id);
      assert.equal(restored.size, 1);
      await waitFor('the restored volume', async () =>
        (await volumeStatus(token, restored.id)) === 'available' ? true : undefined,
      );
      assert.ok(qemuIo(file('volumes', restored.id), 'read -P 0x3c 0 1M'));

      const refused = await openstack(env, ['volume', 'delete', volUuid]);
      assert.notEqual(refused.code, 0);
      await os('volume', 'snapshot', 'delete', 'cli-snap');
      await waitFor('the cli snapshot to go', async () =>
        (await call(token, 'GET', `/snapshots/${made.id}`)).status === 404 ? true : undefined,
      );
      const missing = await openstack(env, ['volume', 'snapshot', 'show', made.id]);
      assert.notEqual(missing.code, 0);
    },
  );
});
