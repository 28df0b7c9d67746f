// IPv4 math: parsing addresses and blocks (and refusing near misses), formatting, containment
// and the ranges a network hands out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addressRange,
  cidrContains,
  formatIpv4,
  hostRange,
  parseCidr,
  parseIpv4,
  parseRuleCidr,
} from './ipv4.js';

describe('parseIpv4 and formatIpv4', () => {
  it('reads dotted quads as unsigned 32-bit numbers, and writes them back', () => {
    for (const [text, n] of [
      ['0.0.0.0', 0],
      ['0.0.0.1', 1],
      ['10.0.0.1', 0x0a000001],
      ['192.168.1.255', 0xc0a801ff],
      ['255.255.255.255', 0xffffffff],
    ] as const) {
      assert.equal(parseIpv4(text), n, text);
      assert.equal(formatIpv4(n), text, text);
    }
  });

  it('keeps addresses with the top bit set positive (no sign from 32-bit arithmetic)', () => {
    const n = parseIpv4('200.1.2.3') as number;
    assert.ok(n > 0x7fffffff);
    assert.equal(formatIpv4(n + 1), '200.1.2.4');
  });

  it('refuses what is not exactly four decimal octets', () => {
    for (const text of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.0.0.1',
      '1.2.3.999',
      '01.2.3.4', // a leading zero reads as octal to some tools: refused, not guessed
      '1.2.3.00',
      '1.2.3.-4',
      '1.2.3.4 ',
      ' 1.2.3.4',
      '1.2.3.4/32',
      'a.b.c.d',
      '0x7f.0.0.1',
      '::1',
      '1..2.3',
    ]) {
      assert.equal(parseIpv4(text), undefined, JSON.stringify(text));
    }
  });

  it('accepts a lone zero octet', () => {
    assert.equal(parseIpv4('10.0.0.0'), 0x0a000000);
  });
});

describe('parseCidr (network blocks)', () => {
  it('reads a block at its network address, with its size', () => {
    assert.deepEqual(parseCidr('10.0.0.0/24'), { base: 0x0a000000, prefix: 24, size: 256 });
    assert.deepEqual(parseCidr('172.16.0.0/12'), { base: 0xac100000, prefix: 12, size: 2 ** 20 });
    assert.deepEqual(parseCidr('192.168.7.4/30'), { base: 0xc0a80704, prefix: 30, size: 4 });
    assert.deepEqual(parseCidr('10.0.0.0/8'), { base: 0x0a000000, prefix: 8, size: 2 ** 24 });
  });

  it('refuses host bits set, prefixes outside [minPrefix, 30] and malformed text', () => {
    for (const text of [
      '10.0.0.1/24', // host bits set
      '10.0.0.0/31', // no room for gateway and guests
      '10.0.0.0/32',
      '10.0.0.0/7', // below the default minimum of 8
      '0.0.0.0/0',
      '10.0.0.0',
      '10.0.0.0/',
      '10.0.0.0/24/1',
      '10.0.0.0/+8',
      '10.0.0.0/024',
      '10.0.0.0/2a',
      '10.0.0/24',
      '',
    ]) {
      assert.equal(parseCidr(text), undefined, text);
    }
  });

  it('takes a higher minimum prefix when the caller asks for one', () => {
    assert.equal(parseCidr('10.0.0.0/16', 20), undefined);
    assert.deepEqual(parseCidr('10.0.0.0/20', 20), { base: 0x0a000000, prefix: 20, size: 4096 });
  });
});

describe('parseRuleCidr (security-group sources)', () => {
  it('reads every prefix from /0 to /32', () => {
    assert.deepEqual(parseRuleCidr('0.0.0.0/0'), { base: 0, prefix: 0, size: 2 ** 32 });
    assert.deepEqual(parseRuleCidr('203.0.113.7/32'), {
      base: 0xcb007107,
      prefix: 32,
      size: 1,
    });
    assert.deepEqual(parseRuleCidr('10.1.0.0/16'), { base: 0x0a010000, prefix: 16, size: 65536 });
  });

  it('refuses host bits set, prefixes past 32 and malformed text', () => {
    for (const text of [
      '10.1.2.3/16',
      '1.0.0.0/0',
      '10.0.0.0/33',
      '10.0.0.0/100',
      '10.0.0.0',
      '10.0.0.0/',
      '10.0.0.0/-1',
      '300.0.0.0/8',
      '10.0.0.0/8/8',
    ]) {
      assert.equal(parseRuleCidr(text), undefined, text);
    }
  });
});

describe('cidrContains', () => {
  const block = parseCidr('10.20.0.0/16') as NonNullable<ReturnType<typeof parseCidr>>;
  const ip = (t: string) => parseIpv4(t) as number;

  it('contains its first and last address and nothing on either side', () => {
    assert.equal(cidrContains(block, ip('10.20.0.0')), true);
    assert.equal(cidrContains(block, ip('10.20.255.255')), true);
    assert.equal(cidrContains(block, ip('10.19.255.255')), false);
    assert.equal(cidrContains(block, ip('10.21.0.0')), false);
  });

  it('contains everything for /0 and exactly one address for /32', () => {
    const all = parseRuleCidr('0.0.0.0/0') as NonNullable<ReturnType<typeof parseRuleCidr>>;
    assert.equal(cidrContains(all, ip('255.255.255.255')), true);
    assert.equal(cidrContains(all, 0), true);
    const one = parseRuleCidr('192.0.2.9/32') as NonNullable<ReturnType<typeof parseRuleCidr>>;
    assert.equal(cidrContains(one, ip('192.0.2.9')), true);
    assert.equal(cidrContains(one, ip('192.0.2.10')), false);
  });
});

describe('hostRange and addressRange', () => {
  it('leaves out the network address, the gateway (.1) and broadcast', () => {
    const c = parseCidr('10.30.0.0/24') as NonNullable<ReturnType<typeof parseCidr>>;
    const r = hostRange(c);
    assert.equal(formatIpv4(r.gateway), '10.30.0.1');
    assert.equal(formatIpv4(r.first), '10.30.0.2');
    assert.equal(formatIpv4(r.last), '10.30.0.254');
    assert.equal(addressRange(r.first, r.last).length, 253);
  });

  it('gives a /30 exactly one guest address', () => {
    const c = parseCidr('10.30.0.8/30') as NonNullable<ReturnType<typeof parseCidr>>;
    const r = hostRange(c);
    assert.deepEqual(addressRange(r.first, r.last), ['10.30.0.10']);
    assert.equal(formatIpv4(r.gateway), '10.30.0.9');
  });

  it('walks across octet boundaries, both ends included, and is empty when reversed', () => {
    const a = parseIpv4('10.0.0.254') as number;
    assert.deepEqual(addressRange(a, a + 3), ['10.0.0.254', '10.0.0.255', '10.0.1.0', '10.0.1.1']);
    assert.deepEqual(addressRange(a, a), ['10.0.0.254']);
    assert.deepEqual(addressRange(a + 1, a), []);
  });
});
