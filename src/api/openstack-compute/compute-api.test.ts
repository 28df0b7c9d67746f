// The Compute API's pure parts: status from vm_state + task_state, microversion headers,
// request bodies, a fault for every domain error kind, and the name filter's SQL narrowing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERROR_KINDS, StratusError } from '../../errors.js';
import { FAULT_TABLE, fromStratusError } from './errors.js';
import { requestedVersion, UnsupportedVersion } from './microversion.js';
import { parseCreateServer, parseServerAction } from './requests.js';
import { nameFilter } from './servers.js';
import { serverStatus } from './views.js';

describe('Compute API pieces', () => {
  it('maps vm_state and task_state to the server status', () => {
    assert.equal(serverStatus('building', 'scheduling'), 'BUILD');
    assert.equal(serverStatus('building', 'spawning'), 'BUILD');
    assert.equal(serverStatus('active', null), 'ACTIVE');
    assert.equal(serverStatus('active', 'powering-off'), 'ACTIVE');
    assert.equal(serverStatus('active', 'deleting'), 'ACTIVE');
    assert.equal(serverStatus('active', 'rebooting'), 'REBOOT');
    assert.equal(serverStatus('stopped', null), 'SHUTOFF');
    assert.equal(serverStatus('stopped', 'powering-on'), 'SHUTOFF');
    assert.equal(serverStatus('error', null), 'ERROR');
    assert.equal(serverStatus('deleted', null), 'DELETED');
  });

  it('reads the microversion from either header and refuses what it does not implement', () => {
    assert.deepEqual(requestedVersion({}), { major: 2, minor: 1 });
    assert.deepEqual(requestedVersion({ 'openstack-api-version': 'compute 2.2' }), {
      major: 2,
      minor: 2,
    });
    assert.deepEqual(requestedVersion({ 'openstack-api-version': 'image 2.9, compute 2.1' }), {
      major: 2,
      minor: 1,
    });
    assert.deepEqual(requestedVersion({ 'x-openstack-nova-api-version': 'latest' }), {
      major: 2,
      minor: 93,
    });
    assert.throws(
      () => requestedVersion({ 'x-openstack-nova-api-version': '2.94' }),
      UnsupportedVersion,
    );
    assert.throws(
      () => requestedVersion({ 'x-openstack-nova-api-version': '2.0' }),
      UnsupportedVersion,
    );
    assert.throws(
      () => requestedVersion({ 'x-openstack-nova-api-version': '2' }),
      (e: unknown) => e instanceof StratusError && e.kind === 'invalid',
    );
  });

  it('has a fault for every domain error kind, and hides internal details', () => {
    for (const kind of ERROR_KINDS) {
      assert.ok(FAULT_TABLE[kind], kind);
      const f = fromStratusError(new StratusError(kind, `secret ${kind}`));
      assert.equal(f.status >= 400, true);
    }
    const internal = fromStratusError(new StratusError('internal', 'db password is x'));
    assert.deepEqual(Object.keys(internal.body), ['computeFault']);
    assert.doesNotMatch(JSON.stringify(internal.body), /password/);
    assert.deepEqual(fromStratusError(new StratusError('unauthenticated', 'no')).body, {
      error: { code: 401, title: 'Unauthorized', message: 'no' },
    });
  });

  it('checks server create bodies and actions', () => {
    const ok = parseCreateServer({
      server: { name: 'a', imageRef: 'i', flavorRef: 1, min_count: '2', networks: 'none' },
    });
    assert.equal(ok.flavorRef, '1');
    assert.equal(ok.minCount, 2);
    assert.equal(ok.maxCount, 2);
    assert.equal(ok.returnReservationId, false);
    const full = parseCreateServer({
      server: {
        name: 'a',
        imageRef: 'i',
        flavorRef: 'f',
        personality: [],
        block_device_mapping_v2: [],
        config_drive: 'False',
        adminPass: 'secret',
        accessIPv4: '192.0.2.7',
        accessIPv6: '2001:db8::7',
        metadata: { 'role:x': 'web', 'a b': '' },
        return_reservation_id: 'True',
      },
    });
    assert.equal(full.adminPass, 'secret');
    assert.equal(full.accessIpv4, '192.0.2.7');
    assert.equal(full.accessIpv6, '2001:db8::7');
    assert.deepEqual(full.metadata, { 'role:x': 'web', 'a b': '' });
    assert.equal(full.returnReservationId, true);
    for (const bad of [
      null,
      [],
      { server: 'x' },
      { server: { name: ' a', imageRef: 'i', flavorRef: 'f' } },
      { server: { name: 'a', imageRef: 'i' } },
      { server: { name: 'a', imageRef: 'i', flavorRef: 'f', metadata: { k: 1 } } },
      { server: { name: 'a', imageRef: 'i', flavorRef: 'f', metadata: { 'k/x': 'v' } } },
      { server: { name: 'a', imageRef: 'i', flavorRef: 'f', metadata: { k: 'v'.repeat(256) } } },
      {
        server: { name: 'a', imageRef: 'i', flavorRef: 'f', metadata: { ['k'.repeat(256)]: 'v' } },
      },
      { server: { name: 'a', imageRef: 'i', flavorRef: 'f', block_device_mapping_v2: [{}] } },
      { server: { name: 'a', imageRef: 'i', flavorRef: 'f', personality: [{ path: '/x' }] } },
      { server: { name: 'a', imageRef: 'i', flavorRef: 'f', personality: {} } },
      { server: { name: 'a', imageRef: 'i', flavorRef: 'f', config_drive: true } },
      { server: { name: 'a', imageRef: 'i', flavorRef: 'f', config_drive: 'maybe' } },
      { server: { name: 'a', imageRef: 'i', flavorRef: 'f', accessIPv4: '::1' } },
      { server: { name: 'a', imageRef: 'i', flavorRef: 'f', accessIPv6: '10.0.0.1' } },
      { server: { name: 'a', imageRef: 'i', flavorRef: 'f', adminPass: 7 } },
      { server: { name: 'a'.repeat(253), imageRef: 'i', flavorRef: 'f', max_count: 10 } },
    ]) {
      assert.throws(
        () => parseCreateServer(bad),
        (e: unknown) => e instanceof StratusError && e.kind === 'invalid',
        JSON.stringify(bad),
      );
    }
    assert.deepEqual(parseServerAction({ reboot: { type: 'hard' } }), {
      kind: 'reboot',
      hard: true,
    });
    assert.deepEqual(parseServerAction({ 'os-getConsoleOutput': { length: '-1' } }), {
      kind: 'os-getConsoleOutput',
      length: undefined,
    });
    assert.throws(() => parseServerAction({ 'os-stop': null, 'os-start': null }), StratusError);
    assert.throws(() => parseServerAction({ 'os-stop': 'now' }), StratusError);
  });
});

