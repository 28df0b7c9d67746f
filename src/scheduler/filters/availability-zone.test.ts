// The availability zone filter.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostState, NOW, requestSpec } from '../../../test/support/host-state.js';
import { availabilityZoneFilter } from './availability-zone.js';

describe('availability zone filter', () => {
  it('passes every host when no zone is asked for', () => {
    const host = hostState({ availabilityZone: 'az2' });
    assert.equal(availabilityZoneFilter.passes(host, requestSpec(), NOW), true);
  });

  it('passes only hosts in the asked zone', () => {
    const spec = requestSpec({ availabilityZone: 'az1' });
    assert.equal(availabilityZoneFilter.passes(hostState(), spec, NOW), true);
    assert.equal(
      availabilityZoneFilter.passes(hostState({ availabilityZone: 'az2' }), spec, NOW),
      false,
    );
    assert.equal(
      availabilityZoneFilter.passes(hostState({ availabilityZone: '' }), spec, NOW),
      false,
    );
  });

  it('names the zone when it refuses', () => {
    assert.match(
      availabilityZoneFilter.refusal(requestSpec({ availabilityZone: 'az9' })),
      /availability zone 'az9'/,
    );
  });
});
