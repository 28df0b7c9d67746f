// Quotas in the Compute API, on SQLite and PostgreSQL: a project's quota set (show, detail
// with what it uses, defaults, update by admins, delete back to the defaults), -1 as
// unlimited, the default quota class, limits that follow real usage, and the simple tenant
// usage of a period. The limits are the ones launches meet: an admin's quota change is what
// RunInstances and server create are held to. Each shape as its microversion has it, checked
// against the API reference's schemas; members refused changes (403). Then openstackclient:
// quota show/set, limits show --absolute, usage list.
import { RunInstancesCommand, type _InstanceType, type EC2Client } from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IdentityService } from '../src/identity/index.js';
import { imageEc2Id } from '../src/ids/index.js';
import { assertSchema } from './support/api-schema.js';
import { needs } from './support/capabilities.js';
import { assertFault, computeCaller, ok } from './support/compute-http.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { disconnected } from './support/expect.js';
import { startTestCloud, type TestCloud } from './support/ec2.js';
import { adminEnv, login, openstack, PASSWORD } from './support/openstack.js';
import * as schema from './support/schemas/compute-admin.js';

type QuotaSet = Record<string, number | string>;
type Detail = Record<string, { in_use: number; limit: number; reserved: number } | string>;

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(`Compute API quotas on ${backend.name}`, needs(...backend.needs), () => {
    let t: TestCloud;
    let database: { url: string; remove(): Promise<void> };
    let call: ReturnType<typeof computeCaller>;
    let admin: string;
    let member: string;
    let project: string;
    let memberEc2: EC2Client;
    let imageId: string;

    const launch = (count: number) =>
      memberEc2.send(
        new RunInstancesCommand({
          ImageId: imageId,
          InstanceType: 'm1.tiny' as _InstanceType,
          MinCount: count,
          MaxCount: count,
        }),
      );

    before(async () => {
      database = await backend.create();
      t = await startTestCloud({
        database: database.url,
        'quota-instances': '10',
        'quota-cores': '20',
      });
      call = computeCaller((t.cloud.urls?.compute as string).replace(/\/v2\.1$/, ''));
      const identity = new IdentityService(t.cloud.database.db);
      await identity.setPassword('admin', PASSWORD);
      const identityUrl = t.cloud.urls?.identity as string;
      admin = await login(identityUrl, 'admin', 'admin');
      const p = await t.newProject('quota-users');
      project = p.projectId;
      memberEc2 = p.client;
      await identity.setPassword('quota-users-user', PASSWORD);
      member = await login(identityUrl, 'quota-users-user', 'quota-users');
      imageId = imageEc2Id('machine', (await t.addImage({ name: 'base' })).id);
    });
    after(async () => {
      await t.stop();
      if (backend.name === 'postgres') await disconnected(database.url);
      await database.remove();
    });

    it('shows quota sets in the fields of each microversion, and detail with what is used', async () => {
      const run = await launch(2);
      const ids = (run.Instances ?? []).map((i) => i.InstanceId);
      assert.equal(ids.length, 2);
      for (const [version, minor] of [
        ['2.1', 1],
        ['2.36', 36],
        ['2.57', 57],
      ] as const) {
        const shown = ok(await call(member, 'GET', `/v2.1/os-quota-sets/${project}`, { version }));
        assertSchema(schema.quotaSet(minor, { id: true }), shown, `show at ${version}`);
        const q = shown.quota_set as QuotaSet;
        assert.equal(q.id, project);
        assert.equal(q.instances, 10);
        assert.equal(q.cores, 20);
        const detail = ok(
          await call(member, 'GET', `/v2.1/os-quota-sets/${project}/detail`, { version }),
        );
        assertSchema(
          schema.quotaSet(minor, { id: true, detail: true }),
          detail,
          `detail at ${version}`,
        );
        const d = detail.quota_set as Detail;
        assert.deepEqual(d.instances, { in_use: 2, limit: 10, reserved: 0 });
        assert.deepEqual(d.cores, { in_use: 2, limit: 20, reserved: 0 });
        const defaults = ok(
          await call(member, 'GET', `/v2.1/os-quota-sets/${project}/defaults`, { version }),
        );
        assertSchema(schema.quotaSet(minor, { id: true }), defaults, `defaults at ${version}`);
      }
      // Another project's quotas are not a member's business.
      assertFault(await call(member, 'GET', '/v2.1/os-quota-sets/admin'), 403, 'forbidden');
    });

    it('lets admins change a project quota, holds launches to it, and resets it on delete', async () => {
      const path = `/v2.1/os-quota-sets/${project}`;
      assertFault(
        await call(member, 'PUT', path, { body: { quota_set: { instances: 50 } } }),
        403,
        'forbidden',
      );
      // Below what is in use, unless forced.
      assertFault(
        await call(admin, 'PUT', path, { body: { quota_set: { instances: 1 } } }),
        400,
        'badRequest',
        /must be greater than or equal to already used and reserved 2/,
      );
      assertFault(
        await call(admin, 'PUT', '/v2.1/os-quota-sets/no-such-project', {
          body: { quota_set: { instances: 5 } },
        }),
        400,
        'badRequest',
        /not a valid project/,
      );
      for (const body of [{ instances: -2 }, { instances: 'many' }, { colour: 1 }]) {
        assertFault(
          await call(admin, 'PUT', path, { body: { quota_set: body } }),
          400,
          'badRequest',
        );
      }
      assertFault(
        await call(admin, 'PUT', path, {
          body: { quota_set: { floating_ips: 3 } },
          version: '2.36',
        }),
        400,
        'badRequest',
        /additional properties/,
      );
      const set = ok(await call(admin, 'PUT', path, { body: { quota_set: { instances: 3 } } }));
      assertSchema(schema.quotaSet(1, { id: false }), set, 'PUT os-quota-sets at 2.1');
      assert.equal((set.quota_set as QuotaSet).instances, 3);
      // Two run; a third fits, a fourth does not.
      await launch(1);
      await assert.rejects(launch(1), /InstanceLimitExceeded|quota/i);

      // -1 is unlimited: shown as -1 and no launch is refused for it.
      ok(await call(admin, 'PUT', path, { body: { quota_set: { instances: -1 } } }));
      const shown = ok(await call(member, 'GET', path)).quota_set as QuotaSet;
      assert.equal(shown.instances, -1);
      await launch(2);
      const limits = ok(await call(member, 'GET', '/v2.1/limits')).limits as {
        absolute: Record<string, number>;
      };
      assert.equal(limits.absolute.maxTotalInstances, -1);
      assert.equal(limits.absolute.totalInstancesUsed, 5);

      // Forced below the usage, then reset to the defaults.
      ok(await call(admin, 'PUT', path, { body: { quota_set: { instances: 1, force: true } } }));
      assert.equal((ok(await call(member, 'GET', path)).quota_set as QuotaSet).instances, 1);
      await assert.rejects(launch(1), /InstanceLimitExceeded|quota/i);
      assertFault(await call(member, 'DELETE', path), 403, 'forbidden');
      ok(await call(admin, 'DELETE', path), 202);
      assert.equal((ok(await call(member, 'GET', path)).quota_set as QuotaSet).instances, 10);
    });

    it('serves the default quota class, whose change every project without its own limit gets', async () => {
      for (const [version, minor] of [
        ['2.1', 1],
        ['2.50', 50],
        ['2.57', 57],
      ] as const) {
        const shown = ok(
          await call(admin, 'GET', '/v2.1/os-quota-class-sets/default', { version }),
        );
        assertSchema(schema.quotaClassSet(minor, true), shown, `class set at ${version}`);
      }
      assertFault(
        await call(member, 'PUT', '/v2.1/os-quota-class-sets/default', {
          body: { quota_class_set: { cores: 40 } },
        }),
        403,
        'forbidden',
      );
      const set = ok(
        await call(admin, 'PUT', '/v2.1/os-quota-class-sets/default', {
          body: { quota_class_set: { cores: 40, key_pairs: -1 } },
          version: '2.57',
        }),
      );
      assertSchema(schema.quotaClassSet(57, false), set, 'PUT class set at 2.57');
      const mine = ok(await call(member, 'GET', `/v2.1/os-quota-sets/${project}`))
        .quota_set as QuotaSet;
      assert.equal(mine.cores, 40);
      assert.equal(mine.key_pairs, -1);
      const defaults = ok(await call(member, 'GET', `/v2.1/os-quota-sets/${project}/defaults`))
        .quota_set as QuotaSet;
      assert.equal(defaults.cores, 40);
      ok(
        await call(admin, 'PUT', '/v2.1/os-quota-class-sets/default', {
          body: { quota_class_set: { cores: 20, key_pairs: 100 } },
        }),
      );
    });

    it('answers limits from real usage, in the fields of each microversion', async () => {
      for (const [version, minor] of [
        ['2.1', 1],
        ['2.36', 36],
        ['2.57', 57],
      ] as const) {
        const l = ok(await call(member, 'GET', '/v2.1/limits', { version }));
        assertSchema(schema.limits(minor), l, `GET /limits at ${version}`);
      }
      const before = (
        ok(await call(member, 'GET', '/v2.1/limits')).limits as {
          absolute: Record<string, number>;
        }
      ).absolute;
      ok(await call(member, 'POST', '/v2.1/os-keypairs', { body: { keypair: { name: 'lk' } } }));
      const after = (
        ok(await call(member, 'GET', '/v2.1/limits')).limits as {
          absolute: Record<string, number>;
        }
      ).absolute;
      assert.equal(after.totalInstancesUsed, before.totalInstancesUsed);
      assert.equal(after.totalCoresUsed, before.totalCoresUsed);
      assert.ok((before.totalInstancesUsed ?? 0) > 0);
      // An admin may read another project's limits; a member may not.
      const theirs = (
        ok(await call(admin, 'GET', `/v2.1/limits?tenant_id=${project}`)).limits as {
          absolute: Record<string, number>;
        }
      ).absolute;
      assert.equal(theirs.totalInstancesUsed, before.totalInstancesUsed);
      assertFault(await call(member, 'GET', '/v2.1/limits?tenant_id=admin'), 403, 'forbidden');
    });

    it('reports simple tenant usage over a period', async () => {
      const start = new Date(Date.now() - 3_600_000).toISOString().replace(/Z$/, '');
      const end = new Date(Date.now() + 60_000).toISOString().replace(/Z$/, '');
      const one = ok(
        await call(
          member,
          'GET',
          `/v2.1/os-simple-tenant-usage/${project}?start=${start}&end=${end}`,
        ),
      );
      assertSchema(schema.tenantUsage(true), one.tenant_usage, 'GET usage/{tenant}');
      const usage = one.tenant_usage as {
        server_usages: { vcpus: number; hours: number; flavor: string }[];
        total_hours: number;
      };
      assert.ok(usage.server_usages.length >= 5);
      assert.ok(usage.server_usages.every((s) => s.flavor === 'm1.tiny' && s.hours > 0));
      assert.ok(usage.total_hours > 0);
      const all = ok(
        await call(
          admin,
          'GET',
          `/v2.1/os-simple-tenant-usage?start=${start}&end=${end}&detailed=1`,
          {
            version: '2.40',
          },
        ),
      );
      assertSchema(schema.tenantUsageList(40, true), all, 'GET usage at 2.40');
      assert.ok(
        (all.tenant_usages as { tenant_id: string }[]).some((u) => u.tenant_id === project),
      );
      const page = ok(
        await call(admin, 'GET', `/v2.1/os-simple-tenant-usage?start=${start}&end=${end}&limit=1`, {
          version: '2.40',
        }),
      );
      assert.equal((page.tenant_usages as unknown[]).length, 1);
      assertFault(await call(member, 'GET', '/v2.1/os-simple-tenant-usage'), 403, 'forbidden');
      assertFault(
        await call(member, 'GET', `/v2.1/os-simple-tenant-usage/${project}?start=yesterday`),
        400,
        'badRequest',
      );
      // A period before anything ran has no usage.
      const empty = ok(
        await call(
          member,
          'GET',
          `/v2.1/os-simple-tenant-usage/${project}?start=2001-01-01T00:00:00&end=2001-02-01T00:00:00`,
        ),
      );
      assert.deepEqual(empty.tenant_usage, {});
    });

    it('serves openstackclient: quota show and set, limits show --absolute, usage list', async () => {
      const env = adminEnv(t);
      const os = async (...args: string[]) => {
        const r = await openstack(env, args);
        assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
        return r.out;
      };
      await os('quota', 'set', '--instances', '12', '--cores', '30', 'quota-users');
      const shown = ok(await call(admin, 'GET', `/v2.1/os-quota-sets/${project}`))
        .quota_set as QuotaSet;
      assert.equal(shown.instances, 12);
      assert.equal(shown.cores, 30);
      const quota = JSON.parse(await os('quota', 'show', 'quota-users', '-f', 'json')) as
        Record<string, unknown> | { Resource: string; Limit: number }[];
      assert.match(JSON.stringify(quota), /12/);
      const limits = JSON.parse(
        await os('limits', 'show', '--absolute', '--project', 'quota-users', '-f', 'json'),
      ) as { Name: string; Value: number }[];
      assert.equal(limits.find((l) => l.Name === 'maxTotalInstances')?.Value, 12);
      assert.ok((limits.find((l) => l.Name === 'totalInstancesUsed')?.Value ?? 0) > 0);
      const usage = JSON.parse(await os('usage', 'list', '-f', 'json')) as { Project: string }[];
      assert.ok(usage.some((u) => u.Project === 'quota-users' || u.Project === project));
    });
  });
}
