// The server group request bodies and views at each microversion.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StratusError } from '../../errors.js';
import { parseCreateServerGroup, serverGroupView } from './server-groups.js';

const v = (minor: number) => ({ major: 2, minor });
const badRequest = (pattern: RegExp) => (err: unknown) =>
  err instanceof StratusError && err.kind === 'invalid' && pattern.test(err.message);

describe('server group create body', () => {
  it('takes a list of one policy through 2.63', () => {
    assert.deepEqual(
      parseCreateServerGroup({ server_group: { name: 'g', policies: ['anti-affinity'] } }, v(1)),
      { name: 'g', policy: 'anti-affinity', maxServerPerHost: undefined },
    );
    assert.throws(
      () => parseCreateServerGroup({ server_group: { name: 'g', policies: [] } }, v(1)),
      badRequest(/list of one policy/),
    );
    assert.throws(
      () => parseCreateServerGroup({ server_group: { name: 'g', policy: 'affinity' } }, v(1)),
      badRequest(/additional properties/),
    );
  });

  it('takes the soft policies only from 2.15', () => {
    const body = { server_group: { name: 'g', policies: ['soft-affinity'] } };
    assert.throws(() => parseCreateServerGroup(body, v(2)), badRequest(/must be one of/));
    assert.equal(parseCreateServerGroup(body, v(15)).policy, 'soft-affinity');
  });

  it('takes policy and rules from 2.64, max_server_per_host only for anti-affinity', () => {
    assert.deepEqual(
      parseCreateServerGroup(
        {
          server_group: {
            name: 'g',
            policy: 'anti-affinity',
            rules: { max_server_per_host: 2 },
          },
        },
        v(64),
      ),
      { name: 'g', policy: 'anti-affinity', maxServerPerHost: 2 },
    );
    assert.throws(
      () =>
        parseCreateServerGroup(
          { server_group: { name: 'g', policy: 'affinity', rules: { max_server_per_host: 2 } } },
          v(64),
        ),
      badRequest(/anti-affinity/),
    );
    assert.throws(
      () => parseCreateServerGroup({ server_group: { name: 'g', policies: ['affinity'] } }, v(64)),
      badRequest(/additional properties/),
    );
    assert.throws(
      () => parseCreateServerGroup({ server_group: { policies: ['affinity'] } }, v(1)),
      badRequest(/'name' is a required property/),
    );
  });
});

describe('server group view', () => {
  const row = {
    id: 'g1',
    projectId: 'p1',
    userId: 'u1',
    name: 'web',
    policy: 'anti-affinity' as const,
    rules: '{"max_server_per_host":2}',
    createdAt: 0,
  };

  it('shows policies and metadata at 2.1, the project and user from 2.13', () => {
    assert.deepEqual(serverGroupView(row, ['i1'], v(1)), {
      id: 'g1',
      name: 'web',
      policies: ['anti-affinity'],
      metadata: {},
      members: ['i1'],
    });
    const at13 = serverGroupView(row, [], v(13));
    assert.equal(at13.project_id, 'p1');
    assert.equal(at13.user_id, 'u1');
  });

  it('shows policy and rules from 2.64', () => {
    const at64: Record<string, unknown> = serverGroupView(row, [], v(64));
    assert.equal(at64.policy, 'anti-affinity');
    assert.deepEqual(at64.rules, { max_server_per_host: 2 });
    assert.equal('policies' in at64, false);
  });
});
