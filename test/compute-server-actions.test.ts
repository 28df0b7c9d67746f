// The Compute API's server actions beyond power on the fake driver, on SQLite and PostgreSQL:
// pause/unpause, suspend/resume, rescue/unrescue, rebuild, resize with confirm and revert, and
// lock/unlock, each with its states, its 409 in the wrong state and what EC2 shows of it; the
// server's action records (os-instance-actions, per microversion) and os-server-password. Raw
// HTTP first, every answer checked against the API reference's schema, then
// python-openstackclient as users run it.
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InstanceRepo } from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { ec2Id } from '../src/ids/index.js';
import { FakeDriver } from '../src/virt/index.js';
import { assertSchema } from './support/api-schema.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { disconnected } from './support/expect.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { adminEnv, login, openstack, PASSWORD } from './support/openstack.js';
import {
  instanceActionShow,
  instanceActionsList,
  rebuildResponse,
  rescueResponse,
  serverPassword,
} from './support/schemas/compute-server-actions.js';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

interface Server {
  id: string;
  name: string;
  status: string;
  image: { id: string };
  flavor: { id: string };
  metadata: Record<string, string>;
  addresses: Record<string, { addr: string }[]>;
  'OS-EXT-STS:task_state': string | null;
  'OS-EXT-STS:vm_state': string;
}

interface ActionList {
  instanceActions: { action: string; request_id: string; updated_at?: string }[];
  links?: { rel: string; href: string }[];
}

interface ActionShow {
  instanceAction: {
    action: string;
    events?: { event: string; result: string | null; host?: string; hostId?: string }[];
  };
}

