// The tag service on every database: which resources a caller reaches, the per-resource limit
// (also under concurrent requests), removal rules, and what a listing shows.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { userContext, type RequestContext } from '../context.js';
import {
  InstanceRepo,
  SecurityGroupRepo,
  type Database,
  type ImageKind,
  type InstanceRow,
} from '../db/index.js';
import { openTestDatabase, TEST_BACKENDS } from '../../test/support/databases.js';
import { stratusError } from '../../test/support/expect.js';
import { insertImage } from '../../test/support/images.js';
import { instanceRow } from '../../test/support/instances.js';
import { needs } from '../../test/support/capabilities.js';
import { IdentityService } from '../identity/index.js';
import { MAX_TAGS_PER_RESOURCE, TagService, type TaggableRef } from './tag-service.js';

const VISIBLE_MS = 60_000;

const keys = (n: number, prefix = 'k') =>
  Array.from({ length: n }, (_, i) => ({ key: `${prefix}${i}`, value: `v${i}` }));

for (const backend of TEST_BACKENDS) {
  describe(`tag service on ${backend.name}`, needs(...backend.needs), () => {
    let database: Database;
    let tags: TagService;
    let alice: RequestContext;
    let bob: RequestContext;
    let admin: RequestContext;

    before(async () => {
      database = await openTestDatabase(backend);
      tags = new TagService({ db: database.db, terminatedVisibleMs: VISIBLE_MS });
      const identity = new IdentityService(database.db);
      const a = await identity.createProject({ name: 'alice' });
      const b = await identity.createProject({ name: 'bob' });
      alice = userContext({ userId: 'u-a', projectId: a.id, roles: ['member'] });
      bob = userContext({ userId: 'u-b', projectId: b.id, roles: ['member'] });
      admin = userContext({ userId: 'u-admin', projectId: b.id, roles: ['admin'] });
    });
    after(() => database.close());

    const instanceOf = async (ctx: RequestContext): Promise<InstanceRow> => {
      const row = instanceRow({
        projectId: ctx.projectId as string,
        userId: ctx.userId as string,
        host: 'compute-1',
      });
      await new InstanceRepo(database.db).insert([row], []);
      return row;
    };

    const imageOf = async (ownerProjectId: string | null, kind: ImageKind) => {
      return insertImage(database.db, {
        kind,
        ownerProjectId,
        isPublic: ownerProjectId === null ? 1 : 0,
        sizeBytes: 1,
      });
    };

    const ref = (type: TaggableRef['type'], id: string): TaggableRef => ({
      type,
      idPrefix: id.slice(0, 8),
      shown: `shown-${id.slice(0, 8)}`,
    });

    const tagsOf = async (id: string) =>
      ((await tags.of([id])).get(id) ?? []).map((t) => `${t.key}=${t.value}`).sort();

    it('tags resources of the caller, in the project that owns them', async () => {
      const vm = await instanceOf(alice);
      const group = await new SecurityGroupRepo(database.db).ensureDefault(
        alice.projectId as string,
      );
      const done = await tags.create(
        alice,
        [ref('instance', vm.id), ref('security-group', group.id)],
        [
          { key: 'Name', value: 'first' },
          { key: 'Name', value: 'web' },
          { key: 'env', value: '' },
        ],
      );
      assert.deepEqual(
        done.map((r) => [r.type, r.id, r.projectId]),
        [
          ['instance', vm.id, alice.projectId],
          ['security-group', group.id, alice.projectId],
        ],
      );
      // A key given twice keeps its last value.
      assert.deepEqual(await tagsOf(vm.id), ['Name=web', 'env=']);
      assert.deepEqual(await tagsOf(group.id), ['Name=web', 'env=']);
      const listed = await tags.list(alice);
      assert.ok(listed.some((t) => t.resourceId === vm.id && t.resourceType === 'instance'));
      assert.ok(listed.every((t) => t.projectId === alice.projectId));
      assert.ok(!(await tags.list(bob)).some((t) => t.resourceId === vm.id));
      assert.ok((await tags.list(admin)).some((t) => t.resourceId === vm.id));
    });

    it("refuses another project's resource as not found, naming it as the caller did", async () => {
      const vm = await instanceOf(alice);
      await assert.rejects(
        tags.create(bob, [ref('instance', vm.id)], [{ key: 'a', value: 'b' }]),
        stratusError('not_found', { resource: 'instance', id: `shown-${vm.id.slice(0, 8)}` }),
      );
      assert.deepEqual(await tagsOf(vm.id), []);
      // An admin reaches it, and the tag is kept in the owner's project.
      const [found] = await tags.create(
        admin,
        [ref('instance', vm.id)],
        [{ key: 'a', value: 'b' }],
      );
      assert.equal(found?.projectId, alice.projectId);
      await assert.rejects(
        tags.resolve(alice, [ref('elastic-ip', randomUUID())]),
        stratusError('not_found', { resource: 'allocation' }),
      );
    });

    it('keeps an image kind apart and tags the cloud’s own images in the caller’s project', async () => {
      const kernel = await imageOf(null, 'kernel');
      await assert.rejects(
        tags.resolve(admin, [{ ...ref('image', kernel.id), imageKind: 'machine' }]),
        stratusError('not_found', { resource: 'image' }),
      );
      const [found] = await tags.create(
        admin,
        [{ ...ref('image', kernel.id), imageKind: 'kernel' }],
        [{ key: 'role', value: 'boot' }],
      );
      assert.equal(found?.projectId, admin.projectId);
      const entry = (await tags.list(admin)).find((t) => t.resourceId === kernel.id);
      assert.equal(entry?.imageKind, 'kernel');
      // A member cannot tag an image its project does not own.
      await assert.rejects(
        tags.resolve(alice, [{ ...ref('image', kernel.id), imageKind: 'kernel' }]),
        stratusError('not_found', { resource: 'image' }),
      );
    });

    it(`holds a resource to ${MAX_TAGS_PER_RESOURCE} tags`, async () => {
      const vm = await instanceOf(alice);
      const r = [ref('instance', vm.id)];
      await assert.rejects(
        tags.create(alice, r, keys(MAX_TAGS_PER_RESOURCE + 1)),
        stratusError('over_quota', { resource: 'tags', reason: 'tags' }),
      );
      await tags.create(alice, r, keys(MAX_TAGS_PER_RESOURCE));
      // A new value for a key it has is no new tag; a new key is one too many.
      await tags.create(alice, r, [{ key: 'k0', value: 'changed' }]);
      await assert.rejects(
        tags.create(alice, r, [{ key: 'one-more', value: 'x' }]),
        stratusError('over_quota', { reason: 'tags' }),
      );
      const [resource] = await tags.resolve(alice, r);
      await assert.rejects(
        tags.put([resource!], [{ key: 'Name', value: 'server' }]),
        stratusError('over_quota', { reason: 'tags' }),
      );
      const now = await tagsOf(vm.id);
      assert.equal(now.length, MAX_TAGS_PER_RESOURCE);
      assert.ok(now.includes('k0=changed'));
    });

    it('counts concurrent requests on one resource one at a time', async () => {
      const vm = await instanceOf(alice);
      const r = [ref('instance', vm.id)];
      const results = await Promise.allSettled([
        tags.create(alice, r, keys(30, 'a')),
        tags.create(alice, r, keys(30, 'b')),
      ]);
      assert.deepEqual(results.map((x) => x.status).sort(), ['fulfilled', 'rejected']);
      const refused = results.find((x) => x.status === 'rejected') as PromiseRejectedResult;
      stratusError('over_quota', { reason: 'tags' })(refused.reason);
      assert.equal((await tagsOf(vm.id)).length, 30);
    });

    it('removes a tag by key, by key and exact value, or all of them', async () => {
      const vm = await instanceOf(alice);
      const r = [ref('instance', vm.id)];
      await tags.create(alice, r, [
        { key: 'a', value: '1' },
        { key: 'b', value: '' },
        { key: 'c', value: '3' },
      ]);
      await tags.delete(alice, r, [
        { key: 'a', value: 'not-1' },
        { key: 'b', value: '' },
        { key: 'missing' },
      ]);
      assert.deepEqual(await tagsOf(vm.id), ['a=1', 'c=3']);
      await tags.delete(alice, r, [{ key: 'a' }]);
      assert.deepEqual(await tagsOf(vm.id), ['c=3']);
      await assert.rejects(tags.delete(bob, r, []), stratusError('not_found'));
      await tags.delete(alice, r, []);
      assert.deepEqual(await tagsOf(vm.id), []);
    });

    it('lists only tags of resources that still exist', async () => {
      const vm = await instanceOf(alice);
      await tags.create(alice, [ref('instance', vm.id)], [{ key: 'gone', value: 'soon' }]);
      assert.ok((await tags.list(alice)).some((t) => t.resourceId === vm.id));
      await new InstanceRepo(database.db).update(vm.id, {
        vmState: 'deleted',
        terminatedAt: Date.now() - 2 * VISIBLE_MS,
      });
      assert.ok(!(await tags.list(alice)).some((t) => t.resourceId === vm.id));
      await assert.rejects(
        tags.resolve(alice, [ref('instance', vm.id)]),
        stratusError('not_found', { resource: 'instance' }),
      );
    });
  });
}
