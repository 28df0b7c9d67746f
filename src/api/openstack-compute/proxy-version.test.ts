// Which microversions still have the Compute API's proxies: through 2.35 (the image metadata
// through 2.38, addFloatingIp/removeFloatingIp through 2.43); after that a 404.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StratusError } from '../../errors.js';
import {
  FLOATING_IP_ACTIONS_REMOVED_AT,
  IMAGE_METADATA_REMOVED_AT,
  PROXIES_REMOVED_AT,
  requireBefore,
} from './proxy-version.js';
import { parseRuleBody } from './security-groups.js';

const v = (minor: number) => ({ major: 2, minor });

describe('the proxies by microversion', () => {
  it('answers through the last microversion that has them and 404 from the one that removed them', () => {
    for (const [removedAt, last] of [
      [PROXIES_REMOVED_AT, 35],
      [IMAGE_METADATA_REMOVED_AT, 38],
      [FLOATING_IP_ACTIONS_REMOVED_AT, 43],
    ] as const) {
      assert.doesNotThrow(() => requireBefore(v(1), removedAt, 'x'));
      assert.doesNotThrow(() => requireBefore(v(last), removedAt, 'x'));
      for (const minor of [last + 1, 93]) {
        assert.throws(
          () => requireBefore(v(minor), removedAt, 'os-floating-ips'),
          (err: unknown) =>
            err instanceof StratusError &&
            err.kind === 'not_found' &&
            err.message.includes(`2.${minor}`) &&
            err.message.includes('os-floating-ips'),
        );
      }
    }
  });
});

describe('a security group rule create body', () => {
  const parent = '0b6f2b1e-3f6a-4c1e-9a55-1d2b3c4d5e6f';
  const source = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
  it('takes a CIDR rule with its protocol and ports, numbers as strings too', () => {
    assert.deepEqual(
      parseRuleBody({
        security_group_rule: {
          parent_group_id: parent,
          ip_protocol: 'TCP',
          from_port: '22',
          to_port: 22,
          cidr: '10.0.0.0/8',
        },
      }),
      {
        parent,
        permission: {
          protocol: 'tcp',
          fromPort: 22,
          toPort: 22,
          ipRanges: [{ cidr: '10.0.0.0/8' }],
        },
      },
    );
  });
  it('lets a source group win over the CIDR, opening every port or protocol when none is named', () => {
    const rule = (r: Record<string, unknown>) =>
      parseRuleBody({ security_group_rule: { parent_group_id: parent, group_id: source, ...r } })
        .permission;
    const sourceGroups = [{ idPrefix: source, shown: source }];
    assert.deepEqual(rule({ ip_protocol: 'udp', cidr: '1.2.3.0/24' }), {
      protocol: 'udp',
      fromPort: 1,
      toPort: 65535,
      sourceGroups,
    });
    assert.deepEqual(rule({ ip_protocol: 'icmp' }), {
      protocol: 'icmp',
      fromPort: -1,
      toPort: -1,
      sourceGroups,
    });
    assert.deepEqual(rule({}), { protocol: '-1', sourceGroups });
  });
  it('refuses what the Compute API refuses, saying why', () => {
    const refused = (r: Record<string, unknown>, message: RegExp) =>
      assert.throws(
        () => parseRuleBody({ security_group_rule: { parent_group_id: parent, ...r } }),
        (err: unknown) =>
          err instanceof StratusError && err.kind === 'invalid' && message.test(err.message),
      );
    refused({ ip_protocol: 'tcp', from_port: 22 }, /Not enough parameters/);
    refused({ ip_protocol: 'tcp', from_port: 'a', to_port: 2 }, /must be integers/);
    refused({ ip_protocol: 'icmp', from_port: -2, to_port: 0 }, /ICMP/);
    refused({ ip_protocol: 'sctp', from_port: 1, to_port: 2 }, /Invalid IP protocol sctp/);
    refused(
      { ip_protocol: 'tcp', from_port: 1, to_port: 2, cidr: '10.0.0.1/8' },
      /valid IP network/,
    );
    refused({ group_id: 'nope' }, /group_id/);
  });
});
