// Issue 13: a disabled user's EC2 key, or a deleted credential, kept working for up to 5 s,
// because each API process cached who an access key speaks for. Two API processes' worth of
// EC2 endpoints (two clouds, the second running only the api service) share one database; the
// changes are made as an operator makes them, with `stratus manage` (no bus) and with SQL, and
// both endpoints must refuse the key on the very next request, then accept it again at once
// when the user is enabled again.
import { DescribeRegionsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { needs } from '../support/capabilities.js';
import { stratus } from '../support/cli.js';
import { postgresBackend, sqliteBackend } from '../support/databases.js';
import { disconnected } from '../support/expect.js';
import { ec2Client, startTestCloud, type Credentials, type TestCloud } from '../support/ec2.js';

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(
    `issue 13: identity changes reach every API process at once (${backend.name})`,
    needs(...backend.needs),
    () => {
      let database: { url: string; remove(): Promise<void> };
      let first: TestCloud;
      let second: TestCloud;
      let credentials: Credentials;
      let userName: string;
      let clients: EC2Client[];

      const manage = async (...args: string[]) => {
        const r = await stratus(['manage', '--database', database.url, ...args]);
        assert.equal(r.code, 0, r.stderr);
      };
      /** Both endpoints' answers to one request each, in order: 'ok' or the error code. */
      const answers = async (): Promise<string[]> =>
        Promise.all(
          clients.map(async (c) => {
            try {
              await c.send(new DescribeRegionsCommand({}));
              return 'ok';
            } catch (err) {
              return (err as Error).name;
            }
          }),
        );

      before(async () => {
        database = await backend.create();
        first = await startTestCloud({ database: database.url });
        second = await startTestCloud({ database: database.url }, { services: ['api'] });
        userName = 'revocable';
        const r = await stratus([
          'manage',
          '--database',
          database.url,
          '--format',
          'json',
          'user',
          'create',
          userName,
          '--project',
          'revocable-project',
        ]);
        assert.equal(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout) as { access_key: string; secret_key: string };
        credentials = { accessKeyId: out.access_key, secretAccessKey: out.secret_key };
        clients = [first, second].map((t) => ec2Client(t.endpoint, t.region, credentials));
      });
      after(async () => {
        for (const c of clients ?? []) c.destroy();
        await second?.stop();
        await first?.stop();
        if (backend.name === 'postgres') await disconnected(database.url);
        await database?.remove();
      });

      it('a user disabled with stratus manage is refused by both endpoints on the next request', async () => {
        // Each endpoint has looked the key up, and would trust its cache for 5 s.
        assert.deepEqual(await answers(), ['ok', 'ok']);
        assert.deepEqual(await answers(), ['ok', 'ok']);
        await manage('user', 'disable', userName);
        assert.deepEqual(await answers(), ['AuthFailure', 'AuthFailure']);
        await manage('user', 'enable', userName);
        assert.deepEqual(await answers(), ['ok', 'ok']);
      });

      it('a user disabled or a role revoked with SQL is refused at once too', async () => {
        const db = first.cloud.database.db;
        assert.deepEqual(await answers(), ['ok', 'ok']);
        await sql`update users set enabled = 0 where name = ${userName}`.execute(db);
        assert.deepEqual(await answers(), ['AuthFailure', 'AuthFailure']);
        await sql`update users set enabled = 1 where name = ${userName}`.execute(db);
        assert.deepEqual(await answers(), ['ok', 'ok']);
        await manage(
          'role',
          'remove',
          '--user',
          userName,
          '--project',
          'revocable-project',
          '--role',
          'member',
        );
        assert.deepEqual(await answers(), ['AuthFailure', 'AuthFailure']);
        await manage(
          'role',
          'add',
          '--user',
          userName,
          '--project',
          'revocable-project',
          '--role',
          'member',
        );
        assert.deepEqual(await answers(), ['ok', 'ok']);
      });

      it('a deleted credential is refused by both endpoints on the next request', async () => {
        assert.deepEqual(await answers(), ['ok', 'ok']);
        await manage('credential', 'delete', credentials.accessKeyId);
        assert.deepEqual(await answers(), ['AuthFailure', 'AuthFailure']);
      });

      it('the lock launches take on a project row does not empty the caches', async () => {
        const db = first.cloud.database.db;
        const before = await first.cloud.database.db
          .selectFrom('generations')
          .select('value')
          .where('name', '=', 'identity')
          .executeTakeFirstOrThrow();
        await sql`update projects set id = id`.execute(db);
        await sql`update projects set enabled = enabled`.execute(db);
        const afterLock = await db
          .selectFrom('generations')
          .select('value')
          .where('name', '=', 'identity')
          .executeTakeFirstOrThrow();
        assert.equal(Number(afterLock.value), Number(before.value));
      });
    },
  );
}
