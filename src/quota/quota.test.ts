// The limits that hold: configured defaults, each replaced by an override, and -1 as unlimited.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { effectiveLimits, type QuotaLimits } from './quota.js';

const DEFAULTS: QuotaLimits = {
  instances: 10,
  cores: 20,
  ramMb: 51200,
  addresses: 5,
  securityGroups: 10,
  securityGroupRules: 100,
  keypairs: 100,
  serverGroups: 10,
  serverGroupMembers: 10,
  volumes: 10,
  gigabytes: 1000,
  snapshots: 10,
};

describe('effectiveLimits', () => {
  it('replaces defaults by overrides and reads a negative limit as unlimited', () => {
    const l = effectiveLimits(DEFAULTS, { instances: 3, cores: -1, unknown: 5 });
    assert.equal(l.instances, 3);
    assert.equal(l.cores, Infinity);
    assert.equal(l.ramMb, 51200);
    assert.equal(Object.keys(l).length, Object.keys(DEFAULTS).length);
    // Unlimited still counts the way limits are used: nothing is ever over it.
    assert.equal(Math.floor(l.cores / 4), Infinity);
    assert.ok(!(1e9 >= l.cores));
  });
});
