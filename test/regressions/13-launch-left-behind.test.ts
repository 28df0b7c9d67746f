// Issue 13, "launches caught by a crash never finish": 20 concurrent launches (and terminates),
// a process killed with SIGKILL at a random moment, restarted on the same state. Every
// instance must end running, error or terminated within a bounded time after the restart,
// with its capacity claim, fixed address and VM matching, and nothing spawned twice.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { needs } from '../support/capabilities.js';
import {
  SETTLE_BOUND_MS,
  startAllInOneCrashCloud,
  startDistributedCrashCloud,
  type CrashCloud,
  type RoundResult,
} from '../support/crash-rounds.js';

/** On failure, the processes' last log lines go to the report before the assertion. */
function assertSettled(
  r: RoundResult,
  cloud: CrashCloud,
  t: { diagnostic(m: string): void },
): void {
  if (r.stuck.length > 0 || r.problems.length > 0 || r.settledMs === null) {
    for (const [kind, lines] of Object.entries(cloud.logs()))
      t.diagnostic(`${kind} log:\n${lines}`);
  }
  assert.deepEqual(r.stuck, [], `instances stuck after killing ${r.kind} at ${r.killedAfterMs} ms`);
  assert.deepEqual(r.problems, [], `inconsistencies after killing ${r.kind}`);
  assert.ok(r.settledMs !== null && r.settledMs <= SETTLE_BOUND_MS);
}

function describeRound(r: RoundResult): string {
  const outcome =
    r.settledMs === null
      ? `${r.stuck.length} of ${r.instances} instances never settled`
      : `all ${r.instances} instances settled ${r.settledMs} ms after it was back`;
  return `killed ${r.kind} ${r.killedAfterMs} ms into ${r.launches} launches + ${r.terminates} terminates; ${outcome}`;
}

describe('no launch left behind (issue 13)', () => {
  it(
    'the all-in-one on SQLite killed mid-burst: every instance settles after the restart',
    { timeout: 90_000 },
    async (t) => {
      let cloud: CrashCloud | undefined;
      try {
        cloud = await startAllInOneCrashCloud();
        for (let i = 0; i < 2; i++) {
          const r = await cloud.round('all-in-one', { maxKillMs: 800 });
          t.diagnostic(describeRound(r));
          assertSettled(r, cloud, t);
        }
      } finally {
        await cloud?.stop();
      }
    },
  );

  it(
    'api, scheduler, network and compute each killed mid-burst on PostgreSQL and RabbitMQ: every instance settles',
    { ...needs('postgres', 'rabbitmq'), timeout: 150_000 },
    async (t) => {
      let cloud: CrashCloud | undefined;
      try {
        cloud = await startDistributedCrashCloud();
        for (const kind of ['api', 'scheduler', 'network', 'compute'] as const) {
          const r = await cloud.round(kind, { maxKillMs: 1500 });
          t.diagnostic(describeRound(r));
          assertSettled(r, cloud, t);
        }
      } finally {
        await cloud?.stop();
      }
    },
  );
});
