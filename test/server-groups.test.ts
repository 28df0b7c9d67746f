// Server groups and EC2 placement groups across several compute hosts (issue 19 point 5, issue
// 15's server groups): a cloud without a compute host of its own and three hosts on the fake
// driver. Spread (anti-affinity) gives each instance a host of its own and refuses or fails the
// one too many; cluster (affinity) puts them together; launches sent at once into one spread
// group never share a host. Driven through the AWS SDK for JavaScript, the AWS CLI, the
// Compute API's HTTP and openstackclient; both APIs see the same groups.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreatePlacementGroupCommand,
  CreateTagsCommand,
  DescribeTagsCommand,
  DeletePlacementGroupCommand,
  DescribeInstancesCommand,
  DescribePlacementGroupsCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { ComputeNodeRepo, InstanceRepo, type InstanceRow } from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { imageEc2Id, parseEc2Id } from '../src/ids/index.js';
import { FakeDriver } from '../src/virt/index.js';
import { needs } from './support/capabilities.js';
import { startComputeHost, type TestComputeHost } from './support/compute-host.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { failure } from './support/expect.js';
import { adminEnv, login, openstack, PASSWORD } from './support/openstack.js';
import { awsEc2 } from './support/awscli.js';

const HOSTS = ['sg-host-a', 'sg-host-b', 'sg-host-c'];

/** The value at `path` in a JSON answer (undefined where the path ends early). */
function at(body: unknown, ...path: string[]): unknown {
  let v = body;
  for (const key of path) v = (v as Record<string, unknown> | undefined)?.[key];
  return v;
}

