// Image sharing, copying and deprecation through the real AWS SDK (and the AWS CLI for the
// main path), on SQLite and PostgreSQL, over image files really imported into the store:
// launch permissions between two projects (see, launch, unshare), public only by an admin,
// descriptions, the legacy OperationType form, DescribeImageAttribute's EC2 error codes,
// CopyImage (pending, then available, own file, ClientToken), deprecation times; then
// GetConsoleScreenshot on the fake driver.
import {
  CopyImageCommand,
  DeregisterImageCommand,
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DisableImageDeprecationCommand,
  EnableImageDeprecationCommand,
  GetConsoleScreenshotCommand,
  ModifyImageAttributeCommand,
  ResetImageAttributeCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  type _InstanceType,
  type DescribeImagesCommandInput,
  type EC2Client,
  type Image,
  type Instance,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ImageRow } from '../src/db/index.js';
import { ImageStore } from '../src/image/index.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import {
  rawEc2,
  startTestCloud,
  waitUntil,
  type Credentials,
  type TestCloud,
} from './support/ec2.js';
import { disconnected } from './support/expect.js';
import { awsEc2 } from './support/awscli.js';

interface Project {
  client: EC2Client;
  credentials: Credentials;
  projectId: string;
}

async function failure(send: Promise<unknown>): Promise<{ code: string; status: number }> {
  try {
    await send;
  } catch (err) {
    const e = err as { name: string; $metadata?: { httpStatusCode?: number } };
    return { code: e.name, status: e.$metadata?.httpStatusCode ?? 0 };
  }
  assert.fail('the request was expected to fail');
}

const amiId = (r: ImageRow) => `ami-${r.id.replace(/-/g, '').slice(0, 17)}`;

async function images(client: EC2Client, input: DescribeImagesCommandInput = {}) {
  return (await client.send(new DescribeImagesCommand(input))).Images ?? [];
}
const ids = (list: Image[]) => list.map((i) => i.ImageId).sort();

async function launch(client: EC2Client, imageId: string): Promise<string> {
  const r = await client.send(
    new RunInstancesCommand({
      ImageId: imageId,
      InstanceType: 'm1.tiny' as _InstanceType,
      MinCount: 1,
      MaxCount: 1,
    }),
  );
  return r.Instances?.[0]?.InstanceId as string;
}

