// Rendering of the host table and guest chains: what each security-group rule becomes, and
// that nothing from the outside can change the meaning of the nft script.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EffectiveRule } from '../security-groups.js';
import { renderOverlaySecurityTable } from './overlay-nft.js';
import {
  associateCommands,
  FLAT_MARK,
  guestChainRules,
  guestEgressRules,
  portChainRules,
  removeGuestCommands,
  renderFlatTable,
  renderTable,
  setGuestCommands,
} from './nftables.js';

const PORT = { ifname: 'tap1', mac: '52:54:00:AB:cd:01' };

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

  it("set the TTL of the metadata proxy's replies first, so every later rule still applies", () => {
    const replies = { address: '10.20.0.1', port: 8775, hops: 1 };
    const rules = guestChainRules([rule('tcp', 22, 22, ['0.0.0.0/0'])], replies);
    assert.equal(rules[0], 'ip saddr 10.20.0.1 tcp sport 8775 ip ttl set 1');
    assert.equal(rules[1], 'ct state established,related accept');
    assert.equal(rules.at(-1), 'drop');
    assert.equal(guestChainRules([], { ...replies, hops: 64 })[0]?.endsWith('ttl set 64'), true);
    assert.ok(!guestChainRules([]).some((r) => r.includes('ttl')), 'no proxy, no TTL rule');
    for (const hops of [0, 256, 1.5, Number.NaN]) {
      assert.throws(() => guestChainRules([], { ...replies, hops }), String(hops));
    }
    // A guest's refill (a new hop limit) rewrites its chain with the new TTL, in one script.
    const g = { chain: 'g-tap1', fixedIp: '10.20.0.5', rules: [], port: PORT };
    const refill = setGuestCommands({ ...g, metadataReplies: { ...replies, hops: 3 } }, false);
    assert.match(refill, /flush chain inet stratus g-tap1\n/);
    assert.match(
      refill,
      /add rule inet stratus g-tap1 ip saddr 10\.20\.0\.1 tcp sport 8775 ip ttl set 3\n/,
    );
    const table = renderTable(
      { bridge: 'br100', cidr: '10.20.0.0/20', metadata: { address: '10.20.0.1', port: 8775 } },
      [{ ...g, metadataReplies: { ...replies, hops: 2 } }],
      new Map(),
    );
    assert.match(table, /chain g-tap1 \{\n {4}ip saddr 10\.20\.0\.1 tcp sport 8775 ip ttl set 2\n/);
  });

  it('refuse anything that is not an address, CIDR, port or name', () => {
    assert.throws(() => guestChainRules([rule('tcp', 22, 22, ['0.0.0.0/0 accept; flush'])]));
    assert.throws(() => guestChainRules([rule('tcp', 22, 70000, ['0.0.0.0/0'])]));
    assert.throws(() =>
      setGuestCommands(
        { chain: 'g-x; flush ruleset', fixedIp: '10.0.0.2', rules: [], port: PORT },
        true,
      ),
    );
    assert.throws(() =>
      setGuestCommands(
        { chain: 'g-x', fixedIp: '10.0.0.2', rules: [], port: { ...PORT, mac: '52:54:00:ab:cd' } },
        true,
      ),
    );
    assert.throws(() =>
      setGuestCommands(
        { chain: 'g-x', fixedIp: '10.0.0.2', rules: [], port: { ...PORT, ifname: 'tap1" drop' } },
        true,
      ),
    );
    assert.throws(() => associateCommands('1.2.3.4 }', '10.0.0.2'));
  });
});

