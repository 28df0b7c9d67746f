// Lease bookkeeping on every database back end: when an address given back may be reused.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { FixedIpLeaseRepo, InstanceRepo, NetworkRepo, type Database } from '../db/index.js';
import { openTestDatabase, TEST_BACKENDS } from '../../test/support/databases.js';
import { needs } from '../../test/support/capabilities.js';
import { instanceRow } from '../../test/support/instances.js';
import { addressRange, parseIpv4 } from './ipv4.js';
import { LeaseBook } from './leases.js';

const LEASE_S = 120;
const MARGIN = 30_000;

for (const backend of TEST_BACKENDS) {
  describe(`lease bookkeeping on ${backend.name}`, needs(...backend.needs), () => {
    let database: Database;
    let networks: NetworkRepo;
    let repo: FixedIpLeaseRepo;
    let book: LeaseBook;
    let networkId: string;
    let clock = 1_000_000;

    before(async () => {
      database = await openTestDatabase(backend);
      networks = new NetworkRepo(database.db);
      repo = new FixedIpLeaseRepo(database.db);
      const net = await networks.ensure(
        {
          name: 'n',
          cidr: '10.5.0.0/29',
          gateway: '10.5.0.1',
          dhcpStart: '10.5.0.2',
          dhcpEnd: '10.5.0.6',
          dns: '',
        },
        addressRange(parseIpv4('10.5.0.2')!, parseIpv4('10.5.0.6')!),
      );
      networkId = net.id;
      book = new LeaseBook({
        db: database.db,
        networkId,
        leaseSeconds: LEASE_S,
        marginMs: MARGIN,
        clock: () => clock,
      });
    });
    after(() => database.close());

    async function give(instanceId: string, mac: string) {
      const row = await networks.allocateFixedIp(networkId, instanceId, mac, clock);
      assert.ok(row);
      return row.address;
    }

    async function giveBack(instanceId: string) {
      const released = await networks.releaseFixedIps(instanceId, clock, book.restUntil(clock));
      await book.settleReleased(released, clock);
    }

    it('rests a leased address for lease time plus margin, and frees it on del', async () => {
      const a = randomUUID();
      const ip = await give(a, 'fa:16:3e:00:00:0a');
      await book.record({
        action: 'add',
        mac: 'fa:16:3e:00:00:0a',
        ip,
        hostname: null,
        expiresAt: clock + LEASE_S * 1000,
      });
      assert.equal((await repo.byAddress(networkId, ip))?.leasedAt, clock);
      assert.equal((await book.knownLeases()).length, 1);
      clock += 1000;
      await giveBack(a);
      assert.equal(
        (await repo.byAddress(networkId, ip))?.reusableAt,
        clock + LEASE_S * 1000 + MARGIN,
      );
      assert.notEqual(await give(randomUUID(), 'fa:16:3e:00:00:0b'), ip);
      clock += 1000;
      await book.record({
        action: 'del',
        mac: 'fa:16:3e:00:00:0a',
        ip,
        hostname: null,
        expiresAt: null,
      });
      assert.equal((await repo.byAddress(networkId, ip))?.reusableAt, clock);
      assert.equal(await give(randomUUID(), 'fa:16:3e:00:00:0c'), ip);
    });

    it('frees at once an address whose del came before it was given back', async () => {
      const a = randomUUID();
      const mac = 'fa:16:3e:00:00:1a';
      const ip = await give(a, mac);
      await book.record({ action: 'add', mac, ip, hostname: null, expiresAt: clock + 120_000 });
      clock += 10;
      await book.record({ action: 'del', mac, ip, hostname: null, expiresAt: null });
      clock += 10;
      await giveBack(a);
      assert.equal((await repo.byAddress(networkId, ip))?.reusableAt, clock);
    });

    it('keeps resting an address whose old guest still renews it', async () => {
      const a = randomUUID();
      const mac = 'fa:16:3e:00:00:2a';
      const ip = await give(a, mac);
      await book.record({ action: 'add', mac, ip, hostname: null, expiresAt: clock + 120_000 });
      await giveBack(a);
      const later = clock + 500_000;
      await book.record({ action: 'old', mac, ip, hostname: null, expiresAt: later });
      assert.equal((await repo.byAddress(networkId, ip))?.reusableAt, later + MARGIN);
    });

    it('ignores events about a MAC that no longer holds the address', async () => {
      clock += 10_000_000;
      const a = randomUUID();
      const ip = await give(a, 'fa:16:3e:00:00:3a');
      await giveBack(a);
      clock += LEASE_S * 1000 + MARGIN;
      const b = randomUUID();
      const again = await give(b, 'fa:16:3e:00:00:3b');
      assert.equal(again, ip);
      await book.record({
        action: 'add',
        mac: 'fa:16:3e:00:00:3b',
        ip,
        hostname: null,
        expiresAt: clock + 120_000,
      });
      await book.record({
        action: 'del',
        mac: 'fa:16:3e:00:00:3a',
        ip,
        hostname: null,
        expiresAt: null,
      });
      const row = await repo.byAddress(networkId, ip);
      assert.equal(row?.instanceId, b);
      assert.equal(
        row?.leaseExpiresAt,
        clock + 120_000,
        'the late del of the old MAC changed nothing',
      );
    });

    it('keeps each host to its own leases: another host can neither end one nor get it back', async () => {
      clock += 10_000_000;
      const mac = 'fa:16:3e:00:00:4a';
      const row = instanceRow({ host: 'host-a', macAddress: mac });
      await new InstanceRepo(database.db).insert([row], []);
      const ip = await give(row.id, mac);
      await book.record(
        { action: 'add', mac, ip, hostname: null, expiresAt: clock + 120_000 },
        'host-a',
      );
      assert.equal((await repo.byAddress(networkId, ip))?.leaseExpiresAt, clock + 120_000);
      const known = async (host: string) => (await book.knownLeases(host)).map((l) => l.ip);
      assert.ok((await known('host-a')).includes(ip));
      assert.ok(!(await known('host-b')).includes(ip), "host-b's dnsmasq is not handed it");

      // host-b's word about it counts for nothing, before and after it is given back.
      await book.record({ action: 'del', mac, ip, hostname: null, expiresAt: null }, 'host-b');
      assert.equal((await repo.byAddress(networkId, ip))?.leaseExpiresAt, clock + 120_000);
      clock += 1000;
      await giveBack(row.id);
      await book.record({ action: 'del', mac, ip, hostname: null, expiresAt: null }, 'host-b');
      assert.equal((await repo.byAddress(networkId, ip))?.reusableAt, book.restUntil(clock));
      // host-a's dnsmasq reporting it gone frees it.
      await book.record({ action: 'del', mac, ip, hostname: null, expiresAt: null }, 'host-a');
      assert.equal((await repo.byAddress(networkId, ip))?.reusableAt, clock);
    });
  });
}