describe('server groups and placement groups across three hosts', () => {
  let t: TestCloud;
  const hosts: TestComputeHost[] = [];
  let imageUuid: string;
  let amiId: string;
  let token: string;
  let computeUrl: string;
  let repo: InstanceRepo;
  let home: string;

  before(async () => {
    t = await startTestCloud(
      {
        'quota-instances': '60',
        'quota-cores': '60',
        'quota-server-groups': '12',
        'quota-server-group-members': '4',
      },
      { services: ['network', 'scheduler', 'api'] },
    );
    for (const host of HOSTS)
      hosts.push(await startComputeHost(t, { host, driver: new FakeDriver() }));
    const nodes = new ComputeNodeRepo(t.cloud.database.db);
    await waitUntil(async () => (await nodes.list()).length === HOSTS.length, 10_000, 'hosts');
    imageUuid = (await t.addImage({ name: 'groups' })).id;
    amiId = imageEc2Id('machine', imageUuid);
    repo = new InstanceRepo(t.cloud.database.db);
    await new IdentityService(t.cloud.database.db).setPassword('admin', PASSWORD);
    token = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
    computeUrl = t.cloud.urls?.compute as string;
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-groups-'));
  });
  after(async () => {
    for (const h of hosts) await h.stop();
    await t?.stop();
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  /** The records behind EC2 instance ids, once every one is active. */
  const active = async (ec2Ids: readonly string[]): Promise<InstanceRow[]> => {
    const prefixes = ec2Ids.map((id) => parseEc2Id(id, ['i'], 'instance').uuidPrefix);
    return waitUntil(
      async () => {
        const rows = await repo.list({ idPrefixes: prefixes });
        return rows.length === ec2Ids.length && rows.every((r) => r.vmState === 'active') && rows;
      },
      10_000,
      'instances active',
    );
  };
  const run = async (count: number, placement: { GroupName?: string; GroupId?: string }) => {
    const r = await t.admin.send(
      new RunInstancesCommand({
        ImageId: amiId,
        InstanceType: 'm1.nano' as _InstanceType,
        MinCount: count,
        MaxCount: count,
        Placement: placement,
      }),
    );
    return (r.Instances ?? []).map((i) => i.InstanceId as string);
  };
  const terminate = (ids: string[]) =>
    t.admin.send(new TerminateInstancesCommand({ InstanceIds: ids }));
  const createGroup = async (GroupName: string, Strategy: 'spread' | 'cluster') =>
    (await t.admin.send(new CreatePlacementGroupCommand({ GroupName, Strategy }))).PlacementGroup;

  it('spread: each instance on a host of its own, and the one too many refused', async () => {
    const group = await createGroup('web', 'spread');
    assert.equal(group?.Strategy, 'spread');
    assert.match(group?.GroupId ?? '', /^pg-[0-9a-f]{17}$/);
    const ids = [
      ...(await run(2, { GroupName: 'web' })),
      ...(await run(1, { GroupId: group?.GroupId })),
    ];
    const rows = await active(ids);
    assert.deepEqual(rows.map((r) => r.host).sort(), [...HOSTS].sort());
    const tooMany = await failure(() => run(1, { GroupName: 'web' }));
    assert.equal(tooMany.code, 'InsufficientInstanceCapacity', tooMany.message);
    assert.match(tooMany.message, /anti-affinity/);
    const described = await t.admin.send(new DescribeInstancesCommand({ InstanceIds: ids }));
    for (const inst of (described.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
      assert.equal(inst.Placement?.GroupName, 'web');
      assert.equal(inst.Placement?.GroupId, group?.GroupId);
    }
    const inUse = await failure(() =>
      t.admin.send(new DeletePlacementGroupCommand({ GroupName: 'web' })),
    );
    assert.equal(inUse.code, 'InvalidPlacementGroup.InUse', inUse.message);
    await terminate(ids);
    await waitUntil(async () =>
      (await repo.list({ ids: rows.map((r) => r.id) })).every((r) => r.vmState === 'deleted'),
    );
    await t.admin.send(new DeletePlacementGroupCommand({ GroupName: 'web' }));
    const gone = await failure(() =>
      t.admin.send(new DescribePlacementGroupsCommand({ GroupNames: ['web'] })),
    );
    assert.equal(gone.code, 'InvalidPlacementGroup.Unknown');
  });

  it('cluster: every instance on one host, and the members quota holds', async () => {
    await createGroup('hpc', 'cluster');
    const ids = [...(await run(2, { GroupName: 'hpc' })), ...(await run(2, { GroupName: 'hpc' }))];
    const rows = await active(ids);
    assert.equal(new Set(rows.map((r) => r.host)).size, 1, rows.map((r) => r.host).join(' '));
    const over = await failure(() => run(1, { GroupName: 'hpc' }));
    assert.equal(over.code, 'ResourceLimitExceeded', over.message);
    assert.match(over.message, /server_group_members/);
    await terminate(ids);
  });

  it('launches sent at once into one spread group never share a host', async () => {
    await createGroup('race', 'spread');
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () => run(1, { GroupName: 'race' })),
    );
    const placed = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    assert.equal(placed.length, 3, JSON.stringify(results.map((r) => r.status)));
    for (const r of results) {
      if (r.status === 'rejected') {
        assert.equal((r.reason as Error).name, 'InsufficientInstanceCapacity');
      }
    }
    const rows = await active(placed);
    assert.deepEqual(rows.map((r) => r.host).sort(), [...HOSTS].sort());
    await terminate(placed);
  });

  it('refuses what it cannot honour, in EC2 words', async () => {
    const partition = await failure(() =>
      t.admin.send(new CreatePlacementGroupCommand({ GroupName: 'p', Strategy: 'partition' })),
    );
    assert.equal(partition.code, 'UnsupportedOperation');
    assert.match(partition.message, /partition/);
    await createGroup('dup', 'spread');
    const dup = await failure(() => createGroup('dup', 'cluster'));
    assert.equal(dup.code, 'InvalidPlacementGroup.Duplicate');
    const unknown = await failure(() => run(1, { GroupName: 'nope' }));
    assert.equal(unknown.code, 'InvalidPlacementGroup.Unknown');
    const filtered = await t.admin.send(
      new DescribePlacementGroupsCommand({ Filters: [{ Name: 'strategy', Values: ['cluster'] }] }),
    );
    assert.deepEqual(
      (filtered.PlacementGroups ?? []).map((g) => g.GroupName),
      ['hpc'],
    );
    const badFilter = await failure(() =>
      t.admin.send(
        new DescribePlacementGroupsCommand({ Filters: [{ Name: 'colour', Values: ['x'] }] }),
      ),
    );
    assert.equal(badFilter.code, 'InvalidParameterValue');
  });

  it('tags placement groups at creation and with CreateTags, and filters by them', async () => {
    const made = await t.admin.send(
      new CreatePlacementGroupCommand({
        GroupName: 'tagged',
        Strategy: 'cluster',
        TagSpecifications: [{ ResourceType: 'placement-group', Tags: [{ Key: 'a', Value: '1' }] }],
      }),
    );
    const id = made.PlacementGroup?.GroupId as string;
    assert.deepEqual(made.PlacementGroup?.Tags, [{ Key: 'a', Value: '1' }]);
    await t.admin.send(
      new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'b', Value: '2' }] }),
    );
    const found = await t.admin.send(
      new DescribePlacementGroupsCommand({ Filters: [{ Name: 'tag:b', Values: ['2'] }] }),
    );
    assert.deepEqual(
      (found.PlacementGroups ?? []).map((g) => g.GroupId),
      [id],
    );
    const listed = await t.admin.send(
      new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [id] }] }),
    );
    assert.deepEqual(
      (listed.Tags ?? []).map((x) => [x.ResourceType, x.Key]),
      [
        ['placement-group', 'a'],
        ['placement-group', 'b'],
      ],
    );
    await t.admin.send(new DeletePlacementGroupCommand({ GroupName: 'tagged' }));
  });

  const call = async (method: string, url: string, body?: unknown, microversion?: string) => {
    const r = await fetch(`${computeUrl}${url}`, {
      method,
      headers: {
        'x-auth-token': token,
        ...(microversion === undefined
          ? {}
          : { 'openstack-api-version': `compute ${microversion}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };

  it('Compute API: anti-affinity group, servers with the group hint, the one too many ERROR', async () => {
    const created = await call('POST', '/os-server-groups', {
      server_group: { name: 'apart', policies: ['anti-affinity'] },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const group = at(created.body, 'server_group') as {
      id: string;
      policies: string[];
      members: string[];
    };
    assert.deepEqual(group.policies, ['anti-affinity']);
    assert.deepEqual(group.members, []);
    const server = async () => {
      const r = await call('POST', '/servers', {
        server: { name: 'm', imageRef: imageUuid, flavorRef: 'm1.nano' },
        'os:scheduler_hints': { group: group.id },
      });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      return at(r.body, 'server', 'id') as string;
    };
    const ids = [await server(), await server(), await server()];
    const rows = await waitUntil(async () => {
      const list = await repo.list({ ids });
      return list.every((r) => r.vmState === 'active') && list;
    });
    assert.deepEqual(rows.map((r) => r.host).sort(), [...HOSTS].sort());
    const fourth = await server();
    const shown = at((await call('GET', `/servers/${fourth}`)).body, 'server') as {
      status: string;
      fault: { message: string };
    };
    assert.equal(shown.status, 'ERROR');
    assert.match(shown.fault.message, /^No valid host was found/);
    const members = at(
      (await call('GET', `/os-server-groups/${group.id}`)).body,
      'server_group',
      'members',
    ) as string[];
    assert.deepEqual([...members].sort(), [...ids, fourth].sort());
    // The same group is EC2's spread placement group.
    const ec2 = await t.admin.send(new DescribePlacementGroupsCommand({ GroupNames: ['apart'] }));
    assert.equal(ec2.PlacementGroups?.[0]?.Strategy, 'spread');
    const bad = await call('POST', '/servers', {
      server: { name: 'm', imageRef: imageUuid, flavorRef: 'm1.nano' },
      'os:scheduler_hints': { same_host: ids[0] },
    });
    assert.equal(bad.status, 400);
    assert.match(at(bad.body, 'badRequest', 'message') as string, /same_host/);
    const missing = await call('POST', '/servers', {
      server: { name: 'm', imageRef: imageUuid, flavorRef: 'm1.nano' },
      'os:scheduler_hints': { group: '00000000-0000-4000-8000-000000000000' },
    });
    assert.equal(missing.status, 400, JSON.stringify(missing.body));
    for (const id of [...ids, fourth])
      assert.equal((await call('DELETE', `/servers/${id}`)).status, 204);
    assert.equal((await call('DELETE', `/os-server-groups/${group.id}`)).status, 204);
    assert.equal((await call('GET', `/os-server-groups/${group.id}`)).status, 404);
  });

  it('Compute API: list with limit and offset, soft policies only from 2.15, quota as overLimit', async () => {
    const soft = await call('POST', '/os-server-groups', {
      server_group: { name: 's', policies: ['soft-anti-affinity'] },
    });
    assert.equal(soft.status, 400);
    const all = at((await call('GET', '/os-server-groups')).body, 'server_groups') as {
      name: string;
    }[];
    const paged = at(
      (await call('GET', '/os-server-groups?limit=1&offset=1')).body,
      'server_groups',
    ) as {
      name: string;
    }[];
    assert.deepEqual(
      paged.map((g: { name: string }) => g.name),
      [all[1]?.name],
    );
    const everyone = await call('GET', '/os-server-groups?all_projects=True');
    assert.equal(everyone.status, 200);
    const limits = at((await call('GET', '/limits')).body, 'limits', 'absolute') as Record<
      string,
      number
    >;
    assert.equal(limits.maxServerGroups, 12);
    assert.equal(limits.maxServerGroupMembers, 4);
    assert.equal(limits.totalServerGroupsUsed, all.length);
    const made: string[] = [];
    for (let i = all.length; i < 12; i++) {
      const r = await call('POST', '/os-server-groups', {
        server_group: { name: `q${i}`, policies: ['affinity'] },
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      made.push(at(r.body, 'server_group', 'id') as string);
    }
    const over = await call('POST', '/os-server-groups', {
      server_group: { name: 'one-too-many', policies: ['affinity'] },
    });
    assert.equal(over.status, 403);
    assert.ok(over.body.overLimit, JSON.stringify(over.body));
    for (const id of made) await call('DELETE', `/os-server-groups/${id}`);
  });

  it('Compute API at 2.64: soft anti-affinity spreads but never refuses; max_server_per_host caps a host', async () => {
    const group = async (body: Record<string, unknown>) => {
      const r = await call('POST', '/os-server-groups', { server_group: body }, '2.64');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return at(r.body, 'server_group') as { id: string; policy: string; rules: unknown };
    };
    const members = async (groupId: string, n: number) => {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const r = await call(
          'POST',
          '/servers',
          {
            server: { name: `m${i}`, imageRef: imageUuid, flavorRef: 'm1.nano', networks: 'auto' },
            'os:scheduler_hints': { group: groupId },
          },
          '2.64',
        );
        assert.equal(r.status, 202, JSON.stringify(r.body));
        ids.push(at(r.body, 'server', 'id') as string);
        // One at a time: each placement sees the members placed before it.
        await waitUntil(async () => (await repo.list({ ids: [ids[i] as string] }))[0]?.host);
      }
      return waitUntil(async () => {
        const rows = await repo.list({ ids });
        return rows.length === n && rows.every((r) => r.vmState === 'active') && rows;
      });
    };
    // Four members on three hosts: soft anti-affinity uses every host, and refuses none.
    const soft = await group({ name: 'soft-apart', policy: 'soft-anti-affinity' });
    assert.equal(soft.policy, 'soft-anti-affinity');
    assert.deepEqual(soft.rules, {});
    const spread = await members(soft.id, 4);
    assert.equal(new Set(spread.map((r) => r.host)).size, 3);
    // Anti-affinity with at most two per host: four members need two hosts at least, and no
    // host has three.
    const capped = await group({
      name: 'two-per-host',
      policy: 'anti-affinity',
      rules: { max_server_per_host: 2 },
    });
    assert.deepEqual(capped.rules, { max_server_per_host: 2 });
    const placed = await members(capped.id, 4);
    const perHost = new Map<string, number>();
    for (const r of placed) perHost.set(r.host as string, (perHost.get(r.host as string) ?? 0) + 1);
    assert.ok(
      [...perHost.values()].every((n) => n <= 2),
      JSON.stringify([...perHost]),
    );
    // The old shape is gone at 2.64, and the rule belongs to anti-affinity only.
    const old = await call(
      'POST',
      '/os-server-groups',
      { server_group: { name: 'x', policies: ['affinity'] } },
      '2.64',
    );
    assert.equal(old.status, 400);
    const wrongRule = await call(
      'POST',
      '/os-server-groups',
      { server_group: { name: 'x', policy: 'affinity', rules: { max_server_per_host: 2 } } },
      '2.64',
    );
    assert.equal(wrongRule.status, 400);
    for (const r of [...spread, ...placed])
      assert.equal((await call('DELETE', `/servers/${r.id}`)).status, 204);
    for (const g of [soft, capped])
      assert.equal((await call('DELETE', `/os-server-groups/${g.id}`)).status, 204);
  });

  it(
    'openstackclient: server group create, server create --hint group=..., show',
    needs('openstackclient'),
    async () => {
      const env = adminEnv(t, home);
      const ok = async (args: string[]) => {
        const r = await openstack(env, args);
        assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.err}`);
        return r.out;
      };
      const group = JSON.parse(
        await ok([
          'server',
          'group',
          'create',
          '--policy',
          'anti-affinity',
          'cli-apart',
          '-f',
          'json',
        ]),
      ) as { id: string; policies?: string; policy?: string };
      assert.match(String(group.policies ?? group.policy), /anti-affinity/);
      const ids: string[] = [];
      for (const n of ['c1', 'c2']) {
        const s = JSON.parse(
          await ok([
            'server',
            'create',
            '--image',
            imageUuid,
            '--flavor',
            'm1.nano',
            '--hint',
            `group=${group.id}`,
            '--wait',
            n,
            '-f',
            'json',
          ]),
        ) as { id: string; status: string };
        assert.equal(s.status, 'ACTIVE');
        ids.push(s.id);
      }
      const rows = await repo.list({ ids });
      assert.equal(new Set(rows.map((r) => r.host)).size, 2);
      const shown = JSON.parse(await ok(['server', 'group', 'show', group.id, '-f', 'json'])) as {
        members: string;
      };
      for (const id of ids) assert.match(String(shown.members), new RegExp(id));
      for (const id of ids) await ok(['server', 'delete', '--wait', id]);
      await ok(['server', 'group', 'delete', group.id]);
    },
  );

  it(
    'AWS CLI: create, describe and delete a placement group; run-instances into it',
    needs('awscli'),
    async () => {
      const { run: aws, json } = awsEc2({
        endpoint: t.endpoint,
        region: t.region,
        credentials: t.adminCredentials,
        home,
      });
      await json(
        'create-placement-group',
        '--group-name',
        'cli-spread',
        '--strategy',
        'spread',
        '--tag-specifications',
        'ResourceType=placement-group,Tags=[{Key=team,Value=blue}]',
      );
      const described = await json(
        'describe-placement-groups',
        '--filters',
        'Name=tag:team,Values=blue',
      );
      assert.deepEqual(
        (described.PlacementGroups as { GroupName: string }[]).map(
          (g: { GroupName: string }) => g.GroupName,
        ),
        ['cli-spread'],
      );
      const ran = await json(
        'run-instances',
        '--image-id',
        amiId,
        '--instance-type',
        'm1.nano',
        '--count',
        '2',
        '--placement',
        'GroupName=cli-spread',
      );
      const ids = (ran.Instances as { InstanceId: string }[]).map((i) => i.InstanceId);
      const rows = await active(ids);
      assert.equal(new Set(rows.map((r) => r.host)).size, 2);
      const refused = await aws('delete-placement-group', '--group-name', 'cli-spread');
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /InvalidPlacementGroup\.InUse/);
      await json('terminate-instances', '--instance-ids', ...ids);
      await waitUntil(async () =>
        (await repo.list({ ids: rows.map((r) => r.id) })).every((r) => r.vmState === 'deleted'),
      );
      await json('delete-placement-group', '--group-name', 'cli-spread');
    },
  );
});
