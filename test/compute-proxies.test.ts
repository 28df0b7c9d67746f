// The Compute API's networking-era proxies and its image proxy, on SQLite and PostgreSQL:
// os-security-groups and os-security-group-rules, a server's groups and the
// add/removeSecurityGroup actions, os-floating-ips, os-floating-ip-pools and the
// add/removeFloatingIp actions, and GET /images. Each is the same resource EC2 shows, checked
// both ways; every response against the reference's schema; every refusal as a Compute fault
// with the reference's status. Then openstackclient (which, with no network endpoint in the
// catalog, calls these Compute APIs) and openstacksdk, and a rule made through the Compute API
// opening a port on a guest's firewall (nftables in the host's namespace).
import {
  AllocateAddressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { insertImage } from './support/images.js';
import { IdentityService } from '../src/identity/index.js';
import { ec2Id } from '../src/ids/index.js';
import { NetworkAgent } from '../src/network/index.js';
import { MAX_VERSION, atLeast } from '../src/api/openstack-compute/microversion.js';
import { assertSchema } from './support/api-schema.js';
import { needs } from './support/capabilities.js';
import { startAgentHost } from './support/compute-host.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { disconnected } from './support/expect.js';
import { ec2Client, startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import {
  Cleanup,
  FakeGuest,
  joinClient,
  listen,
  tcpProbe,
  tempDir,
  uniqueName,
  waitFor,
} from './support/netns.js';
import { adminEnv, login, openstack, openstacksdk, PASSWORD } from './support/openstack.js';
import * as S from './support/schemas/compute-proxies.js';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

interface GroupBody {
  id: string;
  name: string;
  description: string;
  tenant_id: string;
  rules: {
    id: string;
    parent_group_id: string;
    ip_protocol: string | null;
    from_port: number | null;
    to_port: number | null;
    ip_range: { cidr?: string };
    group: { name?: string; tenant_id?: string };
  }[];
}

interface FloatingBody {
  id: string;
  ip: string;
  pool: string;
  fixed_ip: string | null;
  instance_id: string | null;
}

/** Asserts a Compute fault with this status and fault name (and its schema). */
function assertFault(a: Answer, status: number, name: string, message?: RegExp): void {
  assert.equal(a.status, status, JSON.stringify(a.body));
  assertSchema(S.computeFault, a.body, `fault ${status}`);
  const f = a.body[name] as { code: number; message: string } | undefined;
  assert.ok(f, `expected a '${name}' fault, got ${JSON.stringify(a.body)}`);
  assert.equal(f.code, status);
  if (message) assert.match(f.message, message);
}

/** A Compute API client for one token. */
function computeCaller(url: () => string) {
  return async (
    token: string,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer> => {
    const r = await fetch(`${url()}${path}`, {
      method,
      headers: {
        'x-auth-token': token,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : {} };
  };
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(`Compute API proxies on ${backend.name}`, needs(...backend.needs), () => {
    let t: TestCloud;
    let database: { url: string; remove(): Promise<void> };
    let url: string;
    let alice: string;
    let bob: string;
    let aliceProject: string;
    let bobProject: string;
    let aliceEc2: EC2Client;
    let imageId: string;
    const call = computeCaller(() => url);

    const newServer = async (name: string) => {
      const a = await call(alice, 'POST', '/v2.1/servers', {
        server: { name, imageRef: imageId, flavorRef: 'm1.nano' },
      });
      assert.equal(a.status, 202, JSON.stringify(a.body));
      const id = (a.body.server as { id: string }).id;
      await waitUntil(
        async () =>
          ((await call(alice, 'GET', `/v2.1/servers/${id}`)).body.server as { status: string })
            .status === 'ACTIVE',
        10_000,
        `server ${name} ACTIVE`,
      );
      return id;
    };
    const group = async (token: string, id: string) => {
      const a = await call(token, 'GET', `/v2.1/os-security-groups/${id}`);
      assert.equal(a.status, 200, JSON.stringify(a.body));
      assertSchema(S.securityGroupShow, a.body, 'GET /os-security-groups/{id}');
      return a.body.security_group as GroupBody;
    };

    before(async () => {
      database = await backend.create();
      t = await startTestCloud({ database: database.url, 'quota-addresses': '2' });
      url = (t.cloud.urls?.compute as string).replace(/\/v2\.1$/, '');
      const identity = new IdentityService(t.cloud.database.db);
      await identity.createUser({ name: 'alice', password: PASSWORD });
      aliceProject = (await identity.createProject({ name: 'alice-project' })).id;
      await identity.grantRole('alice', 'alice-project', 'member');
      await identity.createUser({ name: 'bob', password: PASSWORD });
      bobProject = (await identity.createProject({ name: 'bob-project' })).id;
      await identity.grantRole('bob', 'bob-project', 'member');
      const identityUrl = t.cloud.urls?.identity as string;
      alice = await login(identityUrl, 'alice', 'alice-project');
      bob = await login(identityUrl, 'bob', 'bob-project');
      const users = await t.cloud.database.db
        .selectFrom('users')
        .select('id')
        .where('name', '=', 'alice')
        .executeTakeFirstOrThrow();
      const cred = await identity.createEc2Credential(users.id, aliceProject);
      aliceEc2 = ec2Client(t.endpoint, t.region, {
        accessKeyId: cred.accessKey,
        secretAccessKey: cred.secretKey,
      });
      imageId = (await t.addImage({ name: 'cirros' })).id;
    });
    after(async () => {
      aliceEc2?.destroy();
      await t.stop();
      if (backend.name === 'postgres') await disconnected(database.url);
      await database.remove();
    });

    it('creates, shows, updates and deletes groups that EC2 shows, and lists what EC2 made', async () => {
      const created = await call(alice, 'POST', '/v2.1/os-security-groups', {
        security_group: { name: 'web', description: 'web servers' },
      });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      assertSchema(S.securityGroupShow, created.body, 'POST /os-security-groups');
      const web = created.body.security_group as GroupBody;
      assert.equal(web.tenant_id, aliceProject);
      assert.deepEqual(web.rules, []);

      // Compute -> EC2: the same group, by name and by id.
      const ec2 = await aliceEc2.send(new DescribeSecurityGroupsCommand({ GroupNames: ['web'] }));
      const seen = ec2.SecurityGroups?.[0];
      assert.equal(seen?.GroupId, ec2Id('sg', web.id));
      assert.equal(seen?.Description, 'web servers');

      // EC2 -> Compute: a group made through EC2 is in the Compute list.
      const made = await aliceEc2.send(
        new CreateSecurityGroupCommand({ GroupName: 'db', Description: 'databases' }),
      );
      const list = await call(alice, 'GET', '/v2.1/os-security-groups');
      assertSchema(S.securityGroupList, list.body, 'GET /os-security-groups');
      const groups = list.body.security_groups as GroupBody[];
      assert.deepEqual(
        groups.map((g) => g.name),
        ['db', 'default', 'web'],
        'sorted by name',
      );
      const db = groups.find((g) => g.name === 'db') as GroupBody;
      assert.equal(ec2Id('sg', db.id), made.GroupId);
      // Bob sees only his own.
      const bobs = (await call(bob, 'GET', '/v2.1/os-security-groups')).body
        .security_groups as GroupBody[];
      assert.deepEqual(
        bobs.map((g) => [g.name, g.tenant_id]),
        [['default', bobProject]],
      );
      const paged = await call(alice, 'GET', '/v2.1/os-security-groups?limit=1&offset=1');
      assert.deepEqual(
        (paged.body.security_groups as GroupBody[]).map((g) => g.name),
        ['default'],
      );

      const updated = await call(alice, 'PUT', `/v2.1/os-security-groups/${web.id}`, {
        security_group: { name: 'www', description: 'the web tier' },
      });
      assert.equal(updated.status, 200, JSON.stringify(updated.body));
      assertSchema(S.securityGroupShow, updated.body, 'PUT /os-security-groups/{id}');
      const renamed = await aliceEc2.send(
        new DescribeSecurityGroupsCommand({ GroupIds: [ec2Id('sg', web.id)] }),
      );
      assert.equal(renamed.SecurityGroups?.[0]?.GroupName, 'www');
      assert.equal(renamed.SecurityGroups?.[0]?.Description, 'the web tier');

      // EC2 deletes what Compute shows; Compute deletes what EC2 shows.
      await aliceEc2.send(new DeleteSecurityGroupCommand({ GroupId: made.GroupId }));
      assertFault(
        await call(alice, 'GET', `/v2.1/os-security-groups/${db.id}`),
        404,
        'itemNotFound',
      );
      const del = await call(alice, 'DELETE', `/v2.1/os-security-groups/${web.id}`);
      assert.equal(del.status, 202);
      await assert.rejects(
        aliceEc2.send(new DescribeSecurityGroupsCommand({ GroupIds: [ec2Id('sg', web.id)] })),
        /InvalidGroup\.NotFound/,
      );
    });

    it('adds and deletes rules that EC2 shows, and shows the rules EC2 added, group sources too', async () => {
      const app = (
        await call(alice, 'POST', '/v2.1/os-security-groups', {
          security_group: { name: 'app', description: 'app' },
        })
      ).body.security_group as GroupBody;
      const lb = (
        await call(alice, 'POST', '/v2.1/os-security-groups', {
          security_group: { name: 'lb', description: 'lb' },
        })
      ).body.security_group as GroupBody;
      const created = await call(alice, 'POST', '/v2.1/os-security-group-rules', {
        security_group_rule: {
          parent_group_id: app.id,
          ip_protocol: 'tcp',
          from_port: 8080,
          to_port: '8090',
          cidr: '10.1.0.0/16',
        },
      });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      assertSchema(S.securityGroupRuleCreate, created.body, 'POST /os-security-group-rules');
      const rule = created.body.security_group_rule as GroupBody['rules'][number];
      assert.deepEqual(
        [rule.ip_protocol, rule.from_port, rule.to_port, rule.ip_range, rule.group],
        ['tcp', 8080, 8090, { cidr: '10.1.0.0/16' }, {}],
      );
      // A source group wins over the CIDR; with no ports a TCP rule opens every port.
      const fromLb = await call(alice, 'POST', '/v2.1/os-security-group-rules', {
        security_group_rule: {
          parent_group_id: app.id,
          ip_protocol: 'tcp',
          cidr: '0.0.0.0/0',
          group_id: lb.id,
        },
      });
      assert.equal(fromLb.status, 200, JSON.stringify(fromLb.body));
      const groupRule = fromLb.body.security_group_rule as GroupBody['rules'][number];
      assert.deepEqual(
        [groupRule.from_port, groupRule.to_port, groupRule.ip_range, groupRule.group],
        [1, 65535, {}, { name: 'lb', tenant_id: aliceProject }],
      );

      // Compute -> EC2.
      const ec2 = await aliceEc2.send(
        new DescribeSecurityGroupsCommand({ GroupIds: [ec2Id('sg', app.id)] }),
      );
      const perms = ec2.SecurityGroups?.[0]?.IpPermissions ?? [];
      assert.ok(
        perms.some(
          (p) =>
            p.FromPort === 8080 && p.ToPort === 8090 && p.IpRanges?.[0]?.CidrIp === '10.1.0.0/16',
        ),
        JSON.stringify(perms),
      );
      assert.ok(
        perms.some((p) => p.UserIdGroupPairs?.[0]?.GroupId === ec2Id('sg', lb.id)),
        JSON.stringify(perms),
      );
      // EC2 -> Compute: an ICMP rule and an all-protocols rule from a group.
      await aliceEc2.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: ec2Id('sg', app.id),
          IpPermissions: [
            { IpProtocol: 'icmp', FromPort: 8, ToPort: 0, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
            { IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: ec2Id('sg', app.id) }] },
          ],
        }),
      );
      const shown = await group(alice, app.id);
      assert.equal(shown.rules.length, 4);
      const icmp = shown.rules.find((r) => r.ip_protocol === 'icmp');
      assert.deepEqual([icmp?.from_port, icmp?.to_port], [8, 0]);
      const all = shown.rules.find((r) => r.ip_protocol === null);
      assert.deepEqual(
        [all?.from_port, all?.to_port, all?.group],
        [null, null, { name: 'app', tenant_id: aliceProject }],
      );

      // Deleting a rule through Compute: EC2 no longer has it.
      const gone = await call(alice, 'DELETE', `/v2.1/os-security-group-rules/${rule.id}`);
      assert.equal(gone.status, 202);
      const after = await aliceEc2.send(
        new DescribeSecurityGroupsCommand({ GroupIds: [ec2Id('sg', app.id)] }),
      );
      assert.ok(!(after.SecurityGroups?.[0]?.IpPermissions ?? []).some((p) => p.FromPort === 8080));
      assertFault(
        await call(alice, 'DELETE', `/v2.1/os-security-group-rules/${rule.id}`),
        404,
        'itemNotFound',
      );
      // A group another group's rule names is still needed: 400, as the reference answers.
      assertFault(
        await call(alice, 'DELETE', `/v2.1/os-security-groups/${lb.id}`),
        400,
        'badRequest',
        /referenced/,
      );
    });

    it('refuses bad groups and rules with 400, and another project’s with 404, leaving nothing behind', async () => {
      const before = (await call(alice, 'GET', '/v2.1/os-security-groups')).body
        .security_groups as GroupBody[];
      const target = (
        await call(alice, 'POST', '/v2.1/os-security-groups', {
          security_group: { name: 'strict', description: 'strict' },
        })
      ).body.security_group as GroupBody;
      const post = (body: unknown) => call(alice, 'POST', '/v2.1/os-security-groups', body);
      const rule = (r: Record<string, unknown>) =>
        call(alice, 'POST', '/v2.1/os-security-group-rules', {
          security_group_rule: { parent_group_id: target.id, ...r },
        });
      assertFault(
        await post({ security_group: { name: 'strict', description: 'again' } }),
        400,
        'badRequest',
        /already exists/,
      );
      assertFault(await post({ security_group: { name: 'x' } }), 400, 'badRequest', /description/);
      assertFault(await post({ group: {} }), 400, 'badRequest', /security_group/);
      assertFault(
        await post({ security_group: { name: 'x'.repeat(256), description: 'd' } }),
        400,
        'badRequest',
      );
      const tcp = { ip_protocol: 'tcp', from_port: 22, to_port: 22 };
      assertFault(
        await rule({ ...tcp, cidr: '10.0.0.300/8' }),
        400,
        'badRequest',
        /valid IP network/,
      );
      assertFault(
        await rule({ ...tcp, cidr: 'not-a-cidr' }),
        400,
        'badRequest',
        /valid IP network/,
      );
      assertFault(
        await rule({ ip_protocol: 'tcp', from_port: 90, to_port: 80, cidr: '10.0.0.0/8' }),
        400,
        'badRequest',
        /Invalid port range 90:80/,
      );
      assertFault(
        await rule({ ip_protocol: 'udp', from_port: 0, to_port: 70000, cidr: '10.0.0.0/8' }),
        400,
        'badRequest',
        /between 1-65535/,
      );
      assertFault(
        await rule({ ip_protocol: 'icmp', from_port: 300, to_port: 0, cidr: '10.0.0.0/8' }),
        400,
        'badRequest',
        /ICMP/,
      );
      assertFault(
        await rule({ ip_protocol: 'gre', from_port: 1, to_port: 2, cidr: '10.0.0.0/8' }),
        400,
        'badRequest',
        /Invalid IP protocol gre/,
      );
      assertFault(await rule({ cidr: '10.0.0.0/8' }), 400, 'badRequest', /Not enough parameters/);
      assertFault(
        await call(alice, 'POST', '/v2.1/os-security-group-rules', {
          security_group_rule: { parent_group_id: 'nope', ...tcp },
        }),
        400,
        'badRequest',
        /parent_group_id/,
      );
      assert.equal((await rule({ ...tcp, cidr: '10.0.0.0/8' })).status, 200);
      assertFault(await rule({ ...tcp, cidr: '10.0.0.0/8' }), 400, 'badRequest', /already exists/);
      assert.equal((await group(alice, target.id)).rules.length, 1, 'only the one good rule');

      // Bob cannot see, change or use Alice's group.
      assertFault(
        await call(bob, 'GET', `/v2.1/os-security-groups/${target.id}`),
        404,
        'itemNotFound',
      );
      assertFault(
        await call(bob, 'DELETE', `/v2.1/os-security-groups/${target.id}`),
        404,
        'itemNotFound',
      );
      assertFault(
        await call(bob, 'POST', '/v2.1/os-security-group-rules', {
          security_group_rule: { parent_group_id: target.id, ...tcp, cidr: '0.0.0.0/0' },
        }),
        404,
        'itemNotFound',
      );
      const ruleId = (await group(alice, target.id)).rules[0]?.id as string;
      assertFault(
        await call(bob, 'DELETE', `/v2.1/os-security-group-rules/${ruleId}`),
        404,
        'itemNotFound',
      );
      assertFault(
        await call(alice, 'GET', '/v2.1/os-security-groups/not-a-uuid'),
        400,
        'badRequest',
        /uuid/,
      );

      // The default group stays (400).
      const def = before.find((g) => g.name === 'default') as GroupBody;
      assertFault(
        await call(alice, 'DELETE', `/v2.1/os-security-groups/${def.id}`),
        400,
        'badRequest',
        /default/,
      );
      // It keeps its name, no other group takes it, and a name in use is refused.
      const rename = (id: string, name: string) =>
        call(alice, 'PUT', `/v2.1/os-security-groups/${id}`, {
          security_group: { name, description: 'renamed' },
        });
      assertFault(await rename(def.id, 'other'), 400, 'badRequest', /reserved/);
      assertFault(await rename(target.id, 'default'), 400, 'badRequest', /reserved/);
      const taken = (
        await call(alice, 'POST', '/v2.1/os-security-groups', {
          security_group: { name: 'taken', description: 'taken' },
        })
      ).body.security_group as GroupBody;
      assertFault(await rename(target.id, 'taken'), 400, 'badRequest', /already exists/);
      assert.equal(
        (await call(alice, 'DELETE', `/v2.1/os-security-groups/${taken.id}`)).status,
        202,
      );
      assertFault(await rename(target.id, 'x\u0007'), 400, 'badRequest');
      assert.equal((await group(alice, target.id)).name, 'strict', 'unchanged');
      assert.equal(
        (await call(alice, 'DELETE', `/v2.1/os-security-groups/${target.id}`)).status,
        202,
      );
      const names = (
        (await call(alice, 'GET', '/v2.1/os-security-groups')).body.security_groups as GroupBody[]
      ).map((g) => g.name);
      assert.deepEqual(
        names,
        before.map((g) => g.name),
      );
    });

    it('puts a server in groups and takes it out, as EC2 shows, and refuses a group in use', async () => {
      const extra = (
        await call(alice, 'POST', '/v2.1/os-security-groups', {
          security_group: { name: 'extra', description: 'extra' },
        })
      ).body.security_group as GroupBody;
      const id = await newServer('grouped');
      const action = (body: unknown, token = alice) =>
        call(token, 'POST', `/v2.1/servers/${id}/action`, body);
      const groupsOf = async () => {
        const a = await call(alice, 'GET', `/v2.1/servers/${id}/os-security-groups`);
        assert.equal(a.status, 200);
        assertSchema(S.securityGroupList, a.body, 'GET /servers/{id}/os-security-groups');
        return (a.body.security_groups as GroupBody[]).map((g) => g.name);
      };
      const ec2Groups = async () => {
        const d = await aliceEc2.send(
          new DescribeInstancesCommand({ InstanceIds: [ec2Id('i', id)] }),
        );
        return (d.Reservations?.[0]?.Instances?.[0]?.SecurityGroups ?? [])
          .map((g) => g.GroupName)
          .sort();
      };
      assert.deepEqual(await groupsOf(), ['default']);

      assert.equal((await action({ addSecurityGroup: { name: 'extra' } })).status, 202);
      assert.deepEqual(await groupsOf(), ['default', 'extra']);
      assert.deepEqual(await ec2Groups(), ['default', 'extra']);
      // By id too, and again: nothing changes.
      assert.equal((await action({ addSecurityGroup: { name: extra.id } })).status, 202);
      assert.deepEqual(await groupsOf(), ['default', 'extra']);
      assertFault(
        await call(alice, 'DELETE', `/v2.1/os-security-groups/${extra.id}`),
        400,
        'badRequest',
        /in use/,
      );

      assert.equal((await action({ removeSecurityGroup: { name: 'default' } })).status, 202);
      assert.deepEqual(await ec2Groups(), ['extra']);
      assertFault(
        await action({ removeSecurityGroup: { name: 'default' } }),
        404,
        'itemNotFound',
        /not associated/,
      );
      assertFault(await action({ addSecurityGroup: { name: 'nope' } }), 404, 'itemNotFound');
      assertFault(await action({ addSecurityGroup: { name: '' } }), 400, 'badRequest');
      assertFault(await action({ addSecurityGroup: {} }), 400, 'badRequest', /not specified/);
      // Bob neither sees the server nor may use its project's groups.
      assertFault(
        await action({ addSecurityGroup: { name: 'default' } }, bob),
        404,
        'itemNotFound',
      );
      assert.equal((await action({ removeSecurityGroup: { name: 'extra' } })).status, 202);
      assert.deepEqual(await groupsOf(), []);
      assert.equal((await action({ addSecurityGroup: { name: 'default' } })).status, 202);
      assert.equal((await call(alice, 'DELETE', `/v2.1/servers/${id}`)).status, 204);
    });

    it('allocates, associates, disassociates and releases floating IPs that EC2 shows as Elastic IPs', async () => {
      const pools = await call(alice, 'GET', '/v2.1/os-floating-ip-pools');
      assertSchema(S.floatingIpPoolList, pools.body, 'GET /os-floating-ip-pools');
      assert.deepEqual(pools.body.floating_ip_pools, [{ name: 'public' }]);

      const created = await call(alice, 'POST', '/v2.1/os-floating-ips', { pool: 'public' });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      assertSchema(S.floatingIpShow, created.body, 'POST /os-floating-ips');
      const fip = created.body.floating_ip as FloatingBody;
      assert.deepEqual([fip.fixed_ip, fip.instance_id, fip.pool], [null, null, 'public']);
      // Compute -> EC2: the same address, its id the allocation's.
      const ec2 = await aliceEc2.send(new DescribeAddressesCommand({ PublicIps: [fip.ip] }));
      assert.equal(ec2.Addresses?.[0]?.AllocationId, ec2Id('eipalloc', fip.id));
      // EC2 -> Compute.
      const eip = await aliceEc2.send(new AllocateAddressCommand({}));
      // Two addresses are the quota here: a third is refused, 403, and nothing is allocated.
      assertFault(await call(alice, 'POST', '/v2.1/os-floating-ips'), 403, 'overLimit', /quota/);
      const list = await call(alice, 'GET', '/v2.1/os-floating-ips');
      assertSchema(S.floatingIpList, list.body, 'GET /os-floating-ips');
      const ips = (list.body.floating_ips as FloatingBody[]).map((f) => f.ip);
      assert.deepEqual(ips.sort(), [fip.ip, eip.PublicIp].sort());
      const show = await call(alice, 'GET', `/v2.1/os-floating-ips/${fip.id}`);
      assertSchema(S.floatingIpShow, show.body, 'GET /os-floating-ips/{id}');
      assert.deepEqual(show.body.floating_ip, fip);
      assert.deepEqual((await call(bob, 'GET', '/v2.1/os-floating-ips')).body.floating_ips, []);
      assertFault(await call(bob, 'GET', `/v2.1/os-floating-ips/${fip.id}`), 404, 'itemNotFound');

      const id = await newServer('floating');
      const other = await newServer('other');
      const action = (sid: string, body: unknown, token = alice) =>
        call(token, 'POST', `/v2.1/servers/${sid}/action`, body);
      assert.equal((await action(id, { addFloatingIp: { address: fip.ip } })).status, 202);
      const associated = (await call(alice, 'GET', `/v2.1/os-floating-ips/${fip.id}`)).body
        .floating_ip as FloatingBody;
      assert.equal(associated.instance_id, id);
      assert.match(associated.fixed_ip ?? '', /^\d+\.\d+\.\d+\.\d+$/);
      const server = (await call(alice, 'GET', `/v2.1/servers/${id}`)).body.server as {
        addresses: Record<string, { addr: string; 'OS-EXT-IPS:type': string }[]>;
      };
      assert.ok(
        Object.values(server.addresses)
          .flat()
          .some((a) => a.addr === fip.ip && a['OS-EXT-IPS:type'] === 'floating'),
      );
      const ec2Assoc = await aliceEc2.send(new DescribeAddressesCommand({ PublicIps: [fip.ip] }));
      assert.equal(ec2Assoc.Addresses?.[0]?.InstanceId, ec2Id('i', id));

      assertFault(
        await action(other, { removeFloatingIp: { address: fip.ip } }),
        409,
        'conflictingRequest',
        /not associated/,
      );
      assertFault(
        await action(id, { addFloatingIp: { address: '203.0.113.9' } }),
        404,
        'itemNotFound',
      );
      assertFault(
        await action(id, { addFloatingIp: { address: fip.ip, fixed_address: '10.9.9.9' } }),
        400,
        'badRequest',
        /fixed address/,
      );
      assertFault(await action(id, { addFloatingIp: { address: 'x' } }), 400, 'badRequest');
      assertFault(
        await action(id, { addFloatingIp: { address: fip.ip }, extra: 1 }),
        400,
        'badRequest',
      );
      assertFault(
        await action(id, { addFloatingIp: { address: eip.PublicIp } }, bob),
        404,
        'itemNotFound',
      );
      // It moves to another server.
      assert.equal((await action(other, { addFloatingIp: { address: fip.ip } })).status, 202);
      assert.equal(
        (
          (await call(alice, 'GET', `/v2.1/os-floating-ips/${fip.id}`)).body
            .floating_ip as FloatingBody
        ).instance_id,
        other,
      );
      assert.equal((await action(other, { removeFloatingIp: { address: fip.ip } })).status, 202);
      assert.equal(
        (
          (await call(alice, 'GET', `/v2.1/os-floating-ips/${fip.id}`)).body
            .floating_ip as FloatingBody
        ).instance_id,
        null,
      );

      // Deallocating an associated address disassociates it first.
      assert.equal((await action(id, { addFloatingIp: { address: fip.ip } })).status, 202);
      assert.equal((await call(alice, 'DELETE', `/v2.1/os-floating-ips/${fip.id}`)).status, 202);
      const left = await aliceEc2.send(new DescribeAddressesCommand({}));
      assert.deepEqual(
        (left.Addresses ?? []).map((a) => a.PublicIp),
        [eip.PublicIp],
      );
      assertFault(
        await call(alice, 'DELETE', `/v2.1/os-floating-ips/${fip.id}`),
        404,
        'itemNotFound',
      );
      assertFault(
        await call(alice, 'POST', '/v2.1/os-floating-ips', { pool: 'nova' }),
        404,
        'itemNotFound',
        /pool/,
      );
      assertFault(
        await call(alice, 'POST', '/v2.1/os-floating-ips', { pool: 5 }),
        400,
        'badRequest',
      );
      // An allocation with no body takes the default pool.
      const plain = await call(alice, 'POST', '/v2.1/os-floating-ips');
      assertSchema(S.floatingIpShow, plain.body, 'POST /os-floating-ips (no body)');
      const plainId = (plain.body.floating_ip as FloatingBody).id;
      assert.equal((await call(alice, 'DELETE', `/v2.1/os-floating-ips/${plainId}`)).status, 202);
      for (const sid of [id, other]) {
        assert.equal((await call(alice, 'DELETE', `/v2.1/servers/${sid}`)).status, 204);
      }
    });

    it('lists and shows images as the Compute API shows them, with their metadata', async () => {
      const queued = await insertImage(t.cloud.database.db, {
        name: 'uploading',
        kind: 'machine',
        ownerProjectId: aliceProject,
        isPublic: 0,
        status: 'queued',
      });
      const bobsOwn = await insertImage(t.cloud.database.db, {
        name: 'bobs',
        kind: 'machine',
        ownerProjectId: bobProject,
        isPublic: 0,
        status: 'active',
      });
      const list = await call(alice, 'GET', '/v2.1/images');
      assert.equal(list.status, 200);
      assertSchema(S.imageList, list.body, 'GET /images');
      const names = (list.body.images as { name: string }[]).map((i) => i.name);
      assert.ok(names.includes('cirros') && names.includes('uploading'), names.join());
      assert.ok(!names.includes('bobs'), 'another project’s private image is not listed');

      const detail = await call(alice, 'GET', '/v2.1/images/detail');
      assertSchema(S.imageDetailList, detail.body, 'GET /images/detail');
      const shown = await call(alice, 'GET', `/v2.1/images/${queued.id}`);
      assertSchema(S.imageShow, shown.body, 'GET /images/{id}');
      const q = shown.body.image as { status: string; progress: number; links: { href: string }[] };
      assert.deepEqual([q.status, q.progress], ['SAVING', 25]);
      assert.match(q.links[0]?.href ?? '', new RegExp(`/v2\\.1/images/${queued.id}$`));
      const active = (await call(alice, 'GET', `/v2.1/images/${imageId}`)).body.image as {
        status: string;
        progress: number;
        metadata: Record<string, string>;
      };
      assert.deepEqual([active.status, active.progress], ['ACTIVE', 100]);
      assert.equal(active.metadata.architecture, 'x86_64');

      const meta = await call(alice, 'GET', `/v2.1/images/${imageId}/metadata`);
      assertSchema(S.imageMetadataList, meta.body, 'GET /images/{id}/metadata');
      assert.deepEqual(meta.body.metadata, active.metadata);
      const item = await call(alice, 'GET', `/v2.1/images/${imageId}/metadata/architecture`);
      assertSchema(S.imageMetadataItem, item.body, 'GET /images/{id}/metadata/{key}');
      assert.deepEqual(item.body.meta, { architecture: 'x86_64' });
      assertFault(
        await call(alice, 'GET', `/v2.1/images/${imageId}/metadata/nope`),
        404,
        'itemNotFound',
      );

      // Filters and paging.
      const byName = await call(alice, 'GET', '/v2.1/images?name=uploading');
      assert.deepEqual(
        (byName.body.images as { id: string }[]).map((i) => i.id),
        [queued.id],
      );
      // The status filter is the Image API's status, as the Compute API passes it on.
      const byStatus = await call(alice, 'GET', '/v2.1/images/detail?status=QUEUED');
      assert.deepEqual(
        (byStatus.body.images as { id: string }[]).map((i) => i.id),
        [queued.id],
      );
      assert.deepEqual((await call(alice, 'GET', '/v2.1/images?minDisk=10')).body.images, []);
      const first = await call(alice, 'GET', '/v2.1/images?limit=1');
      assertSchema(S.imageList, first.body, 'GET /images?limit=1');
      const links = first.body.images_links as { href: string }[];
      assert.equal(links.length, 1);
      const next = await call(
        alice,
        'GET',
        new URL(links[0]?.href as string).pathname + new URL(links[0]?.href as string).search,
      );
      const firstIds = (first.body.images as { id: string }[]).map((i) => i.id);
      const nextIds = (next.body.images as { id: string }[]).map((i) => i.id);
      assert.equal(nextIds.length, 1);
      assert.notDeepEqual(nextIds, firstIds);
      assertFault(await call(alice, 'GET', '/v2.1/images?marker=nope'), 400, 'badRequest');
      assertFault(await call(alice, 'GET', '/v2.1/images?limit=x'), 400, 'badRequest');

      assertFault(await call(alice, 'GET', `/v2.1/images/${bobsOwn.id}`), 404, 'itemNotFound');
      assertFault(await call(alice, 'GET', '/v2.1/images/not-an-id'), 404, 'itemNotFound');
      assert.equal((await call(bob, 'GET', `/v2.1/images/${bobsOwn.id}`)).status, 200);
    });

    it('answers odd bodies, ids and queries with a 4xx fault, never a 5xx', async () => {
      const server = await newServer('odd');
      const group = (
        (await call(alice, 'GET', '/v2.1/os-security-groups')).body.security_groups as GroupBody[]
      )[0] as GroupBody;
      const bodies: unknown[] = [
        null,
        [],
        'text',
        42,
        {},
        { security_group: null },
        { security_group: { name: 7, description: [] } },
        {
          security_group_rule: {
            parent_group_id: group.id,
            cidr: '%zz',
            ip_protocol: 'tcp',
            from_port: 1,
            to_port: 2,
          },
        },
        {
          security_group_rule: {
            parent_group_id: group.id,
            ip_protocol: {},
            from_port: 1,
            to_port: 2,
          },
        },
        {
          security_group_rule: {
            parent_group_id: group.id,
            ip_protocol: 'tcp',
            from_port: 1e300,
            to_port: 2,
          },
        },
        {
          security_group_rule: {
            parent_group_id: group.id,
            group_id: group.id.toUpperCase(),
            ip_protocol: 'udp',
            from_port: 5,
            to_port: 4,
          },
        },
        { pool: ['public'] },
        { addSecurityGroup: null },
        { addSecurityGroup: { name: 'default', extra: 1 } },
        { removeSecurityGroup: { name: 3 } },
        { addFloatingIp: 'x' },
        { addFloatingIp: { address: '1.2.3.4', fixed_address: 5 } },
        { removeFloatingIp: {} },
      ];
      const targets: [string, string][] = [
        ['POST', '/v2.1/os-security-groups'],
        ['PUT', `/v2.1/os-security-groups/${group.id}`],
        ['POST', '/v2.1/os-security-group-rules'],
        ['POST', '/v2.1/os-floating-ips'],
        ['POST', `/v2.1/servers/${server}/action`],
      ];
      for (const [method, path] of targets) {
        for (const body of bodies) {
          const a = await call(alice, method, path, body);
          if (a.status < 300) continue;
          assert.ok(
            a.status >= 400 && a.status < 500,
            `${method} ${path} ${JSON.stringify(body)}: ${a.status} ${JSON.stringify(a.body)}`,
          );
          assertSchema(S.computeFault, a.body, `${method} ${path}`);
        }
      }
      for (const path of [
        '/v2.1/os-security-groups/%E2%82',
        `/v2.1/os-security-groups/${'a'.repeat(300)}`,
        '/v2.1/os-security-group-rules/x',
        '/v2.1/os-floating-ips/1.2.3.4',
        '/v2.1/images/%00',
        '/v2.1/images?limit=-1',
        '/v2.1/images?changes-since=yesterday',
        '/v2.1/images/detail?minRam=lots',
        '/v2.1/os-security-groups?limit=x',
        `/v2.1/images/${imageId}/metadata/${'k'.repeat(300)}`,
      ]) {
        for (const method of ['GET', 'DELETE']) {
          const a = await call(alice, method, path);
          assert.ok(
            a.status >= 400 && a.status < 500,
            `${method} ${path}: ${a.status} ${JSON.stringify(a.body)}`,
          );
          assertSchema(S.computeFault, a.body, `${method} ${path}`);
        }
      }
      assert.equal((await call(alice, 'DELETE', `/v2.1/servers/${server}`)).status, 204);
    });

    it('answers 404 for the proxies from microversion 2.36 on, when it serves 2.36', async () => {
      const at = (v: string, path: string, method = 'GET', body?: unknown) =>
        call(alice, method, path, body, { 'openstack-api-version': `compute ${v}` });
      for (const path of [
        '/v2.1/os-security-groups',
        '/v2.1/os-floating-ips',
        '/v2.1/os-floating-ip-pools',
        '/v2.1/images',
        `/v2.1/images/${imageId}`,
      ]) {
        const a = await at('2.36', path);
        if (atLeast(MAX_VERSION, 36)) assertFault(a, 404, 'itemNotFound', /2\.36/);
        else assertFault(a, 406, 'computeFault');
      }
      // addFloatingIp goes at 2.44; addSecurityGroup stays.
      const server = await newServer('versions');
      const action = (v: string, body: unknown) =>
        at(v, `/v2.1/servers/${server}/action`, 'POST', body);
      if (atLeast(MAX_VERSION, 44)) {
        assertFault(
          await action('2.44', { addFloatingIp: { address: '172.24.4.250' } }),
          404,
          'itemNotFound',
          /2\.44/,
        );
        assert.equal((await action('2.44', { addSecurityGroup: { name: 'default' } })).status, 202);
        const groups = await at('2.44', `/v2.1/servers/${server}/os-security-groups`);
        assertSchema(
          S.securityGroupList,
          groups.body,
          'GET /servers/{id}/os-security-groups at 2.44',
        );
      }
      assert.equal((await call(alice, 'DELETE', `/v2.1/servers/${server}`)).status, 204);
      // Through the highest microversion it serves below 2.36, they answer.
      const below = atLeast(MAX_VERSION, 36) ? '2.35' : `${MAX_VERSION.major}.${MAX_VERSION.minor}`;
      for (const path of ['/v2.1/os-security-groups', '/v2.1/os-floating-ips', '/v2.1/images']) {
        assert.equal((await at(below, path)).status, 200, path);
      }
    });
  });
}

describe(
  'openstackclient and openstacksdk against the Compute API proxies',
  // With no network endpoint in the catalog, openstackclient calls the Compute API for these:
  // the cloud here offers no Networking API (its endpoint is taken out of the catalog).
  needs('openstackclient'),
  () => {
    let t: TestCloud;
    let env: NodeJS.ProcessEnv;
    let imageId: string;
    let token: string;
    let computeUrl: string;
    const call = computeCaller(() => computeUrl.replace(/\/v2\.1$/, ''));

    const ok = async (args: string[]) => {
      const r = await openstack(env, args);
      assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.err}`);
      return r.out;
    };
    const json = async <T>(args: string[]) => JSON.parse(await ok([...args, '-f', 'json'])) as T;

    before(async () => {
      t = await startTestCloud();
      await t.cloud.database.db
        .deleteFrom('endpoints')
        .where('serviceType', '=', 'network')
        .execute();
      await new IdentityService(t.cloud.database.db).setPassword('admin', PASSWORD);
      imageId = (await t.addImage({ name: 'cirros' })).id;
      env = adminEnv(t);
      token = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
      computeUrl = t.cloud.urls?.compute as string;
    });
    after(() => t?.stop());

    it('creates, lists, shows, renames and deletes security groups and their rules', async () => {
      const created = await json<{ id: string; name: string; description: string }>([
        'security',
        'group',
        'create',
        '--description',
        'web tier',
        'web',
      ]);
      assert.equal(created.name, 'web');
      const listed = await json<{ Name: string; ID: string }[]>(['security', 'group', 'list']);
      assert.deepEqual(listed.map((g) => g.Name).sort(), ['default', 'web']);
      // EC2 shows what openstackclient made.
      const ec2 = await t.admin.send(new DescribeSecurityGroupsCommand({ GroupNames: ['web'] }));
      assert.equal(ec2.SecurityGroups?.[0]?.GroupId, ec2Id('sg', created.id));

      const rule = await json<{ id: string; port_range: string; ip_range: string }>([
        'security',
        'group',
        'rule',
        'create',
        '--protocol',
        'tcp',
        '--dst-port',
        '22:23',
        '--remote-ip',
        '10.0.0.0/8',
        'web',
      ]);
      assert.equal(rule.port_range, '22:23');
      assert.equal(rule.ip_range, '10.0.0.0/8');
      await ok([
        'security',
        'group',
        'rule',
        'create',
        '--protocol',
        'tcp',
        '--dst-port',
        '80',
        '--remote-group',
        'default',
        'web',
      ]);
      const rules = await json<
        { ID: string; 'IP Range': string; 'Remote Security Group': string }[]
      >(['security', 'group', 'rule', 'list', 'web']);
      assert.equal(rules.length, 2);
      assert.ok(
        // openstackclient labels the remote group's column oddly; its value is there.
        rules.some((r) => Object.values(r).includes('default')),
        JSON.stringify(rules),
      );
      const perms = (await t.admin.send(new DescribeSecurityGroupsCommand({ GroupNames: ['web'] })))
        .SecurityGroups?.[0]?.IpPermissions;
      assert.ok(
        perms?.some((p) => p.FromPort === 22 && p.ToPort === 23),
        JSON.stringify(perms),
      );

      const bad = await openstack(env, [
        'security',
        'group',
        'rule',
        'create',
        '--protocol',
        'tcp',
        '--dst-port',
        '0:10',
        'web',
      ]);
      // keystoneauth does not read Compute faults: it says so, with their status.
      assert.notEqual(bad.code, 0);
      assert.match(bad.err, /HTTP 400/);
      const dup = await openstack(env, ['security', 'group', 'create', 'web']);
      assert.notEqual(dup.code, 0);
      assert.match(dup.err, /HTTP 400/);

      const ruleShown = await json<{ id: string; port_range: string }>([
        'security',
        'group',
        'rule',
        'show',
        rule.id,
      ]);
      assert.deepEqual([ruleShown.id, ruleShown.port_range], [rule.id, '22:23']);
      await ok(['security', 'group', 'rule', 'delete', rule.id]);
      assert.equal((await json<unknown[]>(['security', 'group', 'rule', 'list', 'web'])).length, 1);
      // openstackclient 6.0's `security group set` fails in the client itself on the Compute
      // path (it calls its own helper with the wrong arguments), so the rename is over HTTP.
      const renamed = await call(token, 'PUT', `/v2.1/os-security-groups/${created.id}`, {
        security_group: { name: 'www', description: 'renamed' },
      });
      assert.equal(renamed.status, 200);
      const shown = await json<{ name: string; description: string }>([
        'security',
        'group',
        'show',
        'www',
      ]);
      assert.deepEqual([shown.name, shown.description], ['www', 'renamed']);
      await ok(['security', 'group', 'delete', 'www']);
      const def = await openstack(env, ['security', 'group', 'delete', 'default']);
      assert.notEqual(def.code, 0);
      assert.match(def.err, /HTTP 400/);
    });

    it('adds and removes a server’s security groups and floating IPs, and lists pools', async () => {
      await ok(['security', 'group', 'create', 'extra']);
      const created = await json<{ id: string }>([
        'server',
        'create',
        '--flavor',
        'm1.nano',
        '--image',
        imageId,
        '--wait',
        'vm',
      ]);
      await ok(['server', 'add', 'security', 'group', 'vm', 'extra']);
      const groups = await call(token, 'GET', `/v2.1/servers/${created.id}/os-security-groups`);
      assert.deepEqual(
        (groups.body.security_groups as { name: string }[]).map((g) => g.name),
        ['default', 'extra'],
      );
      await ok(['server', 'remove', 'security', 'group', 'vm', 'default']);
      const shown = await json<{ security_groups: unknown }>(['server', 'show', 'vm']);
      assert.match(JSON.stringify(shown.security_groups), /extra/);
      assert.doesNotMatch(JSON.stringify(shown.security_groups), /default/);

      const pools = await json<{ Name: string }[]>(['floating', 'ip', 'pool', 'list']);
      assert.deepEqual(
        pools.map((p) => p.Name),
        ['public'],
      );
      const fip = await json<{ id: string; ip: string }>(['floating', 'ip', 'create', 'public']);
      const listed = await json<{ ID: string; 'Floating IP Address': string }[]>([
        'floating',
        'ip',
        'list',
      ]);
      assert.deepEqual(
        listed.map((f) => f['Floating IP Address']),
        [fip.ip],
      );
      const shownIp = await json<{ id: string; ip: string }>(['floating', 'ip', 'show', fip.ip]);
      assert.deepEqual([shownIp.id, shownIp.ip], [fip.id, fip.ip]);
      await ok(['server', 'add', 'floating', 'ip', 'vm', fip.ip]);
      const withIp = await json<{ ID: string; Server: string }[]>(['floating', 'ip', 'list']);
      assert.equal(withIp[0]?.Server, created.id);
      const ec2 = await t.admin.send(new DescribeAddressesCommand({ PublicIps: [fip.ip] }));
      assert.equal(ec2.Addresses?.[0]?.InstanceId, ec2Id('i', created.id));
      await ok(['server', 'remove', 'floating', 'ip', 'vm', fip.ip]);
      assert.equal(
        (await json<{ Server: string | null }[]>(['floating', 'ip', 'list']))[0]?.Server,
        null,
      );
      await ok(['floating', 'ip', 'delete', fip.id]);
      assert.deepEqual(await json<unknown[]>(['floating', 'ip', 'list']), []);
      await ok(['server', 'delete', '--wait', 'vm']);
      await ok(['security', 'group', 'delete', 'extra']);
    });

    it('drives the same calls through openstacksdk’s compute proxy, images included', async () => {
      const a = await call(token, 'POST', '/v2.1/servers', {
        server: { name: 'sdk-vm', imageRef: imageId, flavorRef: 'm1.nano' },
      });
      const id = (a.body.server as { id: string }).id;
      await waitUntil(
        async () =>
          ((await call(token, 'GET', `/v2.1/servers/${id}`)).body.server as { status: string })
            .status === 'ACTIVE',
        10_000,
        'ACTIVE',
      );
      const fip = (await call(token, 'POST', '/v2.1/os-floating-ips')).body
        .floating_ip as FloatingBody;
      const script = `
import json, openstack
conn = openstack.connect()
server = conn.compute.get_server(${JSON.stringify(id)})
conn.compute.add_security_group_to_server(server, {'name': 'default'})
conn.compute.remove_security_group_from_server(server, {'name': 'default'})
after_remove = [g['name'] for g in conn.compute.fetch_server_security_groups(server).security_groups]
conn.compute.add_security_group_to_server(server, {'name': 'default'})
after_add = [g['name'] for g in conn.compute.fetch_server_security_groups(server).security_groups]
conn.compute.add_floating_ip_to_server(server, ${JSON.stringify(fip.ip)})
images = [(i.id, i.name, i.status, i.min_disk) for i in conn.compute.images()]
image = conn.compute.get_image(${JSON.stringify(imageId)})
metadata = dict(conn.compute.get_image_metadata(image).metadata)
print(json.dumps({'after_remove': after_remove, 'after_add': after_add, 'images': images, 'image': [image.name, image.status, image.progress], 'metadata': metadata}))
`;
      const r = await openstacksdk(script, { ...env, OS_CLOUD: '' });
      assert.equal(r.code, 0, r.err);
      const out = JSON.parse(r.out.trim().split('\n').pop() as string) as {
        after_remove: string[];
        after_add: string[];
        images: [string, string, string, number][];
        image: [string, string, number];
        metadata: Record<string, string>;
      };
      assert.deepEqual(out.after_remove, []);
      assert.deepEqual(out.after_add, ['default']);
      assert.deepEqual(out.images, [[imageId, 'cirros', 'ACTIVE', 0]]);
      assert.deepEqual(out.image, ['cirros', 'ACTIVE', 100]);
      assert.deepEqual(out.metadata, { architecture: 'x86_64' });
      const shown = (await call(token, 'GET', `/v2.1/os-floating-ips/${fip.id}`)).body
        .floating_ip as FloatingBody;
      assert.equal(shown.instance_id, id);
      await call(token, 'DELETE', `/v2.1/servers/${id}`);
    });
  },
);

const HOST = 'px-host';

describe(
  'a rule made through the Compute API on a guest’s firewall',
  needs('netns', 'busybox'),
  () => {
    const cleanup = new Cleanup();
    let t: TestCloud;
    let agent: NetworkAgent;
    let client: FakeGuest;
    let guest: FakeGuest;
    let token: string;
    let url: string;
    const call = computeCaller(() => url);

    before(async () => {
      t = await startTestCloud({}, { services: ['network', 'scheduler', 'api'] });
      cleanup.add(() => t.stop());
      await new IdentityService(t.cloud.database.db).setPassword('admin', PASSWORD);
      token = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
      url = (t.cloud.urls?.compute as string).replace(/\/v2\.1$/, '');
      const dir = tempDir();
      cleanup.add(async () => fs.rmSync(dir, { recursive: true, force: true }));
      // The one server this test creates is played by a namespace, not a VM.
      agent = await startAgentHost(t, cleanup, {
        host: HOST,
        stateDir: dir,
        portFor: () => guest.port,
      });
      guest = await new FakeGuest(cleanup).create();
      client = await new FakeGuest(cleanup, uniqueName('px-c')).create();
      await joinClient(agent.dataPlane.ns, client.ns, 'ext0', '172.31.8.1', '172.31.8.2');
    });
    after(() => cleanup.run());

    it('opens the port once the server joins the group and closes it when the rule goes', async () => {
      const image = await t.addImage({ name: 'proxy-image' });
      const created = await call(token, 'POST', '/v2.1/servers', {
        server: { name: 'fw', imageRef: image.id, flavorRef: 'm1.nano' },
      });
      assert.equal(created.status, 202, JSON.stringify(created.body));
      const id = (created.body.server as { id: string }).id;
      const ip = await waitUntil(
        async () => {
          const s = (await call(token, 'GET', `/v2.1/servers/${id}`)).body.server as {
            status: string;
            addresses: Record<string, { addr: string }[]>;
          };
          return s.status === 'ACTIVE' && Object.values(s.addresses).flat()[0]?.addr;
        },
        10_000,
        'the server to run',
      );
      assert.equal(await guest.dhcp(), ip);
      listen(guest, 22, 'ssh-here');
      await waitFor('the listener', () => tcpProbe(guest.ns, '127.0.0.1', 22));
      assert.equal(await tcpProbe(client.ns, ip, 22), undefined, 'refused at first');
      const chain = async () =>
        (await agent.dataPlane.ns.exec('nft', ['list', 'table', 'inet', 'stratus'])).stdout;

      const sg = (
        await call(token, 'POST', '/v2.1/os-security-groups', {
          security_group: { name: 'ssh', description: 'ssh from the client network' },
        })
      ).body.security_group as GroupBody;
      const rule = (
        await call(token, 'POST', '/v2.1/os-security-group-rules', {
          security_group_rule: {
            parent_group_id: sg.id,
            ip_protocol: 'tcp',
            from_port: 22,
            to_port: 22,
            cidr: '172.31.8.0/24',
          },
        })
      ).body.security_group_rule as GroupBody['rules'][number];
      assert.equal(
        await tcpProbe(client.ns, ip, 22),
        undefined,
        'not yet: the server is not in it',
      );
      const added = await call(token, 'POST', `/v2.1/servers/${id}/action`, {
        addSecurityGroup: { name: 'ssh' },
      });
      assert.equal(added.status, 202);
      await waitFor('the rule', async () =>
        /172\.31\.8\.0\/24 tcp dport 22 accept/.test(await chain()),
      );
      assert.equal(await tcpProbe(client.ns, ip, 22, 3), 'ssh-here', 'accepted once in the group');

      assert.equal(
        (await call(token, 'DELETE', `/v2.1/os-security-group-rules/${rule.id}`)).status,
        202,
      );
      await waitFor('the rule to go', async () => !/tcp dport 22 accept/.test(await chain()));
      assert.equal(await tcpProbe(client.ns, ip, 22), undefined, 'refused after the delete');
      assert.equal((await call(token, 'DELETE', `/v2.1/servers/${id}`)).status, 204);
    });
  },
);
