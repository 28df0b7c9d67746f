// Listing benchmark: DescribeInstances and the Compute API's GET /servers/detail on a cloud that
// holds 10,000 live instances and 10,000 terminated within the visibility window (the default
// `--terminated-visible-seconds`), on SQLite and on PostgreSQL. Rows are written straight into
// the database (through the repositories) for speed; every listing goes through the real APIs
// over HTTP. Prints p50 and p99 of each listing, unfiltered and filtered.
//   npm run bench:listings   (or: node dist/bench/listings.js [--live N] [--terminated N]
//                             [--runs N] [--backends sqlite,postgres])
import { DescribeInstancesCommand, EC2Client, type Filter } from '@aws-sdk/client-ec2';
import { sql } from 'kysely';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/index.js';
import { FlavorRepo, InstanceRepo, type Db, type InstanceRow } from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { silentLogger } from '../src/log.js';
import { startCloud } from '../src/main.js';
import { unavailable } from '../test/support/capabilities.js';
import { postgresBackend } from '../test/support/databases.js';
import { insertImage } from '../test/support/images.js';
import { instanceRow } from '../test/support/instances.js';
import { login, PASSWORD } from '../test/support/openstack.js';
import { FREE_PORTS } from '../test/support/ports.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const LIVE = Number(arg('live', '10000'));
const TERMINATED = Number(arg('terminated', '10000'));
const RUNS = Number(arg('runs', '50'));
const BACKENDS = arg('backends', 'sqlite,postgres').split(',');
/** Values of the `tier` tag; each holds one in this many instances. */
const TIERS = 10;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/**
 * Times `call` `runs` times after one warm-up: wall-clock p50 and p99, and the p50 of the CPU
 * time this process spent (the API server and the client; SQLite runs in it too, PostgreSQL
 * does not), which other load on the machine disturbs less than wall-clock time.
 */
async function measure(label: string, runs: number, call: () => Promise<number>): Promise<void> {
  let count = await call();
  const ms: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    count = await call();
    ms.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  ms.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(1).padStart(7);
  console.log(
    `  ${label.padEnd(46)} ${String(count).padStart(5)} listed  ` +
      `p50 ${f(percentile(ms, 50))} ms  p99 ${f(percentile(ms, 99))} ms  ` +
      `cpu p50 ${f(percentile(cpu, 50))} ms  (n=${runs})`,
  );
}

/** Writes the instances: live and recently terminated ones interleaved, newest last. */
async function fill(db: Db, base: Partial<InstanceRow>): Promise<InstanceRow[]> {
  const repo = new InstanceRepo(db);
  const total = LIVE + TERMINATED;
  const now = Date.now();
  const rows: InstanceRow[] = [];
  let live = 0;
  for (let i = 0; i < total; i++) {
    // Spread the terminated ones evenly among the live ones, as churn leaves them.
    const isLive = live < LIVE && (i * LIVE) / total >= live;
    if (isLive) live++;
    const createdAt = now - 2 * 3600_000 + i * 100;
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    rows.push(
      instanceRow({
        ...base,
        launchIndex: 0,
        privateIp: ip,
        createdAt,
        updatedAt: createdAt,
        launchedAt: createdAt,
        ...(isLive
          ? { vmState: i % 5 === 0 ? 'stopped' : 'active', host: 'bench-host' }
          : {
              vmState: 'deleted',
              powerState: 'nostate',
              // Terminated within the last half hour: all inside the default window.
              terminatedAt: now - Math.floor(Math.random() * 1800_000),
            }),
      }),
    );
  }
  for (let i = 0; i < rows.length; i += 500) {
    const batch = rows.slice(i, i + 500);
    await repo.insert(batch, []);
    // One statement per batch (TagRepo.put writes a row at a time).
    await db
      .insertInto('tags')
      .values(
        batch.flatMap((r, j) => [
          {
            resourceId: r.id,
            resourceType: 'instance',
            projectId: r.projectId,
            key: 'Name',
            value: `vm-${String(i + j).padStart(5, '0')}`,
          },
          {
            resourceId: r.id,
            resourceType: 'instance',
            projectId: r.projectId,
            key: 'tier',
            value: `t${(i + j) % TIERS}`,
          },
        ]),
      )
      .execute();
  }
  return rows;
}

