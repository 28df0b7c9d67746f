// The floating-IP data-plane hook, on every database: which mappings are announced, in which
// order, what a failing data plane does to an association, and the per-host resync list.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { userContext, type RequestContext } from '../context.js';
import { InstanceRepo, type Database, type InstanceRow } from '../db/index.js';
import { openTestDatabase, TEST_BACKENDS } from '../../test/support/databases.js';
import { instanceRow } from '../../test/support/instances.js';
import { needs } from '../../test/support/capabilities.js';
import { IdentityService } from '../identity/index.js';
import { silentLogger } from '../log.js';
import type { FloatingIpChange } from './floating-ips.js';
import { NetworkManager } from './manager.js';

const QUOTA = {
  instances: 10,
  cores: 20,
  ramMb: 51_200,
  addresses: 3,
  securityGroups: 10,
  securityGroupRules: 100,
  keypairs: 100,
  serverGroups: 10,
  serverGroupMembers: 10,
  volumes: 10,
  gigabytes: 1000,
  snapshots: 10,
};

for (const backend of TEST_BACKENDS) {
  describe(`floating-IP data-plane hook on ${backend.name}`, needs(...backend.needs), () => {
    let database: Database;
    let manager: NetworkManager;
    let ctx: RequestContext;
    const heard: FloatingIpChange[] = [];
    let failNext = false;

    before(async () => {
      database = await openTestDatabase(backend);
      manager = new NetworkManager({
        db: database.db,
        host: 'net-1',
        logger: silentLogger(),
        fixedRange: '10.30.0.0/24',
        floatingRange: '198.51.100.0/28',
        leaseSeconds: 60,
        quota: QUOTA,
        onFloatingIpChange: async (change) => {
          if (failNext) {
            failNext = false;
            throw new Error('nftables refused the rule');
          }
          heard.push(change);
        },
      });
      await manager.service().start?.();
      const project = await new IdentityService(database.db).createProject({ name: 'hooked' });
      ctx = userContext({ userId: 'u-1', projectId: project.id, roles: ['member'] });
    });
    after(() => database.close());

    /** An active instance on `host` with a fixed address from the network manager. */
    const instanceOn = async (host: string): Promise<InstanceRow> => {
      const row = instanceRow({ projectId: ctx.projectId as string, userId: 'u-1', host });
      const id = row.id;
      await new InstanceRepo(database.db).insert([row], []);
      const net = await manager.allocateForInstance({ instanceId: id, host });
      await new InstanceRepo(database.db).update(id, { privateIp: net.address });
      return { ...row, privateIp: net.address };
    };

    const take = () => heard.splice(0, heard.length);
    const ref = (a: { allocationId: string | null }) => ({
      allocationPrefix: a.allocationId as string,
      shown: `eipalloc-of-${a.allocationId}`,
    });

    it('announces a mapping on association and its end on disassociation', async () => {
      take();
      const vm = await instanceOn('compute-a');
      const a = await manager.allocateFloatingIp({ domain: 'vpc' }, ctx);
      assert.deepEqual(take(), [], 'allocation alone maps nothing');
      const assoc = await manager.associateFloatingIp(
        {
          ref: ref(a),
          instance: { idPrefix: vm.id, shown: vm.id },
          allowReassociation: null,
          fixedAddress: null,
        },
        ctx,
      );
      assert.deepEqual(take(), [
        {
          kind: 'mapped',
          address: a.address,
          fixedAddress: vm.privateIp,
          instanceId: vm.id,
          host: 'compute-a',
        },
      ]);
      assert.deepEqual(await manager.floatingIps.mappingsOnHost('compute-a'), [
        { address: a.address, fixedAddress: vm.privateIp, instanceId: vm.id, host: 'compute-a' },
      ]);
      assert.deepEqual(await manager.floatingIps.mappingsOnHost('compute-b'), []);
      await manager.disassociateFloatingIp(
        { ref: { associationPrefix: assoc.associationId as string, shown: 'x' } },
        ctx,
      );
      assert.deepEqual(take(), [
        {
          kind: 'unmapped',
          address: a.address,
          fixedAddress: vm.privateIp,
          instanceId: vm.id,
          host: 'compute-a',
        },
      ]);
      assert.deepEqual(await manager.floatingIps.mappingsOnHost('compute-a'), []);
      await manager.releaseFloatingIp({ ref: ref(a) }, ctx);
    });

    it('announces the old mapping gone before the new one on reassociation and on termination', async () => {
      take();
      const one = await instanceOn('compute-a');
      const two = await instanceOn('compute-b');
      const a = await manager.allocateFloatingIp({ domain: 'standard' }, ctx);
      const assoc = (instanceId: string) =>
        manager.associateFloatingIp(
          {
            ref: ref(a),
            instance: { idPrefix: instanceId, shown: instanceId },
            allowReassociation: null,
            fixedAddress: null,
          },
          ctx,
        );
      await assoc(one.id);
      await assoc(two.id);
      assert.deepEqual(
        take().map((c) => [c.kind, c.address, c.host, c.fixedAddress]),
        [
          ['mapped', a.address, 'compute-a', one.privateIp],
          ['unmapped', a.address, 'compute-a', one.privateIp],
          ['mapped', a.address, 'compute-b', two.privateIp],
        ],
      );
      await manager.deallocateForInstance({ instanceId: two.id, host: 'compute-b' });
      assert.deepEqual(
        take().map((c) => [c.kind, c.address, c.host, c.instanceId]),
        [['unmapped', a.address, 'compute-b', two.id]],
      );
      await manager.releaseFloatingIp({ ref: ref(a) }, ctx);
      assert.deepEqual(take(), [], 'releasing an unassociated address maps nothing');
    });

    it('announces parallel changes so that replaying them ends where the database is', async () => {
      take();
      const [one, two] = [await instanceOn('compute-a'), await instanceOn('compute-b')];
      const addrs = await Promise.all(
        [1, 2, 3].map(() => manager.allocateFloatingIp({ domain: 'standard' }, ctx)),
      );
      // Every address onto both instances at once, in no particular order.
      await Promise.all(
        addrs.flatMap((a) =>
          [one, two].map((vm) =>
            manager.associateFloatingIp(
              {
                ref: ref(a),
                instance: { idPrefix: vm.id, shown: vm.id },
                allowReassociation: true,
                fixedAddress: null,
              },
              ctx,
            ),
          ),
        ),
      );
      // A data plane applying the announcements in order.
      const applied = new Map<string, string>();
      for (const c of take()) {
        if (c.kind === 'mapped') {
          assert.ok(!applied.has(c.address), `${c.address} is unmapped before it is mapped again`);
          assert.ok(
            ![...applied.values()].includes(c.instanceId),
            'an instance has one address at a time',
          );
          applied.set(c.address, c.instanceId);
        } else {
          assert.equal(applied.get(c.address), c.instanceId);
          applied.delete(c.address);
        }
      }
      const inDb = [
        ...(await manager.floatingIps.mappingsOnHost('compute-a')),
        ...(await manager.floatingIps.mappingsOnHost('compute-b')),
      ].filter((m) => addrs.some((a) => a.address === m.address));
      assert.ok(
        inDb.length >= 1 && inDb.length <= 2,
        'each instance ends with one address or none',
      );
      assert.equal(new Set(inDb.map((m) => m.instanceId)).size, inDb.length);
      assert.deepEqual(new Map(inDb.map((m) => [m.address, m.instanceId])), applied);
      for (const vm of [one, two])
        await manager.deallocateForInstance({ instanceId: vm.id, host: vm.host });
      for (const a of addrs) await manager.releaseFloatingIp({ ref: ref(a) }, ctx);
      take();
    });

    it('undoes an association the data plane could not apply', async () => {
      take();
      const vm = await instanceOn('compute-a');
      const a = await manager.allocateFloatingIp({ domain: 'vpc' }, ctx);
      failNext = true;
      await assert.rejects(
        manager.associateFloatingIp(
          {
            ref: ref(a),
            instance: { idPrefix: vm.id, shown: vm.id },
            allowReassociation: null,
            fixedAddress: null,
          },
          ctx,
        ),
        (err: Error & { kind?: string }) => {
          assert.equal(err.kind, 'unavailable');
          assert.match(err.message, /nftables refused the rule/);
          return true;
        },
      );
      const [row] = await manager.floatingIps.list(ctx, { addresses: [a.address] });
      assert.equal(row?.associationId, null);
      assert.equal(row?.instanceId, null);
      assert.deepEqual(
        take().map((c) => c.kind),
        ['unmapped'],
        'the undo is announced too',
      );
      await manager.releaseFloatingIp({ ref: ref(a) }, ctx);
    });
  });
}
