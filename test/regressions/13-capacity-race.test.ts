// Issue 13, "several schedulers and API processes at once are safe": a lab with two scheduler
// processes and two API processes, three fake hosts with room for exactly 50 m1.nano each (150
// in all), and 200 single-instance launches sent at once through both APIs. Capacity is claimed
// atomically in the database, so exactly 150 run, the other 50 are refused with
// InsufficientInstanceCapacity (or end in error for that reason), and no host is ever over its
// capacity, neither while the burst is placed nor after. The lab has a PostgreSQL server of its
// own: the burst fills every process's pool, which the shared server's 100 connections would
// not hold beside the other test files running at the same time.
import {
  RunInstancesCommand,
  type EC2Client,
  type EC2ServiceException,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDatabase, type Database } from '../../src/db/index.js';
import { readState, type LabState } from '../../src/lab/index.js';
import { needs } from '../support/capabilities.js';
import { readRcFile, stratus } from '../support/cli.js';
import { ec2Client, waitUntil } from '../support/ec2.js';
import { insertImage } from '../support/images.js';
import { startPrivatePostgres, type PrivatePostgres } from '../support/private-postgres.js';

const HOSTS = 3;
/** vCPUs each fake host reports; at allocation ratio 1 that is 50 m1.nano (1 vCPU) each. */
const VCPUS_PER_HOST = 50;
const ROOM = HOSTS * VCPUS_PER_HOST;
const LAUNCHES = 200;