async function benchOne(backend: string): Promise<void> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-bench-listings-'));
  const pg = backend === 'postgres' ? await postgresBackend.create() : undefined;
  const config = loadConfig({
    env: {},
    flags: {
      'state-dir': stateDir,
      ...FREE_PORTS,
      'log-level': 'warn',
      ...(pg ? { database: pg.url } : {}),
    },
  });
  const cloud = await startCloud(config, ['network', 'scheduler', 'compute', 'api'], {
    bootstrap: true,
    logger: silentLogger(),
  });
  try {
    const admin = cloud.admin;
    if (!admin) throw new Error('no admin');
    const db = cloud.database.db;
    const identity = new IdentityService(db);
    await identity.setPassword('admin', PASSWORD);
    const projectId = admin.project.id;
    const image = await insertImage(db, { name: 'bench', sizeBytes: 0 });
    const flavor = await new FlavorRepo(db).getByName('m1.nano');
    const t0 = performance.now();
    const rows = await fill(db, {
      projectId,
      userId: admin.user.id,
      imageId: image.id,
      flavorId: flavor.id,
      vcpus: flavor.vcpus,
      memoryMb: flavor.memoryMb,
      diskGb: flavor.diskGb,
    });
    // PostgreSQL's autovacuum gathers the planner's statistics within a minute of such a load;
    // gather them now rather than wait.
    if (backend === 'postgres') await sql`analyze`.execute(db);
    console.log(
      `${backend}: ${LIVE} live and ${TERMINATED} recently terminated instances written in ` +
        `${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );

    const ec2 = new EC2Client({
      endpoint: cloud.urls?.ec2,
      region: config.region,
      credentials: {
        accessKeyId: admin.credential.accessKey,
        secretAccessKey: admin.credential.secretKey,
      },
      maxAttempts: 1,
    });
    const describe = async (Filters?: Filter[], MaxResults?: number) => {
      const r = await ec2.send(new DescribeInstancesCommand({ Filters, MaxResults }));
      return (r.Reservations ?? []).reduce((n, x) => n + (x.Instances?.length ?? 0), 0);
    };
    const token = await login(cloud.urls?.identity as string, 'admin', 'admin');
    const compute = cloud.urls?.compute as string;
    const servers = async (query: string) => {
      const r = await fetch(`${compute}/servers/detail${query}`, {
        headers: { 'x-auth-token': token },
      });
      if (r.status !== 200) throw new Error(`GET /servers/detail${query}: ${r.status}`);
      return ((await r.json()) as { servers: unknown[] }).servers.length;
    };
    const deep = rows[Math.floor(rows.length / 2)] as InstanceRow;
    // A live instance a third of the way down, by its Name tag.
    const third = rows.findIndex((r, i) => i >= rows.length / 3 && r.vmState !== 'deleted');
    const one = `vm-${String(third).padStart(5, '0')}`;

    console.log('  DescribeInstances (EC2, oldest first; terminated ones are listed)');
    await measure('everything, no MaxResults', Math.max(3, Math.ceil(RUNS / 10)), () => describe());
    await measure('first page, MaxResults=1000', RUNS, () => describe(undefined, 1000));
    await measure('first page, MaxResults=50', RUNS, () => describe(undefined, 50));
    await measure('instance-state-name=running, MaxResults=50', RUNS, () =>
      describe([{ Name: 'instance-state-name', Values: ['running'] }], 50),
    );
    await measure('instance-state-name=stopped, MaxResults=50', RUNS, () =>
      describe([{ Name: 'instance-state-name', Values: ['stopped'] }], 50),
    );
    await measure('tag:tier=t3, MaxResults=50', RUNS, () =>
      describe([{ Name: 'tag:tier', Values: ['t3'] }], 50),
    );
    await measure(`tag:Name=${one} (one instance)`, RUNS, () =>
      describe([{ Name: 'tag:Name', Values: [one] }]),
    );
    console.log('  GET /servers/detail (Compute, newest first; deleted ones are not listed)');
    await measure('default page (limit 1000)', RUNS, () => servers(''));
    await measure('limit=50', RUNS, () => servers('?limit=50'));
    await measure('limit=50, marker halfway down', RUNS, () =>
      servers(`?limit=50&marker=${deep.id}`),
    );
    await measure('status=SHUTOFF&limit=50', RUNS, () => servers('?status=SHUTOFF&limit=50'));
    await measure(`name=^${one}$ (one server)`, RUNS, () =>
      servers(`?name=${encodeURIComponent(`^${one}$`)}`),
    );
    await measure('name=vm-0001 (ten servers)', RUNS, () => servers('?name=vm-0001'));
    ec2.destroy();
  } finally {
    await cloud.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
    await pg?.remove();
  }
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  console.log(
    `Stratus listing benchmark, ${os.cpus().length} cores, node ${process.version}, ` +
      `default visibility window of terminated instances, load average ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
  );
  for (const backend of BACKENDS) {
    const missing = backend === 'postgres' ? unavailable('postgres') : undefined;
    if (missing) {
      console.log(`postgres: not measured, ${missing}`);
      continue;
    }
    await benchOne(backend);
    console.log(
      `  (load average now ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')})`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
