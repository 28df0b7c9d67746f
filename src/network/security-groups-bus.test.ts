// Security groups through the network service's client, over the bus (JSON on the wire), on
// every database: changes come back as rows, refusals keep their kind, resource and reason, and
// every change reaches every host's agent through the network service's fanout.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InProcessBus, type Subscription } from '../bus/index.js';
import { systemContext, userContext, type RequestContext } from '../context.js';
import { InstanceRepo, ProjectNetworkRepo, type Database } from '../db/index.js';
import { openTestDatabase, TEST_BACKENDS } from '../../test/support/databases.js';
import { stratusError } from '../../test/support/expect.js';
import { needs } from '../../test/support/capabilities.js';
import { instanceRow } from '../../test/support/instances.js';
import { IdentityService } from '../identity/index.js';
import { silentLogger } from '../log.js';
import { NETWORK_AGENT_FANOUT, NetworkAgentClient } from './agent.js';
import { NetworkClient } from './client.js';
import { NetworkManager } from './manager.js';
import { ProjectNetworkService } from './project-networks.js';
import { SecurityGroupReader } from './security-group-reader.js';
import { SecurityGroupService } from './security-groups.js';

const QUOTA = {
  instances: 10,
  cores: 20,
  ramMb: 51_200,
  addresses: 3,
  securityGroups: 3,
  securityGroupRules: 4,
  keypairs: 100,
  serverGroups: 10,
  serverGroupMembers: 10,
  volumes: 10,
  gigabytes: 1000,
  snapshots: 10,
};

