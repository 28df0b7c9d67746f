// What the AWS CLI tests of VPCs share: a test cloud (fake driver) on a fresh database of one
// backend, an image, the AWS CLI with a home of its own, an Identity token for the Networking
// API's view of the same resources, and a refusal check by EC2 error code.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IdentityService } from '../../src/identity/index.js';
import type { FakeDriver } from '../../src/virt/index.js';
import { awsEc2, type AwsEc2Cli } from './awscli.js';
import type { TestBackend } from './databases.js';
import { startTestCloud, type TestCloud } from './ec2.js';
import { login, PASSWORD } from './openstack.js';

export type Item = Record<string, unknown>;

export interface AwsCliCloud {
  t: TestCloud;
  cli: AwsEc2Cli;
  /** The admin's Identity token. */
  token: string;
  /** The image's EC2 id. */
  imageId: string;
  /** `aws ec2 ARGS` as JSON. */
  json(...args: string[]): Promise<Item>;
  /** `aws ec2 ARGS` fails with the EC2 error `code`. */
  refused(code: string, ...args: string[]): Promise<void>;
  /** A Networking API collection (`ports`, `networks`, ...) as the admin sees it. */
  neutron(collection: string): Promise<Item[]>;
  stop(): Promise<void>;
}

export async function startAwsCliCloud(
  backend: TestBackend,
  options: { imageName: string; driver?: FakeDriver },
): Promise<AwsCliCloud> {
  const database = await backend.create();
  const t = await startTestCloud(
    { database: database.url },
    options.driver ? { driver: options.driver } : {},
  );
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-awscli-cloud-'));
  const stop = async () => {
    await t.stop();
    await database.remove();
    fs.rmSync(home, { recursive: true, force: true });
  };
  try {
    const image = await t.addImage({ name: options.imageName });
    const cli = awsEc2({
      endpoint: t.endpoint,
      region: t.region,
      credentials: t.adminCredentials,
      home,
    });
    await new IdentityService(t.cloud.database.db).setPassword('admin', PASSWORD);
    const token = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
    return {
      t,
      cli,
      token,
      imageId: `ami-${image.id.replace(/-/g, '').slice(0, 17)}`,
      json: (...args) => cli.json(...args),
      async refused(code, ...args) {
        const r = await cli.run(...args);
        assert.notEqual(r.code, 0, `aws ec2 ${args.join(' ')} should fail with ${code}`);
        assert.match(r.stderr, new RegExp(`\\(${code.replace(/\./g, '\\.')}\\)`), r.stderr);
      },
      async neutron(collection) {
        const r = await fetch(`${t.cloud.urls?.network as string}/v2.0/${collection}`, {
          headers: { 'x-auth-token': token },
        });
        assert.equal(r.status, 200);
        return ((await r.json()) as Record<string, Item[]>)[collection] as Item[];
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
