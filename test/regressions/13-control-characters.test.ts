// Issue 13: control characters in tags and names. CreateTags with Tag.1.Key=%00 and a Compute
// API server renamed to "\u0000\u0007" were accepted, and then DescribeInstances and
// DescribeTags answered XML no client could parse, for the owner and the admin alike. Every
// API now refuses control characters in what it stores, in its own error format, and the EC2
// XML writer replaces what XML 1.0 cannot carry, so even a row stored some other way still
// gives a response the AWS SDK and fast-xml-parser read.
import {
  DescribeInstancesCommand,
  DescribeTagsCommand,
  RunInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TagRepo } from '../../src/db/index.js';
import { IdentityService } from '../../src/identity/index.js';
import { ec2Id } from '../../src/ids/index.js';
import { rawEc2, startTestCloud, type Credentials, type TestCloud } from '../support/ec2.js';
import { login, PASSWORD } from '../support/openstack.js';

const VERSION = '2016-11-15';
/** Every kind of character a stored value must not carry: C0, BEL, C1, DEL. */
const CONTROLS = ['\u0000', '\u0007', '\u001b', '\u007f', '\u0085'];

/** The body parses as XML 1.0, both by a validator and by the parser. */
function assertParses(xml: string, what: string): Record<string, unknown> {
  const valid = XMLValidator.validate(xml);
  assert.equal(valid, true, `${what}: ${JSON.stringify(valid)}`);
  return new XMLParser().parse(xml) as Record<string, unknown>;
}

