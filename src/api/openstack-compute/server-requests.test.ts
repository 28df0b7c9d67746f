// The server create and update bodies each microversion takes, and the hostname a server gets.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StratusError } from '../../errors.js';
import { parseCreateServer, parseUpdateServer } from './requests.js';
import { serverHostname } from './views.js';

const v = (minor: number) => ({ major: 2, minor });
const base = { name: 'a', imageRef: 'i', flavorRef: 'f' };
const refused = (f: () => unknown, message: RegExp) =>
  assert.throws(f, (e: unknown) => e instanceof StratusError && message.test(e.message));

describe('Server request bodies by microversion', () => {
  it('takes personality through 2.56 only', () => {
    assert.equal(
      parseCreateServer({ server: { ...base, networks: 'none', personality: [] } }, v(56)).name,
      'a',
    );
    refused(
      () => parseCreateServer({ server: { ...base, personality: [], networks: 'none' } }, v(57)),
      /personality/,
    );
  });

  it('takes description from 2.19, tags from 2.52, hostname from 2.90', () => {
    refused(
      () => parseCreateServer({ server: { ...base, description: 'd' } }, v(18)),
      /description/,
    );
    const full = parseCreateServer(
      {
        server: { ...base, networks: 'auto', description: 'd', tags: ['x'], hostname: 'h-1' },
      },
      v(90),
    );
    assert.deepEqual([full.description, full.tags, full.hostname], ['d', ['x'], 'h-1']);
    refused(() => parseCreateServer({ server: { ...base, tags: ['x'] } }, v(51)), /tags/);
    refused(
      () => parseCreateServer({ server: { ...base, networks: 'auto', tags: ['x', 'x'] } }, v(52)),
      /unique/,
    );
    refused(() => parseCreateServer({ server: { ...base } }, v(37)), /networks/);
  });

  it('updates the description from 2.19 (null clears it) and the hostname from 2.90', () => {
    assert.equal(parseUpdateServer({ server: { description: null } }, v(19)).description, null);
    refused(() => parseUpdateServer({ server: { description: 'x' } }, v(2)), /description/);
    refused(() => parseUpdateServer({ server: { hostname: 'x1' } }, v(89)), /hostname/);
    assert.equal(parseUpdateServer({ server: { hostname: 'x1' } }, v(90)).hostname, 'x1');
  });

  it('makes a hostname from the name when none was given', () => {
    assert.equal(serverHostname('My Web_Server 1', null), 'my-web-server-1');
    assert.equal(serverHostname('***', null), 'server');
    assert.equal(serverHostname('x', 'given'), 'given');
  });
});
