// The scheduler's decision as a pure function: filters, then weights.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schedulerFilters } from './filters/index.js';
import { hostState, NOW, requestSpec } from '../../test/support/host-state.js';
import { rankHosts } from './host-ranking.js';
import { freeMemoryWeigher } from './weighers/index.js';

const ratios = { cpuAllocationRatio: 1, ramAllocationRatio: 1, diskAllocationRatio: 1 };
const filters = schedulerFilters({ downAfterMs: 5000, ratios });
const used = (memoryMb: number) => ({ vcpus: 0, memoryMb, diskGb: 0 });

describe('host ranking', () => {
  const hosts = [
    hostState({ host: 'b', used: used(4096) }),
    hostState({ host: 'a', used: used(4096) }),
    hostState({ host: 'c', used: used(1024) }),
    hostState({ host: 'down', heartbeatAt: NOW - 60_000 }),
    hostState({ host: 'arm', architecture: 'arm64' }),
    hostState({ host: 'full', used: used(8000) }),
  ];
  const spec = requestSpec({ architecture: 'x86_64' });

  it('spread: the hosts that pass, most free memory first, ties by name', () => {
    const r = rankHosts(hosts, spec, filters, freeMemoryWeigher(1, 'spread'), NOW);
    assert.ok('ranked' in r);
    assert.deepEqual(
      r.ranked.map((h) => h.host),
      ['c', 'a', 'b'],
    );
  });

  it('pack: the hosts that pass, least free memory first', () => {
    const r = rankHosts(hosts, spec, filters, freeMemoryWeigher(1, 'pack'), NOW);
    assert.ok('ranked' in r);
    assert.deepEqual(
      r.ranked.map((h) => h.host),
      ['a', 'b', 'c'],
    );
  });

  it('says why, in the words of the filter that removed the last hosts', () => {
    const weigher = freeMemoryWeigher(1, 'spread');
    const refusal = (s = spec, hs = hosts) => {
      const r = rankHosts(hs, s, filters, weigher, NOW);
      return 'refusal' in r ? r.refusal : undefined;
    };
    assert.match(refusal(requestSpec({ memoryMb: 9000 })) ?? '', /9000 MiB of memory/);
    assert.match(refusal(requestSpec({ availabilityZone: 'elsewhere' })) ?? '', /'elsewhere'/);
    assert.match(refusal(requestSpec({ architecture: 'arm64' }), hosts.slice(0, 3)) ?? '', /arm64/);
    assert.match(refusal(spec, [hosts[3]!]) ?? '', /up and enabled/);
    assert.match(refusal(spec, []) ?? '', /No compute host/);
  });
});
