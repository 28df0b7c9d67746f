// EC2 API benchmark on the fake virt driver: how long the all-in-one binary takes from start to
// a written rc file on a fresh state dir, RunInstances -> running latency, launching 1,000
// instances, and DescribeInstances latency with 0, 100 and 1,000 instances. Runs a whole
// all-in-one cloud (SQLite, in-process bus) in this process and drives it with the AWS SDK,
// with the defaults users get: terminated instances stay listed for an hour, so the listings
// after terminations also hold those. `npm run bench:listings` measures listings at scale.
//   npm run bench            (or: node dist/bench/ec2-fake.js [--launches N])
import {
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import { startCloud } from '../src/main.js';
import { startStratus } from '../test/support/cli.js';
import { insertImage } from '../test/support/images.js';
import { FREE_PORT_ARGS, FREE_PORTS } from '../test/support/ports.js';

const LAUNCHES = Number(process.argv[process.argv.indexOf('--launches') + 1]) || 1000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
function summary(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  return `p50 ${percentile(s, 50).toFixed(1)} ms, p95 ${percentile(s, 95).toFixed(1)} ms (n=${s.length})`;
}

/** Seconds from starting `stratus all-in-one` on a fresh state dir to its rc file, `runs` times. */
async function allInOneStart(runs: number): Promise<number[]> {
  const seconds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-bench-aio-'));
    const t0 = performance.now();
    const aio = startStratus([
      'all-in-one',
      '--state-dir',
      stateDir,
      '--virt',
      'fake',
      ...FREE_PORT_ARGS,
    ]);
    try {
      await aio.waitFor(/Press Ctrl-C to stop/, 120_000);
      if (!fs.existsSync(path.join(stateDir, 'stratusrc'))) throw new Error('no rc file written');
      seconds.push((performance.now() - t0) / 1000);
    } finally {
      await aio.stop('SIGTERM');
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  }
  return seconds;
}

async function main(): Promise<void> {
  // Stratus supports Node.js 20; the AWS SDK's notice about its own future needs is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-bench-'));
  const config = loadConfig({
    env: {},
    flags: {
      'state-dir': stateDir,
      ...FREE_PORTS,
      'log-level': 'warn',
      'quota-instances': '100000',
      'quota-cores': '1000000',
      'quota-ram-mb': '10000000',
    },
  });
  const cloud = await startCloud(config, ['network', 'scheduler', 'compute', 'api'], {
    bootstrap: true,
    logger: silentLogger(),
  });
  const admin = cloud.admin;
  if (!admin) throw new Error('no admin');
  const ec2 = new EC2Client({
    endpoint: cloud.urls?.ec2,
    region: config.region,
    credentials: {
      accessKeyId: admin.credential.accessKey,
      secretAccessKey: admin.credential.secretKey,
    },
    maxAttempts: 1,
  });
  const image = await insertImage(cloud.database.db, { name: 'bench', sizeBytes: 0 });
  const ImageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
  const InstanceType = 'm1.nano' as _InstanceType;
  const state = async (id: string) =>
    (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]
      ?.Instances?.[0]?.State?.Name;
  // Terminated instances stay listed for the default window (an hour), as users see them:
  // `count` is of the others, `listed` of all.
  const describeAll = async () => {
    const t0 = performance.now();
    const r = await ec2.send(new DescribeInstancesCommand({}));
    const ms = performance.now() - t0;
    const all = (r.Reservations ?? []).flatMap((x) => x.Instances ?? []);
    return {
      ms,
      listed: all.length,
      count: all.filter((i) => i.State?.Name !== 'terminated').length,
    };
  };
  const describeLatency = async (label: string) => {
    await describeAll();
    const times: number[] = [];
    let count = { live: 0, listed: 0 };
    for (let i = 0; i < 20; i++) {
      const r = await describeAll();
      times.push(r.ms);
      count = { live: r.count, listed: r.listed };
    }
    console.log(
      `DescribeInstances with ${label} (${count.listed} listed, ${count.listed - count.live} of them terminated): ${summary(times)}`,
    );
  };

  console.log(
    `Stratus EC2 benchmark, fake driver, ${os.cpus().length} cores, node ${process.version}`,
  );
  const starts = (await allInOneStart(3)).sort((a, b) => a - b);
  console.log(
    `stratus all-in-one, fresh state dir -> rc file written: median ${starts[1]?.toFixed(2)} s ` +
      `(${starts.map((s) => s.toFixed(2)).join(', ')})`,
  );
  await describeLatency('0 instances');

  // 1. RunInstances -> running, one at a time.
  const latencies: number[] = [];
  const first: string[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    const r = await ec2.send(
      new RunInstancesCommand({ ImageId, InstanceType, MinCount: 1, MaxCount: 1 }),
    );
    const id = r.Instances?.[0]?.InstanceId as string;
    while ((await state(id)) !== 'running') await new Promise((res) => setTimeout(res, 2));
    latencies.push(performance.now() - t0);
    first.push(id);
  }
  console.log(`RunInstances -> running (sequential): ${summary(latencies)}`);
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: first }));
  while ((await describeAll()).count > 0) await new Promise((res) => setTimeout(res, 20));

  // 2. Launch 1,000 instances from 10 concurrent clients, one RunInstances call each.
  const t0 = performance.now();
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (next < LAUNCHES) {
        next++;
        const r = await ec2.send(
          new RunInstancesCommand({ ImageId, InstanceType, MinCount: 1, MaxCount: 1 }),
        );
        ids.push(r.Instances?.[0]?.InstanceId as string);
      }
    }),
  );
  const accepted = performance.now() - t0;
  for (;;) {
    const r = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [{ Name: 'instance-state-name', Values: ['running'] }],
      }),
    );
    const running = (r.Reservations ?? []).reduce((n, x) => n + (x.Instances?.length ?? 0), 0);
    if (running >= LAUNCHES) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  const all = performance.now() - t0;
  console.log(
    `Launch ${LAUNCHES} instances (10 clients): all accepted in ${(accepted / 1000).toFixed(1)} s, all running in ${(all / 1000).toFixed(1)} s (${(LAUNCHES / (all / 1000)).toFixed(0)} instances/s)`,
  );

  // 3. DescribeInstances with 1,000 and 100 instances.
  await describeLatency(`${LAUNCHES} instances`);
  if (ids.length > 100) {
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids.slice(100) }));
  }
  while ((await describeAll()).count > 100) await new Promise((res) => setTimeout(res, 50));
  await describeLatency('100 instances');

  console.log(`RSS at the end: ${(process.memoryUsage().rss / 1024 / 1024).toFixed(0)} MiB`);
  ec2.destroy();
  await cloud.stop();
  fs.rmSync(stateDir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
