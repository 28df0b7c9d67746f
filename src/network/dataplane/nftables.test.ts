// Rendering of the host table and guest chains: what each security-group rule becomes, and
// that nothing from the outside can change the meaning of the nft script.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EffectiveRule } from '../security-groups.js';
import { associateCommands, guestChainRules, renderTable, setGuestCommands } from './nftables.js';

function rule(
  protocol: EffectiveRule['protocol'],
  fromPort: number | null,
  toPort: number | null,
  sources: string[],
): EffectiveRule {
  return {
    ruleId: 'r',
    groupId: 'g',
    protocol,
    fromPort,
    toPort,
    cidr: null,
    sourceGroupId: null,
    sources,
  };
}

describe('guest chains', () => {
  it('accept established, DHCP and ICMP, then the rules, then drop', () => {
    const rules = guestChainRules([
      rule('tcp', 22, 22, ['0.0.0.0/0']),
      rule('udp', 5000, 5010, ['10.0.0.0/8', '192.168.1.7/32']),
      rule('-1', null, null, ['172.16.0.0/12']),
      rule('icmp', 8, -1, ['0.0.0.0/0']),
    ]);
    assert.deepEqual(rules, [
      'ct state established,related accept',
      'ct state invalid drop',
      'udp sport 67 udp dport 68 accept',
      'meta l4proto icmp accept',
      'ip saddr 0.0.0.0/0 tcp dport 22 accept',
      'ip saddr 10.0.0.0/8 udp dport 5000-5010 accept',
      'ip saddr 192.168.1.7/32 udp dport 5000-5010 accept',
      'ip saddr 172.16.0.0/12 accept',
      'drop',
    ]);
  });

  it('write the same allowance once, and nothing for a group with no members', () => {
    const rules = guestChainRules([
      rule('tcp', 22, 22, ['10.0.0.5/32']),
      rule('tcp', 22, 22, ['10.0.0.5/32']),
      rule('tcp', 80, 80, []),
    ]);
    assert.equal(rules.filter((r) => r.includes('dport 22')).length, 1);
    assert.equal(rules.filter((r) => r.includes('dport 80')).length, 0);
  });

  it('refuse anything that is not an address, CIDR, port or name', () => {
    assert.throws(() => guestChainRules([rule('tcp', 22, 22, ['0.0.0.0/0 accept; flush'])]));
    assert.throws(() => guestChainRules([rule('tcp', 22, 70000, ['0.0.0.0/0'])]));
    assert.throws(() =>
      setGuestCommands({ chain: 'g-x; flush ruleset', fixedIp: '10.0.0.2', rules: [] }, true),
    );
    assert.throws(() => associateCommands('1.2.3.4 }', '10.0.0.2'));
  });
});

describe('the host table', () => {
  it('is replaced whole, with guests, floating IPs and the metadata DNAT', () => {
    const text = renderTable(
      { bridge: 'br100', cidr: '10.20.0.0/20', metadata: { address: '10.20.0.1', port: 8775 } },
      [{ chain: 'g-tap1', fixedIp: '10.20.0.5', rules: [] }],
      new Map([['172.24.4.10', '10.20.0.5']]),
    );
    assert.match(text, /^add table inet stratus\ndelete table inet stratus\n/);
    assert.match(text, /elements = \{ 10\.20\.0\.5 : jump g-tap1 \}/);
    assert.match(text, /map fip_dnat \{[^}]*elements = \{ 172\.24\.4\.10 : 10\.20\.0\.5 \}/);
    assert.match(text, /map fip_snat \{[^}]*elements = \{ 10\.20\.0\.5 : 172\.24\.4\.10 \}/);
    assert.match(text, /ip daddr 169\.254\.169\.254 tcp dport 80 dnat ip to 10\.20\.0\.1:8775/);
    assert.match(text, /oifname "br100" ip saddr 10\.20\.0\.0\/20 ip daddr 10\.20\.0\.0\/20/);
  });
});
