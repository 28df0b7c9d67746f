// Launch templates and their repository on SQLite and PostgreSQL: versions made at once get
// distinct numbers, a ClientToken answers its first template, names are unique per project,
// the per-project limit holds under concurrent creates, and a launch's parameters win over
// the template's.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { needs } from '../../test/support/capabilities.js';
import { openTestDatabase, TEST_BACKENDS } from '../../test/support/databases.js';
import { stratusError } from '../../test/support/expect.js';
import { userContext } from '../context.js';
import { LaunchTemplateRepo, ProjectRepo, TagRepo, type Database } from '../db/index.js';
import { applyLaunchTemplate } from './launch-data.js';
import { LaunchTemplateService } from './launch-templates.js';

const ctx = (projectId: string) => userContext({ userId: 'u1', projectId, roles: ['member'] });

describe('applyLaunchTemplate', () => {
  it('lets each given field win and merges tags by resource type and key', () => {
    const merged = applyLaunchTemplate(
      {
        imageRef: 'aaaa',
        instanceType: 'm1.tiny',
        securityGroupNames: ['web'],
        tagSpecifications: [
          {
            resourceType: 'instance',
            tags: [
              { key: 'a', value: '1' },
              { key: 'b', value: '2' },
            ],
          },
        ],
      },
      {
        instanceType: 'm1.nano',
        tagSpecifications: [{ resourceType: 'instance', tags: [{ key: 'b', value: '3' }] }],
      },
    );
    assert.deepEqual(merged, {
      imageRef: 'aaaa',
      instanceType: 'm1.nano',
      securityGroupNames: ['web'],
      tagSpecifications: [
        {
          resourceType: 'instance',
          tags: [
            { key: 'a', value: '1' },
            { key: 'b', value: '3' },
          ],
        },
      ],
    });
  });
});

for (const backend of TEST_BACKENDS) {
  describe(`launch templates on ${backend.name}`, needs(...backend.needs), () => {
    let database: Database;
    let service: LaunchTemplateService;

    before(async () => {
      database = await openTestDatabase(backend);
      service = new LaunchTemplateService({ db: database.db, maxTemplates: 3 });
      for (const id of ['p1', 'p2']) {
        await new ProjectRepo(database.db).create({
          id,
          name: id,
          description: '',
          enabled: 1,
          createdAt: Date.now(),
        });
      }
    });
    after(() => database.close());

    it('numbers versions made at once without gaps or repeats', async () => {
      const { template } = await service.create(ctx('p1'), {
        name: 'busy',
        data: { instanceType: 'm1.tiny' },
        tags: [{ key: 'team', value: 'a' }],
      });
      const made = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          service.createVersion(ctx('p1'), { name: 'busy' }, { data: { keyName: `k${i}` } }),
        ),
      );
      assert.deepEqual(
        made.map((v) => v.version).sort((a, b) => a - b),
        [2, 3, 4, 5, 6, 7, 8, 9],
      );
      const repo = new LaunchTemplateRepo(database.db);
      const [row] = await repo.list({ idPrefixes: [template.id] });
      assert.equal(row?.latestVersion, 9);
      assert.equal(row?.defaultVersion, 1);
      assert.equal(await repo.countVersions(template.id), 9);
    });

    it('answers a ClientToken with its first template, and refuses a name twice', async () => {
      const first = await service.create(ctx('p1'), {
        name: 'tok',
        data: { instanceType: 'm1.tiny' },
        clientToken: 'abc',
      });
      const again = await service.create(ctx('p1'), {
        name: 'tok',
        data: { instanceType: 'm1.nano' },
        clientToken: 'abc',
      });
      assert.equal(again.template.id, first.template.id);
      assert.equal(again.version.data.instanceType, 'm1.tiny');
      await assert.rejects(
        service.create(ctx('p1'), { name: 'tok', data: { instanceType: 'm1.tiny' } }),
        stratusError('already_exists', { resource: 'launch_template' }),
      );
      // Another project has its own names.
      const other = await service.create(ctx('p2'), { name: 'tok', data: { keyName: 'x' } });
      assert.notEqual(other.template.id, first.template.id);
    });

    it('holds a project to its limit under concurrent creates', async () => {
      // p1 has two templates; the limit is three.
      const results = await Promise.allSettled(
        ['cc1', 'cc2', 'cc3', 'cc4'].map((name) =>
          service.create(ctx('p1'), { name, data: { instanceType: 'm1.tiny' } }),
        ),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) {
        if (r.status === 'rejected')
          assert.ok(stratusError('over_quota', { resource: 'launch_templates' })(r.reason));
      }
      assert.equal(await new LaunchTemplateRepo(database.db).count('p1'), 3);
    });

    it('deletes versions but the default, then the template with its tags', async () => {
      const ref = { name: 'busy' };
      const r = await service.deleteVersions(ctx('p1'), ref, ['1', '9', '42', 'x']);
      assert.deepEqual(r.deleted, [9]);
      assert.deepEqual(
        r.refused.map((x) => [x.version, x.why]),
        [
          ['1', 'default'],
          ['x', 'not_found'],
          ['42', 'not_found'],
        ],
      );
      assert.equal((await service.find(ctx('p1'), ref)).latestVersion, 8);
      const next = await service.createVersion(ctx('p1'), ref, { data: { keyName: 'k' } });
      assert.equal(next.version, 10, 'a number is not given twice');
      const gone = await service.delete(ctx('p1'), ref);
      assert.equal((await new TagRepo(database.db).of([gone.id])).size, 0);
      await assert.rejects(
        service.find(ctx('p1'), ref),
        stratusError('not_found', { resource: 'launch_template', reason: 'name' }),
      );
      assert.equal(await new LaunchTemplateRepo(database.db).countVersions(gone.id), 0);
    });
  });
}
