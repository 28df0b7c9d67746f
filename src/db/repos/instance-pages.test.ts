// Listing pages done by the query (InstanceRepo.page), on every database back end: keyset
// paging in both orders across live and terminated rows, the visibility window of terminated
// instances, and filters with a limit, each compared with the same listing made in code.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { needs } from '../../../test/support/capabilities.js';
import { openTestDatabase, TEST_BACKENDS } from '../../../test/support/databases.js';
import { instanceRow } from '../../../test/support/instances.js';
import type { Database } from '../database.js';
import type { InstanceRow, TaskState, VmState } from '../schema.js';
import { instanceKey, type InstancePageQuery } from './instance-pages.js';
import { InstanceRepo } from './instances.js';
import { TagRepo } from './tags.js';

const NOW = Date.now();
const WINDOW_MS = 3600_000;
const SINCE = NOW - WINDOW_MS;

/** Listing order: creation time, launch index, id. */
function byKey(a: InstanceRow, b: InstanceRow): number {
  return (
    a.createdAt - b.createdAt ||
    a.launchIndex - b.launchIndex ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/** 48 instances of p1 in every state, three to a reservation (same creation time), and 4 of p2. */
function makeRows(): InstanceRow[] {
  const states: [VmState, TaskState | null, number | null][] = [
    ['active', null, null],
    ['stopped', null, null],
    ['deleted', null, NOW - 60_000], // terminated a minute ago: listed
    ['active', 'rebooting', null],
    ['deleted', null, NOW - 2 * WINDOW_MS], // terminated before the window: gone
    ['building', 'spawning', null],
    ['error', null, NOW - 1000], // a failed build, within the window
    ['deleted', null, SINCE + 5000], // near the edge of the window, inside
  ];
  const rows: InstanceRow[] = [];
  for (let i = 0; i < 52; i++) {
    // Rows 46 and 47 tie on creation time and launch index: the id orders them.
    const launchIndex = i === 47 ? 1 : i % 3;
    const [vmState, taskState, terminatedAt] = states[i % states.length] as (typeof states)[0];
    rows.push(
      instanceRow({
        projectId: i >= 48 ? 'p2' : 'p1',
        createdAt: NOW - WINDOW_MS * 3 + Math.floor(i / 3) * 1000,
        launchIndex,
        vmState,
        taskState,
        terminatedAt,
        privateIp: `10.0.${Math.floor(i / 10)}.${i}`,
      }),
    );
  }
  return rows;
}

for (const backend of TEST_BACKENDS) {
  describe(`instance listing pages on ${backend.name}`, needs(...backend.needs), () => {
    let database: Database;
    let repo: InstanceRepo;
    const rows = makeRows();
    const tierOf = (i: number) => (i % 4 === 0 ? 'a' : 'b');
    const visible = rows
      .filter((r) => r.projectId === 'p1' && (r.terminatedAt === null || r.terminatedAt >= SINCE))
      .sort(byKey);

    before(async () => {
      database = await openTestDatabase(backend);
      repo = new InstanceRepo(database.db);
      // Inserted out of order, so order comes from the query, not from insertion.
      await repo.insert([...rows].reverse(), []);
      await new TagRepo(database.db).put(
        rows.map((r, i) => ({
          resourceId: r.id,
          resourceType: 'instance',
          projectId: r.projectId,
          key: 'tier',
          value: i === 5 ? '50%_off' : i === 6 ? '50xyoff' : tierOf(i),
        })),
      );
    });
    after(async () => {
      await database?.close();
    });

    /** Every page of `query`, `size` rows at a time, following the last row's key. */
    const allPages = async (query: InstancePageQuery, size: number) => {
      const pages: InstanceRow[][] = [];
      let afterKey: InstancePageQuery['after'];
      for (;;) {
        const page = await repo.page({ ...query, after: afterKey, limit: size });
        assert.ok(page.length <= size);
        if (page.length > 0) pages.push(page);
        const last = page[page.length - 1];
        if (page.length < size || !last) return pages;
        afterKey = instanceKey(last);
      }
    };
    const ids = (list: readonly InstanceRow[]) => list.map((r) => r.id);

    it('pages oldest first across live and terminated rows, none lost or repeated', async () => {
      const pages = await allPages({ projectId: 'p1', terminatedSince: SINCE, order: 'oldest' }, 7);
      assert.deepEqual(ids(pages.flat()), ids(visible));
      assert.equal(pages.length, Math.ceil(visible.length / 7));
      const states = new Set(pages.flat().map((r) => r.vmState));
      assert.deepEqual([...states].sort(), ['active', 'building', 'deleted', 'error', 'stopped']);
    });

    it('pages newest first without the deleted, as the Compute API lists', async () => {
      const pages = await allPages(
        { projectId: 'p1', terminatedSince: SINCE, excludeVmStates: ['deleted'], order: 'newest' },
        5,
      );
      const expected = visible.filter((r) => r.vmState !== 'deleted').reverse();
      assert.deepEqual(ids(pages.flat()), ids(expected));
    });

    it('leaves out instances terminated before the window, and other projects', async () => {
      const listed = new Set(
        ids(await repo.page({ projectId: 'p1', terminatedSince: SINCE, order: 'oldest' })),
      );
      const old = rows.filter((r) => r.terminatedAt !== null && r.terminatedAt < SINCE);
      assert.ok(old.length > 0);
      for (const r of old) assert.ok(!listed.has(r.id), 'terminated before the window');
      for (const r of rows.filter((x) => x.projectId === 'p2')) assert.ok(!listed.has(r.id));
      const everyProject = await repo.page({ terminatedSince: SINCE, order: 'oldest' });
      assert.equal(
        everyProject.length,
        rows.filter((r) => r.terminatedAt === null || r.terminatedAt >= SINCE).length,
      );
      // Without a window every record is listed.
      assert.equal((await repo.page({ projectId: 'p1', order: 'oldest' })).length, 48);
    });

    it('pages filters by state, tag and column with a limit, as the same filters in code', async () => {
      const tierA = new Set(rows.filter((_, i) => tierOf(i) === 'a').map((r) => r.id));
      const cases: [InstancePageQuery, (r: InstanceRow) => boolean][] = [
        [
          {
            projectId: 'p1',
            terminatedSince: SINCE,
            order: 'oldest',
            states: [{ vmState: 'active', exceptTaskStates: ['rebooting'] }],
          },
          (r) => r.vmState === 'active' && r.taskState !== 'rebooting',
        ],
        [
          {
            projectId: 'p1',
            terminatedSince: SINCE,
            order: 'newest',
            tags: [{ key: { equals: ['tier'] }, value: { equals: ['a'] } }],
          },
          (r) => tierA.has(r.id),
        ],
        [
          {
            projectId: 'p1',
            terminatedSince: SINCE,
            order: 'oldest',
            states: [{ vmState: 'deleted', exceptTaskStates: [] }],
            columns: [{ column: 'privateIp', match: { like: ['10.0.1.%'] } }],
          },
          (r) => r.vmState === 'deleted' && (r.privateIp ?? '').startsWith('10.0.1.'),
        ],
        [
          {
            projectId: 'p1',
            terminatedSince: SINCE,
            order: 'oldest',
            columns: [
              {
                column: 'id',
                match: { prefixes: [(rows[9] as InstanceRow).id.slice(0, 20)] },
              },
            ],
          },
          (r) => r.id === (rows[9] as InstanceRow).id,
        ],
      ];
      for (const [query, keep] of cases) {
        let expected = visible.filter(keep);
        if (query.order === 'newest') expected = [...expected].reverse();
        assert.ok(expected.length > 0);
        assert.deepEqual(ids((await allPages(query, 3)).flat()), ids(expected));
      }
    });

    it('takes LIKE wildcards from the pattern only, and empty conditions match nothing', async () => {
      const like = await repo.page({
        projectId: 'p1',
        order: 'oldest',
        tags: [{ key: { equals: ['tier'] }, value: { like: ['50\\%\\_%'] } }],
      });
      assert.deepEqual(ids(like), [(rows[5] as InstanceRow).id]);
      assert.deepEqual(await repo.page({ projectId: 'p1', order: 'oldest', states: [] }), []);
      assert.deepEqual(
        await repo.page({
          projectId: 'p1',
          order: 'oldest',
          columns: [{ column: 'id', match: {} }],
        }),
        [],
      );
      assert.deepEqual(await repo.page({ projectId: 'p1', order: 'oldest', limit: 0 }), []);
    });
  });
}
