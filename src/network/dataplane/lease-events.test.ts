// The spooled lease events dnsmasq's hook writes, as the agent reads them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEvent } from './lease-events.js';

describe('spooled lease events', () => {
  it('parse add, old and del with the lease end in milliseconds', () => {
    assert.deepEqual(parseEvent('add FA:16:3E:00:00:01 10.0.0.5 1700000000 i-abc\n'), {
      action: 'add',
      mac: 'fa:16:3e:00:00:01',
      ip: '10.0.0.5',
      hostname: 'i-abc',
      expiresAt: 1_700_000_000_000,
    });
    assert.equal(parseEvent('old fa:16:3e:00:00:01 10.0.0.5 1700000100 *')?.hostname, null);
    assert.equal(parseEvent('del fa:16:3e:00:00:01 10.0.0.5 0 *')?.expiresAt, null);
  });

  it('ignore other actions and malformed lines', () => {
    assert.equal(parseEvent('tftp 123 10.0.0.5 /file'), undefined);
    assert.equal(parseEvent('add not-a-mac 10.0.0.5 0 *'), undefined);
    assert.equal(parseEvent('add fa:16:3e:00:00:01 10.0.0 0 *'), undefined);
    assert.equal(parseEvent(''), undefined);
  });
});
