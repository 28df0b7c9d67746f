// A restart of the network agent: the data plane found in place is adopted, so a running
// guest keeps its firewall, its floating IP and its DHCP entry, and can still be unplugged.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { HostDataPlane, type HostDataPlaneOptions } from '../src/network/dataplane/index.js';
import { needs } from './support/capabilities.js';
import {
  Cleanup,
  FakeGuest,
  joinClient,
  listen,
  startDataPlane,
  tcpProbe,
  tempDir,
  uniqueName,
  waitFor,
} from './support/netns.js';

describe('restarting the network agent', needs('netns', 'busybox'), () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  it('adopts the running data plane: rules, floating IP and DHCP entry survive', async () => {
    const dir = tempDir();
    cleanup.add(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const options: HostDataPlaneOptions = {
      namespace: uniqueName(),
      bridge: 'br100',
      network: {
        cidr: '10.81.0.0/24',
        gateway: '10.81.0.1',
        dhcpStart: '10.81.0.2',
        dhcpEnd: '10.81.0.254',
        dns: '',
      },
      leaseSeconds: 120,
      stateDir: dir,
      uplink: 'ext0',
      leases: { onEvent: async () => undefined, knownLeases: async () => [] },
    };
    const first = new HostDataPlane(options);
    cleanup.add(() => first.teardown());
    await first.start();
    const client = await new FakeGuest(cleanup, uniqueName('st-c')).create();
    await joinClient(first.ns, client.ns, 'ext0', '172.24.9.1', '172.24.9.2');
    const guest = await new FakeGuest(cleanup).create();
    const id = randomUUID();
    await first.plugGuest({
      instanceId: id,
      mac: 'fa:16:3e:40:00:01',
      fixedIp: '10.81.0.7',
      hostname: 'keeper',
      port: guest.port,
      rules: [
        {
          ruleId: 'r',
          groupId: 'g',
          protocol: 'tcp',
          fromPort: 22,
          toPort: 22,
          cidr: '172.24.9.0/24',
          sourceGroupId: null,
          sources: ['172.24.9.0/24'],
        },
      ],
    });
    assert.equal(await guest.dhcp(), '10.81.0.7');
    await first.associate('172.24.9.50', '10.81.0.7');
    listen(guest, 22, 'ssh-here');
    listen(guest, 23, 'telnet-here');
    await waitFor('the listener', () => tcpProbe(guest.ns, '127.0.0.1', 22));
    assert.equal(await tcpProbe(client.ns, '172.24.9.50', 22, 3), 'ssh-here');

    await first.detach();
    const second = new HostDataPlane(options);
    cleanup.add(() => second.teardown());
    await second.start();
    assert.deepEqual(second.guests(), [id]);
    assert.deepEqual([...second.associations()], [['172.24.9.50', '10.81.0.7']]);
    assert.equal(await tcpProbe(client.ns, '172.24.9.50', 22, 3), 'ssh-here', 'still reachable');
    assert.equal(await tcpProbe(client.ns, '172.24.9.50', 23), undefined, 'still filtered');
    assert.equal(await guest.dhcp(), '10.81.0.7', 'the restarted dnsmasq still knows the guest');

    await second.unplugGuest(id);
    assert.equal(await tcpProbe(client.ns, '172.24.9.50', 22), undefined);
    assert.deepEqual(second.guests(), []);
  });

  it('fails closed: guest-network addresses nobody plugged are unreachable', async () => {
    const dp = await startDataPlane(cleanup, '10.82.0.0/24');
    // A namespace on the bridge that Stratus did not plug, with an address it made up.
    const rogue = await new FakeGuest(cleanup).create();
    await dp.ns.ip([
      'link',
      'add',
      'rogue0',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      rogue.ns.name,
    ]);
    await dp.ns.ip(['link', 'set', 'rogue0', 'master', 'br100', 'up']);
    await rogue.ns.ip(['addr', 'add', '10.82.0.99/24', 'dev', 'eth0']);
    await rogue.ns.ip(['link', 'set', 'eth0', 'up']);
    listen(rogue, 22, 'open');
    await waitFor('the listener', () => tcpProbe(rogue.ns, '127.0.0.1', 22));
    assert.equal(await tcpProbe(dp.ns, '10.82.0.99', 22), undefined);
    // The gateway itself stays reachable from the host namespace.
    await dp.ns.exec('/usr/bin/busybox', ['ping', '-c', '1', '-W', '2', '10.82.0.1']);
  });
});

describe('dnsmasq dying', needs('netns', 'busybox'), () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  it('is started again by the next change, and guests get their addresses', async () => {
    const dir = tempDir();
    const dp = await startDataPlane(cleanup, '10.83.0.0/24', { stateDir: dir });
    const pid = Number(fs.readFileSync(`${dir}/dnsmasq.pid`, 'utf8'));
    process.kill(pid, 'SIGKILL');
    await waitFor('dnsmasq to be gone', () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    const guest = await new FakeGuest(cleanup).create();
    await dp.plugGuest({
      instanceId: randomUUID(),
      mac: 'fa:16:3e:50:00:01',
      fixedIp: '10.83.0.8',
      hostname: 'phoenix',
      port: guest.port,
    });
    assert.notEqual(Number(fs.readFileSync(`${dir}/dnsmasq.pid`, 'utf8')), pid);
    assert.equal(await guest.dhcp(), '10.83.0.8');
  });
});
