// Crash-recovery benchmark (issue 13, "no launch left behind"): rounds of 20 concurrent
// launches plus terminates of what the previous round left running, with one kind of process
// killed with SIGKILL at a random moment and restarted on the same state. Prints, per kind of
// process, the instances left stuck (target 0), inconsistent claims/addresses/VMs (target 0)
// and the time from the restarted process being up until every instance settled (p50, max).
// The all-in-one runs on SQLite; api, scheduler, network and compute as separate processes on
// PostgreSQL + RabbitMQ (skipped when either is missing).
//   npm run bench:crash      (or: node dist/bench/crash-recovery.js [--rounds N])
import { unavailable } from '../test/support/capabilities.js';
import {
  CRASH_TIMINGS,
  percentiles,
  startAllInOneCrashCloud,
  startDistributedCrashCloud,
  type CrashCloud,
  type ProcessKind,
  type RoundResult,
} from '../test/support/crash-rounds.js';

const ROUNDS = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 8;

function report(kind: ProcessKind, results: readonly RoundResult[]): string {
  const settled = results.flatMap((r) => (r.settledMs === null ? [] : [r.settledMs]));
  const { p50, max } = percentiles(settled);
  const stuck = results.reduce((n, r) => n + r.stuck.length, 0);
  const problems = results.reduce((n, r) => n + r.problems.length, 0);
  const launches = results.reduce((n, r) => n + r.launches, 0);
  const terminates = results.reduce((n, r) => n + r.terminates, 0);
  const kills = results.map((r) => r.killedAfterMs);
  return [
    kind.padEnd(10),
    `rounds ${results.length}`,
    `launches ${launches}, terminates ${terminates}`,
    `killed ${Math.min(...kills)}-${Math.max(...kills)} ms into the burst`,
    `stuck ${stuck}`,
    `inconsistent ${problems}`,
    `settled after restart: p50 ${p50} ms, max ${max} ms`,
    `ClientToken retries settled: max ${Math.max(...results.map((r) => r.retriedMs))} ms`,
    settled.length < results.length
      ? `(${results.length - settled.length} rounds never settled)`
      : '',
  ]
    .filter(Boolean)
    .join(' | ');
}

async function rounds(
  start: () => Promise<CrashCloud>,
  kinds: readonly ProcessKind[],
  maxKillMs: number,
): Promise<void> {
  const cloud = await start();
  try {
    const results = new Map<ProcessKind, RoundResult[]>(kinds.map((k) => [k, []]));
    for (let i = 0; i < ROUNDS; i++) {
      for (const kind of kinds) {
        const r = await cloud.round(kind, { maxKillMs });
        results.get(kind)?.push(r);
        for (const s of [...r.stuck, ...r.problems]) console.log(`  ${kind}: ${s}`);
      }
    }
    for (const kind of kinds) console.log(report(kind, results.get(kind) ?? []));
  } finally {
    await cloud.stop();
  }
}

console.log(
  `crash recovery: ${ROUNDS} rounds per kind; reconcile every ${CRASH_TIMINGS.reconcileIntervalSeconds} s, ` +
    `in-flight deadline ${CRASH_TIMINGS.inFlightDeadlineSeconds} s, bus call timeout ${CRASH_TIMINGS.busCallTimeoutMs} ms, ` +
    `fake spawn ${CRASH_TIMINGS.spawnDelayMs} ms`,
);
await rounds(startAllInOneCrashCloud, ['all-in-one'], 800);
const why = unavailable('postgres', 'rabbitmq');
if (why) {
  console.log(`distributed: skipped (${why})`);
} else {
  await rounds(startDistributedCrashCloud, ['api', 'scheduler', 'network', 'compute'], 1500);
}
