// The data plane with real DHCP: a host namespace with bridge, dnsmasq and nftables, "guests"
// that are namespaces running busybox udhcpc, and the network service recording dnsmasq's
// lease events. Proves that an address given back is not handed out again while its old
// lease is live, and that churn never yields a duplicate address or a dnsmasq refusal.
import assert from 'node:assert/strict';
import { loadConfig } from '../src/config/index.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { FixedIpLeaseRepo, openDatabase, type Database } from '../src/db/index.js';
import { needs } from './support/capabilities.js';
import { sqliteBackend } from './support/databases.js';
import { silentLogger } from '../src/log.js';
import {
  HostDataPlane,
  REFUSAL_PATTERNS,
  type LeaseEvent,
} from '../src/network/dataplane/index.js';
import { NetworkManager } from '../src/network/index.js';
import { Cleanup, FakeGuest, rootLinks, startDataPlane, waitFor } from './support/netns.js';

const LEASE_SECONDS = 120;

function mac(): string {
  return `fa:16:3e:${randomBytes(3).toString('hex').match(/../g)?.join(':')}`;
}

/** Lines of a dnsmasq log in which it refused a guest an address Stratus configured. */
function refusals(log: string): string[] {
  return log.split('\n').filter((l) => REFUSAL_PATTERNS.some((p) => p.test(l)));
}

describe('a host data plane in its own namespace', needs('netns', 'busybox'), () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  it('serves DHCP to a plugged guest, reports the lease, and leaves nothing behind', async () => {
    const linksBefore = await rootLinks();
    const events: LeaseEvent[] = [];
    const dp = await startDataPlane(cleanup, '10.77.0.0/24', {
      leaseSeconds: LEASE_SECONDS,
      leases: { onEvent: async (e) => void events.push(e), knownLeases: async () => [] },
    });
    assert.ok(dp.ns.exists());
    const addr = (await dp.ns.ip(['-4', '-o', 'addr', 'show', 'dev', 'br100'])).stdout;
    assert.match(addr, /inet 10\.77\.0\.1\/24/);
    const tables = (await dp.ns.exec('nft', ['list', 'tables'])).stdout;
    assert.match(tables, /table inet stratus/);
    const dnsmasqPids = await dp.ns.pids();
    assert.ok(dnsmasqPids.length >= 1, 'dnsmasq runs in the namespace');

    const guest = await new FakeGuest(cleanup).create();
    const m = mac();
    const { ifname } = await dp.plugGuest({
      instanceId: randomUUID(),
      mac: m,
      fixedIp: '10.77.0.9',
      hostname: 'guest-one',
      port: guest.port,
    });
    assert.match(ifname, /^tap[0-9a-f]{11}$/);
    assert.equal(await guest.dhcp(), '10.77.0.9');
    const add = await waitFor('the add event', () => events.find((e) => e.action === 'add'));
    assert.equal(add.mac, m);
    assert.equal(add.ip, '10.77.0.9');
    assert.ok(add.expiresAt !== null && add.expiresAt > Date.now() + 100_000);
    // A guest's fixed IP is on the bridge: the namespace reaches it, and ICMP is allowed.
    await dp.ns.exec('/usr/bin/busybox', ['ping', '-c', '1', '-W', '2', '10.77.0.9']);

    await guest.destroy();
    await dp.teardown();
    assert.equal(dp.ns.exists(), false, 'the namespace is gone');
    for (const pid of dnsmasqPids) {
      assert.throws(() => process.kill(pid, 0), 'no process of the namespace is left');
    }
    assert.deepEqual(await rootLinks(), linksBefore, "the machine's own links are untouched");
  });
});