for (const backend of TEST_BACKENDS) {
  describe(`security groups over the bus on ${backend.name}`, needs(...backend.needs), () => {
    let database: Database;
    let bus: InProcessBus;
    let network: NetworkClient;
    let identity: IdentityService;
    const subscriptions: Subscription[] = [];
    /** What each of two hosts' agents heard, in order. */
    const heard: Record<'host-a' | 'host-b', string[][]> = { 'host-a': [], 'host-b': [] };

    before(async () => {
      database = await openTestDatabase(backend);
      bus = new InProcessBus({ logger: silentLogger(), callTimeoutMs: 5_000 });
      const agents = new NetworkAgentClient(bus);
      const service = new NetworkManager({
        db: database.db,
        host: 'net-1',
        logger: silentLogger(),
        fixedRange: '10.31.0.0/24',
        floatingRange: '198.51.100.16/28',
        leaseSeconds: 60,
        quota: QUOTA,
        onSecurityGroupsChanged: (ids) => agents.securityGroupsChanged(systemContext(), ids),
      }).service();
      await service.start?.();
      for (const t of service.topics) subscriptions.push(await bus.serve(t.topic, t.handler));
      for (const host of ['host-a', 'host-b'] as const) {
        subscriptions.push(
          await bus.serve(
            NETWORK_AGENT_FANOUT,
            async (method, args) => {
              assert.equal(method, 'securityGroupsChanged');
              heard[host].push((args as { groupIds: string[] }).groupIds);
              return null;
            },
            { fanout: true },
          ),
        );
      }
      network = new NetworkClient(bus);
      identity = new IdentityService(database.db);
    });
    after(async () => {
      for (const s of subscriptions) await s.close();
      await bus.close();
      await database.close();
    });

    const newProject = async (): Promise<RequestContext> => {
      const p = await identity.createProject({ name: `p-${Math.random().toString(36).slice(2)}` });
      return userContext({ userId: 'u-1', projectId: p.id, roles: ['member'] });
    };
    /**
     * What both agents heard since the last look, once each has heard `count` announcements (a
     * fanout is delivered after the call that caused it returns, so this polls, up to 5 s).
     */
    const take = async (count: number, waitMs = 5_000) => {
      const deadline = Date.now() + waitMs;
      while (heard['host-a'].length < count || heard['host-b'].length < count) {
        if (Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      return { a: heard['host-a'].splice(0), b: heard['host-b'].splice(0) };
    };

    it('creates and deletes a group, with its tags, and refuses what EC2 refuses', async () => {
      const ctx = await newProject();
      const web = await network.createSecurityGroup(ctx, {
        name: 'web',
        description: 'web servers',
        tags: [{ key: 'tier', value: 'front' }],
      });
      assert.equal(web.name, 'web');
      assert.equal(web.projectId, ctx.projectId);
      const tag = await database.db
        .selectFrom('tags')
        .select(['key', 'value', 'resourceType'])
        .where('resourceId', '=', web.id)
        .execute();
      assert.deepEqual(tag, [{ key: 'tier', value: 'front', resourceType: 'security-group' }]);
      await assert.rejects(
        network.createSecurityGroup(ctx, { name: 'web', description: 'again' }),
        stratusError('already_exists', { resource: 'security_group' }),
      );
      await assert.rejects(
        network.createSecurityGroup(ctx, { name: 'default', description: 'mine' }),
        stratusError('invalid', { resource: 'security_group', reason: 'reserved' }),
      );
      await assert.rejects(
        network.createSecurityGroup(ctx, { name: 'bad\u0001name', description: 'x' }),
        stratusError('invalid', { resource: 'parameter' }),
      );
      await assert.rejects(
        network.deleteSecurityGroup(ctx, { name: 'default' }),
        stratusError('conflict', { resource: 'security_group', reason: 'cannot_delete' }),
      );
      const gone = await network.deleteSecurityGroup(ctx, { idPrefix: web.id.slice(0, 8) });
      assert.equal(gone.id, web.id);
      // Creating a group changes no rules anywhere; deleting one is announced.
      assert.deepEqual(await take(1), { a: [[web.id]], b: [[web.id]] });
      await assert.rejects(
        network.deleteSecurityGroup(ctx, { name: 'web' }),
        stratusError('not_found', { resource: 'security_group' }),
      );
    });

    it('holds a project to its group quota (the default group counts)', async () => {
      const ctx = await newProject();
      await network.createSecurityGroup(ctx, { name: 'one', description: 'x' });
      await network.createSecurityGroup(ctx, { name: 'two', description: 'x' });
      await assert.rejects(
        network.createSecurityGroup(ctx, { name: 'three', description: 'x' }),
        stratusError('over_quota', { reason: 'security_groups' }),
      );
    });

    it('authorizes and revokes rules, and every host hears of each change', async () => {
      const ctx = await newProject();
      const web = await network.createSecurityGroup(ctx, { name: 'web', description: 'x' });
      const added = await network.authorizeSecurityGroupIngress(ctx, { name: 'web' }, [
        { protocol: 'tcp', fromPort: 22, toPort: 22, ipRanges: [{ cidr: '10.0.0.0/8' }] },
        { protocol: 'icmp', sourceGroups: [{ name: 'default' }] },
      ]);
      assert.equal(added.group.id, web.id);
      assert.deepEqual(
        added.rules.map((r) => [
          r.protocol,
          r.fromPort,
          r.toPort,
          r.cidr,
          r.sourceGroupId !== null,
        ]),
        [
          ['tcp', 22, 22, '10.0.0.0/8', false],
          ['icmp', -1, -1, null, true],
        ],
      );
      assert.deepEqual(await take(1), { a: [[web.id]], b: [[web.id]] });

      await assert.rejects(
        network.authorizeSecurityGroupIngress(ctx, { name: 'web' }, [
          { protocol: 'tcp', fromPort: 22, toPort: 22, ipRanges: [{ cidr: '10.0.0.0/8' }] },
        ]),
        stratusError('already_exists', { resource: 'security_group_rule' }),
      );
      await assert.rejects(
        network.authorizeSecurityGroupIngress(ctx, { name: 'web' }, [
          { protocol: 'tcp', fromPort: 80, toPort: 80, ipRanges: [{ cidr: '10.0.0.1/8' }] },
        ]),
        stratusError('invalid', { resource: 'parameter' }),
      );
      await assert.rejects(
        network.authorizeSecurityGroupIngress(ctx, { name: 'web' }, [
          {
            protocol: 'udp',
            fromPort: 1,
            toPort: 1,
            ipRanges: [{ cidr: '0.0.0.0/0' }, { cidr: '10.1.0.0/16' }],
          },
          { protocol: 'udp', fromPort: 2, toPort: 2, ipRanges: [{ cidr: '0.0.0.0/0' }] },
        ]),
        stratusError('over_quota', { reason: 'security_group_rules' }),
      );
      await assert.rejects(
        network.authorizeSecurityGroupIngress(ctx, { name: 'nope' }, [
          { protocol: 'tcp', fromPort: 1, toPort: 1, ipRanges: [{ cidr: '0.0.0.0/0' }] },
        ]),
        stratusError('not_found', { resource: 'security_group' }),
      );

      const tcp = added.rules[0]!;
      const removed = await network.revokeSecurityGroupIngress(
        ctx,
        { idPrefix: web.id.slice(0, 8) },
        { ruleRefs: [{ idPrefix: tcp.id.slice(0, 8), shown: 'sgr-shown' }] },
      );
      assert.deepEqual(
        removed.rules.map((r) => r.id),
        [tcp.id],
      );
      // Only the revocation: none of the refused changes above was announced.
      assert.deepEqual(await take(1), { a: [[web.id]], b: [[web.id]] });
      await assert.rejects(
        network.revokeSecurityGroupIngress(
          ctx,
          { name: 'web' },
          { ruleRefs: [{ idPrefix: tcp.id.slice(0, 8), shown: 'sgr-shown' }] },
        ),
        stratusError('not_found', { resource: 'security_group_rule' }),
      );
      await assert.rejects(
        network.revokeSecurityGroupIngress(ctx, { name: 'web' }, {}),
        stratusError('missing', { resource: 'parameter' }),
      );
      // Another project cannot reach the group.
      const other = await newProject();
      await assert.rejects(
        network.revokeSecurityGroupIngress(
          other,
          { idPrefix: web.id.slice(0, 8) },
          { permissions: [{ protocol: 'icmp', sourceGroups: [{ name: 'default' }] }] },
        ),
        stratusError('not_found', { resource: 'security_group' }),
      );
    });

    it('tells every host when a member of a source group gets or gives back its address', async () => {
      const ctx = await newProject();
      const web = await network.createSecurityGroup(ctx, { name: 'web', description: 'x' });
      const app = await network.createSecurityGroup(ctx, { name: 'app', description: 'x' });
      await network.authorizeSecurityGroupIngress(ctx, { name: 'app' }, [
        { protocol: 'tcp', fromPort: 22, toPort: 22, sourceGroups: [{ name: 'web' }] },
      ]);
      assert.deepEqual(await take(1), { a: [[app.id]], b: [[app.id]] });
      const instances = new InstanceRepo(database.db);
      const launch = async (groupId: string) => {
        const row = instanceRow({ projectId: ctx.projectId as string, host: 'host-a' });
        await instances.insert([row], [{ instanceId: row.id, groupId }]);
        const net = await network.allocateForInstance(systemContext(), row.id, 'host-a');
        return { id: row.id, address: net.address };
      };
      // A member of web on host-a: app's rules (on any host) admit it from now on.
      const member = await launch(web.id);
      assert.deepEqual(await take(1), { a: [[app.id]], b: [[app.id]] });
      const [set] = await network.rulesForInstances(systemContext(), [member.id]);
      assert.deepEqual(set?.groupIds, [web.id]);
      const service = new SecurityGroupService({ db: database.db, quota: QUOTA });
      const other = (await launch(app.id)).id;
      const [appSet] = await service.rulesForInstances([other]);
      assert.deepEqual(appSet?.ingress[0]?.sources, [`${member.address}/32`]);
      // A member of app, which no rule names as source: nobody is told anything.
      assert.deepEqual(await take(1, 300), { a: [], b: [] });
      // The member gives its address back: app's rules forget it, everywhere.
      await network.deallocateForInstance(systemContext(), member.id, 'host-a');
      assert.deepEqual(await take(1), { a: [[app.id]], b: [[app.id]] });
      const [after] = await service.rulesForInstances([other]);
      assert.deepEqual(after?.ingress[0]?.sources, []);
    });

    it('gives the data plane egress rules: allow-all first, narrowed by authorize and revoke', async () => {
      const ctx = await newProject();
      const app = await network.createSecurityGroup(ctx, { name: 'app', description: 'x' });
      const db = await network.createSecurityGroup(ctx, { name: 'db', description: 'x' });
      const instances = new InstanceRepo(database.db);
      const launch = async (groupId: string) => {
        const row = instanceRow({ projectId: ctx.projectId as string, host: 'host-a' });
        await instances.insert([row], [{ instanceId: row.id, groupId }]);
        const net = await network.allocateForInstance(systemContext(), row.id, 'host-a');
        return { id: row.id, address: net.address };
      };
      const appVm = await launch(app.id);
      const dbVm = await launch(db.id);
      const egressOf = async () => {
        const [set] = await network.rulesForInstances(systemContext(), [appVm.id]);
        return (set?.egress ?? []).map((r) => [r.protocol, r.fromPort, r.sources]);
      };
      assert.deepEqual(await egressOf(), [['-1', null, ['0.0.0.0/0']]]);
      await take(1, 300);
      const added = await network.authorizeSecurityGroupEgress(ctx, { name: 'app' }, [
        { protocol: 'tcp', fromPort: 5432, toPort: 5432, sourceGroups: [{ name: 'db' }] },
      ]);
      assert.equal(added.rules[0]?.direction, 'egress');
      // Every host hears of it, as of ingress changes.
      assert.deepEqual(await take(1), { a: [[app.id]], b: [[app.id]] });
      // Another IP protocol by number: all of its traffic, whatever ports are given.
      const gre = await network.authorizeSecurityGroupEgress(ctx, { name: 'app' }, [
        { protocol: '47', fromPort: 1, toPort: 2, ipRanges: [{ cidr: '192.0.2.0/24' }] },
      ]);
      assert.deepEqual(
        gre.rules.map((r) => [r.protocol, r.fromPort, r.toPort]),
        [['47', null, null]],
      );
      await take(1);
      await network.revokeSecurityGroupEgress(
        ctx,
        { name: 'app' },
        { ruleRefs: [{ idPrefix: gre.rules[0]?.id ?? '' }] },
      );
      await take(1);
      const allowAll = { protocol: '-1', ipRanges: [{ cidr: '0.0.0.0/0' }] };
      await network.revokeSecurityGroupEgress(ctx, { name: 'app' }, { permissions: [allowAll] });
      assert.deepEqual(await egressOf(), [['tcp', 5432, [`${dbVm.address}/32`]]]);
      // The ingress side knows nothing of them, and a second revoke finds nothing.
      const [set] = await network.rulesForInstances(systemContext(), [appVm.id]);
      assert.deepEqual(set?.ingress, []);
      await assert.rejects(
        network.revokeSecurityGroupEgress(ctx, { name: 'app' }, { permissions: [allowAll] }),
        (err: Error & { kind?: string }) => err.kind === 'not_found',
      );
      await assert.rejects(
        network.authorizeSecurityGroupEgress(ctx, { name: 'app' }, [
          { protocol: 'tcp', fromPort: 5432, toPort: 5432, sourceGroups: [{ name: 'db' }] },
        ]),
        (err: Error & { kind?: string }) => err.kind === 'already_exists',
      );
    });

    it("gives the overlay a project port's rules, remote groups as their ports' addresses on its network", async () => {
      const ctx = await newProject();
      const app = await network.createSecurityGroup(ctx, { name: 'app', description: 'x' });
      const db = await network.createSecurityGroup(ctx, { name: 'db', description: 'x' });
      await network.authorizeSecurityGroupIngress(ctx, { name: 'db' }, [
        { protocol: 'tcp', fromPort: 5432, toPort: 5432, sourceGroups: [{ name: 'app' }] },
      ]);
      const nets = new ProjectNetworkService({ db: database.db, floatingPool: 'public' });
      const net = await nets.createNetwork(ctx, { name: 'n1' });
      await nets.createSubnet(ctx, { networkId: net.id, cidr: '10.61.0.0/24' });
      const other = await nets.createNetwork(ctx, { name: 'n2' });
      await nets.createSubnet(ctx, { networkId: other.id, cidr: '10.62.0.0/24' });
      const appPort = await nets.createPort(ctx, { networkId: net.id, securityGroups: [app.id] });
      await nets.createPort(ctx, { networkId: other.id, securityGroups: [app.id] });
      const dbPort = await nets.createPort(ctx, { networkId: net.id, securityGroups: [db.id] });
      const open = await nets.createPort(ctx, { networkId: net.id, portSecurityEnabled: false });
      const sets = await network.rulesForPorts(systemContext(), [dbPort.id, open.id, 'nothing']);
      assert.deepEqual(
        sets.map((x) => x.portId),
        [dbPort.id, open.id],
      );
      const [dbSet, openSet] = sets;
      const appIps = (await new ProjectNetworkRepo(database.db).portIps([appPort.id])).map(
        (r) => `${r.address}/32`,
      );
      assert.equal(appIps.length, 1);
      // Only app's port on the same network counts as a source.
      assert.deepEqual(
        dbSet?.security?.ingress.map((r) => [r.protocol, r.fromPort, r.sources]),
        [['tcp', 5432, appIps]],
      );
      assert.deepEqual(
        dbSet?.security?.egress.map((r) => [r.protocol, r.sources]),
        [['-1', ['0.0.0.0/0']]],
      );
      assert.equal(openSet?.security, undefined);
    });

    it('puts an instance in other groups of its project, and every host hears of it', async () => {
      const ctx = await newProject();
      const web = await network.createSecurityGroup(ctx, { name: 'web', description: 'x' });
      const db = await network.createSecurityGroup(ctx, { name: 'db', description: 'x' });
      await network.authorizeSecurityGroupIngress(ctx, { name: 'db' }, [
        {
          protocol: 'tcp',
          fromPort: 5432,
          toPort: 5432,
          ipRanges: [],
          sourceGroups: [{ name: 'web' }],
        },
      ]);
      await take(1);
      const row = instanceRow({ projectId: ctx.projectId as string, host: 'host-a' });
      await new InstanceRepo(database.db).insert([row], [{ instanceId: row.id, groupId: db.id }]);
      const ids = await network.setInstanceSecurityGroups(systemContext(), row.id, [
        web.id.slice(0, 8),
      ]);
      assert.deepEqual(ids, [web.id]);
      const [set] = await network.rulesForInstances(systemContext(), [row.id]);
      assert.deepEqual(set?.groupIds, [web.id]);
      // The old group, the new one, and db (whose rule names web as its source).
      const heardNow = await take(1);
      assert.deepEqual(new Set(heardNow.a[0]), new Set([db.id, web.id]));
      assert.deepEqual(heardNow.a, heardNow.b);
      const other = await newProject();
      const theirs = await network.createSecurityGroup(other, { name: 'theirs', description: 'x' });
      await assert.rejects(
        network.setInstanceSecurityGroups(systemContext(), row.id, [theirs.id]),
        stratusError('not_found', { resource: 'security_group' }),
      );
    });

    it('gives a new project its default group on the first read, through the service', async () => {
      const ctx = await newProject();
      let asked = 0;
      const reader = new SecurityGroupReader({
        db: database.db,
        network: {
          ensureDefaultSecurityGroup: (c) => {
            asked += 1;
            return network.ensureDefaultSecurityGroup(c);
          },
        },
      });
      assert.deepEqual(
        (await reader.list(ctx)).map((g) => g.name),
        ['default'],
      );
      assert.deepEqual(
        (await reader.list(ctx)).map((g) => g.name),
        ['default'],
      );
      assert.equal(asked, 1, 'only the first read asks the network service');
    });
  });
}
