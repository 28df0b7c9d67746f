// Issue 13: a property-based fuzz of the OpenStack APIs (Compute /v2.1, Image /v2, Identity
// /v3). Random methods and paths around each API's routes, query strings, JSON bodies shaped
// like each route's with hostile values, bodies that are not JSON or too big, good and bad
// microversion headers, with a valid token (now and then none or a bad one), go to an
// all-in-one test cloud (fake virt driver, SQLite). Every answer must come within
// ANSWER_BOUND_MS, be no 5xx, and be JSON (a refusal: `{"<name>": {"code", "message"}}`, as
// the python clients read faults). The seed is fixed and printed; STRATUS_FUZZ_SEED replays
// another, STRATUS_FUZZ_RUNS runs more or fewer. The bigger run is `npm run bench:fuzz`.
import fc from 'fast-check';
import { after, before, describe, it } from 'node:test';
import {
  assertGood,
  fuzzSeed,
  openstackArbitrary,
  openstackOutcome,
  startFuzzCloud,
  type FuzzCloud,
} from './harness.js';
import type { OpenStackRequest } from './openstack-requests.js';

const RUNS = Number(process.env.STRATUS_FUZZ_RUNS ?? 400);

/** Requests the fuzz once found answered badly, kept as fixed examples. */
const REGRESSIONS: { why: string; request: OpenStackRequest }[] = [];

describe('OpenStack APIs fuzz (issue 13)', () => {
  let cloud: FuzzCloud;
  before(async () => {
    cloud = await startFuzzCloud();
  });
  after(async () => {
    await cloud?.stop();
  });

  it('answers the requests the fuzz once found wanting with a 4xx fault', async () => {
    for (const { request } of REGRESSIONS) assertGood(await openstackOutcome(cloud, request));
  });

  it(`answers ${RUNS} generated requests in time, without a 5xx, in JSON faults clients read`, async (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`OpenStack fuzz seed ${seed} (replay: STRATUS_FUZZ_SEED=${seed}), ${RUNS} runs`);
    console.log(`OpenStack fuzz seed ${seed} (replay: STRATUS_FUZZ_SEED=${seed}), ${RUNS} runs`);
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(openstackArbitrary(cloud), async (request) => {
        const o = await openstackOutcome(cloud, request);
        statuses.set(o.status, (statuses.get(o.status) ?? 0) + 1);
        assertGood(o);
      }),
      { numRuns: RUNS, seed, examples: REGRESSIONS.map((r) => [r.request]) },
    );
    t.diagnostic(
      `statuses: ${[...statuses]
        .sort(([a], [b]) => a - b)
        .map(([s, n]) => `${s}: ${n}`)
        .join(', ')}`,
    );
  });
});