describe('egress chains', () => {
  it('return replies, then what each rule allows to its destinations, and drop the rest', () => {
    assert.deepEqual(
      guestEgressRules([
        rule('-1', null, null, ['0.0.0.0/0']),
        rule('tcp', 443, 443, ['10.0.0.0/8', '192.168.1.7/32']),
        rule('udp', 5000, 5010, ['10.0.0.0/8']),
        rule('icmp', -1, -1, ['10.1.0.0/16']),
        rule('icmp', 8, -1, ['10.2.0.0/16']),
        rule('icmp', 3, 4, ['10.3.0.0/16']),
        rule('tcp', 443, 443, ['10.0.0.0/8']),
        rule('47', null, null, ['10.4.0.0/16']),
      ]),
      [
        'ct state established,related return',
        'ct state invalid drop',
        'ip daddr 0.0.0.0/0 return',
        'ip daddr 10.0.0.0/8 tcp dport 443 return',
        'ip daddr 192.168.1.7/32 tcp dport 443 return',
        'ip daddr 10.0.0.0/8 udp dport 5000-5010 return',
        'ip daddr 10.1.0.0/16 meta l4proto icmp return',
        'ip daddr 10.2.0.0/16 icmp type 8 return',
        'ip daddr 10.3.0.0/16 icmp type 3 icmp code 4 return',
        'ip daddr 10.4.0.0/16 meta l4proto 47 return',
        'drop',
      ],
    );
  });

  it('let nothing but replies out without rules, and everything when egress is not filtered', () => {
    assert.deepEqual(guestEgressRules([]), [
      'ct state established,related return',
      'ct state invalid drop',
      'drop',
    ]);
    assert.deepEqual(guestEgressRules(undefined), ['return']);
    // Ingress by protocol number too.
    assert.deepEqual(guestChainRules([rule('47', null, null, ['10.4.0.0/16'])]).slice(-2), [
      'ip saddr 10.4.0.0/16 meta l4proto 47 accept',
      'drop',
    ]);
    assert.throws(() => guestEgressRules([rule('256' as '47', null, null, ['10.0.0.0/8'])]));
    assert.throws(() => guestEgressRules([rule('tcp', 1, 2, ['10.0.0.0/8 } accept'])]));
  });

  it("run in forward before the receiver's chain, for traffic from the bridge", () => {
    const text = renderTable(
      { bridge: 'br100', cidr: '10.20.0.0/20' },
      [{ chain: 'g-tap1', fixedIp: '10.20.0.5', rules: [], egress: [], port: PORT }],
      new Map(),
    );
    assert.match(text, /map guests_out \{[^}]*elements = \{ 10\.20\.0\.5 : jump g-tap1-o \}/);
    assert.match(text, /iifname "br100" ip saddr vmap @guests_out\n {4}ip daddr vmap @guests/);
    const set = setGuestCommands(
      { chain: 'g-tap1', fixedIp: '10.20.0.5', rules: [], egress: [], port: PORT },
      true,
    );
    assert.match(set, /add rule inet stratus g-tap1-o drop/);
    assert.match(set, /add element inet stratus guests_out \{ 10\.20\.0\.5 : jump g-tap1-o \}/);
    const removed = removeGuestCommands({ chain: 'g-tap1', fixedIp: '10.20.0.5', port: PORT });
    assert.match(removed, /delete element inet stratus guests_out \{ 10\.20\.0\.5 \}/);
    assert.match(removed, /delete chain inet stratus g-tap1-o/);
  });
});

describe('the overlay security-group table', () => {
  it('keys ports by bridge and fixed IP, a conntrack zone per bridge, egress before ingress', () => {
    const text = renderOverlaySecurityTable([
      {
        ifname: 'otpaaaa',
        fixedIp: '10.0.0.5',
        bridge: 'obr1001',
        vni: 1001,
        security: { ingress: [rule('tcp', 22, 22, ['10.0.0.6/32'])], egress: [] },
      },
      { ifname: 'otpbbbb', fixedIp: '10.0.0.5', bridge: 'obr1002', vni: 1002 },
    ]);
    assert.match(
      text,
      /^add table inet stratus_overlay_sg\ndelete table inet stratus_overlay_sg\n/,
    );
    assert.match(text, /ct zone set iifname map \{ "obr1001" : 1002, "obr1002" : 1003 \}/);
    assert.match(text, /elements = \{ "obr1001" \. 10\.0\.0\.5 : jump in-otpaaaa \}/);
    assert.match(text, /elements = \{ "obr1001" \. 10\.0\.0\.5 : jump out-otpaaaa \}/);
    assert.match(text, /iifname \. ip saddr vmap @egress\n {4}iifname \. ip daddr vmap @ingress/);
    assert.match(text, /ip saddr 10\.0\.0\.6\/32 tcp dport 22 accept/);
    // DHCP and metadata stay open whatever the egress rules; then the (no) rules, then drop.
    assert.match(
      text,
      /udp sport 68 udp dport 67 return\n {4}ip daddr 169\.254\.169\.254 tcp dport 80 return\n {4}drop/,
    );
    // The port without groups has no chains.
    assert.doesNotMatch(text, /otpbbbb/);
    assert.throws(() =>
      renderOverlaySecurityTable([
        {
          ifname: 'otp1',
          fixedIp: '10.0.0.5',
          bridge: 'obr1; flush',
          vni: 1,
          security: { ingress: [], egress: [] },
        },
      ]),
    );
  });
});

