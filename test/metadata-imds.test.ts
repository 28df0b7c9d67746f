// IMDSv2 and the instance metadata options, against a whole cloud on the fake driver: the
// metadata server on its unix socket (as the data plane's proxy reaches it, the caller in
// X-Forwarded-For) issues session tokens and checks them; ModifyInstanceMetadataOptions through
// the AWS SDK and the AWS CLI turns tokens on, the endpoint off, tags on, and refuses bad values
// with EC2's codes. A second metadata server, as another process of the cloud would, checks
// tokens the first issued.
import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  ModifyInstanceMetadataOptionsCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type Instance,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CLIENT_FORWARDED_FOR,
  MetadataServer,
  MetadataService,
} from '../src/api/metadata/index.js';
import { issueSessionToken } from '../src/api/metadata/session-tokens.js';
import { InstanceMetadataReader } from '../src/compute/index.js';
import { needs } from './support/capabilities.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { expectError } from './support/expect.js';
import { awsEc2 } from './support/awscli.js';

const uuidOf = (ec2: string) => ec2.replace(/^i-/, '');

interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

describe('IMDSv2 and the instance metadata options', () => {
  let t: TestCloud;
  let imageId: string;
  let dir: string;
  let socket: string;
  let otherSocket: string;
  const servers: MetadataServer[] = [];

  before(async () => {
    t = await startTestCloud();
    const image = await t.addImage({ name: 'imds-image' });
    imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-imds-'));
    socket = path.join(dir, 'md.sock');
    otherSocket = path.join(dir, 'md2.sock');
    // Two servers with readers of their own, as two processes of one cloud would have.
    for (const s of [socket, otherSocket]) {
      const server = new MetadataServer(
        new MetadataService(new InstanceMetadataReader(t.cloud.database.db), t.region),
      );
      await server.listen(s);
      servers.push(server);
    }
  });
  after(async () => {
    for (const s of servers) await s.close();
    await t.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function describe1(id: string): Promise<Instance | undefined> {
    const r = await t.admin.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    return r.Reservations?.[0]?.Instances?.[0];
  }

  /** Launches one instance and waits until it runs; its EC2 id and private address. */
  async function run(extra: Partial<RunInstancesCommandInput> = {}): Promise<Instance> {
    const r = await t.admin.send(
      new RunInstancesCommand({
        ImageId: imageId,
        InstanceType: 'm1.tiny' as _InstanceType,
        MinCount: 1,
        MaxCount: 1,
        ...extra,
      }),
    );
    const id = r.Instances?.[0]?.InstanceId as string;
    return waitUntil(
      async () => {
        const i = await describe1(id);
        return i?.State?.Name === 'running' && i.PrivateIpAddress ? i : undefined;
      },
      10_000,
      `${id} to run`,
    );
  }

  /** One request to a metadata server as the proxy makes it for the guest at `caller`. */
  function request(
    caller: string,
    method: string,
    urlPath: string,
    headers: Record<string, string> = {},
    via = socket,
  ): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: via,
          method,
          path: urlPath,
          headers: { 'x-forwarded-for': caller, ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString(),
              headers: res.headers,
            }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
  }
  const token = async (caller: string, ttl = '60', via = socket): Promise<string> => {
    const r = await request(
      caller,
      'PUT',
      '/latest/api/token',
      { 'X-aws-ec2-metadata-token-ttl-seconds': ttl },
      via,
    );
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-aws-ec2-metadata-token-ttl-seconds'], ttl);
    return r.body;
  };
  const get = (caller: string, p: string, tok?: string, via = socket) =>
    request(caller, 'GET', p, tok === undefined ? {} : { 'X-aws-ec2-metadata-token': tok }, via);

  it('issues a session token for the calling instance and serves what it asks with it', async () => {
    const inst = await run();
    const ip = inst.PrivateIpAddress as string;
    const tok = await token(ip);
    assert.match(tok, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const r = await get(ip, '/latest/meta-data/instance-id', tok);
    assert.deepEqual([r.status, r.body], [200, inst.InstanceId]);
    // Tokens are optional by default: IMDSv1 still works.
    assert.equal((await get(ip, '/latest/meta-data/instance-id')).body, inst.InstanceId);
    // Another process of the cloud (its own reader, the key from the database) accepts it too.
    const other = await get(ip, '/latest/meta-data/local-ipv4', tok, otherSocket);
    assert.deepEqual([other.status, other.body], [200, ip]);
    const fromOther = await token(ip, '30', otherSocket);
    assert.equal((await get(ip, '/latest/meta-data/instance-id', fromOther)).status, 200);
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [inst.InstanceId as string] }));
  });

  it('refuses a bad TTL with 400 and a proxied token request with 403', async () => {
    const inst = await run();
    const ip = inst.PrivateIpAddress as string;
    for (const ttl of [undefined, '0', '21601', 'abc', '-1']) {
      const r = await request(
        ip,
        'PUT',
        '/latest/api/token',
        ttl === undefined ? {} : { 'X-aws-ec2-metadata-token-ttl-seconds': ttl },
      );
      assert.equal(r.status, 400, `TTL ${ttl}`);
    }
    assert.equal((await token(ip, '1')).length > 0, true);
    assert.equal((await token(ip, '21600')).length > 0, true);
    const proxied = await request(ip, 'PUT', '/latest/api/token', {
      'X-aws-ec2-metadata-token-ttl-seconds': '60',
      [CLIENT_FORWARDED_FOR]: '172.17.0.2',
    });
    assert.equal(proxied.status, 403);
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [inst.InstanceId as string] }));
  });

  it("answers 401 for a damaged or expired token, or another instance's", async () => {
    const a = await run();
    const b = await run();
    const ipA = a.PrivateIpAddress as string;
    const ipB = b.PrivateIpAddress as string;
    const tokA = await token(ipA);
    const p = '/latest/meta-data/instance-id';
    assert.equal((await get(ipB, p, tokA)).status, 401, "another instance's token");
    assert.equal((await get(ipA, p, `${tokA.slice(0, -2)}xx`)).status, 401, 'damaged');
    assert.equal((await get(ipA, p, 'not-a-token')).status, 401, 'made up');
    const key = await new InstanceMetadataReader(t.cloud.database.db).tokenKey();
    const expired = issueSessionToken(key, uuidOf(a.InstanceId as string), 1, Date.now() - 5000);
    assert.equal((await get(ipA, p, expired)).status, 401, 'expired');
    const short = await token(ipA, '1');
    assert.equal((await get(ipA, p, short)).status, 200);
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await get(ipA, p, short)).status, 401, 'expired after its TTL');
    await t.admin.send(
      new TerminateInstancesCommand({ InstanceIds: [a.InstanceId, b.InstanceId] as string[] }),
    );
  });

  it('requires a token once ModifyInstanceMetadataOptions says so, and shows it', async () => {
    const inst = await run();
    const id = inst.InstanceId as string;
    const ip = inst.PrivateIpAddress as string;
    assert.deepEqual(inst.MetadataOptions, {
      State: 'applied',
      HttpTokens: 'optional',
      HttpPutResponseHopLimit: 1,
      HttpEndpoint: 'enabled',
      HttpProtocolIpv6: 'disabled',
      InstanceMetadataTags: 'disabled',
    });
    const m = await t.admin.send(
      new ModifyInstanceMetadataOptionsCommand({
        InstanceId: id,
        HttpTokens: 'required',
        HttpPutResponseHopLimit: 2,
      }),
    );
    assert.equal(m.InstanceId, id);
    assert.deepEqual(m.InstanceMetadataOptions, {
      State: 'pending',
      HttpTokens: 'required',
      HttpPutResponseHopLimit: 2,
      HttpEndpoint: 'enabled',
      HttpProtocolIpv6: 'disabled',
      InstanceMetadataTags: 'disabled',
    });
    assert.equal((await describe1(id))?.MetadataOptions?.State, 'applied');
    assert.equal((await describe1(id))?.MetadataOptions?.HttpTokens, 'required');
    const p = '/latest/meta-data/instance-id';
    assert.equal((await get(ip, p)).status, 401, 'no token');
    assert.equal((await get(ip, '/latest/user-data')).status, 401);
    assert.equal((await get(ip, '/openstack/latest/meta_data.json')).status, 401);
    const r = await get(ip, p, await token(ip));
    assert.deepEqual([r.status, r.body], [200, id]);
    // Optional again: IMDSv1 answers again.
    await t.admin.send(
      new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, HttpTokens: 'optional' }),
    );
    assert.equal((await get(ip, p)).status, 200);
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  });

  it('refuses the instance with 403 while its endpoint is disabled', async () => {
    const inst = await run({ MetadataOptions: { HttpEndpoint: 'disabled' } });
    const id = inst.InstanceId as string;
    const ip = inst.PrivateIpAddress as string;
    assert.equal(inst.MetadataOptions?.HttpEndpoint, 'disabled');
    assert.equal((await get(ip, '/latest/meta-data/instance-id')).status, 403);
    const put = await request(ip, 'PUT', '/latest/api/token', {
      'X-aws-ec2-metadata-token-ttl-seconds': '60',
    });
    assert.equal(put.status, 403);
    await t.admin.send(
      new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, HttpEndpoint: 'enabled' }),
    );
    assert.equal((await get(ip, '/latest/meta-data/instance-id')).body, id);
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  });

  it('launches with MetadataOptions and serves tags only when asked to', async () => {
    const inst = await run({
      MetadataOptions: {
        HttpTokens: 'required',
        HttpPutResponseHopLimit: 3,
        InstanceMetadataTags: 'enabled',
      },
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'imds-web' }] }],
    });
    const id = inst.InstanceId as string;
    const ip = inst.PrivateIpAddress as string;
    assert.equal(inst.MetadataOptions?.HttpTokens, 'required');
    assert.equal(inst.MetadataOptions?.HttpPutResponseHopLimit, 3);
    assert.equal(inst.MetadataOptions?.InstanceMetadataTags, 'enabled');
    const tok = await token(ip);
    assert.equal((await get(ip, '/latest/meta-data/tags/instance/', tok)).body, 'Name');
    assert.equal((await get(ip, '/latest/meta-data/tags/instance/Name', tok)).body, 'imds-web');
    await t.admin.send(
      new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'team', Value: 'blue' }] }),
    );
    assert.equal((await get(ip, '/latest/meta-data/tags/instance/team', tok)).body, 'blue');
    await t.admin.send(
      new ModifyInstanceMetadataOptionsCommand({
        InstanceId: id,
        InstanceMetadataTags: 'disabled',
      }),
    );
    assert.equal((await get(ip, '/latest/meta-data/tags/instance/Name', tok)).status, 404);
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  });

  it("refuses values EC2 refuses, and IPv6, with EC2's codes, changing nothing", async () => {
    const inst = await run();
    const id = inst.InstanceId as string;
    const modify = (o: Record<string, unknown>) => () =>
      t.admin.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, ...o }));
    await expectError(modify({ HttpPutResponseHopLimit: 0 }), 'InvalidParameterValue');
    await expectError(modify({ HttpPutResponseHopLimit: 65 }), 'InvalidParameterValue');
    await expectError(modify({ HttpTokens: 'sometimes' }), 'InvalidParameterValue');
    await expectError(modify({ HttpEndpoint: 'on' }), 'InvalidParameterValue');
    await expectError(modify({ HttpProtocolIpv6: 'enabled' }), 'UnsupportedOperation');
    await expectError(
      () =>
        t.admin.send(
          new ModifyInstanceMetadataOptionsCommand({
            InstanceId: 'i-0123456789abcdef0',
            HttpTokens: 'required',
          }),
        ),
      'InvalidInstanceID.NotFound',
    );
    await expectError(
      () =>
        t.admin.send(
          new RunInstancesCommand({
            ImageId: imageId,
            MinCount: 1,
            MaxCount: 1,
            MetadataOptions: { HttpPutResponseHopLimit: 100 },
          }),
        ),
      'InvalidParameterValue',
    );
    assert.deepEqual((await describe1(id))?.MetadataOptions?.HttpPutResponseHopLimit, 1);
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  });

  it(
    'is changed and shown through the AWS CLI',
    { ...needs('awscli'), timeout: 120_000 },
    async () => {
      const inst = await run();
      const id = inst.InstanceId as string;
      const home = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-awscli-'));
      const { run: aws } = awsEc2({
        endpoint: t.endpoint,
        region: t.region,
        credentials: t.adminCredentials,
        home,
      });
      try {
        const m = await aws(
          'modify-instance-metadata-options',
          '--instance-id',
          id,
          '--http-tokens',
          'required',
          '--http-put-response-hop-limit',
          '2',
          '--instance-metadata-tags',
          'enabled',
        );
        assert.equal(m.code, 0, m.stderr);
        const out = JSON.parse(m.stdout) as {
          InstanceId: string;
          InstanceMetadataOptions: Record<string, unknown>;
        };
        assert.equal(out.InstanceId, id);
        assert.equal(out.InstanceMetadataOptions.HttpTokens, 'required');
        assert.equal(out.InstanceMetadataOptions.HttpPutResponseHopLimit, 2);
        assert.equal(out.InstanceMetadataOptions.State, 'pending');
        const d = await aws(
          'describe-instances',
          '--instance-ids',
          id,
          '--query',
          'Reservations[0].Instances[0].MetadataOptions',
        );
        assert.equal(d.code, 0, d.stderr);
        assert.deepEqual(JSON.parse(d.stdout), {
          State: 'applied',
          HttpTokens: 'required',
          HttpPutResponseHopLimit: 2,
          HttpEndpoint: 'enabled',
          HttpProtocolIpv6: 'disabled',
          InstanceMetadataTags: 'enabled',
        });
        const bad = await aws(
          'modify-instance-metadata-options',
          '--instance-id',
          id,
          '--http-put-response-hop-limit',
          '65',
        );
        assert.notEqual(bad.code, 0);
        assert.match(bad.stderr, /InvalidParameterValue/);
      } finally {
        fs.rmSync(home, { recursive: true, force: true });
        await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
      }
    },
  );
});
