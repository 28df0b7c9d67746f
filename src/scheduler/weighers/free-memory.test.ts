// The free-memory weigher, spread and pack.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostState, requestSpec } from '../../../test/support/host-state.js';
import { freeMemoryWeigher } from './free-memory.js';

describe('free-memory weigher', () => {
  const roomy = hostState({
    host: 'roomy',
    capacity: { vcpus: 8, memoryMb: 4000, diskGb: 100 },
    used: { vcpus: 0, memoryMb: 1000, diskGb: 0 },
  });
  const tight = hostState({
    host: 'tight',
    capacity: { vcpus: 8, memoryMb: 4000, diskGb: 100 },
    used: { vcpus: 0, memoryMb: 3000, diskGb: 0 },
  });
  const spec = requestSpec();

  it('spread weighs a host by its free memory under the ratio', () => {
    const w = freeMemoryWeigher(1.5, 'spread');
    assert.equal(w.weigh(roomy, spec), 6000 - 1000);
    assert.equal(w.weigh(tight, spec), 6000 - 3000);
    assert.ok(w.weigh(roomy, spec) > w.weigh(tight, spec), 'most free first');
  });

  it('pack puts the least free first', () => {
    const w = freeMemoryWeigher(1, 'pack');
    assert.equal(w.weigh(roomy, spec), -3000);
    assert.equal(w.weigh(tight, spec), -1000);
    assert.ok(w.weigh(tight, spec) > w.weigh(roomy, spec));
  });
});