describe('fixed IPs and their DHCP leases', needs('netns', 'busybox'), () => {
  const cleanup = new Cleanup();
  let database: Database;
  let network: NetworkManager;
  let dp: HostDataPlane;
  let networkId: string;

  before(async () => {
    const { url, remove } = await sqliteBackend.create();
    database = await openDatabase(url);
    cleanup.add(async () => {
      await database.close();
      await remove();
    });
    network = new NetworkManager({
      db: database.db,
      host: 'host-a',
      logger: silentLogger(),
      // A /27: 29 addresses, so the churn below reuses every one of them several times.
      fixedRange: '10.78.0.0/27',
      floatingRange: '172.30.4.0/24',
      quota: loadConfig({ env: {}, flags: {} }).quota,
      leaseSeconds: LEASE_SECONDS,
    });
    dp = await startDataPlane(cleanup, '10.78.0.0/27', {
      leaseSeconds: LEASE_SECONDS,
      leases: {
        onEvent: async (event) => void (await network.recordLeaseEvent({ host: 'host-a', event })),
        knownLeases: () => network.knownLeases({ host: 'host-a' }),
      },
    });
    const first = await network.allocateForInstance({ instanceId: randomUUID(), host: 'host-a' });
    networkId = first.networkId;
  });
  after(() => cleanup.run());

  /** Launches an instance: address from the network service, port, DHCP; the address it got. */
  async function launch(instanceId = randomUUID()) {
    const net = await network.allocateForInstance({ instanceId, host: 'host-a' });
    const guest = await new FakeGuest(cleanup).create();
    await dp.plugGuest({
      instanceId,
      mac: net.macAddress,
      fixedIp: net.address,
      hostname: `i-${instanceId.slice(0, 8)}`,
      port: guest.port,
    });
    const got = await guest.dhcp();
    return { instanceId, net, guest, got };
  }

  async function leaseRow(address: string) {
    return new FixedIpLeaseRepo(database.db).byAddress(networkId, address);
  }

  it('does not hand out an address again while its old lease is live, and does once dnsmasq drops it', async () => {
    const a = await launch();
    assert.equal(a.got, a.net.address, 'the guest gets the address Stratus allocated');
    await waitFor(
      'the lease to be recorded',
      async () => (await leaseRow(a.net.address))?.leasedAt,
    );

    // Terminate A without dnsmasq hearing of it: its lease stays live.
    await dp.unplugGuest(a.instanceId, { releaseLease: false });
    await network.deallocateForInstance({ instanceId: a.instanceId, host: 'host-a' });
    const b = await launch();
    assert.notEqual(b.net.address, a.net.address, 'the live lease keeps the address out');
    assert.equal(b.got, b.net.address);
    const rested = await leaseRow(a.net.address);
    assert.ok(rested && rested.reusableAt >= Date.now() + (LEASE_SECONDS - 5) * 1000);

    // Now dnsmasq drops A's lease (as when the destroyed VM's lease is released): `del` frees it.
    await dp.releaseLease(a.net.address, a.net.macAddress);
    await waitFor('the address to become reusable', async () => {
      const row = await leaseRow(a.net.address);
      return row !== undefined && row.reusableAt <= Date.now();
    });
    const c = await launch();
    assert.equal(c.net.address, a.net.address, 'the lowest free address is A’s again');
    assert.equal(c.got, a.net.address, 'and dnsmasq gives it to the new guest');
    assert.deepEqual(refusals(dp.dnsmasqLog.text()), []);

    for (const x of [b, c]) {
      await x.guest.destroy();
      await dp.unplugGuest(x.instanceId);
      await network.deallocateForInstance({ instanceId: x.instanceId, host: 'host-a' });
    }
  });

  it('the guard is needed: dnsmasq refuses an address whose old lease is live', async () => {
    const a = await launch();
    assert.equal(a.got, a.net.address);
    await dp.unplugGuest(a.instanceId, { releaseLease: false });
    // Bypass the network service and give A's address to a new MAC at once, as the seed did.
    const guest = await new FakeGuest(cleanup).create();
    const id = randomUUID();
    await dp.plugGuest({
      instanceId: id,
      mac: mac(),
      fixedIp: a.net.address,
      hostname: 'x',
      port: guest.port,
    });
    assert.equal(await guest.dhcp(2), undefined, 'the new guest gets no address');
    assert.ok(
      refusals(dp.dnsmasqLog.text()).some((l) => /not using configured address/.test(l)),
      'dnsmasq logs that the address belongs to someone else',
    );
    await dp.unplugGuest(id);
    await dp.releaseLease(a.net.address, a.net.macAddress);
    await network.deallocateForInstance({ instanceId: a.instanceId, host: 'host-a' });
    await guest.destroy();
    await a.guest.destroy();
  });

  it('survives churn: 60 launches and terminations, 6 at a time, no duplicates, no refusals', async () => {
    const logBefore = dp.dnsmasqLog.text().length;
    const live = new Map<string, string>();
    const duplicates: string[] = [];
    const mismatches: string[] = [];
    let cycles = 0;
    const started = Date.now();
    async function worker(w: number): Promise<void> {
      for (let i = 0; i < 10; i++) {
        const x = await launch();
        cycles++;
        if (x.got !== x.net.address) mismatches.push(`${x.net.address} got ${x.got}`);
        const holder = live.get(x.net.address);
        if (holder !== undefined)
          duplicates.push(`${x.net.address}: ${holder} and ${x.instanceId}`);
        live.set(x.net.address, x.instanceId);
        await waitFor('the lease', async () => (await leaseRow(x.net.address))?.leasedAt);
        live.delete(x.net.address);
        // Every fifth guest dies without dnsmasq being told: its address must rest.
        const quiet = (w + i) % 5 === 0;
        await x.guest.destroy();
        await dp.unplugGuest(x.instanceId, { releaseLease: !quiet });
        await network.deallocateForInstance({ instanceId: x.instanceId, host: 'host-a' });
      }
    }
    await Promise.all([0, 1, 2, 3, 4, 5].map(worker));
    const seconds = (Date.now() - started) / 1000;
    const log = dp.dnsmasqLog.text().slice(logBefore);
    console.log(
      `churn: ${cycles} cycles in ${seconds.toFixed(1)} s, ${
        log.split('\n').filter((l) => /DHCPACK/.test(l)).length
      } DHCPACKs, ${refusals(log).length} refusals`,
    );
    assert.equal(cycles, 60);
    assert.deepEqual(duplicates, []);
    assert.deepEqual(mismatches, []);
    assert.deepEqual(refusals(log), []);
  });
});
