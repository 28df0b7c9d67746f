// The host network agent in a cloud: the EC2 API launches an instance on a compute host
// (fake driver) wired to its agent as main.ts wires it, the compute manager plugs the guest
// into the namespace in-process, the guest takes its fixed IP by DHCP and the lease reaches
// the network service; AuthorizeSecurityGroupIngress and Revoke reach the running guest
// through the agents' fanout; terminating unplugs it in-process.
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
import { FixedIpLeaseRepo, InstanceRepo, type InstanceRow } from '../src/db/index.js';
import { NetworkAgent } from '../src/network/index.js';
import { needs } from './support/capabilities.js';
import { startAgentHost } from './support/compute-host.js';
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
  let client: FakeGuest;
  let row: InstanceRow;
  let guest: FakeGuest;
  let imageId: string;

  before(async () => {
    // The cloud without its own compute host: HOST below is the only one.
    t = await startTestCloud({}, { services: ['network', 'scheduler', 'api'] });
    cleanup.add(() => t.stop());
    const image = await t.addImage({ name: 'agent-image' });
    imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
    const dir = tempDir();
    cleanup.add(async () => fs.rmSync(dir, { recursive: true, force: true }));
    // As main.ts runs a compute host with a data plane; the one instance this test launches is
    // played by a namespace, not a VM.
    agent = await startAgentHost(t, cleanup, {
      host: HOST,
      stateDir: dir,
      portFor: () => guest.port,
    });
    guest = await new FakeGuest(cleanup).create();
    client = await new FakeGuest(cleanup, uniqueName('st-c')).create();
    await joinClient(agent.dataPlane.ns, client.ns, 'ext0', '172.31.7.1', '172.31.7.2');
  });
  after(() => cleanup.run());

  it('plugs a launched instance in-process; its guest gets its fixed IP and the lease is recorded', async () => {
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
    assert.equal(row.host, HOST);
    assert.deepEqual(agent.dataPlane.guests(), [row.id], 'the compute host plugged it');
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

  it('unplugs a terminated instance in-process; dnsmasq drops the lease and the address is free again', async () => {
    const id = `i-${row.id.replace(/-/g, '').slice(0, 17)}`;
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await waitFor('the guest to be unplugged', async () => agent.dataPlane.guests().length === 0);
    const [net] = await t.cloud.database.db.selectFrom('networks').select('id').execute();
    const leases = new FixedIpLeaseRepo(t.cloud.database.db);
    await waitFor('the address to be free', async () => {
      const r = await leases.byAddress(net?.id as string, row.privateIp as string);
      return r !== undefined && r.instanceId === null && r.reusableAt <= Date.now();
    });
  });
});