describe('issue 13: control characters in names, descriptions, tags and tokens', () => {
  let t: TestCloud;
  let tenant: Awaited<ReturnType<TestCloud['newProject']>>;
  let instanceId: string;
  let instanceUuid: string;
  let computeUrl: string;
  let imageUrl: string;
  let token: string;
  let amiId: string;

  const ec2 = (params: Record<string, string>, who: Credentials = tenant.credentials) =>
    rawEc2(t.endpoint, t.region, who, { Version: VERSION, ...params });
  const openstack = async (
    base: string,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; text: string }> => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: {
        'x-auth-token': token,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, text: await r.text() };
  };
  const tagsOfInstance = async () =>
    (await new TagRepo(t.cloud.database.db).of([instanceUuid])).get(instanceUuid) ?? [];

  before(async () => {
    t = await startTestCloud();
    const p = await t.newProject('ctl');
    tenant = p;
    const image = await t.addImage({ name: 'plain' });
    amiId = ec2Id('ami', image.id);
    const run = await p.client.send(
      new RunInstancesCommand({
        ImageId: amiId,
        InstanceType: 'm1.nano' as _InstanceType,
        MinCount: 1,
        MaxCount: 1,
      }),
    );
    instanceId = run.Instances?.[0]?.InstanceId as string;
    const [row] = await t.cloud.database.db
      .selectFrom('instances')
      .select('id')
      .where('projectId', '=', p.projectId)
      .execute();
    instanceUuid = (row as { id: string }).id;
    computeUrl = (t.cloud.urls?.compute as string).replace(/\/v2\.1$/, '');
    imageUrl = t.cloud.urls?.image as string;
    const identity = new IdentityService(t.cloud.database.db);
    await identity.setPassword('admin', PASSWORD);
    token = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
  });
  after(async () => {
    await t.stop();
  });

  it('CreateTags refuses a control character in a key or a value with InvalidParameterValue', async () => {
    for (const c of CONTROLS) {
      for (const [key, value] of [
        [c, 'v'],
        [`a${c}b`, 'v'],
        ['k', `x${c}`],
      ] as const) {
        const r = await ec2({
          Action: 'CreateTags',
          'ResourceId.1': instanceId,
          'Tag.1.Key': key,
          'Tag.1.Value': value,
        });
        assert.equal(r.status, 400, `${JSON.stringify([key, value])}: ${r.body}`);
        assert.equal(r.code, 'InvalidParameterValue', r.body);
        assert.match(r.body, /control characters/);
        assertParses(r.body, 'the error');
      }
    }
    assert.deepEqual(await tagsOfInstance(), [], 'no tag was stored');
    // Printable text of every script still goes in.
    const ok = await ec2({
      Action: 'CreateTags',
      'ResourceId.1': instanceId,
      'Tag.1.Key': 'Owner',
      'Tag.1.Value': 'équipe 雲 / a+b=c @ x:y',
    });
    assert.equal(ok.status, 200, ok.body);
  });

  it('refuses control characters in every EC2 name, description, tag and ClientToken it stores', async () => {
    const cases: [string, Record<string, string>, string][] = [
      [
        'RunInstances TagSpecification',
        {
          Action: 'RunInstances',
          ImageId: amiId,
          InstanceType: 'm1.nano',
          MinCount: '1',
          MaxCount: '1',
          'TagSpecification.1.ResourceType': 'instance',
          'TagSpecification.1.Tag.1.Key': 'Name',
          'TagSpecification.1.Tag.1.Value': 'web\u0000',
        },
        'InvalidParameterValue',
      ],
      [
        'RunInstances ClientToken',
        {
          Action: 'RunInstances',
          ImageId: amiId,
          InstanceType: 'm1.nano',
          MinCount: '1',
          MaxCount: '1',
          ClientToken: 'token\u0007',
        },
        'InvalidParameterValue',
      ],
      [
        'CreateSecurityGroup name',
        { Action: 'CreateSecurityGroup', GroupName: 'g\u0000', GroupDescription: 'd' },
        'InvalidParameterValue',
      ],
      [
        'CreateSecurityGroup description',
        { Action: 'CreateSecurityGroup', GroupName: 'g', GroupDescription: 'd\u001b' },
        'InvalidParameterValue',
      ],
      [
        'CreateSecurityGroup TagSpecification',
        {
          Action: 'CreateSecurityGroup',
          GroupName: 'g2',
          GroupDescription: 'd',
          'TagSpecification.1.ResourceType': 'security-group',
          'TagSpecification.1.Tag.1.Key': 'k\u0085',
          'TagSpecification.1.Tag.1.Value': 'v',
        },
        'InvalidParameterValue',
      ],
      [
        'CreateKeyPair name',
        { Action: 'CreateKeyPair', KeyName: 'key\u0000' },
        'InvalidParameterValue',
      ],
      [
        'CreateKeyPair TagSpecification',
        {
          Action: 'CreateKeyPair',
          KeyName: 'key-tagged',
          'TagSpecification.1.ResourceType': 'key-pair',
          'TagSpecification.1.Tag.1.Key': 'k',
          'TagSpecification.1.Tag.1.Value': '\u007f',
        },
        'InvalidParameterValue',
      ],
      [
        'RegisterImage name',
        { Action: 'RegisterImage', ImageLocation: amiId, Name: 'img\u0001' },
        'InvalidAMIName.Malformed',
      ],
      [
        'RegisterImage description',
        { Action: 'RegisterImage', ImageLocation: amiId, Name: 'img', Description: 'd\u0000' },
        'InvalidParameterValue',
      ],
    ];
    for (const [what, params, code] of cases) {
      const r = await ec2(params);
      assert.equal(r.status, 400, `${what}: ${r.body}`);
      assert.equal(r.code, code, `${what}: ${r.body}`);
      assertParses(r.body, what);
    }
    const db = t.cloud.database.db;
    const count = async (table: 'instances' | 'keypairs' | 'images') =>
      Number(
        (
          (await db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirst()) as { n: number | string }
        ).n,
      );
    assert.equal(await count('instances'), 1, 'no instance was launched');
    assert.equal(await count('keypairs'), 0, 'no key pair was made');
    assert.equal(await count('images'), 1, 'no image was registered');
    const groups = await db
      .selectFrom('securityGroups')
      .select('name')
      .where('name', 'like', 'g%')
      .execute();
    assert.deepEqual(groups, [], 'no security group was made');
  });

  it('the Compute and Image APIs refuse control characters in names with a 400 in their format', async () => {
    const renamed = await openstack(computeUrl, 'PUT', `/v2.1/servers/${instanceUuid}`, {
      server: { name: '\u0000\u0007' },
    });
    assert.equal(renamed.status, 400, renamed.text);
    const fault = JSON.parse(renamed.text) as { badRequest?: { code: number; message: string } };
    assert.equal(fault.badRequest?.code, 400);
    assert.match(fault.badRequest?.message ?? '', /control characters; it has U\+0000/);
    assert.deepEqual(
      (await tagsOfInstance()).map((x) => [x.key, x.value]),
      [['Owner', 'équipe 雲 / a+b=c @ x:y']],
      'the name was not changed',
    );

    const created = await openstack(computeUrl, 'POST', '/v2.1/servers', {
      server: { name: 'vm\u001b[31m', imageRef: amiId, flavorRef: 'm1.nano' },
    });
    assert.equal(created.status, 400, created.text);
    assert.ok(JSON.parse(created.text).badRequest);

    const key = await openstack(computeUrl, 'POST', '/v2.1/os-keypairs', {
      keypair: { name: 'k\u0000' },
    });
    assert.equal(key.status, 400, key.text);
    assert.ok(JSON.parse(key.text).badRequest);

    const image = await openstack(imageUrl, 'POST', '/v2/images', {
      name: 'image\u0007',
      disk_format: 'qcow2',
      container_format: 'bare',
    });
    assert.equal(image.status, 400, image.text);

    // A printable rename still works.
    const ok = await openstack(computeUrl, 'PUT', `/v2.1/servers/${instanceUuid}`, {
      server: { name: 'web 1' },
    });
    assert.equal(ok.status, 200, ok.text);
  });

  it('a row already stored with control characters still gives responses every client parses', async () => {
    // Stored some other way (an older version, a direct write): the writers must cope.
    const nasty = 'a\u0000b\u0007c\u001bd\ud800e\uffff<f>&"\'';
    const row = {
      resourceId: instanceUuid,
      resourceType: 'instance',
      projectId: tenant.projectId,
    } as const;
    await new TagRepo(t.cloud.database.db).put([
      { ...row, key: 'Name', value: nasty },
      { ...row, key: `k${nasty}`, value: 'v' },
    ]);

    for (const [who, creds] of [
      ['the owner', tenant.credentials],
      ['the admin', t.adminCredentials],
    ] as const) {
      for (const action of ['DescribeTags', 'DescribeInstances']) {
        const r = await ec2({ Action: action }, creds);
        assert.equal(r.status, 200, `${action} for ${who}: ${r.body}`);
        assertParses(r.body, `${action} for ${who}`);
        assert.ok(r.body.includes('a\ufffdb\ufffdc\ufffdd\ufffde\ufffd&lt;f&gt;&amp;'), r.body);
      }
      // The real client's parser.
      const client = who === 'the owner' ? tenant.client : t.admin;
      const tags = await client.send(new DescribeTagsCommand({}));
      const name = tags.Tags?.find((x) => x.Key === 'Name' && x.ResourceId === instanceId);
      assert.equal(name?.Value, 'a\ufffdb\ufffdc\ufffdd\ufffde\ufffd<f>&"\'');
      const described = await client.send(new DescribeInstancesCommand({}));
      const instance = described.Reservations?.flatMap((x) => x.Instances ?? []).find(
        (i) => i.InstanceId === instanceId,
      );
      assert.ok(instance, `${who} sees the instance`);
      assert.ok(instance.Tags?.some((x) => x.Key === `k${name?.Value}`));
    }

    // JSON escapes every control character, so the Compute API's answer parses as it is.
    const servers = await openstack(computeUrl, 'GET', '/v2.1/servers/detail?all_tenants=1');
    assert.equal(servers.status, 200, servers.text);
    const list = JSON.parse(servers.text) as { servers: { id: string; name: string }[] };
    // (SQLite keeps the lone surrogate as U+FFFD: compare with what was stored.)
    const stored = (await tagsOfInstance()).find((x) => x.key === 'Name')?.value;
    assert.ok(stored?.startsWith('a\u0000b\u0007c\u001bd'), JSON.stringify(stored));
    assert.equal(list.servers.find((s) => s.id === instanceUuid)?.name, stored);
  });
});
