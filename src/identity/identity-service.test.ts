// Identity behaviour, run on every database back end.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../db/index.js';
import { openTestDatabase, TEST_BACKENDS } from '../../test/support/databases.js';
import { needs } from '../../test/support/capabilities.js';
import { StratusError } from '../errors.js';
import { ensureAdmin } from './bootstrap.js';
import { IdentityService } from './identity-service.js';

const isKind = (kind: string) => (err: unknown) => err instanceof StratusError && err.kind === kind;

for (const backend of TEST_BACKENDS) {
  describe(`identity on ${backend.name}`, needs(...backend.needs), () => {
    let database: Database;
    let identity: IdentityService;
    before(async () => {
      database = await openTestDatabase(backend);
      identity = new IdentityService(database.db);
    });
    after(async () => {
      await database?.close();
    });

    it('creates a user in a project with credentials that find the user, project and roles', async () => {
      const p = await identity.createProject({ name: 'demo' });
      const u = await identity.createUser({ name: 'alice', password: 'correct horse' });
      await identity.grantRole('alice', 'demo', 'member');
      await identity.grantRole(u.id, p.id, 'member'); // granting twice changes nothing
      const c = await identity.createEc2Credential('alice', 'demo');
      assert.match(c.accessKey, /^[A-Z0-9]{20}$/);
      assert.ok(c.secretKey.length >= 40);
      const principal = await identity.findEc2Principal(c.accessKey);
      assert.equal(principal?.user.name, 'alice');
      assert.equal(principal?.project.name, 'demo');
      assert.deepEqual(principal?.roles, ['member', 'reader']); // member implies reader
      assert.equal(await identity.findEc2Principal('NOSUCHKEY'), undefined);
    });

    it('checks passwords without saying which part was wrong', async () => {
      assert.equal((await identity.checkPassword('alice', 'correct horse'))?.name, 'alice');
      assert.equal(await identity.checkPassword('alice', 'wrong horse'), undefined);
      assert.equal(await identity.checkPassword('nobody', 'correct horse'), undefined);
    });

    it('refuses bad names, short passwords, unknown roles and duplicates', async () => {
      await assert.rejects(identity.createUser({ name: 'bad name' }), isKind('invalid'));
      await assert.rejects(
        identity.createUser({ name: 'bob', password: 'short' }),
        isKind('invalid'),
      );
      await assert.rejects(
        identity.grantRole('alice', 'demo', 'owner'),
        /The role 'owner' does not exist/,
      );
      await assert.rejects(identity.createUser({ name: 'alice' }), isKind('already_exists'));
      await assert.rejects(identity.grantRole('nobody', 'demo', 'member'), isKind('not_found'));
      await assert.rejects(
        identity.createProject({ name: 'ctl', description: 'team\u0000' }),
        /control characters/,
      );
    });

    it('refuses credentials for a user without a role in the project', async () => {
      await identity.createProject({ name: 'other' });
      await assert.rejects(identity.createEc2Credential('alice', 'other'), isKind('conflict'));
    });

    it('stops honouring credentials once the role is revoked', async () => {
      await identity.createProject({ name: 'temp' });
      await identity.grantRole('alice', 'temp', 'member');
      const c = await identity.createEc2Credential('alice', 'temp');
      await identity.revokeRole('alice', 'temp', 'member');
      assert.equal(await identity.findEc2Principal(c.accessKey), undefined);
      await assert.rejects(identity.revokeRole('alice', 'temp', 'member'), isKind('not_found'));
    });

    it('bootstraps the admin once and finds the same admin on the next start', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-boot-'));
      const first = await ensureAdmin(identity, dir);
      const second = await ensureAdmin(identity, dir);
      assert.equal(first.created, true);
      assert.equal(second.created, false);
      assert.equal(second.credential.accessKey, first.credential.accessKey);
      assert.equal(second.password, first.password);
      assert.deepEqual(second.user.id, first.user.id);
      assert.ok(await identity.checkPassword('admin', first.password as string));
      assert.deepEqual(await identity.rolesOf(first.user.id, first.project.id), [
        'admin',
        'member',
        'reader',
      ]);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  });
}
