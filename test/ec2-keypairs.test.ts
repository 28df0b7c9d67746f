// Key pairs through the real AWS SDK: created (RSA, ED25519) and imported keys, fingerprints
// checked against ssh-keygen, filters, duplicates, quota and tenancy.
import {
  CreateKeyPairCommand,
  DeleteKeyPairCommand,
  DescribeKeyPairsCommand,
  ImportKeyPairCommand,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { needs } from './support/capabilities.js';
import { rawEc2, startTestCloud, type TestCloud } from './support/ec2.js';

describe('EC2 key pairs', () => {
  let t: TestCloud;
  let dir: string;

  before(async () => {
    t = await startTestCloud({ 'quota-keypairs': '4' });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-keys-'));
  });
  after(async () => {
    await t.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(
    'creates an RSA key pair whose fingerprint is the SHA-1 of its PKCS#8 form',
    needs('ssh'),
    async () => {
      const r = await t.admin.send(new CreateKeyPairCommand({ KeyName: 'rsa-key' }));
      assert.match(r.KeyMaterial ?? '', /^-----BEGIN RSA PRIVATE KEY-----/);
      assert.match(r.KeyPairId ?? '', /^key-[0-9a-f]{17}$/);
      const der = createPrivateKey(r.KeyMaterial as string).export({
        type: 'pkcs8',
        format: 'der',
      });
      const sha1 = createHash('sha1').update(der).digest('hex').match(/../g)?.join(':');
      assert.equal(r.KeyFingerprint, sha1);
      const d = await t.admin.send(
        new DescribeKeyPairsCommand({ KeyNames: ['rsa-key'], IncludePublicKey: true }),
      );
      assert.equal(d.KeyPairs?.[0]?.KeyFingerprint, sha1);
      assert.equal(d.KeyPairs?.[0]?.KeyType, 'rsa');
      assert.match(d.KeyPairs?.[0]?.PublicKey ?? '', /^ssh-rsa AAAA/);
      const file = path.join(dir, 'rsa');
      fs.writeFileSync(file, r.KeyMaterial as string, { mode: 0o600 });
      const pub = execFileSync('/usr/bin/ssh-keygen', ['-y', '-f', file]).toString().trim();
      assert.equal(
        pub.split(' ').slice(0, 2).join(' '),
        (d.KeyPairs?.[0]?.PublicKey ?? '').split(' ').slice(0, 2).join(' '),
      );
    },
  );

  it('creates an ED25519 key pair usable by OpenSSH', needs('ssh'), async () => {
    const r = await t.admin.send(
      new CreateKeyPairCommand({ KeyName: 'ed-key', KeyType: 'ed25519' }),
    );
    assert.match(r.KeyMaterial ?? '', /^-----BEGIN OPENSSH PRIVATE KEY-----/);
    const file = path.join(dir, 'ed');
    fs.writeFileSync(file, r.KeyMaterial as string, { mode: 0o600 });
    const listed = execFileSync('/usr/bin/ssh-keygen', ['-l', '-f', file]).toString();
    const sha256 = /SHA256:(\S+)/.exec(listed)?.[1] as string;
    assert.ok(
      (r.KeyFingerprint ?? '').replace(/=+$/, '').endsWith(sha256.replace(/=+$/, '')),
      `${r.KeyFingerprint} vs ${sha256}`,
    );
  });

  it(
    'imports a public key and shows the MD5 fingerprint of its DER form',
    needs('ssh'),
    async () => {
      const file = path.join(dir, 'imported');
      execFileSync('/usr/bin/ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', file]);
      const line = fs.readFileSync(`${file}.pub`, 'utf8');
      const pem = execFileSync('/usr/bin/ssh-keygen', [
        '-e',
        '-m',
        'PKCS8',
        '-f',
        `${file}.pub`,
      ]).toString();
      const der = createPublicKey(pem).export({ type: 'spki', format: 'der' });
      const r = await t.admin.send(
        new ImportKeyPairCommand({ KeyName: 'imported', PublicKeyMaterial: Buffer.from(line) }),
      );
      assert.equal(
        r.KeyFingerprint,
        createHash('md5').update(der).digest('hex').match(/../g)?.join(':'),
      );
      const d = await t.admin.send(
        new DescribeKeyPairsCommand({
          Filters: [{ Name: 'fingerprint', Values: [r.KeyFingerprint as string] }],
        }),
      );
      assert.deepEqual(
        d.KeyPairs?.map((k) => k.KeyName),
        ['imported'],
      );
    },
  );

  it('refuses a duplicate name, a bad key and more keys than the quota', async () => {
    await assert.rejects(t.admin.send(new CreateKeyPairCommand({ KeyName: 'rsa-key' })), {
      name: 'InvalidKeyPair.Duplicate',
    });
    await assert.rejects(
      t.admin.send(
        new ImportKeyPairCommand({
          KeyName: 'junk',
          PublicKeyMaterial: Buffer.from('ssh-rsa notakey'),
        }),
      ),
      { name: 'InvalidKey.Format' },
    );
    await t.admin.send(new CreateKeyPairCommand({ KeyName: 'fourth' }));
    await assert.rejects(t.admin.send(new CreateKeyPairCommand({ KeyName: 'fifth' })), {
      name: 'ResourceLimitExceeded',
    });
  });

  it('keeps projects apart: the same name in two projects, each seeing its own', async () => {
    const other = await t.newProject();
    const r = await other.client.send(new CreateKeyPairCommand({ KeyName: 'rsa-key' }));
    const mine = await other.client.send(new DescribeKeyPairsCommand({}));
    assert.deepEqual(
      mine.KeyPairs?.map((k) => k.KeyPairId),
      [r.KeyPairId],
    );
    await other.client.send(new DeleteKeyPairCommand({ KeyName: 'rsa-key' }));
    const still = await t.admin.send(new DescribeKeyPairsCommand({ KeyNames: ['rsa-key'] }));
    assert.equal(
      still.KeyPairs?.length,
      1,
      "deleting another project's key of the same name left ours",
    );
    await assert.rejects(
      other.client.send(new DescribeKeyPairsCommand({ KeyNames: ['rsa-key'] })),
      {
        name: 'InvalidKeyPair.NotFound',
      },
    );
  });

  it('deletes by name and by id; deleting a missing key succeeds as EC2 does', async () => {
    const d = await t.admin.send(new DescribeKeyPairsCommand({ KeyNames: ['fourth'] }));
    await t.admin.send(new DeleteKeyPairCommand({ KeyPairId: d.KeyPairs?.[0]?.KeyPairId }));
    await t.admin.send(new DeleteKeyPairCommand({ KeyName: 'ed-key' }));
    await t.admin.send(new DeleteKeyPairCommand({ KeyName: 'never-existed' }));
    const left = await t.admin.send(new DescribeKeyPairsCommand({}));
    assert.deepEqual(left.KeyPairs?.map((k) => k.KeyName).sort(), ['imported', 'rsa-key']);
  });

  const bad: [string, Record<string, string>, string][] = [
    ['CreateKeyPair without a name', { Action: 'CreateKeyPair' }, 'MissingParameter'],
    [
      'CreateKeyPair with a 256-character name',
      { Action: 'CreateKeyPair', KeyName: 'k'.repeat(256) },
      'InvalidParameterValue',
    ],
    [
      'CreateKeyPair with a non-ASCII name',
      { Action: 'CreateKeyPair', KeyName: 'ключ' },
      'InvalidParameterValue',
    ],
    [
      'CreateKeyPair with KeyType dsa',
      { Action: 'CreateKeyPair', KeyName: 'x', KeyType: 'dsa' },
      'InvalidParameterValue',
    ],
    [
      'ImportKeyPair without material',
      { Action: 'ImportKeyPair', KeyName: 'x' },
      'MissingParameter',
    ],
    [
      'ImportKeyPair with material that is not base64',
      { Action: 'ImportKeyPair', KeyName: 'x', PublicKeyMaterial: '!!!' },
      'InvalidParameterValue',
    ],
    [
      'ImportKeyPair with a private key',
      {
        Action: 'ImportKeyPair',
        KeyName: 'x',
        PublicKeyMaterial: Buffer.from(
          '-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n',
        ).toString('base64'),
      },
      'InvalidKey.Format',
    ],
    [
      'DescribeKeyPairs of an unknown name',
      { Action: 'DescribeKeyPairs', 'KeyName.1': 'nope' },
      'InvalidKeyPair.NotFound',
    ],
    [
      'DescribeKeyPairs with a malformed id',
      { Action: 'DescribeKeyPairs', 'KeyPairId.1': 'key-?' },
      'InvalidKeyPair.Malformed',
    ],
    [
      'DescribeKeyPairs with an unknown id',
      { Action: 'DescribeKeyPairs', 'KeyPairId.1': 'key-0123456789abcdef0' },
      'InvalidKeyPair.NotFound',
    ],
    ['DeleteKeyPair without name or id', { Action: 'DeleteKeyPair' }, 'MissingParameter'],
  ];
  for (const [what, params, code] of bad) {
    it(`answers ${what} with ${code}`, async () => {
      const r = await rawEc2(t.endpoint, t.region, t.adminCredentials, {
        Version: '2016-11-15',
        ...params,
      });
      assert.equal(r.code, code, r.body);
      assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
    });
  }
});