describe('the host table', () => {
  it('is replaced whole, with guests, floating IPs and the metadata DNAT', () => {
    const text = renderTable(
      { bridge: 'br100', cidr: '10.20.0.0/20', metadata: { address: '10.20.0.1', port: 8775 } },
      [{ chain: 'g-tap1', fixedIp: '10.20.0.5', rules: [], port: PORT }],
      new Map([['172.24.4.10', '10.20.0.5']]),
    );
    assert.match(text, /^add table inet stratus\ndelete table inet stratus\n/);
    assert.match(text, /elements = \{ 10\.20\.0\.5 : jump g-tap1 \}/);
    assert.match(text, /map fip_dnat \{[^}]*elements = \{ 172\.24\.4\.10 : 10\.20\.0\.5 \}/);
    assert.match(text, /map fip_snat \{[^}]*elements = \{ 10\.20\.0\.5 : 172\.24\.4\.10 \}/);
    assert.match(text, /ip daddr 169\.254\.169\.254 tcp dport 80 dnat ip to 10\.20\.0\.1:8775/);
    assert.match(text, /oifname "br100" ip saddr 10\.20\.0\.0\/20 ip daddr 10\.20\.0\.0\/20/);
  });

  it('on a lone host lets nothing leave for an unplugged guest address, and masquerades', () => {
    const text = renderTable({ bridge: 'br100', cidr: '10.20.0.0/20' }, [], new Map());
    assert.doesNotMatch(text, /meta mark/);
    assert.doesNotMatch(text, /snat ip to \d/);
    assert.match(text, /ip daddr vmap @guests\n {4}ip daddr 10\.20\.0\.0\/20 drop/);
  });

  it('on a flat segment lets bridged traffic out by the uplink; guests leave as the public address', () => {
    const text = renderTable(
      {
        bridge: 'br100',
        cidr: '10.20.0.0/20',
        flat: true,
        public: { ifname: 'pub0', address: '172.24.4.11' },
      },
      [],
      new Map(),
    );
    // The local guests' chains first, then what leaves by the flat port, then the fail-closed drop.
    assert.match(
      text,
      new RegExp(
        `ip daddr vmap @guests\n {4}meta mark ${FLAT_MARK} accept\n {4}ip daddr 10\\.20\\.0\\.0/20 drop`,
      ),
    );
    // A floating IP's SNAT comes before the host's address, which comes before masquerading.
    const snat = text.indexOf('snat ip to ip saddr map @fip_snat');
    const pub = text.indexOf('oifname "pub0" ip saddr 10.20.0.0/20 snat ip to 172.24.4.11');
    const masq = text.indexOf('ip saddr 10.20.0.0/20 masquerade');
    assert.ok(snat > 0 && pub > snat && masq > pub, text);
    assert.throws(() =>
      renderTable(
        { bridge: 'br100', cidr: '10.20.0.0/20', public: { ifname: 'pub0', address: '1.2.3' } },
        [],
        new Map(),
      ),
    );
  });
});