describe(
  'capacity under two schedulers and two APIs (issue 13)',
  needs('postgres-server', 'rabbitmq', 'root'),
  () => {
    const name = `cap${randomBytes(4).toString('hex')}`;
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-cap-')), 'lab');
    let state: LabState;
    let database: Database;
    const clients: EC2Client[] = [];
    let imageId: string;
    let postgres: PrivatePostgres | undefined;

    const lab = (...args: string[]) => stratus(['lab', ...args, '--dir', dir]);

    before(async () => {
      postgres = await startPrivatePostgres({ max_connections: '200' });
      const r = await lab(
        'up',
        '--postgres',
        postgres.url,
        '--hosts',
        String(HOSTS),
        '--virt',
        'fake',
        '--name',
        name,
        '--api-processes',
        '2',
        '--schedulers',
        '2',
        '--set',
        `virt.fakeVcpus=${VCPUS_PER_HOST}`,
        '--set',
        'scheduler.cpuAllocationRatio=1',
        // Quota is not what limits the burst: capacity is.
        '--set',
        'quota.instances=1000',
        '--set',
        'quota.cores=1000',
        '--set',
        'quota.ramMb=1000000',
      );
      assert.equal(r.code, 0, `lab up failed: ${r.stdout}\n${r.stderr}`);
      state = readState(dir) as LabState;
      database = await openDatabase(state.plan.databaseUrl, { migrate: false });
      const image = await insertImage(database.db, { name: 'capacity-race' });
      imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
      const rc = readRcFile(path.join(dir, 'stratusrc'));
      assert.equal(state.plan.apis.length, 2);
      for (const api of state.plan.apis) {
        clients.push(
          ec2Client(api.ec2, rc.AWS_DEFAULT_REGION as string, {
            accessKeyId: rc.AWS_ACCESS_KEY_ID as string,
            secretAccessKey: rc.AWS_SECRET_ACCESS_KEY as string,
          }),
        );
      }
    });
    after(async () => {
      for (const c of clients) c.destroy();
      await database?.close();
      if (fs.existsSync(dir)) await lab('down');
      postgres?.remove();
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    });

    /** vCPUs claimed and live instances per host, as the database has them now. */
    const usage = async () => {
      const claims = await database.db
        .selectFrom('capacityClaims')
        .select(['host'])
        .select((eb) => eb.fn.sum<string>('vcpus').as('vcpus'))
        .groupBy('host')
        .execute();
      const live = await database.db
        .selectFrom('instances')
        .select(['host'])
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('host', 'is not', null)
        .where('vmState', 'not in', ['deleted', 'error'])
        .groupBy('host')
        .execute();
      return {
        claims: new Map(claims.map((c) => [c.host, Number(c.vcpus)])),
        live: new Map(live.map((l) => [l.host as string, Number(l.n)])),
      };
    };

    it(`places exactly ${ROOM} of ${LAUNCHES} concurrent launches and no host goes over`, async (t) => {
      const nodes = await database.db.selectFrom('computeNodes').selectAll().execute();
      assert.equal(nodes.length, HOSTS);
      for (const n of nodes) assert.equal(n.vcpus, VCPUS_PER_HOST, `${n.host} reports its room`);

      // Watch the claims while the burst is placed: a host over its room at any moment fails.
      const over: string[] = [];
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const u = await usage();
          for (const [host, vcpus] of u.claims) {
            if (vcpus > VCPUS_PER_HOST) over.push(`${host} held claims for ${vcpus} vCPUs`);
          }
          for (const [host, n] of u.live) {
            if (n > VCPUS_PER_HOST) over.push(`${host} held ${n} live instances`);
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      })();

      const started = performance.now();
      const results = await Promise.allSettled(
        Array.from({ length: LAUNCHES }, (_, i) =>
          (clients[i % clients.length] as EC2Client).send(
            new RunInstancesCommand({
              ImageId: imageId,
              InstanceType: 'm1.nano' as _InstanceType,
              MinCount: 1,
              MaxCount: 1,
            }),
          ),
        ),
      );
      const answeredMs = Math.round(performance.now() - started);

      const accepted = results
        .filter((r) => r.status === 'fulfilled')
        .map((r) => r.value.Instances?.[0]?.InstanceId as string);
      const refusals = results
        .filter((r) => r.status === 'rejected')
        .map((r) => r.reason as EC2ServiceException);
      // Every refusal is the capacity error, not a timeout, a conflict or a 500.
      assert.deepEqual(
        [...new Set(refusals.map((e) => `${e.name} ${e.$metadata?.httpStatusCode}`))].filter(
          (s) => s !== 'InsufficientInstanceCapacity 503',
        ),
        [],
        refusals.map((e) => e.message).join('\n'),
      );

      // Nothing left pending or building.
      await waitUntil(
        async () => {
          const busy = await database.db
            .selectFrom('instances')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .where((eb) =>
              eb.or([eb('vmState', 'in', ['building']), eb('taskState', 'is not', null)]),
            )
            .executeTakeFirstOrThrow();
          return Number(busy.n) === 0;
        },
        60_000,
        'no instance building or pending',
      );
      const settledMs = Math.round(performance.now() - started);
      watching = false;
      await watcher;
      assert.deepEqual(over, [], 'a host went over its capacity');

      const rows = await database.db
        .selectFrom('instances')
        .select(['id', 'host', 'vmState', 'stateMessage'])
        .execute();
      const running = rows.filter((r) => r.vmState === 'active');
      // An instance the API accepted but that no host could take ends in error for capacity.
      const capacityErrors = rows.filter(
        (r) =>
          r.vmState === 'error' &&
          /no valid host|capacity|could not be placed/i.test(r.stateMessage ?? ''),
      );
      const otherStates = rows.filter((r) => r.vmState !== 'active' && !capacityErrors.includes(r));
      assert.deepEqual(otherStates, [], 'every instance is running or in error for capacity');
      assert.equal(running.length, ROOM, `exactly ${ROOM} run`);
      assert.equal(accepted.length, rows.length, 'every accepted launch has its instance');
      assert.equal(refusals.length + capacityErrors.length, LAUNCHES - ROOM);

      // Each host full to the instance, its claims matching its live instances.
      const u = await usage();
      for (const n of nodes) {
        const live = running.filter((r) => r.host === n.host).length;
        assert.ok(live <= VCPUS_PER_HOST, `${n.host} runs ${live}`);
        assert.equal(u.claims.get(n.host) ?? 0, live, `${n.host}'s claims match what it runs`);
      }

      // Both schedulers took decisions.
      const decisions: Record<string, number> = {};
      for (const p of state.plan.processes.filter((x) => x.binary === 'scheduler')) {
        const lines = fs.existsSync(p.logFile)
          ? fs.readFileSync(p.logFile, 'utf8').split('\n')
          : [];
        decisions[p.name] = lines.filter((l) =>
          /"msg":"(destinations selected|no destinations)"/.test(l),
        ).length;
      }
      t.diagnostic(
        `answered in ${answeredMs} ms, settled in ${settledMs} ms; ${running.length} running, ` +
          `${refusals.length} refused, ${capacityErrors.length} in error; decisions ${JSON.stringify(decisions)}; ` +
          `per host ${JSON.stringify(Object.fromEntries(nodes.map((n) => [n.host, running.filter((r) => r.host === n.host).length])))}`,
      );
      assert.equal(Object.keys(decisions).length, 2);
      for (const [p, n] of Object.entries(decisions)) assert.ok(n > 0, `${p} took no decision`);
    });
  },
);
