// Launch admission on SQLite and PostgreSQL: launches of one project that come in together
// are admitted in shared rounds, and still never go over quota (admissions on several
// database handles stand for several api processes), keep MinCount..MaxCount, leave no records of
// what they could not keep, answer one ClientToken with one set of instances, and one launch
// whose records fail does not take the others of its round down with it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { instanceRow } from '../../test/support/instances.js';
import { TEST_BACKENDS } from '../../test/support/databases.js';
import { needs } from '../../test/support/capabilities.js';
import {
  InstanceRepo,
  openDatabase,
  ProjectRepo,
  QuotaRepo,
  type Database,
  type FlavorRow,
} from '../db/index.js';
import { StratusError } from '../errors.js';
import type { QuotaLimits } from '../quota/index.js';
import { LaunchAdmission, type LaunchRecords, type LaunchRequest } from './launch-admission.js';

const DEFAULTS: QuotaLimits = {
  instances: 1000,
  cores: 1000,
  ramMb: 1_000_000,
  addresses: 10,
  securityGroups: 10,
  securityGroupRules: 100,
  keypairs: 10,
  serverGroups: 10,
  serverGroupMembers: 10,
  volumes: 10,
  gigabytes: 1000,
  snapshots: 10,
};
const FLAVOR: FlavorRow = {
  id: 'f1',
  name: 'm1.test',
  vcpus: 1,
  memoryMb: 128,
  diskGb: 1,
  isPublic: 1,
  createdAt: 0,
  description: null,
  ephemeralGb: 0,
  swapMb: 0,
  rxtxFactor: 1,
};

/** A launch of `min`..`max` instances in the `default` group, tagged, with a create action. */
function launch(
  projectId: string,
  min: number,
  max: number,
  clientToken: string | null = null,
): LaunchRequest {
  const reservationId = randomUUID();
  return {
    projectId,
    clientToken,
    flavor: FLAVOR,
    minCount: min,
    maxCount: max,
    records: (count): LaunchRecords => {
      const instances = Array.from({ length: count }, (_, i) =>
        instanceRow({
          projectId,
          reservationId,
          launchIndex: i,
          clientToken,
          vmState: 'building',
          taskState: 'scheduling',
        }),
      );
      return {
        instances,
        securityGroups: instances.map((inst) => ({ instanceId: inst.id, groupId: 'sg-default' })),
        tags: instances.map((inst) => ({
          resourceId: inst.id,
          resourceType: 'instance',
          projectId,
          key: 'Name',
          value: 'test',
        })),
        actions: instances.map((inst) => ({
          instanceId: inst.id,
          action: 'create',
          requestId: 'req',
          userId: 'u',
          projectId,
          startedAt: Date.now(),
        })),
      };
    },
  };
}

