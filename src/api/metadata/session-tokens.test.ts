// IMDSv2 session tokens: bound to their instance and key, refused once expired, and the TTL
// a guest asks for is checked as EC2 checks it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { checkSessionToken, issueSessionToken, requestedTtl } from './session-tokens.js';

const key = randomBytes(32);
const id = '0123abcd-0000-4000-8000-000000000000';

describe('IMDSv2 session tokens', () => {
  it('are good for their instance until they expire', () => {
    const t = issueSessionToken(key, id, 60, 1_000_000);
    assert.equal(checkSessionToken(key, t, id, 1_000_000), 'valid');
    assert.equal(checkSessionToken(key, t, id, 1_059_999), 'valid');
    assert.equal(checkSessionToken(key, t, id, 1_060_000), 'expired');
  });

  it('are refused for another instance, under another key, or changed in any way', () => {
    const t = issueSessionToken(key, id, 60, 1_000_000);
    assert.equal(checkSessionToken(key, t, id.replace('0123', '4567'), 1_000_000), 'invalid');
    assert.equal(checkSessionToken(randomBytes(32), t, id, 1_000_000), 'invalid');
    const [body, mac] = t.split('.') as [string, string];
    const longer = Buffer.from(
      Buffer.from(body, 'base64url').toString().replace(/:\d+$/, ':9999999999999'),
    ).toString('base64url');
    assert.equal(checkSessionToken(key, `${longer}.${mac}`, id, 1_000_000), 'invalid');
    for (const bad of ['', 'x', `${t}.x`, `${body}.`, `.${mac}`, 'a'.repeat(600)]) {
      assert.equal(checkSessionToken(key, bad, id, 1_000_000), 'invalid', bad);
    }
  });

  it('are opaque text a header can carry', () => {
    assert.match(issueSessionToken(key, id, 21_600), /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  });

  it('last as long as asked, from 1 to 21600 seconds', () => {
    assert.equal(requestedTtl('1'), 1);
    assert.equal(requestedTtl(' 21600 '), 21_600);
    for (const bad of [undefined, '', '0', '21601', '-5', '1.5', '60s', '1e3']) {
      assert.equal(requestedTtl(bad), undefined, String(bad));
    }
  });
});
