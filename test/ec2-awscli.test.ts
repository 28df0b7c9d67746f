// The seed's smoke path through Debian's AWS CLI (`aws ec2 ... --endpoint-url`), against a
// whole cloud on the fake driver: keypair, image, run, wait, open port 22, find the address,
// terminate, revoke, delete the keypair.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { needs } from './support/capabilities.js';
import { startTestCloud, type TestCloud } from './support/ec2.js';
import { awsEc2 } from './support/awscli.js';

describe(
  'the smoke path through the AWS CLI',
  // Debian's AWS CLI, as users run it.
  needs('awscli'),
  () => {
    let t: TestCloud;
    let home: string;

    before(async () => {
      t = await startTestCloud();
      await t.addImage({ name: 'cli-image' });
      home = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-awscli-'));
    });
    after(async () => {
      await t.stop();
      fs.rmSync(home, { recursive: true, force: true });
    });

    const cli = () =>
      awsEc2({
        endpoint: t.endpoint,
        region: t.region,
        credentials: t.adminCredentials,
        home,
      });
    const aws = (...args: string[]) => cli().run(...args);
    const json = (...args: string[]) => cli().json(...args);

    it('runs the ten steps', async () => {
      const key = await json('create-key-pair', '--key-name', 'cli-key');
      assert.match(String(key.KeyMaterial), /BEGIN RSA PRIVATE KEY/);

      const images = (await json('describe-images', '--filters', 'Name=name,Values=cli-image')) as {
        Images: { ImageId: string }[];
      };
      const imageId = images.Images[0]?.ImageId as string;
      assert.match(imageId, /^ami-/);

      const run = (await json(
        'run-instances',
        '--image-id',
        imageId,
        '--instance-type',
        'm1.tiny',
        '--key-name',
        'cli-key',
        '--count',
        '1',
      )) as { Instances: { InstanceId: string }[] };
      const id = run.Instances[0]?.InstanceId as string;
      assert.match(id, /^i-[0-9a-f]{17}$/);

      assert.equal((await aws('wait', 'instance-running', '--instance-ids', id)).code, 0);

      await json(
        'authorize-security-group-ingress',
        '--group-name',
        'default',
        '--protocol',
        'tcp',
        '--port',
        '22',
        '--cidr',
        '0.0.0.0/0',
      );

      const described = (await json('describe-instances', '--instance-ids', id)) as {
        Reservations: {
          Instances: { PrivateIpAddress: string; KeyName: string; State: { Name: string } }[];
        }[];
      };
      const inst = described.Reservations[0]?.Instances[0];
      assert.equal(inst?.State.Name, 'running');
      assert.equal(inst?.KeyName, 'cli-key');
      assert.match(inst?.PrivateIpAddress ?? '', /^\d+\.\d+\.\d+\.\d+$/);

      const console = await aws('get-console-output', '--instance-id', id);
      assert.equal(console.code, 0, console.stderr);

      await json('terminate-instances', '--instance-ids', id);
      assert.equal((await aws('wait', 'instance-terminated', '--instance-ids', id)).code, 0);

      await json(
        'revoke-security-group-ingress',
        '--group-name',
        'default',
        '--protocol',
        'tcp',
        '--port',
        '22',
        '--cidr',
        '0.0.0.0/0',
      );
      await json('delete-key-pair', '--key-name', 'cli-key');
      const keys = (await json('describe-key-pairs')) as { KeyPairs: unknown[] };
      assert.equal(keys.KeyPairs.length, 0);
    });

    it('prints EC2 errors the way the AWS CLI shows them, with a non-zero exit', async () => {
      const r = await aws('describe-instances', '--instance-ids', 'i-0123456789abcdef0');
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /InvalidInstanceID\.NotFound/);
    });
  },
);
