// Distributed mode: services started separately, sharing PostgreSQL and RabbitMQ, reach each
// other only over the bus; heartbeats tell up from down.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ComputeClient } from '../src/compute/index.js';
import { loadConfig } from '../src/config/index.js';
import { systemContext } from '../src/context.js';
import { ServiceRepo } from '../src/db/index.js';
import { AMQP_URL, needs } from './support/capabilities.js';
import { removeBusExchange, testBusExchange } from './support/amqp.js';
import { waitUntil } from './support/ec2.js';
import { postgresBackend } from './support/databases.js';
import { StratusError } from '../src/errors.js';
import { silentLogger } from '../src/log.js';
import { startCloud, type Cloud } from '../src/main.js';
import { NetworkClient } from '../src/network/index.js';
import { SchedulerClient } from '../src/scheduler/index.js';
import { serviceState } from '../src/service/index.js';
import { insertBuildingInstances } from './support/instances.js';

const NEEDS = needs('postgres', 'rabbitmq');

describe('distributed services over RabbitMQ and PostgreSQL', NEEDS, () => {
  let db: { url: string; remove(): Promise<void> };
  let stateDir: string;
  const clouds: Cloud[] = [];
  const suffix = randomBytes(4).toString('hex');
  const exchange = testBusExchange('dist');

  const config = (host: string) =>
    loadConfig({
      env: {},
      flags: {
        'state-dir': stateDir,
        database: db.url,
        transport: AMQP_URL,
        'bus-exchange': exchange,
        host: `${host}-${suffix}`,
        'service-heartbeat-seconds': '0.25',
        'service-down-after-seconds': '2',
        'bus-call-timeout-ms': '3000',
      },
    });

  before(async () => {
    db = await postgresBackend.create();
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-dist-'));
    clouds.push(
      await startCloud(config('control'), ['scheduler', 'network'], { logger: silentLogger() }),
    );
    clouds.push(await startCloud(config('node1'), ['compute'], { logger: silentLogger() }));
    clouds.push(await startCloud(config('node2'), ['compute'], { logger: silentLogger() }));
  });
  after(async () => {
    for (const c of clouds.reverse()) await c.stop();
    await removeBusExchange(exchange, [`node1-${suffix}`, `node2-${suffix}`]);
    await db?.remove();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('the scheduler picks among the compute hosts that registered, over the bus', async () => {
    const client = new SchedulerClient(clouds[0]!.bus);
    const { hosts } = await client.selectDestinations(systemContext(), {
      instanceIds: await insertBuildingInstances(clouds[0]!.database.db, 4),
      availabilityZone: null,
      architecture: null,
      vcpus: 1,
      memoryMb: 128,
      diskGb: 1,
    });
    assert.equal(hosts.length, 4);
    assert.deepEqual([...new Set(hosts)].sort(), [`node1-${suffix}`, `node2-${suffix}`]);
  });

  it('a compute host answers on its own topic with its driver and capacity', async () => {
    const compute = new ComputeClient(clouds[0]!.bus);
    const d = await compute.describeHost(systemContext(), `node2-${suffix}`);
    assert.equal(d.host, `node2-${suffix}`);
    assert.equal(d.driver, 'fake');
    assert.ok(d.capacity.vcpus > 0);
    const status = await new NetworkClient(clouds[1]!.bus).status(systemContext());
    assert.equal(status.host, `control-${suffix}`);
  });

  // The call times out after bus-call-timeout-ms (3 s); the test's own timeout catches a hang.
  it(
    'a call to a host that does not exist fails clearly instead of hanging',
    { timeout: 30_000 },
    async () => {
      const compute = new ComputeClient(clouds[0]!.bus);
      await assert.rejects(
        compute.describeHost(systemContext(), `ghost-${suffix}`),
        (err: unknown) => {
          return err instanceof StratusError && err.kind === 'unavailable';
        },
      );
    },
  );

  it('a stopped compute service shows as down and the scheduler stops choosing it', async () => {
    const node2 = clouds.pop() as Cloud;
    await node2.stop();
    const services = new ServiceRepo(clouds[0]!.database.db);
    const states = async () => {
      const rows = await services.list({ binary: 'compute' });
      return Object.fromEntries(rows.map((r) => [r.host, serviceState(r, Date.now(), 2000)]));
    };
    // Down once its last heartbeat is older than service-down-after (2 s; short, yet long enough for a heartbeat on a busy machine): polled, not slept.
    await waitUntil(
      async () => (await states())[`node2-${suffix}`] === 'down',
      10_000,
      'the stopped compute service to show as down',
    );
    assert.equal((await states())[`node1-${suffix}`], 'up');
    const { hosts } = await new SchedulerClient(clouds[0]!.bus).selectDestinations(
      systemContext(),
      {
        instanceIds: await insertBuildingInstances(clouds[0]!.database.db, 3),
        availabilityZone: null,
        architecture: null,
        vcpus: 1,
        memoryMb: 128,
        diskGb: 1,
      },
    );
    assert.deepEqual([...new Set(hosts)], [`node1-${suffix}`]);
  });
});
