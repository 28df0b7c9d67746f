// Key pairs in the Compute API across its microversions, on SQLite and PostgreSQL: 2.10's
// `user_id` (the caller's own is accepted, another's refused: 403 for a member, 400 for an
// admin, as key pairs here belong to projects), 2.35's paging (`limit`, `marker`,
// `keypairs_links`, a bad marker 400), and 2.92, from which the public key must be given.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IdentityService } from '../src/identity/index.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { disconnected } from './support/expect.js';
import { startTestCloud, type TestCloud } from './support/ec2.js';
import { login, PASSWORD } from './support/openstack.js';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(
    `Compute API key pairs per microversion on ${backend.name}`,
    needs(...backend.needs),
    () => {
      let t: TestCloud;
      let database: { url: string; remove(): Promise<void> };
      let url: string;
      let admin: string;
      let alice: string;
      let aliceId: string;
      let publicKey: string;

      const call = async (
        method: string,
        path: string,
        version: string,
        token: string,
        body?: unknown,
      ): Promise<Answer> => {
        const r = await fetch(`${url}${path}`, {
          method,
          headers: {
            'x-auth-token': token,
            'openstack-api-version': `compute ${version}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await r.text();
        return { status: r.status, body: text ? JSON.parse(text) : {} };
      };
      const names = (a: Answer) =>
        (a.body.keypairs as { keypair: { name: string } }[]).map((k) => k.keypair.name);

      before(async () => {
        database = await backend.create();
        t = await startTestCloud({ database: database.url });
        url = (t.cloud.urls?.compute as string).replace(/\/v2\.1$/, '');
        const identity = new IdentityService(t.cloud.database.db);
        await identity.setPassword('admin', PASSWORD);
        aliceId = (await identity.createUser({ name: 'alice', password: PASSWORD })).id;
        await identity.createProject({ name: 'alice-project' });
        await identity.grantRole('alice', 'alice-project', 'member');
        const identityUrl = t.cloud.urls?.identity as string;
        admin = await login(identityUrl, 'admin', 'admin');
        alice = await login(identityUrl, 'alice', 'alice-project');
      });
      after(async () => {
        await t.stop();
        if (backend.name === 'postgres') await disconnected(database.url);
        await database.remove();
      });

      it('generates a key pair before 2.92 and wants the public key from 2.92', async () => {
        const made = await call('POST', '/v2.1/os-keypairs', '2.91', alice, {
          keypair: { name: 'generated' },
        });
        assert.equal(made.status, 201, JSON.stringify(made.body));
        const k = made.body.keypair as { private_key: string; public_key: string };
        assert.match(k.private_key, /PRIVATE KEY/);
        publicKey = k.public_key;
        const refused = await call('POST', '/v2.1/os-keypairs', '2.92', alice, {
          keypair: { name: 'no-key' },
        });
        assert.equal(refused.status, 400);
        assert.match(
          (refused.body.badRequest as { message: string }).message,
          /'public_key' is a required property/,
        );
        const imported = await call('POST', '/v2.1/os-keypairs', '2.92', alice, {
          keypair: { name: 'imported@2.92', public_key: publicKey, type: 'ssh' },
        });
        assert.equal(imported.status, 201, JSON.stringify(imported.body));
        assert.equal((imported.body.keypair as { private_key?: string }).private_key, undefined);
        const listed = await call('GET', '/v2.1/os-keypairs', '2.92', alice);
        assert.deepEqual(names(listed), ['generated', 'imported@2.92']);
      });

      it('pages the list from 2.35 with limit, marker and a next link; all of it before', async () => {
        for (const n of ['p1', 'p2', 'p3']) {
          const r = await call('POST', '/v2.1/os-keypairs', '2.35', alice, {
            keypair: { name: n, public_key: publicKey },
          });
          assert.equal(r.status, 201, JSON.stringify(r.body));
        }
        const all = names(await call('GET', '/v2.1/os-keypairs', '2.35', alice));
        assert.equal(all.length, 5);
        const first = await call('GET', '/v2.1/os-keypairs?limit=2', '2.35', alice);
        assert.deepEqual(names(first), all.slice(0, 2));
        const next = (first.body.keypairs_links as { rel: string; href: string }[])[0];
        assert.equal(next?.rel, 'next');
        const nextUrl = new URL(next.href);
        assert.equal(nextUrl.searchParams.get('marker'), all[1]);
        const second = await call('GET', `/v2.1/os-keypairs${nextUrl.search}`, '2.35', alice);
        assert.deepEqual(names(second), all.slice(2, 4));
        const last = await call('GET', `/v2.1/os-keypairs?limit=2&marker=${all[3]}`, '2.35', alice);
        assert.deepEqual(names(last), all.slice(4));
        assert.equal(last.body.keypairs_links, undefined);
        // Before 2.35 the parameters mean nothing: the whole list.
        assert.equal(
          names(await call('GET', '/v2.1/os-keypairs?limit=2', '2.34', alice)).length,
          5,
        );
        const badMarker = await call('GET', '/v2.1/os-keypairs?marker=nope', '2.35', alice);
        assert.equal(badMarker.status, 400);
        const badLimit = await call('GET', '/v2.1/os-keypairs?limit=-1', '2.35', alice);
        assert.equal(badLimit.status, 400);
      });

      it("takes the caller's own user_id from 2.10 and refuses another's", async () => {
        const own = await call('GET', `/v2.1/os-keypairs/p1?user_id=${aliceId}`, '2.10', alice);
        assert.equal(own.status, 200, JSON.stringify(own.body));
        assert.equal((own.body.keypair as { user_id: string }).user_id, aliceId);
        const other = await call('GET', '/v2.1/os-keypairs?user_id=someone-else', '2.10', alice);
        assert.equal(other.status, 403, JSON.stringify(other.body));
        const forOther = await call('POST', '/v2.1/os-keypairs', '2.10', admin, {
          keypair: { name: 'for-alice', public_key: publicKey, user_id: aliceId },
        });
        assert.equal(forOther.status, 400, JSON.stringify(forOther.body));
        // Before 2.10 the body has no such field.
        const early = await call('POST', '/v2.1/os-keypairs', '2.9', alice, {
          keypair: { name: 'x', public_key: publicKey, user_id: aliceId },
        });
        assert.equal(early.status, 400);
        // Nothing was made by the refusals.
        const listed = names(await call('GET', '/v2.1/os-keypairs', '2.10', alice));
        assert.ok(!listed.includes('x') && !listed.includes('for-alice'), listed.join(','));
        const deleted = await call(
          'DELETE',
          `/v2.1/os-keypairs/p3?user_id=${aliceId}`,
          '2.10',
          alice,
        );
        assert.equal(deleted.status, 204);
      });
    },
  );
}
