// Floating IPs in the host namespace's table: a guest reached at its floating IP from a
// client namespace (another "machine" on the outward link), from the host namespace itself
// and from another guest; its own outgoing traffic leaving with the floating IP; all of it
// gone after disassociate.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { HostDataPlane } from '../src/network/dataplane/index.js';
import { needs } from './support/capabilities.js';
import {
  Cleanup,
  FakeGuest,
  joinClient,
  listen,
  startDataPlane,
  tcpProbe,
  uniqueName,
  waitFor,
} from './support/netns.js';

const FLOATING = '172.24.4.10';
const CLIENT = '172.24.4.2';
const UPLINK_ADDRESS = '172.24.4.1';

describe('floating IPs', needs('netns', 'busybox'), () => {
  const cleanup = new Cleanup();
  let dp: HostDataPlane;
  let client: FakeGuest;
  let webGuest: FakeGuest;
  let otherGuest: FakeGuest;
  const web = { id: randomUUID(), mac: 'fa:16:3e:20:00:01', ip: '10.80.0.10' };
  const other = { id: randomUUID(), mac: 'fa:16:3e:20:00:02', ip: '10.80.0.11' };
  const allowAll = [
    {
      ruleId: randomUUID(),
      groupId: 'g',
      protocol: 'tcp' as const,
      fromPort: 22,
      toPort: 22,
      cidr: '0.0.0.0/0',
      sourceGroupId: null,
      sources: ['0.0.0.0/0'],
    },
  ];

  before(async () => {
    dp = await startDataPlane(cleanup, '10.80.0.0/24', { uplink: 'ext0' });
    client = await new FakeGuest(cleanup, uniqueName('st-c')).create();
    await joinClient(dp.ns, client.ns, 'ext0', UPLINK_ADDRESS, CLIENT);
    // The client only knows the outward link: it has no route to the guest network.
    await client.ns.ip(['route', 'del', 'default']);
    webGuest = await new FakeGuest(cleanup).create();
    otherGuest = await new FakeGuest(cleanup).create();
    for (const [g, ns] of [
      [web, webGuest],
      [other, otherGuest],
    ] as const) {
      await dp.plugGuest({
        instanceId: g.id,
        mac: g.mac,
        fixedIp: g.ip,
        hostname: 'guest',
        port: ns.port,
        rules: allowAll,
      });
      assert.equal(await ns.dhcp(), g.ip);
    }
    listen(webGuest, 22, 'ssh-here');
    await waitFor('the listener', () => tcpProbe(webGuest.ns, '127.0.0.1', 22));
    // A listener on the client that answers with the address the connection came from.
    client.spawn(process.execPath, [
      '-e',
      "require('net').createServer((s) => s.end(s.remoteAddress.replace('::ffff:', ''))).listen(9000)",
    ]);
    await waitFor('the client listener', () => tcpProbe(client.ns, '127.0.0.1', 9000));
  });
  after(() => cleanup.run());

  it('is unreachable before association', async () => {
    assert.equal(await tcpProbe(client.ns, FLOATING, 22), undefined);
    assert.equal(await tcpProbe(client.ns, web.ip, 22), undefined, 'no route to fixed IPs');
    // Without a floating IP the guest still goes out, masqueraded behind the uplink address.
    assert.equal(await tcpProbe(webGuest.ns, CLIENT, 9000, 3), UPLINK_ADDRESS);
  });

  it('reaches the guest from outside, from the host and from other guests once associated', async () => {
    await dp.associate(FLOATING, web.ip);
    // The client asked for this address before it existed, so its ARP entry for it is marked
    // failed and its first SYN may go unanswered: give it the time of a TCP retransmission.
    assert.equal(await tcpProbe(client.ns, FLOATING, 22, 4), 'ssh-here', 'from the client machine');
    assert.equal(await tcpProbe(dp.ns, FLOATING, 22, 3), 'ssh-here', 'from the host namespace');
    assert.equal(await tcpProbe(otherGuest.ns, FLOATING, 22, 3), 'ssh-here', 'from another guest');
    assert.equal(
      await tcpProbe(webGuest.ns, CLIENT, 9000, 3),
      FLOATING,
      'the guest leaves as its FIP',
    );
    assert.equal(await tcpProbe(otherGuest.ns, CLIENT, 9000, 3), UPLINK_ADDRESS);
    assert.deepEqual([...dp.associations()], [[FLOATING, web.ip]]);
  });

  it('keeps the guest’s security group in force at its floating IP', async () => {
    await dp.setSecurityRules(web.id, []);
    assert.equal(await tcpProbe(client.ns, FLOATING, 22), undefined);
    await dp.setSecurityRules(web.id, allowAll);
    assert.equal(await tcpProbe(client.ns, FLOATING, 22, 3), 'ssh-here');
  });

  it('removes everything on disassociate', async () => {
    await dp.disassociate(FLOATING);
    assert.equal(await tcpProbe(client.ns, FLOATING, 22), undefined);
    assert.equal(await tcpProbe(dp.ns, FLOATING, 22), undefined);
    assert.equal(await tcpProbe(webGuest.ns, CLIENT, 9000, 3), UPLINK_ADDRESS);
    const addrs = (await dp.ns.ip(['-4', '-o', 'addr', 'show'])).stdout;
    assert.doesNotMatch(addrs, new RegExp(FLOATING.replace(/\./g, '\\.')));
    assert.deepEqual([...dp.associations()], []);
    await dp.disassociate(FLOATING); // again: nothing to do, no error
  });

  it('moves with its guest: unplugging the guest drops its floating IP', async () => {
    await dp.associate(FLOATING, web.ip);
    assert.equal(await tcpProbe(client.ns, FLOATING, 22, 3), 'ssh-here');
    await dp.unplugGuest(web.id);
    assert.deepEqual([...dp.associations()], []);
    assert.equal(await tcpProbe(client.ns, FLOATING, 22), undefined);
  });
});
