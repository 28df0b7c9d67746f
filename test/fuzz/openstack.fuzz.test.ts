// Issue 13: a property-based fuzz of the OpenStack APIs (Compute /v2.1, Image /v2, Identity
// /v3). Random methods and paths around each API's routes, query strings, JSON bodies shaped
// like each route's with hostile values, bodies that are not JSON or too big, good and bad
// microversion headers, with a valid token (now and then none or a bad one), go to an
// all-in-one test cloud (fake virt driver, SQLite). Every answer must come within
// ANSWER_BOUND_MS, be no 5xx, and be JSON (a refusal: `{"<name>": {"code", "message"}}`, as
// the python clients read faults). The seed is fixed and printed; STRATUS_FUZZ_SEED replays
// another, STRATUS_FUZZ_RUNS runs more or fewer. The bigger run is `npm run bench:fuzz`.
import { after, before, describe, it } from 'node:test';
import {
  assertGood,
  checkProperty,
  openstackArbitrary,
  openstackOutcome,
  startFuzzCloud,
  type FuzzCloud,
} from './harness.js';
import type { OpenStackRequest } from './openstack-requests.js';

const RUNS = Number(process.env.STRATUS_FUZZ_RUNS ?? 400);

/** Requests the fuzz once found answered badly, kept as fixed examples. */
const REGRESSIONS: { why: string; request: OpenStackRequest }[] = [
  ...(
    [
      ['compute', '/v2.1/%ff'],
      ['compute', '/v2.1/os-keypairs/%c0%af'],
      ['identity', '/v3/users/%ff'],
      ['image', '/v2/images/%c0%af'],
    ] as const
  ).map(([service, path]) => ({
    why:
      "A path parameter that does not decode as UTF-8 got Fastify's own JSON " +
      '({"error": "Bad Request", "code": "FST_ERR_BAD_URL", ...}), not a fault; now a 400 fault.',
    request: {
      service,
      method: 'GET',
      path,
      query: [],
      headers: {},
      body: undefined,
      token: 'member',
    },
  })),
  {
    why: "A server id over the path parameter limit: a 414 fault, not Fastify's JSON.",
    request: {
      service: 'compute',
      method: 'GET',
      path: `/v2.1/servers/${'%25'.repeat(300)}`,
      query: [],
      headers: {},
      body: undefined,
      token: 'member',
    },
  },
  ...(['compute', 'image', 'identity'] as const).map((service) => ({
    why:
      "A query string past the header size limit got Fastify's JSON 431 " +
      '({"error": "Request Header Fields Too Large", ...}); now a 431 fault in the API\'s format.',
    request: {
      service,
      method: 'GET',
      path:
        service === 'compute' ? '/v2.1/servers' : service === 'image' ? '/v2/images' : '/v3/users',
      query: [['name', 'é'.repeat(65_536)]] as [string, string][],
      headers: {},
      body: undefined,
      token: 'member',
    },
  })),
];

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
    await checkProperty(
      t,
      'OpenStack',
      openstackArbitrary(cloud),
      (request) => openstackOutcome(cloud, request),
      {
        runs: RUNS,
        examples: REGRESSIONS.map((r) => r.request),
      },
    );
  });
});
