// The Block Storage API's pure parts: the fault table, times as the API writes them, and
// volume type ids that follow from the names.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERROR_KINDS, StratusError } from '../../errors.js';
import { toVolumeFault, VOLUME_FAULT_TABLE } from './errors.js';
import { volumeTypeId } from '../../volume/index.js';
import { volumeTime } from './views.js';

describe('Block Storage API', () => {
  it('has a fault for every domain error kind, and hides internal details', () => {
    for (const kind of ERROR_KINDS) {
      assert.ok(VOLUME_FAULT_TABLE[kind], kind);
      const f = toVolumeFault(new StratusError(kind, `about ${kind}`));
      assert.ok(f.status >= 400, kind);
    }
    const internal = toVolumeFault(new StratusError('internal', 'db password is x'));
    assert.equal(internal.status, 500);
    assert.doesNotMatch(JSON.stringify(internal.body), /password/);
    assert.deepEqual(toVolumeFault(new StratusError('over_quota', 'too many')).body, {
      overLimit: { code: 413, message: 'too many' },
    });
    // A volume in the wrong status is a bad request in this API, not a conflict.
    assert.equal(toVolumeFault(new StratusError('conflict', 'in use')).status, 400);
    assert.deepEqual(toVolumeFault(new StratusError('unauthenticated', 'no')).body, {
      error: { code: 401, title: 'Unauthorized', message: 'no' },
    });
  });

  it('writes times with microseconds and no zone, as the API reference shows them', () => {
    assert.equal(volumeTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), '2026-01-02T03:04:05.678000');
  });

  it('gives each volume type a UUID that follows from its name', () => {
    const id = volumeTypeId('gp2');
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(volumeTypeId('gp2'), id);
    assert.notEqual(volumeTypeId('gp3'), id);
  });
});
