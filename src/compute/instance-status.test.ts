// The health decision, case by case: not running, host unknown or down, power states, and a
// real guest that showed itself on the network, has not yet, or never did.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { instanceHealth, type HealthFacts, type InstanceHealth } from './instance-status.js';

const LAUNCHED = 1_000_000;
const LIMITS = { guestNetworkDeadlineMs: 300_000 };

function facts(
  instance: Partial<HealthFacts['instance']> = {},
  rest: Partial<Omit<HealthFacts, 'instance'>> = {},
): HealthFacts {
  return {
    instance: {
      vmState: 'active',
      taskState: null,
      powerState: 'running',
      host: 'node-1',
      launchedAt: LAUNCHED,
      createdAt: LAUNCHED - 5_000,
      metadataFetchedAt: null,
      networkObserved: 1,
      ...instance,
    },
    host: 'up',
    leasedAt: null,
    ...rest,
  };
}

const summary = (h: InstanceHealth) =>
  `${h.system.status}/${h.system.reachability ?? '-'} ${h.instance.status}/${h.instance.reachability ?? '-'}`;

describe('instance health', () => {
  it('checks nothing of an instance that is not running', () => {
    for (const f of [
      facts({ vmState: 'stopped', powerState: 'shutdown' }),
      facts({ vmState: 'building', powerState: 'nostate' }),
      facts({ taskState: 'powering-off' }),
      facts({ vmState: 'deleted' }),
    ]) {
      assert.equal(
        summary(instanceHealth(f, LIMITS, LAUNCHED)),
        'not_applicable/- not_applicable/-',
      );
    }
  });

  it('cannot tell when the host never registered', () => {
    assert.equal(
      summary(instanceHealth(facts({}, { host: undefined }), LIMITS, LAUNCHED)),
      'unknown/unknown unknown/unknown',
    );
    assert.equal(
      summary(instanceHealth(facts({ host: null }), LIMITS, LAUNCHED)),
      'unknown/unknown unknown/unknown',
    );
  });

  it('reports the system impaired when the host is down, and the guest unknown', () => {
    const h = instanceHealth(
      facts({ metadataFetchedAt: LAUNCHED }, { host: 'down' }),
      LIMITS,
      LAUNCHED,
    );
    assert.equal(summary(h), 'impaired/failed unknown/unknown');
  });

  it('is initializing until the host has seen the VM, impaired when it is not running', () => {
    assert.equal(
      summary(instanceHealth(facts({ powerState: 'nostate' }), LIMITS, LAUNCHED)),
      'ok/passed initializing/initializing',
    );
    for (const powerState of ['paused', 'crashed', 'shutdown']) {
      assert.equal(
        summary(instanceHealth(facts({ powerState }), LIMITS, LAUNCHED)),
        'ok/passed impaired/failed',
        powerState,
      );
    }
  });

  it('passes a guest that took its lease or fetched its metadata', () => {
    const late = LAUNCHED + 10 * LIMITS.guestNetworkDeadlineMs;
    assert.equal(
      summary(instanceHealth(facts({}, { leasedAt: LAUNCHED + 3_000 }), LIMITS, late)),
      'ok/passed ok/passed',
    );
    assert.equal(
      summary(instanceHealth(facts({ metadataFetchedAt: LAUNCHED + 4_000 }), LIMITS, late)),
      'ok/passed ok/passed',
    );
    // Evidence counts even where the cloud does not watch for it.
    assert.equal(
      summary(
        instanceHealth(facts({ networkObserved: 0, metadataFetchedAt: LAUNCHED }), LIMITS, late),
      ),
      'ok/passed ok/passed',
    );
  });

  it('waits for a real guest until the deadline, then reports it impaired', () => {
    const f = facts();
    assert.equal(
      summary(instanceHealth(f, LIMITS, LAUNCHED + LIMITS.guestNetworkDeadlineMs - 1)),
      'ok/passed initializing/initializing',
    );
    assert.equal(
      summary(instanceHealth(f, LIMITS, LAUNCHED + LIMITS.guestNetworkDeadlineMs)),
      'ok/passed impaired/failed',
    );
  });

  it('cannot tell for a guest the cloud does not observe (fake driver, user-mode network)', () => {
    const f = facts({ networkObserved: 0 });
    assert.equal(
      summary(instanceHealth(f, LIMITS, LAUNCHED + 10 * LIMITS.guestNetworkDeadlineMs)),
      'ok/passed unknown/unknown',
    );
  });
});