async function waitState(client: EC2Client, id: string, state: string): Promise<Instance> {
  return waitUntil(
    async () => {
      const r = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
      const i = r.Reservations?.[0]?.Instances?.[0];
      return i?.State?.Name === state ? i : undefined;
    },
    10_000,
    `${id} to be ${state}`,
  );
}

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(
    `EC2 image sharing and copying on ${backend.name}`,
    // qemu-img checks every file the image store imports.
    needs('qemu-img', ...backend.needs),
    () => {
      let t: TestCloud;
      let database: { url: string; remove(): Promise<void> };
      let store: ImageStore;
      let files: string;
      let p1: Project;
      let p2: Project;
      let disk: string;

      before(async () => {
        database = await backend.create();
        t = await startTestCloud({ database: database.url });
        store = new ImageStore({ db: t.cloud.database.db, stateDir: t.cloud.config.stateDir });
        files = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-ec2-sharing-'));
        disk = path.join(files, 'disk.qcow2');
        execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '32M']);
        p1 = await t.newProject();
        p2 = await t.newProject();
      });
      after(async () => {
        await t.stop();
        if (backend.name === 'postgres') await disconnected(database.url);
        await database.remove();
        fs.rmSync(files, { recursive: true, force: true });
      });

      const p1Image = (name: string) =>
        store.import({ name, file: disk, ownerProjectId: p1.projectId, isPublic: false });
      const modify = (who: Project | 'admin', input: Record<string, unknown>) =>
        (who === 'admin' ? t.admin : who.client).send(
          new ModifyImageAttributeCommand(input as never),
        );
      const raw = (who: Project, params: Record<string, string>) =>
        rawEc2(t.endpoint, t.region, who.credentials, { Version: '2016-11-15', ...params });

      it('shares an image with another project, which sees and launches it until it is unshared', async () => {
        const row = await p1Image('shared-disk');
        const ami = amiId(row);
        assert.equal(
          (await failure(p2.client.send(new DescribeImagesCommand({ ImageIds: [ami] })))).code,
          'InvalidAMIID.NotFound',
        );

        await modify(p1, {
          ImageId: ami,
          LaunchPermission: { Add: [{ UserId: p2.projectId }] },
        });
        const seen = await images(p2.client, { ImageIds: [ami] });
        assert.equal(seen[0]?.OwnerId, p1.projectId);
        assert.equal(seen[0]?.Public, false);
        assert.ok(ids(await images(p2.client, { ExecutableUsers: ['self'] })).includes(ami));
        assert.deepEqual(ids(await images(p2.client, { Owners: [p1.projectId] })), [ami]);
        assert.ok(!ids(await images(p2.client, { Owners: ['self'] })).includes(ami));
        // The owner learns who may launch it; the member only of itself.
        const perms = await p1.client.send(
          new DescribeImageAttributeCommand({ ImageId: ami, Attribute: 'launchPermission' }),
        );
        assert.deepEqual(perms.LaunchPermissions, [{ UserId: p2.projectId }]);
        assert.deepEqual(
          ids(await images(p1.client, { ExecutableUsers: [p2.projectId], Owners: ['self'] })),
          [ami],
        );

        const instance = await launch(p2.client, ami);
        const running = await waitState(p2.client, instance, 'running');
        assert.equal(running.ImageId, ami);

        // The member may launch it, not change it.
        const denied = await failure(
          modify(p2, { ImageId: ami, Description: { Value: 'mine now' } }),
        );
        assert.deepEqual(denied, { code: 'UnauthorizedOperation', status: 403 });

        await modify(p1, {
          ImageId: ami,
          LaunchPermission: { Remove: [{ UserId: p2.projectId }] },
        });
        assert.equal(
          (await failure(p2.client.send(new DescribeImagesCommand({ ImageIds: [ami] })))).code,
          'InvalidAMIID.NotFound',
        );
        assert.equal((await failure(launch(p2.client, ami))).code, 'InvalidAMIID.NotFound');
      });

      it('takes the legacy OperationType/UserId form and refuses what it does not keep', async () => {
        const row = await p1Image('legacy-form');
        const ami = amiId(row);
        const added = await raw(p1, {
          Action: 'ModifyImageAttribute',
          ImageId: ami,
          Attribute: 'launchPermission',
          OperationType: 'add',
          'UserId.1': p2.projectId,
        });
        assert.equal(added.status, 200, added.body);
        assert.deepEqual(ids(await images(p2.client, { ImageIds: [ami] })), [ami]);

        const refusals: [Record<string, string>, string][] = [
          [{ 'ProductCode.1': 'abc' }, 'UnsupportedOperation'],
          [{ 'LaunchPermission.Add.1.OrganizationArn': 'arn:x' }, 'UnsupportedOperation'],
          [{ Attribute: 'productCodes', 'ProductCode.1': 'abc' }, 'UnsupportedOperation'],
          [{ 'LaunchPermission.Add.1.UserId': '123456789012' }, 'InvalidParameterValue'],
          [{ 'LaunchPermission.Add.1.Group': 'everyone' }, 'InvalidParameterValue'],
          [{ Attribute: 'launchPermission', 'UserId.1': p2.projectId }, 'MissingParameter'],
          [{ Attribute: 'kernel', Value: 'aki-1' }, 'InvalidParameterValue'],
          [{}, 'MissingParameter'],
          [
            { 'Description.Value': 'x', 'LaunchPermission.Add.1.UserId': p2.projectId },
            'InvalidParameterCombination',
          ],
        ];
        for (const [params, code] of refusals) {
          const r = await raw(p1, { Action: 'ModifyImageAttribute', ImageId: ami, ...params });
          assert.equal(r.code, code, `${JSON.stringify(params)}: ${r.body}`);
          assert.equal(r.status, 400);
        }
        const unknownProject = await raw(p1, {
          Action: 'ModifyImageAttribute',
          ImageId: ami,
          'LaunchPermission.Add.1.UserId': 'f'.repeat(32),
        });
        assert.equal(unknownProject.code, 'InvalidParameterValue', unknownProject.body);
      });

      it('makes an image public only for an admin, and ResetImageAttribute makes it private', async () => {
        const row = await p1Image('to-be-public');
        const ami = amiId(row);
        await modify(p1, { ImageId: ami, LaunchPermission: { Add: [{ UserId: p2.projectId }] } });
        const refused = await failure(
          modify(p1, { ImageId: ami, LaunchPermission: { Add: [{ Group: 'all' }] } }),
        );
        assert.deepEqual(refused, { code: 'UnauthorizedOperation', status: 403 });
        assert.equal((await images(p1.client, { ImageIds: [ami] }))[0]?.Public, false);

        await modify('admin', { ImageId: ami, LaunchPermission: { Add: [{ Group: 'all' }] } });
        const other = await t.newProject();
        assert.equal((await images(other.client, { ImageIds: [ami] }))[0]?.Public, true);
        const perms = await p1.client.send(
          new DescribeImageAttributeCommand({ ImageId: ami, Attribute: 'launchPermission' }),
        );
        assert.deepEqual(perms.LaunchPermissions, [{ Group: 'all' }, { UserId: p2.projectId }]);

        await p1.client.send(
          new ResetImageAttributeCommand({ ImageId: ami, Attribute: 'launchPermission' }),
        );
        for (const who of [other, p2]) {
          assert.equal(
            (await failure(who.client.send(new DescribeImagesCommand({ ImageIds: [ami] })))).code,
            'InvalidAMIID.NotFound',
          );
        }
        const reset = await p1.client.send(
          new DescribeImageAttributeCommand({ ImageId: ami, Attribute: 'launchPermission' }),
        );
        assert.deepEqual(reset.LaunchPermissions, []);
      });

      it('changes the description, and answers DescribeImageAttribute errors as EC2 does', async () => {
        const row = await p1Image('described');
        const ami = amiId(row);
        await modify(p1, { ImageId: ami, Description: { Value: 'A new description' } });
        const d = await p1.client.send(
          new DescribeImageAttributeCommand({ ImageId: ami, Attribute: 'description' }),
        );
        assert.equal(d.Description?.Value, 'A new description');
        const legacy = await raw(p1, {
          Action: 'ModifyImageAttribute',
          ImageId: ami,
          Attribute: 'description',
          Value: 'Legacy form',
        });
        assert.equal(legacy.status, 200, legacy.body);
        assert.equal((await images(p1.client, { ImageIds: [ami] }))[0]?.Description, 'Legacy form');
        const tooLong = await raw(p1, {
          Action: 'ModifyImageAttribute',
          ImageId: ami,
          'Description.Value': 'x'.repeat(300),
        });
        assert.equal(tooLong.code, 'InvalidParameterValue');

        const attribute = (name: string) =>
          raw(p1, { Action: 'DescribeImageAttribute', ImageId: ami, Attribute: name });
        for (const name of ['sriovNetSupport', 'tpmSupport', 'uefiData', 'imdsSupport']) {
          const r = await attribute(name);
          assert.deepEqual([r.status, r.code], [400, 'InvalidRequest'], `${name}: ${r.body}`);
        }
        assert.equal((await attribute('noSuchThing')).code, 'InvalidParameterValue');
        assert.equal((await attribute('blockDeviceMapping')).code, 'AuthFailure');
        assert.equal((await attribute('productCodes')).status, 200);
      });

      it('copies an image into the caller’s project: pending, then available over its own file', async () => {
        const row = await p1Image('copy-source');
        const ami = amiId(row);
        await modify(p1, { ImageId: ami, LaunchPermission: { Add: [{ UserId: p2.projectId }] } });

        const copy = await p2.client.send(
          new CopyImageCommand({
            SourceImageId: ami,
            SourceRegion: t.region,
            Name: 'my-copy',
            Description: 'Copied',
            ClientToken: 'copy-token-1',
          }),
        );
        const copyId = copy.ImageId as string;
        assert.match(copyId, /^ami-/);
        assert.notEqual(copyId, ami);
        const available = await waitUntil(
          async () => {
            const [i] = await images(p2.client, { ImageIds: [copyId] });
            return i?.State === 'available' ? i : undefined;
          },
          10_000,
          'the copy to be available',
        );
        assert.equal(available.OwnerId, p2.projectId);
        assert.equal(available.Name, 'my-copy');
        assert.equal(available.Description, 'Copied');
        assert.equal(available.Public, false);

        // The same ClientToken answers the same copy.
        const again = await p2.client.send(
          new CopyImageCommand({
            SourceImageId: ami,
            SourceRegion: t.region,
            Name: 'my-copy',
            ClientToken: 'copy-token-1',
          }),
        );
        assert.equal(again.ImageId, copyId);

        // The copy has its own file: it outlives the source and its share.
        const copyRow = (await store.list({ ownerProjectId: p2.projectId })).find(
          (r) => r.name === 'my-copy',
        ) as ImageRow;
        assert.notEqual(copyRow.location, row.location);
        assert.equal(copyRow.checksum, row.checksum);
        await p1.client.send(new DeregisterImageCommand({ ImageId: ami }));
        assert.ok(fs.existsSync((await store.fileOf(copyRow.id)).path));
        const instance = await launch(p2.client, copyId);
        await waitState(p2.client, instance, 'running');

        const refusals: [Record<string, string>, string][] = [
          [{ SourceRegion: 'elsewhere-1' }, 'InvalidParameterValue'],
          [{ Encrypted: 'true' }, 'UnsupportedOperation'],
          [{ KmsKeyId: 'k' }, 'UnsupportedOperation'],
          [{ Name: 'x' }, 'InvalidAMIName.Malformed'],
          [{ Name: 'my-copy' }, 'InvalidAMIName.Duplicate'],
          [{ SourceImageId: ami }, 'InvalidAMIID.NotFound'],
        ];
        for (const [params, code] of refusals) {
          const r = await raw(p2, {
            Action: 'CopyImage',
            SourceImageId: copyId,
            SourceRegion: t.region,
            Name: 'another-copy',
            ...params,
          });
          assert.equal(r.code, code, `${JSON.stringify(params)}: ${r.body}`);
        }
        // Another project cannot copy what it cannot see.
        const other = await t.newProject();
        const hidden = await failure(
          other.client.send(
            new CopyImageCommand({ SourceImageId: copyId, SourceRegion: t.region, Name: 'nope' }),
          ),
        );
        assert.equal(hidden.code, 'InvalidAMIID.NotFound');
      });

      it('hides deprecated images from others unless asked, and shows the deprecation time', async () => {
        const row = await store.import({ name: 'old-public', file: disk });
        const ami = amiId(row);
        const past = new Date(Date.now() - 3600_000);
        await t.admin.send(new EnableImageDeprecationCommand({ ImageId: ami, DeprecateAt: past }));
        assert.ok(!ids(await images(p2.client)).includes(ami));
        const included = await images(p2.client, { IncludeDeprecated: true });
        const shown = included.find((i) => i.ImageId === ami);
        assert.equal(
          shown?.DeprecationTime,
          new Date(Math.floor(past.getTime() / 60_000) * 60_000).toISOString(),
        );
        // Named by id, it is found.
        assert.deepEqual(ids(await images(p2.client, { ImageIds: [ami] })), [ami]);
        const notOwner = await failure(
          p2.client.send(new EnableImageDeprecationCommand({ ImageId: ami, DeprecateAt: past })),
        );
        assert.equal(notOwner.code, 'UnauthorizedOperation');
        await t.admin.send(new DisableImageDeprecationCommand({ ImageId: ami }));
        const back = (await images(p2.client)).find((i) => i.ImageId === ami);
        assert.ok(back);
        assert.equal(back.DeprecationTime, undefined);
      });

      it(
        'shares and copies through the AWS CLI',
        { ...needs('awscli'), timeout: 120_000 },
        async () => {
          const row = await p1Image('cli-shared');
          const ami = amiId(row);
          const home = fs.mkdtempSync(path.join(files, 'home-'));
          const aws = (who: Project, ...args: string[]) =>
            awsEc2({
              endpoint: t.endpoint,
              region: t.region,
              credentials: who.credentials,
              home,
            }).run(...args);
          const shared = await aws(
            p1,
            'modify-image-attribute',
            '--image-id',
            ami,
            '--launch-permission',
            `Add=[{UserId=${p2.projectId}}]`,
          );
          assert.equal(shared.code, 0, shared.stderr);
          const perms = await aws(
            p1,
            'describe-image-attribute',
            '--image-id',
            ami,
            '--attribute',
            'launchPermission',
          );
          assert.equal(perms.code, 0, perms.stderr);
          assert.deepEqual(
            (JSON.parse(perms.stdout) as { LaunchPermissions: unknown[] }).LaunchPermissions,
            [{ UserId: p2.projectId }],
          );
          const copied = await aws(
            p2,
            'copy-image',
            '--source-image-id',
            ami,
            '--source-region',
            t.region,
            '--name',
            'cli-copy',
          );
          assert.equal(copied.code, 0, copied.stderr);
          const copyId = (JSON.parse(copied.stdout) as { ImageId: string }).ImageId;
          await waitUntil(
            async () => (await images(p2.client, { ImageIds: [copyId] }))[0]?.State === 'available',
            10_000,
            'the CLI copy to be available',
          );
          const unknown = await aws(
            p1,
            'describe-image-attribute',
            '--image-id',
            ami,
            '--attribute',
            'sriovNetSupport',
          );
          assert.notEqual(unknown.code, 0);
          assert.match(unknown.stderr, /InvalidRequest/);
        },
      );
    },
  );
}

