// Network specs as `stratus manage network create` takes them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkNetworkSpec } from './network-spec.js';

describe('network specs', () => {
  it('default the gateway to the first address and DHCP to the rest', () => {
    const s = checkNetworkSpec({ name: 'lab', cidr: '10.30.0.0/24' });
    assert.deepEqual(
      [s.cidrText, s.gateway, s.dhcpStart, s.dhcpEnd, s.dns],
      ['10.30.0.0/24', '10.30.0.1', '10.30.0.2', '10.30.0.254', ''],
    );
  });

  it('take an explicit gateway, range and DNS servers', () => {
    const s = checkNetworkSpec({
      name: 'lab',
      cidr: '10.30.0.0/24',
      gateway: '10.30.0.254',
      dhcpStart: '10.30.0.100',
      dhcpEnd: '10.30.0.199',
      dns: '10.30.0.53, 10.30.0.54',
    });
    assert.deepEqual(
      [s.gateway, s.dhcpStart, s.dhcpEnd, s.dns],
      ['10.30.0.254', '10.30.0.100', '10.30.0.199', '10.30.0.53,10.30.0.54'],
    );
  });

  it('refuse what cannot work, naming the problem', () => {
    const bad: [Parameters<typeof checkNetworkSpec>[0], RegExp][] = [
      [{ name: 'x y', cidr: '10.0.0.0/24' }, /name/],
      [{ name: 'a', cidr: '10.0.0.1/24' }, /host bits/],
      [{ name: 'a', cidr: '10.0.0.0/31' }, /N from 8 to 30/],
      [{ name: 'a', cidr: '10.0.0.0/24', gateway: '10.0.1.1' }, /not a usable address/],
      [{ name: 'a', cidr: '10.0.0.0/24', gateway: '10.0.0.255' }, /not a usable address/],
      [{ name: 'a', cidr: '10.0.0.0/24', gateway: '10.0.0.50', dhcpStart: '10.0.0.10' }, /inside/],
      [{ name: 'a', cidr: '10.0.0.0/24', dhcpStart: '10.0.0.9', dhcpEnd: '10.0.0.5' }, /empty/],
      [{ name: 'a', cidr: '10.0.0.0/24', dns: '8.8.8' }, /DNS server/],
    ];
    for (const [input, message] of bad) {
      assert.throws(() => checkNetworkSpec(input), message, JSON.stringify(input));
    }
  });
});