/** What SQL `LIKE pattern ESCAPE '\'` accepts, case and all (as PostgreSQL compares). */
function likeAccepts(pattern: string, text: string): boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\') source += (pattern[++i] ?? '').replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    else if (c === '%') source += '.*';
    else if (c === '_') source += '.';
    else source += c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's').test(text);
}

describe('the name filter of server listings', () => {
  it('narrows the query with a LIKE that every matching name passes', () => {
    const names = [
      'db-1',
      'db-12',
      'web-db-2',
      'app',
      'a%b_c',
      'ab',
      'abbbc',
      'xdb-y2',
      '',
      'DB-1',
    ];
    const patterns = ['^db-', 'db-.*2$', 'db', 'a*b', 'ab*c', '^a.c', '%b_', '.*', '^*db', 'b-1$'];
    for (const pattern of patterns) {
      const f = nameFilter(pattern);
      for (const name of names) {
        if (f.test(name) && f.like !== undefined) {
          assert.ok(likeAccepts(f.like, name), `${pattern} -> ${f.like} passes '${name}'`);
        }
      }
    }
    assert.equal(nameFilter('^db-').like, 'db-%');
    assert.equal(nameFilter('db-.*2$').like, '%db-%');
    assert.equal(nameFilter('ab*c').like, '%a%');
    assert.equal(nameFilter('%b_').like, '%\\%b\\_%');
    assert.equal(nameFilter('.*').like, undefined);
    assert.equal(nameFilter('a*').like, undefined);
  });
});