describe('GetConsoleScreenshot on the fake driver', () => {
  let t: TestCloud;
  let imageId: string;

  before(async () => {
    t = await startTestCloud();
    const image = await t.addImage({ name: 'screen-image' });
    imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
  });
  after(() => t.stop());

  it('answers a JPEG in base64 for a running instance, and IncorrectInstanceState when stopped', async () => {
    const id = await launch(t.admin, imageId);
    await waitState(t.admin, id, 'running');
    const shot = await t.admin.send(
      new GetConsoleScreenshotCommand({ InstanceId: id, WakeUp: true }),
    );
    assert.equal(shot.InstanceId, id);
    const jpeg = Buffer.from(shot.ImageData ?? '', 'base64');
    assert.deepEqual([...jpeg.subarray(0, 3)], [0xff, 0xd8, 0xff]);
    assert.ok(jpeg.length > 300 && jpeg.length < 100_000, `${jpeg.length} bytes`);

    await t.admin.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await waitState(t.admin, id, 'stopped');
    const stopped = await failure(
      t.admin.send(new GetConsoleScreenshotCommand({ InstanceId: id })),
    );
    assert.deepEqual(stopped, { code: 'IncorrectInstanceState', status: 400 });
    const missing = await failure(
      t.admin.send(new GetConsoleScreenshotCommand({ InstanceId: 'i-0123456789abcdef0' })),
    );
    assert.equal(missing.code, 'InvalidInstanceID.NotFound');
  });
});