for (const backend of TEST_BACKENDS) {
  describe(`launch admission (${backend.name})`, needs(...backend.needs), () => {
    let remove: () => Promise<void>;
    let one: Database;
    let handles: Database[];
    let a: LaunchAdmission;
    let b: LaunchAdmission;
    /** One admission on each handle, as four api processes have. */
    let admissions: LaunchAdmission[];

    before(async () => {
      const created = await backend.create();
      remove = created.remove;
      one = await openDatabase(created.url);
      // SQLite: one handle (see src/scheduler/manager.test.ts); PostgreSQL: four.
      handles = [one];
      if (backend.name !== 'sqlite') {
        for (let i = 0; i < 3; i++) handles.push(await openDatabase(created.url));
      }
      admissions = [0, 1, 2, 3].map(
        (i) => new LaunchAdmission({ db: (handles[i] ?? one).db, quota: DEFAULTS }),
      );
      [a, b] = admissions as [LaunchAdmission, LaunchAdmission];
    });
    after(async () => {
      for (const h of handles) await h.close();
      await remove();
    });

    async function project(instances: number): Promise<string> {
      const id = randomUUID();
      await new ProjectRepo(one.db).create({
        id,
        name: `p-${id}`,
        description: '',
        enabled: 1,
        createdAt: Date.now(),
      });
      await new QuotaRepo(one.db).set(id, 'instances', instances);
      return id;
    }

    /** Every record the project's launches left: instances, their groups, tags and actions. */
    async function records(projectId: string) {
      const ids = (await new InstanceRepo(one.db).list({ projectId })).map((r) => r.id);
      const ofOurs = async (rows: Promise<{ id: string }[]>) =>
        (await rows).filter((r) => ids.includes(r.id)).length;
      const orphans = async () => {
        const [groups, actions, tags] = await Promise.all([
          one.db.selectFrom('instanceSecurityGroups').select('instanceId as id').execute(),
          one.db.selectFrom('instanceActions').select('instanceId as id').execute(),
          one.db
            .selectFrom('tags')
            .select('resourceId as id')
            .where('projectId', '=', projectId)
            .execute(),
        ]);
        const all = new Set(
          (await one.db.selectFrom('instances').select('id').execute()).map((r) => r.id),
        );
        return [...groups, ...actions, ...tags].filter((r) => !all.has(r.id)).length;
      };
      return {
        instances: ids.length,
        groups: await ofOurs(
          one.db.selectFrom('instanceSecurityGroups').select('instanceId as id').execute(),
        ),
        actions: await ofOurs(
          one.db.selectFrom('instanceActions').select('instanceId as id').execute(),
        ),
        tags: await ofOurs(one.db.selectFrom('tags').select('resourceId as id').execute()),
        orphans: await orphans(),
      };
    }

    it('admits exactly the quota of concurrent launches from four admissions, every time', async () => {
      for (let round = 0; round < 5; round++) {
        const p = await project(25);
        const results = await Promise.allSettled(
          Array.from({ length: 40 }, (_, i) =>
            (admissions[i % 4] as LaunchAdmission).admit(launch(p, 1, 1)),
          ),
        );
        const ok = results.filter((r) => r.status === 'fulfilled');
        const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        assert.equal(ok.length, 25);
        assert.equal(refused.length, 15);
        for (const r of refused) {
          assert.ok(r.reason instanceof StratusError && r.reason.kind === 'over_quota', r.reason);
        }
        assert.deepEqual(await records(p), {
          instances: 25,
          groups: 25,
          actions: 25,
          tags: 25,
          orphans: 0,
        });
      }
    });

    it('keeps MinCount..MaxCount within what quota leaves, and no record of the rest', async () => {
      const p = await project(5);
      assert.equal((await a.admit(launch(p, 2, 2))).length, 2);
      const rows = await a.admit(launch(p, 2, 10));
      assert.equal(rows.length, 3, 'three were left');
      assert.deepEqual(
        rows.map((r) => r.launchIndex),
        [0, 1, 2],
      );
      await assert.rejects(
        a.admit(launch(p, 1, 1)),
        (err) => err instanceof StratusError && err.kind === 'over_quota',
      );
      assert.deepEqual(await records(p), {
        instances: 5,
        groups: 5,
        actions: 5,
        tags: 5,
        orphans: 0,
      });
    });

    it('answers one ClientToken with one set of instances, however many ask at once', async () => {
      const p = await project(100);
      const token = `token-${randomUUID()}`;
      const answers = await Promise.all(
        Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).admit(launch(p, 2, 2, token))),
      );
      const first = answers[0]?.map((r) => r.id).sort();
      assert.equal(first?.length, 2);
      for (const rows of answers) {
        assert.deepEqual(rows.map((r) => r.id).sort(), first);
      }
      assert.deepEqual(await records(p), {
        instances: 2,
        groups: 2,
        actions: 2,
        tags: 2,
        orphans: 0,
      });
    });

    it('fails only the launch whose records fail, not the others of its round', async () => {
      const p = await project(100);
      const broken: LaunchRequest = {
        ...launch(p, 1, 1),
        records: () => {
          throw new Error('these records cannot be made');
        },
      };
      const results = await Promise.allSettled([
        a.admit(launch(p, 1, 1)),
        a.admit(broken),
        a.admit(launch(p, 1, 1)),
        a.admit(launch(p, 1, 1)),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
      );
      assert.equal(
        ((results[1] as PromiseRejectedResult).reason as Error).message,
        'these records cannot be made',
      );
      assert.equal((await records(p)).instances, 3);
    });
  });
}
