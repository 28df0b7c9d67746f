// Fuzz benchmark: the CI fuzz suite's requests (test/fuzz), many more of them, against an
// all-in-one test cloud (fake virt driver, SQLite). It does not stop at the first bad answer:
// it counts, and prints per API the requests sent, a histogram of statuses, 5xx answers, hangs
// (no answer within the bound), answers the clients cannot parse, the slowest requests, and
// the first few bad answers of each kind with the request that got them.
//   npm run bench:fuzz   (or: node dist/bench/fuzz.js [--runs N] [--seed N] [--apis ec2,openstack])
import fc from 'fast-check';
import {
  ec2Arbitrary,
  ec2Outcome,
  openstackArbitrary,
  openstackOutcome,
  startFuzzCloud,
  type FuzzCloud,
  type Outcome,
} from '../test/fuzz/harness.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const RUNS = Number(arg('runs', '5000'));
const SEED = Number(arg('seed', String(Date.now() % 1_000_000_000)));
const APIS = arg('apis', 'ec2,openstack').split(',');
/** Bad answers shown per kind. */
const SHOWN = 5;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

async function run(
  name: string,
  cloud: FuzzCloud,
  arbitrary: fc.Arbitrary<unknown>,
  outcome: (r: unknown) => Promise<Outcome>,
): Promise<number> {
  const statuses = new Map<number, number>();
  const bad = new Map<string, Outcome[]>();
  const times: number[] = [];
  const slowest: Outcome[] = [];
  const t0 = performance.now();
  const details = await fc.check(
    fc.asyncProperty(arbitrary, async (request) => {
      const o = await outcome(request);
      statuses.set(o.status, (statuses.get(o.status) ?? 0) + 1);
      times.push(o.ms);
      slowest.push(o);
      slowest.sort((a, b) => b.ms - a.ms).splice(3);
      if (o.kind) bad.set(o.kind, [...(bad.get(o.kind) ?? []), o]);
      return true;
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );
  if (details.failed) {
    console.log(`${name}: the run stopped: ${String(details.errorInstance)}`);
    console.log(`  on: ${JSON.stringify(details.counterexample)?.slice(0, 2000)}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  times.sort((a, b) => a - b);
  const count = (k: string) => bad.get(k)?.length ?? 0;
  console.log(`\n${name}: ${times.length} requests in ${seconds.toFixed(1)} s (seed ${SEED})`);
  console.log(
    `  statuses: ${[...statuses]
      .sort(([a], [b]) => a - b)
      .map(([s, n]) => `${s === 0 ? 'none' : s} ${n}`)
      .join(', ')}`,
  );
  console.log(
    `  5xx: ${count('5xx')}  hangs: ${count('hang')}  parse failures: ${count('unparsable')}  ` +
      `no answer: ${count('no answer')}`,
  );
  console.log(
    `  latency: p50 ${percentile(times, 50).toFixed(1)} ms  p99 ${percentile(times, 99).toFixed(1)} ms  ` +
      `max ${(times[times.length - 1] ?? 0).toFixed(1)} ms`,
  );
  for (const o of slowest)
    console.log(`  slow: ${o.ms.toFixed(0)} ms ${o.status} ${o.label.slice(0, 200)}`);
  for (const [kind, list] of bad) {
    for (const o of list.slice(0, SHOWN)) {
      console.log(`  ${kind}: ${o.label}\n    -> ${o.status}: ${o.problems.join('; ')}`);
    }
  }
  return [...bad.values()].reduce((n, l) => n + l.length, 0);
}

const cloud = await startFuzzCloud();
let failures = 0;
try {
  console.log(`fuzz bench: ${RUNS} requests per API, seed ${SEED} (--seed ${SEED} replays)`);
  if (APIS.includes('ec2')) {
    failures += await run('EC2 Query API', cloud, ec2Arbitrary(cloud), (r) =>
      ec2Outcome(cloud, r as Parameters<typeof ec2Outcome>[1]),
    );
  }
  if (APIS.includes('openstack')) {
    failures += await run('OpenStack APIs', cloud, openstackArbitrary(cloud), (r) =>
      openstackOutcome(cloud, r as Parameters<typeof openstackOutcome>[1]),
    );
  }
} finally {
  await cloud.stop();
}
process.exitCode = failures > 0 ? 1 : 0;
