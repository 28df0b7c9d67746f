// The `reader` role only reads (issue 14), on SQLite and PostgreSQL: in EC2 every registered
// action that changes something answers UnauthorizedOperation (403) to a reader and every
// Describe/Get action is let through; in Compute and Image every mutating call answers 403 in
// the API's own fault format while GETs work. A member changes things, and so does a role
// that implies member (admin implies member implies reader). Through the AWS CLI,
// openstackclient and raw requests.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isReadOnlyAction } from '../src/api/ec2/action.js';
import { EC2_PARAMETERS } from '../src/api/ec2/parameters/index.js';
import { IdentityService } from '../src/identity/index.js';
import { awsEc2 } from './support/awscli.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { disconnected } from './support/expect.js';
import { rawEc2, startTestCloud, type Credentials, type TestCloud } from './support/ec2.js';
import { adminEnv, login, openstack, PASSWORD } from './support/openstack.js';
import { assertSchema } from './support/api-schema.js';
import { COMPUTE_FAULT, IMAGE_ERROR } from './support/schemas/reader-refusals.js';

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(
    `the reader role on ${backend.name}`,
    needs('awscli', 'openstackclient', ...backend.needs),
    () => {
      let t: TestCloud;
      let database: { url: string; remove(): Promise<void> };
      let home: string;
      let identityUrl: string;
      let computeUrl: string;
      let imageUrl: string;
      const keys: Record<'reader' | 'member' | 'operator', Credentials> = {} as never;
      let project: { id: string; name: string };

      before(async () => {
        database = await backend.create();
        t = await startTestCloud({ database: database.url });
        home = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-reader-'));
        identityUrl = t.cloud.urls?.identity as string;
        computeUrl = t.cloud.urls?.compute as string;
        imageUrl = t.cloud.urls?.image as string;
        const identity = new IdentityService(t.cloud.database.db);
        await identity.setPassword('admin', PASSWORD);
        project = await identity.createProject({ name: 'audited' });
        // `operator` is a role of the operator's own that implies member.
        await identity.directory.createRole({ name: 'operator' });
        await identity.directory.addImplication('operator', 'member');
        for (const role of ['reader', 'member', 'operator'] as const) {
          const user = await identity.createUser({ name: `${role}-user`, password: PASSWORD });
          await identity.grantRole(user.id, project.id, role);
          const c = await identity.createEc2Credential(user.id, project.id);
          keys[role] = { accessKeyId: c.accessKey, secretAccessKey: c.secretKey };
        }
      });
      after(async () => {
        await t?.stop();
        if (backend.name === 'postgres') await disconnected(database.url);
        await database?.remove();
        if (home) fs.rmSync(home, { recursive: true, force: true });
      });

      const aws = (who: keyof typeof keys) =>
        awsEc2({ endpoint: t.endpoint, region: t.region, credentials: keys[who], home });
      const env = (user: string) => ({
        ...adminEnv(t, home),
        OS_USERNAME: user,
        OS_PROJECT_NAME: 'audited',
      });

      it('refuses a reader every registered EC2 action that changes something, and lets every Describe and Get through', async () => {
        const actions = Object.keys(EC2_PARAMETERS).sort();
        const mutating = actions.filter((a) => !isReadOnlyAction(a));
        const reading = actions.filter(isReadOnlyAction);
        // The split covers the whole action list, and both sides are real.
        assert.ok(mutating.includes('RunInstances') && mutating.includes('CreateTags'));
        assert.ok(reading.includes('DescribeInstances') && reading.includes('GetConsoleOutput'));
        assert.ok(reading.every((a) => /^(Describe|Get)/.test(a)));
        for (const action of mutating) {
          const r = await rawEc2(t.endpoint, t.region, keys.reader, {
            Action: action,
            Version: '2016-11-15',
          });
          assert.equal(r.status, 403, `${action}: ${r.body}`);
          assert.equal(r.code, 'UnauthorizedOperation', `${action}: ${r.body}`);
        }
        for (const action of reading) {
          const r = await rawEc2(t.endpoint, t.region, keys.reader, {
            Action: action,
            Version: '2016-11-15',
          });
          // Without its parameters a Describe may be refused as bad input, never as unauthorised.
          assert.notEqual(r.code, 'UnauthorizedOperation', `${action}: ${r.body}`);
          assert.ok(r.status < 500 && r.status !== 403, `${action}: ${r.status} ${r.body}`);
        }
        // Looking made nothing: a reader's DescribeVpcs, DescribeSubnets and
        // DescribeAccountAttributes do not make the project's default VPC; a member's first look does.
        const networksOfProject = () =>
          t.cloud.database.db
            .selectFrom('projectNetworks')
            .select('id')
            .where('projectId', '=', project.id)
            .execute();
        assert.deepEqual(await networksOfProject(), []);
        const readerAttr = await rawEc2(t.endpoint, t.region, keys.reader, {
          Action: 'DescribeAccountAttributes',
          Version: '2016-11-15',
          'AttributeName.1': 'default-vpc',
        });
        assert.match(readerAttr.body, /<attributeValue>none<\/attributeValue>/);
        const memberVpcs = await rawEc2(t.endpoint, t.region, keys.member, {
          Action: 'DescribeVpcs',
          Version: '2016-11-15',
        });
        assert.match(memberVpcs.body, /<isDefault>true<\/isDefault>/);
        assert.equal((await networksOfProject()).length, 1);
        // DryRun is answered as AWS does for a caller without the permission.
        const dry = await rawEc2(t.endpoint, t.region, keys.reader, {
          Action: 'CreateKeyPair',
          Version: '2016-11-15',
          KeyName: 'dry',
          DryRun: 'true',
        });
        assert.equal(dry.code, 'UnauthorizedOperation');
        const memberDry = await rawEc2(t.endpoint, t.region, keys.member, {
          Action: 'CreateKeyPair',
          Version: '2016-11-15',
          KeyName: 'dry',
          DryRun: 'true',
        });
        assert.equal(memberDry.code, 'DryRunOperation');
      });

      it('lets a member and an implied member change things through the AWS CLI, and a reader only look', async () => {
        const made = await aws('member').json('create-key-pair', '--key-name', 'members-key');
        assert.equal(made.KeyName, 'members-key');
        const byOperator = await aws('operator').json('create-key-pair', '--key-name', 'ops-key');
        assert.equal(byOperator.KeyName, 'ops-key');

        const seen = (await aws('reader').json('describe-key-pairs')) as {
          KeyPairs: { KeyName: string }[];
        };
        assert.deepEqual(seen.KeyPairs.map((k) => k.KeyName).sort(), ['members-key', 'ops-key']);
        const refused = await aws('reader').run('delete-key-pair', '--key-name', 'members-key');
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /UnauthorizedOperation/);
        const group = await aws('reader').run(
          'create-security-group',
          '--group-name',
          'readers',
          '--description',
          'not allowed',
        );
        assert.notEqual(group.code, 0);
        assert.match(group.stderr, /UnauthorizedOperation/);
        // Nothing was changed by the refusals.
        const after = (await aws('member').json('describe-key-pairs')) as {
          KeyPairs: { KeyName: string }[];
        };
        assert.deepEqual(after.KeyPairs.map((k) => k.KeyName).sort(), ['members-key', 'ops-key']);
        const groups = (await aws('member').json('describe-security-groups')) as {
          SecurityGroups: { GroupName: string }[];
        };
        assert.ok(!groups.SecurityGroups.some((g) => g.GroupName === 'readers'));
        await aws('member').json('delete-key-pair', '--key-name', 'members-key');
        await aws('member').json('delete-key-pair', '--key-name', 'ops-key');
      });

      it('answers a reader 403 with the API fault for every Compute and Image change, and serves its GETs', async () => {
        const token = await login(identityUrl, 'reader-user', 'audited');
        const call = async (
          base: string,
          method: string,
          p: string,
          body?: unknown,
          type = 'application/json',
        ) => {
          const r = await fetch(`${base}${p}`, {
            method,
            headers: {
              'x-auth-token': token,
              ...(body === undefined ? {} : { 'content-type': type }),
            },
            body:
              body === undefined
                ? undefined
                : typeof body === 'string'
                  ? body
                  : JSON.stringify(body),
          });
          const text = await r.text();
          return { status: r.status, body: text ? (JSON.parse(text) as unknown) : {} };
        };
        for (const p of ['/servers', '/servers/detail', '/flavors', '/os-keypairs', '/limits']) {
          assert.equal((await call(computeUrl, 'GET', p)).status, 200, p);
        }
        const changes: [string, string, unknown][] = [
          ['POST', '/servers', { server: { name: 'x', imageRef: 'x', flavorRef: '1' } }],
          ['POST', '/os-keypairs', { keypair: { name: 'reader-key' } }],
          ['DELETE', '/os-keypairs/members-key', undefined],
          ['PUT', '/servers/00000000-0000-0000-0000-000000000000', { server: { name: 'y' } }],
          ['POST', '/servers/00000000-0000-0000-0000-000000000000/action', { 'os-stop': null }],
          ['POST', '/os-server-groups', { server_group: { name: 'g', policies: ['affinity'] } }],
        ];
        for (const [method, p, body] of changes) {
          const r = await call(computeUrl, method, p, body);
          assert.equal(r.status, 403, `${method} ${p}: ${JSON.stringify(r.body)}`);
          assertSchema(COMPUTE_FAULT, r.body, `${method} ${p} refused`);
        }

        assert.equal((await call(imageUrl, 'GET', '/v2/images')).status, 200);
        const image = '/v2/images/00000000-0000-0000-0000-000000000000';
        for (const [method, p, body, type] of [
          ['POST', '/v2/images', { name: 'reader-image' }, undefined],
          ['POST', `${image}/members`, { member: 'another-project' }, undefined],
          ['PUT', `${image}/file`, 'bytes', 'application/octet-stream'],
          ['DELETE', image, undefined, undefined],
        ] as [string, string, unknown, string | undefined][]) {
          const r = await call(imageUrl, method, p, body, type);
          assert.equal(r.status, 403, `${method} ${p}: ${JSON.stringify(r.body)}`);
          assertSchema(IMAGE_ERROR, r.body, `${method} ${p} refused`);
        }
      });

      it('gives openstackclient the same answers: a member creates, a reader lists and is refused', async () => {
        const created = await openstack(env('member-user'), [
          'keypair',
          'create',
          'os-members-key',
        ]);
        assert.equal(created.code, 0, created.err);
        const listed = await openstack(env('reader-user'), ['keypair', 'list', '-f', 'json']);
        assert.equal(listed.code, 0, listed.err);
        assert.deepEqual(
          (JSON.parse(listed.out) as { Name: string }[]).map((k) => k.Name),
          ['os-members-key'],
        );
        const servers = await openstack(env('reader-user'), ['server', 'list', '-f', 'json']);
        assert.equal(servers.code, 0, servers.err);
        const refused = await openstack(env('reader-user'), [
          'keypair',
          'delete',
          'os-members-key',
        ]);
        assert.notEqual(refused.code, 0);
        assert.match(refused.err, /403/);
        const image = await openstack(env('reader-user'), ['image', 'create', 'reader-image']);
        assert.notEqual(image.code, 0);
        assert.match(image.err, /403/);
        const still = await openstack(env('member-user'), ['keypair', 'list', '-f', 'json']);
        assert.deepEqual(
          (JSON.parse(still.out) as { Name: string }[]).map((k) => k.Name),
          ['os-members-key'],
        );
        const deleted = await openstack(env('member-user'), [
          'keypair',
          'delete',
          'os-members-key',
        ]);
        assert.equal(deleted.code, 0, deleted.err);
      });
    },
  );
}
