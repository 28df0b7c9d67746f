// The server group filters (affinity, anti-affinity) and the soft-policy weigher.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostState, NOW, requestSpec } from '../../../test/support/host-state.js';
import type { GroupSpec } from '../host-state.js';
import { serverGroupWeigher } from '../weighers/server-group.js';
import { affinityFilter, antiAffinityFilter } from './server-group.js';

const group = (
  policy: GroupSpec['policy'],
  membersOn: Record<string, number>,
  maxPerHost = 1,
): GroupSpec => ({ id: 'g1', policy, maxPerHost, membersOn: new Map(Object.entries(membersOn)) });

const a = hostState({ host: 'a' });
const b = hostState({ host: 'b' });

describe('affinity filter', () => {
  it('passes every host while no member is placed', () => {
    const spec = requestSpec({ group: group('affinity', {}) });
    assert.equal(affinityFilter.passes(a, spec, NOW), true);
    assert.equal(affinityFilter.passes(b, spec, NOW), true);
  });

  it('passes only the host the members are on', () => {
    const spec = requestSpec({ group: group('affinity', { a: 2 }) });
    assert.equal(affinityFilter.passes(a, spec, NOW), true);
    assert.equal(affinityFilter.passes(b, spec, NOW), false);
    assert.match(affinityFilter.refusal(spec), /affinity policy.*\(a\)/);
  });

  it('passes every host for instances in no group or in a group of another policy', () => {
    assert.equal(affinityFilter.passes(b, requestSpec(), NOW), true);
    const spread = requestSpec({ group: group('anti-affinity', { a: 1 }) });
    assert.equal(affinityFilter.passes(b, spread, NOW), true);
  });
});

describe('anti-affinity filter', () => {
  it('refuses a host that holds a member, passes the others', () => {
    const spec = requestSpec({ group: group('anti-affinity', { a: 1 }) });
    assert.equal(antiAffinityFilter.passes(a, spec, NOW), false);
    assert.equal(antiAffinityFilter.passes(b, spec, NOW), true);
    assert.match(antiAffinityFilter.refusal(spec), /anti-affinity policy/);
  });

  it('honours max_server_per_host', () => {
    const spec = requestSpec({ group: group('anti-affinity', { a: 1, b: 2 }, 2) });
    assert.equal(antiAffinityFilter.passes(a, spec, NOW), true);
    assert.equal(antiAffinityFilter.passes(b, spec, NOW), false);
  });

  it('does not refuse for soft anti-affinity', () => {
    const spec = requestSpec({ group: group('soft-anti-affinity', { a: 5 }) });
    assert.equal(antiAffinityFilter.passes(a, spec, NOW), true);
  });
});

describe('server group weigher', () => {
  it('soft affinity weighs by members on the host, soft anti-affinity against them', () => {
    const members = { a: 2 };
    const soft = requestSpec({ group: group('soft-affinity', members) });
    assert.ok(serverGroupWeigher.weigh(a, soft) > serverGroupWeigher.weigh(b, soft));
    const apart = requestSpec({ group: group('soft-anti-affinity', members) });
    assert.ok(serverGroupWeigher.weigh(a, apart) < serverGroupWeigher.weigh(b, apart));
  });

  it('weighs every host alike for hard policies and no group', () => {
    const hard = requestSpec({ group: group('anti-affinity', { a: 1 }) });
    assert.equal(serverGroupWeigher.weigh(a, hard), serverGroupWeigher.weigh(b, hard));
    assert.equal(serverGroupWeigher.weigh(a, requestSpec()), 0);
  });
});
