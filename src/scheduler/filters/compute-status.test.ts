// The enabled-and-alive filter.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostState, NOW, requestSpec } from '../../../test/support/host-state.js';
import { computeStatusFilter } from './compute-status.js';

describe('enabled and alive filter', () => {
  const filter = computeStatusFilter(5000);
  const spec = requestSpec();

  it('passes an enabled host whose heartbeat is recent', () => {
    assert.equal(filter.passes(hostState({ heartbeatAt: NOW - 5000 }), spec, NOW), true);
  });

  it('refuses a host whose heartbeat is older than the down-after time', () => {
    assert.equal(filter.passes(hostState({ heartbeatAt: NOW - 5001 }), spec, NOW), false);
    assert.equal(filter.passes(hostState({ heartbeatAt: 0 }), spec, NOW), false);
  });

  it('refuses a disabled (or unregistered) host, however recent its heartbeat', () => {
    assert.equal(filter.passes(hostState({ enabled: false }), spec, NOW), false);
  });

  it('says no host is up and enabled when it refuses', () => {
    assert.match(filter.refusal(spec), /up and enabled/);
  });
});