/** Asserts a Compute fault: `{"<name>": {"code": status, "message": ...}}`. */
function assertFault(a: Answer, status: number, name: string, message?: RegExp): void {
  assert.equal(a.status, status, JSON.stringify(a.body));
  const f = a.body[name] as { code: number; message: string } | undefined;
  assert.ok(f, `expected a '${name}' fault, got ${JSON.stringify(a.body)}`);
  assert.equal(f.code, status);
  if (message) assert.match(f.message, message);
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(`Compute server actions on ${backend.name}`, needs(...backend.needs), () => {
    let t: TestCloud;
    let driver: FakeDriver;
    let database: { url: string; remove(): Promise<void> };
    let url: string;
    let admin: string;
    let alice: string;
    let imageId: string;
    let otherImageId: string;

    const call = async (
      method: string,
      path: string,
      options: { token?: string; body?: unknown; version?: string } = {},
    ): Promise<Answer> => {
      const headers: Record<string, string> = { 'x-auth-token': options.token ?? alice };
      if (options.version) headers['openstack-api-version'] = `compute ${options.version}`;
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      const r = await fetch(`${url}${path}`, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
      const text = await r.text();
      return { status: r.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    };
    const act = (id: string, body: unknown, options: { token?: string; version?: string } = {}) =>
      call('POST', `/v2.1/servers/${id}/action`, { ...options, body });
    const show = async (id: string, token?: string) =>
      (await call('GET', `/v2.1/servers/${id}`, { token })).body.server as Server;
    const settle = (id: string, status: string) =>
      waitUntil(
        async () => {
          const s = await show(id);
          return s.status === status && s['OS-EXT-STS:task_state'] === null && s;
        },
        10_000,
        `server ${id} ${status}`,
      );
    const boot = async (name: string): Promise<Server> => {
      const r = await call('POST', '/v2.1/servers', {
        body: { server: { name, imageRef: imageId, flavorRef: '1' } },
      });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      return settle((r.body.server as { id: string }).id, 'ACTIVE');
    };
    const ec2StateOf = async (id: string) => {
      const out = await t.admin.send(
        new DescribeInstancesCommand({ InstanceIds: [ec2Id('i', id)] }),
      );
      return out.Reservations?.[0]?.Instances?.[0]?.State;
    };

    before(async () => {
      database = await backend.create();
      driver = new FakeDriver();
      t = await startTestCloud({ database: database.url }, { driver });
      url = (t.cloud.urls?.compute as string).replace(/\/v2\.1$/, '');
      const identity = new IdentityService(t.cloud.database.db);
      await identity.setPassword('admin', PASSWORD);
      await identity.createUser({ name: 'alice', password: PASSWORD });
      await identity.createProject({ name: 'alice-project' });
      await identity.grantRole('alice', 'alice-project', 'member');
      const identityUrl = t.cloud.urls?.identity as string;
      admin = await login(identityUrl, 'admin', 'admin');
      alice = await login(identityUrl, 'alice', 'alice-project');
      imageId = (await t.addImage({ name: 'cirros' })).id;
      otherImageId = (await t.addImage({ name: 'rescue-and-rebuild' })).id;
    });
    after(async () => {
      await t.stop();
      if (backend.name === 'postgres') await disconnected(database.url);
      await database.remove();
    });

    it('pauses and unpauses: PAUSED, EC2 shows "pause" (80), and pause on a stopped server is 409', async () => {
      const s = await boot('pausing');
      assertFault(
        await act(s.id, { unpause: null }),
        409,
        'conflictingRequest',
        new RegExp(`Cannot 'unpause' instance ${s.id} while it is in vm_state active`),
      );
      assert.equal((await act(s.id, { pause: null })).status, 202);
      const paused = await settle(s.id, 'PAUSED');
      assert.equal(paused['OS-EXT-STS:vm_state'], 'paused');
      assert.equal(driver.describe(s.id)?.state, 'paused');
      assert.deepEqual(await ec2StateOf(s.id), { Code: 80, Name: 'pause' });
      assert.equal((await act(s.id, { unpause: null })).status, 202);
      await settle(s.id, 'ACTIVE');
      assert.equal(driver.describe(s.id)?.state, 'running');

      assert.equal((await act(s.id, { 'os-stop': null })).status, 202);
      await settle(s.id, 'SHUTOFF');
      assertFault(
        await act(s.id, { pause: null }),
        409,
        'conflictingRequest',
        new RegExp(`Cannot 'pause' instance ${s.id} while it is in vm_state stopped`),
      );
      assert.equal((await show(s.id)).status, 'SHUTOFF', 'the refusal changed nothing');
    });

    it('suspends and resumes: SUSPENDED, EC2 shows "suspend" (80)', async () => {
      const s = await boot('suspending');
      assert.equal((await act(s.id, { suspend: null })).status, 202);
      await settle(s.id, 'SUSPENDED');
      assert.equal(driver.describe(s.id)?.state, 'suspended');
      assert.deepEqual(await ec2StateOf(s.id), { Code: 80, Name: 'suspend' });
      assertFault(await act(s.id, { pause: null }), 409, 'conflictingRequest', /suspended/);
      assert.equal((await act(s.id, { resume: null })).status, 202);
      await settle(s.id, 'ACTIVE');
      assert.deepEqual(await ec2StateOf(s.id), { Code: 16, Name: 'running' });
    });

    it('rescues from another image and unrescues: RESCUE, with a password', async () => {
      const s = await boot('rescuing');
      const r = await act(s.id, { rescue: { rescue_image_ref: otherImageId } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assertSchema(rescueResponse, r.body, 'POST /servers/{id}/action rescue');
      await settle(s.id, 'RESCUE');
      assert.equal(driver.describe(s.id)?.rescueImageId, otherImageId);
      assert.deepEqual(await ec2StateOf(s.id), { Code: 16, Name: 'rescue' });
      const given = await act(s.id, { rescue: { adminPass: 'again' } });
      assertFault(given, 409, 'conflictingRequest', /vm_state rescued/);
      assert.equal((await act(s.id, { unrescue: null })).status, 202);
      await settle(s.id, 'ACTIVE');
      assert.equal(driver.describe(s.id)?.rescueImageId, undefined);
      assertFault(
        await act(s.id, { rescue: { rescue_image_ref: '00000000-0000-4000-8000-000000000000' } }),
        400,
        'badRequest',
      );
      assert.equal((await show(s.id)).status, 'ACTIVE');
    });

    it('rebuilds with a new image, name and metadata: same address, a new password', async () => {
      const s = await boot('rebuilding');
      const address = Object.values(s.addresses).flat()[0]?.addr;
      assert.ok(address);
      const r = await act(
        s.id,
        { rebuild: { imageRef: otherImageId, name: 'rebuilt', metadata: { role: 'db' } } },
        { version: '2.57' },
      );
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assertSchema(rebuildResponse, r.body, 'POST /servers/{id}/action rebuild at 2.57');
      const after = await settle(s.id, 'ACTIVE');
      assert.equal(after.image.id, otherImageId);
      assert.equal(after.name, 'rebuilt');
      assert.deepEqual(after.metadata, { role: 'db' });
      assert.equal(Object.values(after.addresses).flat()[0]?.addr, address);
      assert.equal(driver.describe(s.id)?.imageId, otherImageId);
      // Fields of later microversions are refused before them.
      assertFault(
        await act(s.id, { rebuild: { imageRef: imageId, key_name: 'k' } }, { version: '2.53' }),
        400,
        'badRequest',
        /key_name/,
      );
      assertFault(await act(s.id, { rebuild: { name: 'x' } }), 400, 'badRequest', /imageRef/);
      assert.equal((await show(s.id)).image.id, otherImageId, 'the refusals changed nothing');
    });

    it('resizes, reverts to the old flavor, resizes again and confirms', async () => {
      const s = await boot('resizing');
      assertFault(
        await act(s.id, { resize: { flavorRef: '1' } }),
        400,
        'badRequest',
        /must change flavor/,
      );
      assertFault(await act(s.id, { resize: { flavorRef: 'nope' } }), 400, 'badRequest');
      assertFault(await act(s.id, { confirmResize: null }), 409, 'conflictingRequest');

      assert.equal((await act(s.id, { resize: { flavorRef: '3' } })).status, 202);
      const verify = await settle(s.id, 'VERIFY_RESIZE');
      assert.equal(verify.flavor.id, '3');
      assert.equal(driver.describe(s.id)?.size?.memoryMb, 2048);
      assert.deepEqual(await ec2StateOf(s.id), { Code: 16, Name: 'resize' });
      assert.equal((await act(s.id, { revertResize: null })).status, 202);
      const reverted = await settle(s.id, 'ACTIVE');
      assert.equal(reverted.flavor.id, '1');
      assert.equal(driver.describe(s.id)?.size?.memoryMb, 128);

      assert.equal((await act(s.id, { resize: { flavorRef: '3' } })).status, 202);
      await settle(s.id, 'VERIFY_RESIZE');
      assert.equal((await act(s.id, { confirmResize: null })).status, 204);
      const confirmed = await settle(s.id, 'ACTIVE');
      assert.equal(confirmed.flavor.id, '3');
      const [row] = await new InstanceRepo(t.cloud.database.db).list({ ids: [s.id] });
      assert.equal(row?.memoryMb, 2048);
      assert.equal(row?.resizeSource, null);
    });

    it('locks with a reason (2.73): non-admins get 409, an admin lock is only lifted by an admin', async () => {
      const s = await boot('locking');
      assertFault(
        await act(s.id, { lock: { locked_reason: 'too early' } }, { version: '2.72' }),
        400,
        'badRequest',
        /locked_reason/,
      );
      assert.equal(
        (await act(s.id, { lock: { locked_reason: 'maintenance' } }, { version: '2.73' })).status,
        202,
      );
      const [row] = await new InstanceRepo(t.cloud.database.db).list({ ids: [s.id] });
      assert.equal(row?.lockedBy, 'owner');
      const shown = await call('GET', `/v2.1/servers/${s.id}`, { version: '2.73' });
      const lockView = shown.body.server as { locked?: boolean; locked_reason?: string | null };
      assert.deepEqual([lockView.locked, lockView.locked_reason], [true, 'maintenance']);
      const at9 = (await call('GET', `/v2.1/servers/${s.id}`, { version: '2.9' })).body
        .server as Record<string, unknown>;
      assert.equal(at9.locked, true);
      assert.equal('locked_reason' in at9, false);
      assert.equal('locked' in ((await show(s.id)) as unknown as Record<string, unknown>), false);
      assertFault(
        await act(s.id, { pause: null }),
        409,
        'conflictingRequest',
        new RegExp(`Instance ${s.id} is locked`),
      );
      assertFault(await act(s.id, { 'os-stop': null }), 409, 'conflictingRequest', /is locked/);
      assertFault(
        await call('DELETE', `/v2.1/servers/${s.id}`),
        409,
        'conflictingRequest',
        /is locked/,
      );
      // An admin acts on a locked server.
      assert.equal((await act(s.id, { pause: null }, { token: admin })).status, 202);
      await settle(s.id, 'PAUSED');
      assert.equal((await act(s.id, { unpause: null }, { token: admin })).status, 202);
      await settle(s.id, 'ACTIVE');
      assert.equal((await act(s.id, { unlock: null })).status, 202);
      assert.equal((await act(s.id, { pause: null })).status, 202);
      await settle(s.id, 'PAUSED');
      assert.equal((await act(s.id, { unpause: null })).status, 202);
      await settle(s.id, 'ACTIVE');

      // Locked by an admin from another project: the owner cannot unlock it.
      assert.equal((await act(s.id, { lock: null }, { token: admin })).status, 202);
      assertFault(await act(s.id, { unlock: null }), 403, 'forbidden');
      assert.equal((await act(s.id, { unlock: null }, { token: admin })).status, 202);
    });

    it('lists and shows the action records per microversion, deleted servers from 2.21', async () => {
      const s = await boot('recorded');
      assert.equal((await act(s.id, { pause: null })).status, 202);
      await settle(s.id, 'PAUSED');
      assert.equal((await act(s.id, { unpause: null })).status, 202);
      await settle(s.id, 'ACTIVE');
      assert.equal((await act(s.id, { reboot: { type: 'HARD' } })).status, 202);
      await settle(s.id, 'ACTIVE');
      const base = `/v2.1/servers/${s.id}/os-instance-actions`;

      const v21 = await call('GET', base);
      assert.equal(v21.status, 200);
      assertSchema(instanceActionsList(1), v21.body, 'GET os-instance-actions at 2.1');
      const list = v21.body as unknown as ActionList;
      assert.deepEqual(
        list.instanceActions.map((a) => a.action),
        ['reboot', 'unpause', 'pause', 'create'],
      );
      const create = list.instanceActions[3]?.request_id as string;
      const pause = list.instanceActions[2]?.request_id as string;

      // Before 2.51 a member sees no events; an admin does.
      const member50 = await call('GET', `${base}/${pause}`, { version: '2.50' });
      assertSchema(instanceActionShow(50, false), member50.body, 'show at 2.50 (member)');
      const admin50 = await call('GET', `${base}/${create}`, { version: '2.50', token: admin });
      assertSchema(instanceActionShow(50, true), admin50.body, 'show at 2.50 (admin)');
      assert.deepEqual(
        (admin50.body as unknown as ActionShow).instanceAction.events?.map((e) => [
          e.event,
          e.result,
        ]),
        [['compute__do_build_and_run_instance', 'Success']],
      );
      const member51 = await call('GET', `${base}/${pause}`, { version: '2.51' });
      assertSchema(instanceActionShow(51, false), member51.body, 'show at 2.51 (member)');
      assert.deepEqual(
        (member51.body as unknown as ActionShow).instanceAction.events?.map((e) => e.event),
        ['compute_pause_instance'],
      );
      const member62 = await call('GET', `${base}/${pause}`, { version: '2.62' });
      assertSchema(instanceActionShow(62, false), member62.body, 'show at 2.62 (member)');
      const admin84 = await call('GET', `${base}/${pause}`, { version: '2.84', token: admin });
      assertSchema(instanceActionShow(84, true), admin84.body, 'show at 2.84 (admin)');
      assert.ok((admin84.body as unknown as ActionShow).instanceAction.events?.[0]?.host);
      assertFault(await call('GET', `${base}/req-none`), 404, 'itemNotFound');

      // 2.58: updated_at, paging with a next link, changes-since.
      const page = await call('GET', `${base}?limit=2`, { version: '2.58' });
      assertSchema(instanceActionsList(58), page.body, 'GET os-instance-actions at 2.58');
      const first = page.body as unknown as ActionList;
      assert.deepEqual(
        first.instanceActions.map((a) => a.action),
        ['reboot', 'unpause'],
      );
      assert.match(first.links?.[0]?.href ?? '', /marker=/);
      const rest = await call(
        'GET',
        `${base}?limit=2&marker=${first.instanceActions[1]?.request_id}`,
        { version: '2.58' },
      );
      assert.deepEqual(
        (rest.body as unknown as ActionList).instanceActions.map((a) => a.action),
        ['pause', 'create'],
      );
      assertFault(await call('GET', `${base}?marker=nope`, { version: '2.58' }), 400, 'badRequest');
      const future = new Date(Date.now() + 3_600_000).toISOString();
      const since = await call('GET', `${base}?changes-since=${future}`, { version: '2.58' });
      assert.deepEqual((since.body as unknown as ActionList).instanceActions, []);
      assertFault(
        await call('GET', `${base}?changes-before=${future}`, { version: '2.65' }),
        400,
        'badRequest',
      );

      // A deleted server's records: 404 before 2.21, listed from 2.21 on.
      assert.equal((await call('DELETE', `/v2.1/servers/${s.id}`)).status, 204);
      await waitUntil(
        async () => (await call('GET', `/v2.1/servers/${s.id}`)).status === 404,
        10_000,
        'server deleted',
      );
      assertFault(await call('GET', base, { version: '2.20' }), 404, 'itemNotFound');
      const gone = await call('GET', base, { version: '2.21' });
      assertSchema(instanceActionsList(21), gone.body, 'GET os-instance-actions at 2.21');
      assert.equal((gone.body as unknown as ActionList).instanceActions[0]?.action, 'delete');
    });

    it('shows and clears the password the guest posted (os-server-password)', async () => {
      const s = await boot('password');
      const path = `/v2.1/servers/${s.id}/os-server-password`;
      const none = await call('GET', path);
      assertSchema(serverPassword, none.body, 'GET os-server-password');
      assert.deepEqual(none.body, { password: '' });
      const repo = new InstanceRepo(t.cloud.database.db);
      assert.ok(await repo.recordPasswordData(s.id, 'ZW5jcnlwdGVk', Date.now()));
      const posted = await call('GET', path);
      assertSchema(serverPassword, posted.body, 'GET os-server-password');
      assert.deepEqual(posted.body, { password: 'ZW5jcnlwdGVk' });
      assert.equal((await call('DELETE', path)).status, 204);
      assert.deepEqual((await call('GET', path)).body, { password: '' });
      // Cleared, the guest may post a new one.
      assert.ok(await repo.recordPasswordData(s.id, 'bmV3', Date.now()));
    });

    it('works through openstackclient: pause, suspend, lock, rescue, rebuild, resize', async () => {
      const env = { ...adminEnv(t), OS_COMPUTE_API_VERSION: '2.73' };
      const run = async (args: string[]) => {
        const r = await openstack(env, args);
        assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.err}`);
        return r.out;
      };
      const created = JSON.parse(
        await run([
          'server',
          'create',
          '--image',
          imageId,
          '--flavor',
          'm1.nano',
          '--wait',
          '-f',
          'json',
          'osc-vm',
        ]),
      ) as { id: string };
      const status = async () =>
        (JSON.parse(await run(['server', 'show', created.id, '-f', 'json'])) as { status: string })
          .status;
      const settled = (want: string) =>
        waitUntil(
          async () =>
            (await status()) === want &&
            (await show(created.id, admin))['OS-EXT-STS:task_state'] === null,
          10_000,
          want,
        );

      await run(['server', 'pause', created.id]);
      await settled('PAUSED');
      await run(['server', 'unpause', created.id]);
      await settled('ACTIVE');
      await run(['server', 'suspend', created.id]);
      await settled('SUSPENDED');
      await run(['server', 'resume', created.id]);
      await settled('ACTIVE');
      await run(['server', 'lock', '--reason', 'by osc', created.id]);
      const [locked] = await new InstanceRepo(t.cloud.database.db).list({ ids: [created.id] });
      assert.equal(locked?.lockedReason, 'by osc');
      await run(['server', 'unlock', created.id]);
      await run(['server', 'rescue', '--image', otherImageId, created.id]);
      await settled('RESCUE');
      await run(['server', 'unrescue', created.id]);
      await settled('ACTIVE');
      await run(['server', 'rebuild', '--image', otherImageId, '--wait', created.id]);
      await settled('ACTIVE');
      assert.equal((await show(created.id, admin)).image.id, otherImageId);
      await run(['server', 'resize', '--flavor', 'm1.small', '--wait', created.id]);
      await settled('VERIFY_RESIZE');
      await run(['server', 'resize', 'revert', created.id]);
      await settled('ACTIVE');
      assert.equal((await show(created.id, admin)).flavor.id, '1');
      await run(['server', 'resize', '--flavor', 'm1.small', '--wait', created.id]);
      await settled('VERIFY_RESIZE');
      await run(['server', 'resize', 'confirm', created.id]);
      await settled('ACTIVE');
      assert.equal((await show(created.id, admin)).flavor.id, '3');
      const events = JSON.parse(
        await run(['server', 'event', 'list', created.id, '-f', 'json']),
      ) as {
        Action: string;
      }[];
      assert.deepEqual(events.map((e) => e.Action).slice(0, 3), [
        'confirmResize',
        'resize',
        'revertResize',
      ]);
      const stopped = await openstack(env, ['server', 'pause', 'no-such-server']);
      assert.notEqual(stopped.code, 0);
    });
  });
}
