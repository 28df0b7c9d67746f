// The Networking API's pure parts: the fault table, and the listing controls (filters, sorting,
// paging with links, fields).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ERROR_KINDS,
  StratusError,
  type ErrorKind,
  type ErrorReason,
  type ErrorResource,
} from '../../errors.js';
import { loadConfig } from '../../config/index.js';
import { NETWORK_FAULT_TABLE, toNetworkFault } from './errors.js';
import { listing, pickFields } from './listing.js';

const type = (e: StratusError) =>
  (toNetworkFault(e).body as { NeutronError: { type: string } }).NeutronError.type;

describe('Networking API faults', () => {
  it('has a fault for every domain error kind, and hides internal details', () => {
    for (const kind of ERROR_KINDS) {
      assert.ok(NETWORK_FAULT_TABLE[kind], kind);
      assert.ok(toNetworkFault(new StratusError(kind, `about ${kind}`)).status >= 400, kind);
    }
    const internal = toNetworkFault(new StratusError('internal', 'db password is x'));
    assert.equal(internal.status, 500);
    assert.doesNotMatch(JSON.stringify(internal.body), /password/);
    assert.deepEqual(toNetworkFault(new StratusError('unauthenticated', 'no')).body, {
      error: { code: 401, title: 'Unauthorized', message: 'no' },
    });
  });

  it('names faults as Neutron does, by resource and reason', () => {
    const e = (kind: ErrorKind, resource: ErrorResource, reason?: ErrorReason) =>
      new StratusError(kind, 'x', { resource, reason });
    assert.equal(type(e('not_found', 'network')), 'NetworkNotFound');
    assert.equal(type(e('not_found', 'subnet')), 'SubnetNotFound');
    assert.equal(type(e('not_found', 'port')), 'PortNotFound');
    assert.equal(type(e('conflict', 'network', 'in_use')), 'NetworkInUse');
    assert.equal(type(e('conflict', 'router', 'in_use')), 'RouterInUse');
    const taken = toNetworkFault(e('conflict', 'address', 'address_in_use'));
    assert.equal(taken.status, 409);
    const full = toNetworkFault(e('unavailable', 'subnet', 'no_address'));
    assert.deepEqual(
      [full.status, type(e('unavailable', 'subnet', 'no_address'))],
      [409, 'IpAddressGenerationFailure'],
    );
    assert.equal(toNetworkFault(new StratusError('invalid', 'bad')).status, 400);
    assert.equal(toNetworkFault(new StratusError('over_quota', 'full')).status, 409);
  });
});

describe('Networking API listings', () => {
  const items = ['c', 'a', 'b', 'd'].map((name, i) => ({
    id: `id-${i}`,
    name,
    shared: i % 2 === 0,
    tags: [] as string[],
  }));
  const opts = {
    collection: 'things',
    url: 'http://x/v2.0/things',
    attributes: ['id', 'name', 'shared', 'tags'],
  };

  it('filters by attribute, either of several values, booleans as true/false', () => {
    const r = listing(items, { name: ['a', 'b'] }, opts);
    assert.deepEqual(
      (r['things'] as { name: string }[]).map((x) => x.name),
      ['a', 'b'],
    );
    const shared = listing(items, { shared: 'True' }, opts);
    assert.deepEqual(
      (shared['things'] as { name: string }[]).map((x) => x.name),
      ['c', 'b'],
    );
    assert.throws(() => listing(items, { colour: 'red' }, opts), /invalid filter/);
  });

  it('filters a list of objects by one of their attributes, as fixed_ips=ip_address=...', () => {
    const ports = [
      { id: 'a', fixed_ips: [{ subnet_id: 's1', ip_address: '10.0.0.5' }] },
      { id: 'b', fixed_ips: [{ subnet_id: 's2', ip_address: '10.0.0.6' }] },
    ];
    const o = { collection: 'ports', url: 'http://x', attributes: ['id', 'fixed_ips'] };
    const by = (q: string) =>
      (listing(ports, { fixed_ips: q }, o)['ports'] as { id: string }[]).map((p) => p.id);
    assert.deepEqual(by('ip_address=10.0.0.6'), ['b']);
    assert.deepEqual(by('subnet_id=s1'), ['a']);
    assert.deepEqual(by('10.0.0.6'), []);
  });

  it('sorts by keys and pages with next and previous links', () => {
    const page = listing(items, { sort_key: 'name', sort_dir: 'desc', limit: '2' }, opts);
    assert.deepEqual(
      (page['things'] as { name: string }[]).map((x) => x.name),
      ['d', 'c'],
    );
    const links = page['things_links'] as { rel: string; href: string }[];
    assert.deepEqual(
      links.map((l) => l.rel),
      ['next'],
    );
    const next = new URL((links[0] as { href: string }).href);
    const q = Object.fromEntries(next.searchParams);
    const second = listing(items, q, opts);
    assert.deepEqual(
      (second['things'] as { name: string }[]).map((x) => x.name),
      ['b', 'a'],
    );
    assert.deepEqual(
      (second['things_links'] as { rel: string }[]).map((l) => l.rel),
      ['previous'],
    );
    assert.throws(() => listing(items, { sort_dir: 'asc' }, opts), /sort_keys and sort_dirs/);
    assert.throws(() => listing(items, { limit: '2', marker: 'nope' }, opts), /Marker nope/);
  });

  it('picks fields', () => {
    assert.deepEqual(pickFields({ id: '1', name: 'a', x: 1 }, { fields: ['id', 'name'] }), {
      id: '1',
      name: 'a',
    });
    assert.deepEqual(pickFields({ id: '1' }, {}), { id: '1' });
  });
});

describe('Project network options', () => {
  it('takes a VNI range and an MTU, and refuses a range that ends before it starts', () => {
    const c = loadConfig({
      env: {},
      flags: { 'project-vni-min': '7', 'project-vni-max': '9', 'project-network-mtu': '1400' },
    });
    assert.deepEqual(
      [c.network.projectVniMin, c.network.projectVniMax, c.network.projectMtu],
      [7, 9, 1400],
    );
    assert.throws(
      () => loadConfig({ env: {}, flags: { 'project-vni-min': '10', 'project-vni-max': '5' } }),
      /projectVniMax/,
    );
  });
});
