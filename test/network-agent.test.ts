// The host network agent in a cloud: the EC2 API launches an instance (fake driver), the
// agent plugs it into its namespace over the bus, the guest takes its fixed IP by DHCP and the
// lease reaches the network service; AuthorizeSecurityGroupIngress and Revoke reach the
// running guest through the agents' fanout.
import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeInstancesCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Subscription } from '../src/bus/index.js';
import { systemContext } from '../src/context.js';
import { FixedIpLeaseRepo, InstanceRepo, type InstanceRow } from '../src/db/index.js';
import { NetworkAgent, NetworkAgentClient, NetworkClient } from '../src/network/index.js';
import { needs } from './support/capabilities.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
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

const HOST = 'np-host';
const PERMISSION = {
  IpProtocol: 'tcp',
  FromPort: 22,
  ToPort: 22,
  IpRanges: [{ CidrIp: '172.31.7.0/24' }],
};

describe('the host network agent in a cloud', needs('netns', 'busybox'), () => {
  const cleanup = new Cleanup();
  let t: TestCloud;
  let agent: NetworkAgent;
  let agents: NetworkAgentClient;
  let client: FakeGuest;
  const guests = new Map<string, FakeGuest>();
  let row: InstanceRow;
  let guest: FakeGuest;
  let imageId: string;

  before(async () => {
    t = await startTestCloud();
    cleanup.add(() => t.stop());
    const image = await t.addImage({ name: 'agent-image' });
    imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
    const network = new NetworkClient(t.cloud.bus);
    const dir = tempDir();
    cleanup.add(async () => fs.rmSync(dir, { recursive: true, force: true }));
    agent = new NetworkAgent({
      host: HOST,
      network: await network.hostNetwork(systemContext(), HOST),
      service: network,
      namespace: uniqueName(),
      leaseSeconds: 120,
      stateDir: dir,
      portFor: (a) => (guests.get(a.instanceId) as FakeGuest).port,
    });
    const subs: Subscription[] = [];
    cleanup.add(async () => {
      for (const s of subs) await s.close();
    });
    for (const topic of agent.topics()) {
      subs.push(await t.cloud.bus.serve(topic.topic, topic.handler, { fanout: !!topic.fanout }));
    }
    cleanup.add(() => agent.teardown());
    await agent.start();
    agents = new NetworkAgentClient(t.cloud.bus);
    client = await new FakeGuest(cleanup, uniqueName('st-c')).create();
    await joinClient(agent.dataPlane.ns, client.ns, 'ext0', '172.31.7.1', '172.31.7.2');
  });
  after(() => cleanup.run());

  it('plugs a launched instance, whose guest gets its fixed IP and whose lease is recorded', async () => {
    const run = await t.admin.send(
      new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 }),
    );
    const id = run.Instances?.[0]?.InstanceId as string;
    await waitUntil(
      async () => {
        const d = await t.admin.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
        return d.Reservations?.[0]?.Instances?.[0]?.State?.Name === 'running';
      },
      10_000,
      'the instance to run',
    );
    const rows = await new InstanceRepo(t.cloud.database.db).list({});
    row = rows.find((r) => r.privateIp !== null) as InstanceRow;
    guest = await new FakeGuest(cleanup).create();
    guests.set(row.id, guest);
    const port = await agents.plugInstance(systemContext(), HOST, {
      instanceId: row.id,
      mac: row.macAddress as string,
      fixedIp: row.privateIp as string,
      hostname: 'agent-guest',
    });
    assert.equal(port.namespace, agent.dataPlane.namespace);
    assert.equal(port.bridge, 'br100');
    assert.equal(await guest.dhcp(), row.privateIp);
    const [net] = await t.cloud.database.db.selectFrom('networks').select('id').execute();
    const leases = new FixedIpLeaseRepo(t.cloud.database.db);
    const leased = await waitFor('the lease in the database', async () => {
      const r = await leases.byAddress(net?.id as string, row.privateIp as string);
      return r?.leasedAt ? r : undefined;
    });
    assert.ok((leased.leaseExpiresAt ?? 0) > Date.now() + 100_000);
  });

  it('applies authorize and revoke to the running guest', async () => {
    listen(guest, 22, 'ssh-here');
    await waitFor('the listener', () => tcpProbe(guest.ns, '127.0.0.1', 22));
    const ip = row.privateIp as string;
    assert.equal(await tcpProbe(client.ns, ip, 22), undefined, 'refused before authorize');
    const chain = async () =>
      (await agent.dataPlane.ns.exec('nft', ['list', 'table', 'inet', 'stratus'])).stdout;

    await t.admin.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupName: 'default',
        IpPermissions: [PERMISSION],
      }),
    );
    await waitFor('the rule', async () =>
      /172\.31\.7\.0\/24 tcp dport 22 accept/.test(await chain()),
    );
    assert.equal(await tcpProbe(client.ns, ip, 22, 3), 'ssh-here', 'accepted after authorize');

    await t.admin.send(
      new RevokeSecurityGroupIngressCommand({ GroupName: 'default', IpPermissions: [PERMISSION] }),
    );
    await waitFor('the rule to go', async () => !/tcp dport 22 accept/.test(await chain()));
    assert.equal(await tcpProbe(client.ns, ip, 22), undefined, 'refused after revoke');
  });

  it('unplugs a terminated instance; dnsmasq drops the lease and the address is free again', async () => {
    const id = `i-${row.id.replace(/-/g, '').slice(0, 17)}`;
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await guest.destroy();
    await agents.unplugInstance(systemContext(), HOST, row.id);
    const [net] = await t.cloud.database.db.selectFrom('networks').select('id').execute();
    const leases = new FixedIpLeaseRepo(t.cloud.database.db);
    await waitFor('the address to be free', async () => {
      const r = await leases.byAddress(net?.id as string, row.privateIp as string);
      return r !== undefined && r.instanceId === null && r.reusableAt <= Date.now();
    });
    assert.deepEqual(agent.dataPlane.guests(), []);
  });
});