describe('guest ports (anti-spoofing and rogue DHCP)', () => {
  it('let a port send only as its guest: its MAC, its fixed IP, DHCP as a client, no IPv6', () => {
    assert.deepEqual(portChainRules('10.20.0.5', '52:54:00:AB:cd:01'), [
      'ether saddr != 52:54:00:ab:cd:01 drop',
      'ether type arp arp saddr ether != 52:54:00:ab:cd:01 drop',
      'ether type arp arp saddr ip != { 10.20.0.5, 0.0.0.0 } drop',
      'ether type arp accept',
      'ether type ip udp sport 67 drop',
      'ether type ip udp dport 68 drop',
      'ether type ip udp dport 67 @th,288,48 != 0x525400abcd01 drop',
      'ether type ip ip saddr 10.20.0.5 accept',
      'ether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept',
      'drop',
    ]);
    assert.throws(() => portChainRules('10.20.0.5 accept', '52:54:00:ab:cd:01'));
    assert.throws(() => portChainRules('10.20.0.5', '52:54:00:ab:cd:01 accept'));
  });

  it('are filtered in a bridge table at prerouting, before the bridge learns a MAC', () => {
    const text = renderTable(
      { bridge: 'br100', cidr: '10.20.0.0/20' },
      [
        { chain: 'g-tap1', fixedIp: '10.20.0.5', rules: [], port: PORT },
        {
          chain: 'g-tap2',
          fixedIp: '10.20.0.6',
          rules: [],
          port: { ifname: 'tap2', mac: '52:54:00:00:00:02' },
        },
      ],
      new Map(),
    );
    const bridge = text.slice(text.indexOf('add table bridge stratus_ports'));
    assert.match(bridge, /^add table bridge stratus_ports\ndelete table bridge stratus_ports\n/);
    assert.match(
      bridge,
      /map ports \{ type ifname : verdict; elements = \{ "tap1" : jump g-tap1, "tap2" : jump g-tap2 \}/,
    );
    assert.match(
      bridge,
      /chain prerouting \{\n {4}type filter hook prerouting priority -300; policy accept;\n {4}iifname vmap @ports\n/,
    );
    assert.match(bridge, /chain g-tap2 \{\n {4}ether saddr != 52:54:00:00:00:02 drop\n/);
    assert.match(bridge, /ether type ip ip saddr 10\.20\.0\.6 accept/);
  });

  it('get their chain and map element with the guest, and lose them with it', () => {
    const g = { chain: 'g-tap1', fixedIp: '10.20.0.5', rules: [], port: PORT };
    const added = setGuestCommands(g, true).split('\n');
    assert.ok(added.includes('add chain bridge stratus_ports g-tap1'));
    assert.ok(added.includes('flush chain bridge stratus_ports g-tap1'));
    assert.ok(
      added.includes('add rule bridge stratus_ports g-tap1 ether saddr != 52:54:00:ab:cd:01 drop'),
    );
    assert.ok(added.includes('add element bridge stratus_ports ports { "tap1" : jump g-tap1 }'));
    // A refill (new security-group rules) keeps the elements.
    assert.doesNotMatch(setGuestCommands(g, false), /add element/);
    const removed = removeGuestCommands(g);
    assert.match(removed, /delete element bridge stratus_ports ports \{ "tap1" \}/);
    assert.match(removed, /delete chain bridge stratus_ports g-tap1/);
  });

  it('reach the namespace itself for DHCP, metadata and ping only', () => {
    const text = renderTable(
      { bridge: 'br100', cidr: '10.20.0.0/20', metadata: { address: '10.20.0.1', port: 8775 } },
      [],
      new Map(),
    );
    const input = text.slice(text.indexOf('chain input'), text.indexOf('chain output {'));
    assert.equal(
      input,
      [
        'chain input {',
        '    type filter hook input priority filter; policy accept;',
        '    iifname "br100" ct state established,related accept',
        '    iifname "br100" udp dport 67 accept',
        '    iifname "br100" ip daddr 10.20.0.1 tcp dport 8775 accept',
        '    iifname "br100" icmp type echo-request accept',
        '    iifname "br100" drop',
        '  }',
        '  ',
      ].join('\n'),
    );
    const bare = renderTable({ bridge: 'br100', cidr: '10.20.0.0/20' }, [], new Map());
    assert.doesNotMatch(bare, /tcp dport 8775/);
    assert.match(bare, /iifname "br100" drop/);
  });
});

describe('the flat uplink table', () => {
  it('drops gateway ARP and DHCP on the uplink both ways, and marks what leaves by it', () => {
    const text = renderFlatTable('flat0', '10.20.0.1');
    assert.match(text, /^add table bridge stratus_flat\ndelete table bridge stratus_flat\n/);
    for (const chain of ['input', 'forward', 'output']) {
      assert.match(
        text,
        new RegExp(`chain ${chain} \\{\\n {4}type filter hook ${chain} priority -200;`),
      );
    }
    for (const dir of ['iifname', 'oifname']) {
      assert.match(text, new RegExp(`${dir} "flat0" arp saddr ip 10\\.20\\.0\\.1 drop`));
      assert.match(text, new RegExp(`${dir} "flat0" arp daddr ip 10\\.20\\.0\\.1 drop`));
      assert.match(text, new RegExp(`${dir} "flat0" udp dport \\{ 67, 68 \\} drop`));
    }
    assert.match(text, new RegExp(`oifname "flat0" meta mark set ${FLAT_MARK}`));
    // Input only sees what comes in by the port, output only what goes out by it.
    const input = text.slice(text.indexOf('chain input'), text.indexOf('chain forward'));
    const output = text.slice(text.indexOf('chain output'));
    assert.doesNotMatch(input, /oifname/);
    assert.doesNotMatch(output, /iifname/);
  });

  it('refuses a name or address that could change the script', () => {
    assert.throws(() => renderFlatTable('flat0" drop', '10.20.0.1'));
    assert.throws(() => renderFlatTable('flat0', '10.20.0.1 drop'));
  });
});
