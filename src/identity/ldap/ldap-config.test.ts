// The LDAP domain's options as config loads them: the TOML section, the group-to-role
// mapping, and the messages for values that cannot work.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../config/index.js';
import { StratusError } from '../../errors.js';
import { parseGroupRoles } from './ldap-config.js';

const load = (flags: Record<string, string>) => loadConfig({ env: {}, flags });

function refused(flags: Record<string, string>, message: RegExp): void {
  assert.throws(
    () => load(flags),
    (err: unknown) =>
      err instanceof StratusError && err.kind === 'invalid' && message.test(err.message),
  );
}

describe('LDAP domain config', () => {
  it('is off without a URL, and off is the default', () => {
    assert.equal(load({}).identity.ldap, undefined);
  });

  it('reads [identity.ldap] from the config file, with defaults for the mapping', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-ldap-config-'));
    const file = path.join(dir, 'stratus.toml');
    fs.writeFileSync(
      file,
      [
        '[identity.ldap]',
        'url = "ldaps://ldap.example.org:1636"',
        'userTree = "ou=People,dc=example,dc=org"',
        'caFile = "ca.pem"',
        'groupRoles = "admins=admin:admin, devs = demo:member"',
      ].join('\n'),
    );
    try {
      const c = loadConfig({ env: {}, file }).identity.ldap;
      assert.ok(c);
      assert.equal(c.url, 'ldaps://ldap.example.org:1636');
      assert.equal(c.userTree, 'ou=People,dc=example,dc=org');
      assert.equal(c.caFile, path.resolve('ca.pem'));
      assert.equal(c.userIdAttribute, 'uid');
      assert.equal(c.groupMemberAttribute, 'member');
      assert.equal(c.domain, 'ldap');
      assert.equal(c.timeoutMs, 5000);
      assert.deepEqual(c.groupRoles, [
        { group: 'admins', project: 'admin', role: 'admin' },
        { group: 'devs', project: 'demo', role: 'member' },
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses settings that cannot work, naming the option', () => {
    const base = { 'ldap-url': 'ldap://127.0.0.1:389', 'ldap-user-tree': 'dc=example,dc=org' };
    refused({ ...base, 'ldap-url': 'http://x' }, /identity\.ldap\.url: 'http:\/\/x' is not/);
    refused({ 'ldap-url': 'ldap://x' }, /identity\.ldap\.userTree/);
    refused(
      { ...base, 'ldap-url': 'ldaps://x', 'ldap-start-tls': 'true' },
      /StartTLS is for ldap:\/\//,
    );
    refused({ ...base, 'ldap-domain': 'default' }, /identity\.ldap\.domain/);
    refused({ ...base, 'ldap-group-roles': 'ops=admin' }, /'ops=admin' is not GROUP=PROJECT:ROLE/);
  });

  it('parses group roles, and an empty mapping', () => {
    assert.deepEqual(parseGroupRoles('', 'k'), []);
    assert.deepEqual(parseGroupRoles('a=b:member,', 'k'), [
      { group: 'a', project: 'b', role: 'member' },
    ]);
  });
});

describe('security compliance config', () => {
  it('is off by default and refuses a regex that does not compile', () => {
    const c = load({}).identity.securityCompliance;
    assert.equal(c.lockoutFailureAttempts, 0);
    assert.equal(c.passwordRegex, undefined);
    refused({ 'password-regex': '(' }, /passwordRegex/);
  });
});
