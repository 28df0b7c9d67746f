// Image API v2 members, the same shares as EC2's launch permissions: the owner adds a project
// (pending), the member sees the image by id but not in its listing until it accepts, then
// sees it `shared`; only the member answers, only the owner adds and removes; every refusal
// in the API's error JSON. Then python-openstackclient: image add project, image member
// list, image set --accept, and the accepted image in the member's image list.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IdentityService } from '../src/identity/index.js';
import { assertSchema } from './support/api-schema.js';
import { needs } from './support/capabilities.js';
import { startTestCloud, type TestCloud } from './support/ec2.js';
import { adminEnv, login, openstack, PASSWORD } from './support/openstack.js';
import { memberListSchema, memberSchema } from './support/schemas/image.js';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

interface Member {
  image_id: string;
  member_id: string;
  status: string;
  created_at: string;
  updated_at: string;
  schema: string;
}

describe(
  'Image API v2 members',
  // qemu-img checks every uploaded file.
  needs('qemu-img'),
  () => {
    let t: TestCloud;
    let url: string;
    let dir: string;
    let raw: string;
    const tokens: Record<'admin' | 'alice' | 'bob' | 'carol', string> = {
      admin: '',
      alice: '',
      bob: '',
      carol: '',
    };
    const projects: Record<'alice' | 'bob' | 'carol', string> = { alice: '', bob: '', carol: '' };

    const call = async (
      method: string,
      p: string,
      who: keyof typeof tokens,
      body?: unknown,
      type = 'application/json',
    ): Promise<Answer> => {
      const r = await fetch(`${url}${p}`, {
        method,
        headers: {
          'x-auth-token': tokens[who],
          ...(body === undefined ? {} : { 'content-type': type }),
        },
        body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body),
      });
      const text = await r.text();
      return { status: r.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    };
    const newImage = async (who: keyof typeof tokens, name: string, visibility = 'private') => {
      const created = await call('POST', '/v2/images', who, {
        name,
        disk_format: 'raw',
        container_format: 'bare',
        visibility,
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id as string;
      const put = await call(
        'PUT',
        `/v2/images/${id}/file`,
        who,
        fs.readFileSync(raw),
        'application/octet-stream',
      );
      assert.equal(put.status, 204);
      return id;
    };
    const listed = async (who: keyof typeof tokens, query = '') =>
      ((await call('GET', `/v2/images${query}`, who)).body.images as { id: string }[]).map(
        (i) => i.id,
      );
    const refused = (a: Answer, status: number, message?: RegExp) => {
      assert.equal(a.status, status, JSON.stringify(a.body));
      const e = a.body.error as { code: number; message: string };
      assert.equal(e.code, status);
      if (message) assert.match(e.message, message);
    };

    before(async () => {
      t = await startTestCloud();
      url = t.cloud.urls?.image as string;
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-image-members-'));
      raw = path.join(dir, 'disk.raw');
      fs.writeFileSync(raw, Buffer.alloc(1024 * 1024, 7));
      const identity = new IdentityService(t.cloud.database.db);
      await identity.setPassword('admin', PASSWORD);
      for (const name of ['alice', 'bob', 'carol'] as const) {
        await identity.createUser({ name, password: PASSWORD });
        projects[name] = (await identity.createProject({ name: `${name}-project` })).id;
        await identity.grantRole(name, `${name}-project`, 'member');
        tokens[name] = await login(t.cloud.urls?.identity as string, name, `${name}-project`);
      }
      tokens.admin = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
    });
    after(async () => {
      await t?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('shares an image pending until the member accepts, then lists it as shared', async () => {
      const id = await newImage('alice', 'to-share');
      const added = await call('POST', `/v2/images/${id}/members`, 'alice', {
        member: projects.bob,
      });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      assertSchema(memberSchema, added.body, 'POST /v2/images/{id}/members');
      const m = added.body as unknown as Member;
      assert.deepEqual([m.image_id, m.member_id, m.status], [id, projects.bob, 'pending']);
      assert.equal(m.schema, '/v2/schemas/member');
      assert.match(m.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);

      // Pending: shown by id, not listed.
      assert.equal((await call('GET', `/v2/images/${id}`, 'bob')).status, 200);
      assert.ok(!(await listed('bob')).includes(id));
      assert.equal((await call('GET', `/v2/images/${id}`, 'alice')).body.visibility, 'shared');
      // Carol, not a member, sees nothing of it.
      refused(await call('GET', `/v2/images/${id}`, 'carol'), 404);
      refused(await call('GET', `/v2/images/${id}/members`, 'carol'), 404);

      const accepted = await call('PUT', `/v2/images/${id}/members/${projects.bob}`, 'bob', {
        status: 'accepted',
      });
      assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
      assert.equal(accepted.body.status, 'accepted');
      assertSchema(memberSchema, accepted.body, 'PUT /v2/images/{id}/members/{member}');
      assert.ok((await listed('bob')).includes(id));
      assert.ok((await listed('bob', '?visibility=shared')).includes(id));
      assert.ok(!(await listed('bob', '?visibility=private')).includes(id));
      assert.ok((await listed('alice', '?visibility=shared')).includes(id));

      await call('POST', `/v2/images/${id}/members`, 'alice', { member: projects.carol });
      const all = (await call('GET', `/v2/images/${id}/members`, 'alice')).body;
      assert.equal(all.schema, '/v2/schemas/members');
      assertSchema(memberListSchema, all, 'GET /v2/images/{id}/members');
      assert.deepEqual(
        (all.members as Member[]).map((x) => [x.member_id, x.status]),
        [
          [projects.bob, 'accepted'],
          [projects.carol, 'pending'],
        ],
      );
      // A member sees only its own membership.
      const mine = (await call('GET', `/v2/images/${id}/members`, 'bob')).body.members as Member[];
      assert.deepEqual(
        mine.map((x) => x.member_id),
        [projects.bob],
      );
      const one = await call('GET', `/v2/images/${id}/members/${projects.bob}`, 'alice');
      assert.equal(one.body.status, 'accepted');

      // Rejected: no longer listed; removed: not even shown.
      await call('PUT', `/v2/images/${id}/members/${projects.bob}`, 'bob', { status: 'rejected' });
      assert.ok(!(await listed('bob')).includes(id));
      const removed = await call('DELETE', `/v2/images/${id}/members/${projects.bob}`, 'alice');
      assert.equal(removed.status, 204);
      refused(await call('GET', `/v2/images/${id}`, 'bob'), 404);
      refused(await call('DELETE', `/v2/images/${id}/members/${projects.bob}`, 'alice'), 404);
    });

    it('lets only the owner add and remove, only the member answer, and refuses bad requests', async () => {
      const id = await newImage('alice', 'guarded');
      await call('POST', `/v2/images/${id}/members`, 'alice', { member: projects.bob });
      refused(
        await call('POST', `/v2/images/${id}/members`, 'alice', { member: projects.bob }),
        409,
      );
      refused(
        await call('POST', `/v2/images/${id}/members`, 'bob', { member: projects.carol }),
        403,
      );
      refused(await call('DELETE', `/v2/images/${id}/members/${projects.bob}`, 'bob'), 403);
      refused(
        await call('PUT', `/v2/images/${id}/members/${projects.bob}`, 'alice', {
          status: 'accepted',
        }),
        403,
      );
      refused(
        await call('PUT', `/v2/images/${id}/members/${projects.carol}`, 'carol', {
          status: 'accepted',
        }),
        404,
      );
      refused(await call('GET', `/v2/images/${id}/members/${projects.carol}`, 'alice'), 404);
      refused(
        await call('POST', `/v2/images/${id}/members`, 'alice', { member: 'f'.repeat(32) }),
        404,
      );
      refused(
        await call('POST', `/v2/images/${id}/members`, 'alice', { member: projects.alice }),
        400,
      );
      for (const body of [{}, { member: 7 }, { member: projects.carol, extra: 1 }, []]) {
        refused(await call('POST', `/v2/images/${id}/members`, 'alice', body), 400);
      }
      for (const body of [{}, { status: 'maybe' }, { status: 'accepted', x: 1 }]) {
        refused(await call('PUT', `/v2/images/${id}/members/${projects.bob}`, 'bob', body), 400);
      }
      const pub = await newImage('admin', 'everyones', 'public');
      refused(
        await call('POST', `/v2/images/${pub}/members`, 'admin', { member: projects.bob }),
        403,
        /Public images do not have members/,
      );
    });

    it(
      'works with python-openstackclient: add project, member list, set --accept',
      { ...needs('openstackclient'), timeout: 180_000 },
      async () => {
        const id = await newImage('alice', 'osc-shared');
        const env = (user: 'alice' | 'bob') => ({
          ...adminEnv(t, dir),
          OS_USERNAME: user,
          OS_PROJECT_NAME: `${user}-project`,
        });
        const add = await openstack(env('alice'), [
          'image',
          'add',
          'project',
          id,
          projects.bob,
          '-f',
          'json',
        ]);
        assert.equal(add.code, 0, add.err);
        assert.equal((JSON.parse(add.out) as { status: string }).status, 'pending');

        const members = await openstack(env('alice'), [
          'image',
          'member',
          'list',
          id,
          '-f',
          'json',
        ]);
        assert.equal(members.code, 0, members.err);
        const rows = JSON.parse(members.out) as { 'Member ID': string; Status: string }[];
        assert.deepEqual(
          rows.map((r) => [r['Member ID'], r.Status]),
          [[projects.bob, 'pending']],
        );

        const accept = await openstack(env('bob'), ['image', 'set', '--accept', id]);
        assert.equal(accept.code, 0, accept.err);
        const list = await openstack(env('bob'), ['image', 'list', '--shared', '-f', 'json']);
        assert.equal(list.code, 0, list.err);
        assert.deepEqual(
          (JSON.parse(list.out) as { ID: string }[]).map((r) => r.ID),
          [id],
        );
        const removed = await openstack(env('alice'), [
          'image',
          'remove',
          'project',
          id,
          projects.bob,
        ]);
        assert.equal(removed.code, 0, removed.err);
        const gone = await openstack(env('bob'), ['image', 'list', '-f', 'json']);
        assert.ok(!(JSON.parse(gone.out) as { ID: string }[]).some((r) => r.ID === id));
      },
    );
  },
);
