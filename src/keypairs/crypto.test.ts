// Key pair cryptography, checked without trusting the code under test: the SSH wire formats
// are read and written here by hand, fingerprints are recomputed with node:crypto, and where
// ssh-keygen and openssl are installed they cross-check the results (capabilities ssh, openssl).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { needs } from '../../test/support/capabilities.js';
import { StratusError } from '../errors.js';
import { generateKeyPair, parsePublicKey, type ParsedPublicKey } from './crypto.js';

const SSH_KEYGEN = '/usr/bin/ssh-keygen';
const OPENSSL = '/usr/bin/openssl';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-keypairs-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Writes a file only its owner can read, as ssh-keygen insists for private keys. */
function writeSecret(name: string, content: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, content, { mode: 0o600 });
  return file;
}

function run(cmd: string, args: string[], input?: Buffer | string): Buffer {
  return execFileSync(cmd, args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
}

// ---- SSH wire format (RFC 4253), by hand ----

function sshString(data: Buffer | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** An unsigned big-endian integer as an SSH mpint: minimal, with a 0 byte if the top bit is set. */
function mpint(unsigned: Buffer): Buffer {
  let i = 0;
  while (i < unsigned.length - 1 && unsigned[i] === 0) i++;
  const trimmed = unsigned.subarray(i);
  return sshString((trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function readStrings(blob: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  while (offset < blob.length) {
    const length = blob.readUInt32BE(offset);
    out.push(blob.subarray(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  assert.equal(offset, blob.length, 'the blob ends exactly after its last string');
  return out;
}

const b64url = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64url');

function rsaBlob(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.concat([sshString('ssh-rsa'), mpint(b64url(jwk.e)), mpint(b64url(jwk.n))]);
}

function ed25519Blob(key: KeyObject): Buffer {
  return Buffer.concat([
    sshString('ssh-ed25519'),
    sshString(b64url(key.export({ format: 'jwk' }).x)),
  ]);
}

/** A syntactically valid RSA key of exactly `bits` bits; the modulus need not be a real one. */
function fakeRsaBlob(bits: number): Buffer {
  const n = Buffer.alloc(Math.ceil(bits / 8), 0x5b);
  n[0] = 1 << ((bits - 1) % 8);
  n[n.length - 1] = 0x01;
  return Buffer.concat([sshString('ssh-rsa'), mpint(Buffer.from([1, 0, 1])), mpint(n)]);
}

const line = (blob: Buffer, comment = ''): string =>
  `${readStrings(blob)[0]?.toString()} ${blob.toString('base64')}${comment ? ` ${comment}` : ''}`;

function rfc4716(blob: Buffer): string {
  const body = blob.toString('base64').match(/.{1,70}/g) ?? [];
  return [
    '---- BEGIN SSH2 PUBLIC KEY ----',
    'Comment: "a key written by hand, with a header \\',
    'that continues on the next line"',
    'x-private-header: anything',
    ...body,
    '---- END SSH2 PUBLIC KEY ----',
    '',
  ].join('\n');
}

// ---- fingerprints, recomputed ----

const colonHex = (bytes: Buffer): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
const hash = (algorithm: string, data: Buffer): Buffer =>
  createHash(algorithm).update(data).digest();
/** `ssh-keygen -l` prints 'SHA256:' and drops the base64 padding that EC2 keeps. */
const asSshKeygenShows = (fingerprint: string): string =>
  `SHA256:${fingerprint.replace(/=+$/, '')}`;

/** The OpenSSH private key format, unencrypted, one key: the fields ssh-keygen writes. */
function readOpenSshPrivateKey(pem: string): {
  publicBlob: Buffer;
  secret: Buffer;
  comment: string;
} {
  const body = pem.replace(/-----(BEGIN|END) OPENSSH PRIVATE KEY-----/g, '').replace(/\s+/g, '');
  const raw = Buffer.from(body, 'base64');
  const magic = Buffer.from('openssh-key-v1\0');
  assert.deepEqual(raw.subarray(0, magic.length), magic);
  let offset = magic.length;
  const next = (): Buffer => {
    const length = raw.readUInt32BE(offset);
    const value = raw.subarray(offset + 4, offset + 4 + length);
    offset += 4 + length;
    return value;
  };
  assert.equal(next().toString(), 'none', 'cipher');
  assert.equal(next().toString(), 'none', 'kdf');
  assert.equal(next().length, 0, 'kdf options');
  assert.equal(raw.readUInt32BE(offset), 1, 'one key');
  offset += 4;
  const publicBlob = next();
  const section = next();
  assert.equal(offset, raw.length);
  assert.equal(section.length % 8, 0, 'the private section is padded to the block size');
  assert.equal(section.readUInt32BE(0), section.readUInt32BE(4), 'check integers match');
  const [algorithm, pub, secret, comment] = readStringsPadded(section.subarray(8));
  assert.equal(algorithm?.toString(), 'ssh-ed25519');
  assert.deepEqual(pub, readStrings(publicBlob)[1]);
  assert.equal(secret?.length, 64, 'seed followed by the public point');
  assert.deepEqual(secret?.subarray(32), pub);
  return { publicBlob, secret: secret ?? Buffer.alloc(0), comment: comment?.toString() ?? '' };
}

/** Four strings, then the padding bytes 1, 2, 3, ... */
function readStringsPadded(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  for (let i = 0; i < 4; i++) {
    const length = data.readUInt32BE(offset);
    out.push(data.subarray(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  data.subarray(offset).forEach((b, i) => assert.equal(b, i + 1, 'padding'));
  return out;
}

function assertBadKey(material: string | Buffer, what: string, message: RegExp): void {
  assert.throws(
    () => parsePublicKey(material),
    (err: unknown) => {
      assert.ok(err instanceof StratusError, `${what}: a StratusError, not ${String(err)}`);
      assert.equal(err.kind, 'invalid', what);
      assert.equal(err.reason, 'key_format', what);
      assert.equal(err.resource, 'keypair', what);
      assert.match(err.message, /^[A-Z].*\.$/, `${what}: a sentence`);
      assert.match(err.message, message, what);
      return true;
    },
    what,
  );
}

describe('generateKeyPair', () => {
  it('creates an RSA 2048 key: PKCS#1 PEM, matching public line, SHA-1 of PKCS#8 fingerprint', () => {
    const pair = generateKeyPair('rsa', { comment: 'build-server' });
    assert.equal(pair.keyType, 'rsa');
    assert.match(pair.privateKey, /^-----BEGIN RSA PRIVATE KEY-----\n/);
    assert.match(pair.privateKey, /-----END RSA PRIVATE KEY-----\n?$/);

    const privateKey = createPrivateKey(pair.privateKey);
    assert.equal(privateKey.asymmetricKeyType, 'rsa');
    assert.equal(privateKey.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(pair.publicKey, line(rsaBlob(createPublicKey(privateKey)), 'build-server'));

    // openssl pkcs8 -topk8 -nocrypt -outform DER | openssl sha1 -c
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
    assert.equal(pair.fingerprint, colonHex(hash('sha1', pkcs8)));
    assert.match(pair.fingerprint, /^([0-9a-f]{2}:){19}[0-9a-f]{2}$/);
  });

  it('creates an ED25519 key: OpenSSH private key, matching public line, SHA-256 fingerprint', () => {
    const pair = generateKeyPair('ed25519', { comment: 'laptop key' });
    assert.equal(pair.keyType, 'ed25519');
    assert.match(pair.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);

    const { publicBlob, secret, comment } = readOpenSshPrivateKey(pair.privateKey);
    assert.equal(comment, 'laptop key');
    assert.equal(pair.publicKey, line(publicBlob, 'laptop key'));

    // The seed must be the private half of the returned public key: sign with one, verify with the other.
    const returnedPoint = readStrings(Buffer.from(pair.publicKey.split(' ')[1] ?? '', 'base64'))[1];
    const publicKey = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: returnedPoint?.toString('base64url') },
      format: 'jwk',
    });
    const privateKey = createPrivateKey({
      key: {
        kty: 'OKP',
        crv: 'Ed25519',
        d: secret.subarray(0, 32).toString('base64url'),
        x: secret.subarray(32).toString('base64url'),
      },
      format: 'jwk',
    });
    const message = Buffer.from('stratus');
    assert.ok(verify(null, message, publicKey, sign(null, message, privateKey)));
    assert.deepEqual(ed25519Blob(createPublicKey(privateKey)), publicBlob);

    assert.equal(pair.fingerprint, hash('sha256', publicBlob).toString('base64'));
    assert.match(pair.fingerprint, /^[A-Za-z0-9+/]{43}=$/, 'base64 with its padding, no prefix');
  });

  it('leaves the comment off when none is given', () => {
    for (const keyType of ['rsa', 'ed25519'] as const) {
      assert.equal(generateKeyPair(keyType).publicKey.split(' ').length, 2, keyType);
    }
  });

  it('makes a different key every time', () => {
    assert.notEqual(generateKeyPair('ed25519').fingerprint, generateKeyPair('ed25519').fingerprint);
  });

  it('refuses ppk, unknown formats, unknown key types and multi-line comments', () => {
    const cases: [string, () => unknown, string | undefined][] = [
      ['ppk', () => generateKeyPair('rsa', { format: 'ppk' }), undefined],
      ['der', () => generateKeyPair('rsa', { format: 'der' as 'pem' }), undefined],
      ['dsa', () => generateKeyPair('dsa' as 'rsa'), 'key_type'],
      ['comment', () => generateKeyPair('ed25519', { comment: 'a\nb' }), undefined],
    ];
    for (const [what, f, reason] of cases) {
      assert.throws(f, (err: unknown) => {
        assert.ok(err instanceof StratusError, what);
        assert.equal(err.kind, 'invalid', what);
        assert.equal(err.reason, reason, what);
        assert.equal(err.resource, 'keypair', what);
        return true;
      });
    }
  });

  it('agrees with openssl on the RSA fingerprint', needs('openssl'), () => {
    const pair = generateKeyPair('rsa');
    const pkcs8 = run(OPENSSL, ['pkcs8', '-topk8', '-nocrypt', '-outform', 'DER'], pair.privateKey);
    const sha1 = run(OPENSSL, ['sha1', '-c'], pkcs8).toString();
    assert.equal(sha1.trim().split(/\s+/).pop(), pair.fingerprint);
  });

  it(
    'agrees with ssh-keygen on both private keys and the ED25519 fingerprint',
    needs('ssh'),
    () => {
      for (const keyType of ['rsa', 'ed25519'] as const) {
        const pair = generateKeyPair(keyType, { comment: 'checked' });
        const file = writeSecret(`created-${keyType}`, pair.privateKey);
        const derived = run(SSH_KEYGEN, ['-y', '-f', file]).toString().trim();
        // ssh-keygen repeats the comment only when the private key file holds one (OpenSSH format).
        assert.equal(
          derived.split(' ').slice(0, 2).join(' '),
          pair.publicKey.split(' ').slice(0, 2).join(' '),
          keyType,
        );
        if (keyType === 'ed25519') {
          const listed = run(SSH_KEYGEN, ['-l', '-f', file]).toString().trim();
          assert.equal(listed, `256 ${asSshKeygenShows(pair.fingerprint)} checked (ED25519)`);
        }
      }
    },
  );
});

describe('parsePublicKey', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
  const rsaSpki = rsa.export({ type: 'spki', format: 'der' });
  const rsaExpected: ParsedPublicKey = {
    keyType: 'rsa',
    publicKey: line(rsaBlob(rsa)),
    fingerprint: colonHex(hash('md5', rsaSpki)),
    bits: 2048,
  };
  const ed = generateKeyPairSync('ed25519').publicKey;
  const edSpki = ed.export({ type: 'spki', format: 'der' });
  const edExpected: ParsedPublicKey = {
    keyType: 'ed25519',
    publicKey: line(ed25519Blob(ed)),
    fingerprint: hash('sha256', ed25519Blob(ed)).toString('base64'),
    bits: 256,
  };

  it('reads an RSA key the same from every accepted form, with the MD5 of its DER as fingerprint', () => {
    const blob = rsaBlob(rsa);
    const forms: [string, string | Buffer][] = [
      ['OpenSSH line', line(blob)],
      ['OpenSSH line with a comment', line(blob, 'alice@laptop')],
      [
        'OpenSSH line with a comment of several words and a newline',
        `${line(blob, 'my old key')}\n`,
      ],
      ['OpenSSH line as bytes, CRLF', Buffer.from(`${line(blob, 'x')}\r\n`)],
      ['RFC 4716', rfc4716(blob)],
      ['RFC 4716 with CRLF', rfc4716(blob).replace(/\n/g, '\r\n')],
      ['base64 DER', rsaSpki.toString('base64')],
      [
        'base64 DER in 64-column lines',
        `${rsaSpki.toString('base64').replace(/.{64}/g, '$&\n')}\n`,
      ],
      ['raw DER bytes', rsaSpki],
      ['base64 PKCS#1 DER', rsa.export({ type: 'pkcs1', format: 'der' }).toString('base64')],
      ['PEM public key', rsa.export({ type: 'spki', format: 'pem' }).toString()],
      ['PEM RSA public key', rsa.export({ type: 'pkcs1', format: 'pem' }).toString()],
    ];
    for (const [what, material] of forms) {
      assert.deepEqual(parsePublicKey(material), rsaExpected, what);
    }
  });

  it('reads an ED25519 key the same from every accepted form, with the SHA-256 of its blob as fingerprint', () => {
    const blob = ed25519Blob(ed);
    const forms: [string, string | Buffer][] = [
      ['OpenSSH line', line(blob)],
      ['OpenSSH line with a comment', line(blob, 'bob@desk')],
      ['OpenSSH line as bytes', Buffer.from(line(blob, 'bob@desk'))],
      ['RFC 4716', rfc4716(blob)],
      ['base64 DER', edSpki.toString('base64')],
      ['raw DER bytes', edSpki],
    ];
    for (const [what, material] of forms) {
      assert.deepEqual(parsePublicKey(material), edExpected, what);
    }
  });

  it('reads back the public keys generateKeyPair makes, without their comment', () => {
    for (const keyType of ['rsa', 'ed25519'] as const) {
      const pair = generateKeyPair(keyType, { comment: 'round trip' });
      const parsed = parsePublicKey(pair.publicKey);
      assert.equal(parsed.keyType, keyType);
      assert.equal(parsed.publicKey, pair.publicKey.replace(/ round trip$/, ''));
      // An ED25519 fingerprint does not depend on who made the key; an RSA one does.
      if (keyType === 'ed25519') assert.equal(parsed.fingerprint, pair.fingerprint);
      else assert.notEqual(parsed.fingerprint, pair.fingerprint);
    }
  });

  it('accepts RSA keys from 1024 to 4096 bits', () => {
    for (const bits of [1024, 3072, 4096]) {
      assert.equal(parsePublicKey(line(fakeRsaBlob(bits))).bits, bits);
    }
  });

  it('refuses bad material with InvalidKey.Format', () => {
    const rsaLine = line(rsaBlob(rsa));
    const rsaBase64 = rsaBlob(rsa).toString('base64');
    const created = generateKeyPair('ed25519');
    const rsaPrivate = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const ecJwk = ec.export({ format: 'jwk' });
    const ecBlob = Buffer.concat([
      sshString('ecdsa-sha2-nistp256'),
      sshString('nistp256'),
      sshString(Buffer.concat([Buffer.from([4]), b64url(ecJwk.x), b64url(ecJwk.y)])),
    ]);
    const dsa = generateKeyPairSync('dsa', { modulusLength: 1024, divisorLength: 160 }).publicKey;
    const dssBlob = Buffer.concat([
      sshString('ssh-dss'),
      ...[128, 20, 128, 128].map((n) => mpint(Buffer.alloc(n, 0x42))),
    ]);
    const shortEd = Buffer.concat([sshString('ssh-ed25519'), sshString(Buffer.alloc(31, 7))]);
    const cert = Buffer.concat([
      sshString('ssh-rsa-cert-v01@openssh.com'),
      rsaBlob(rsa).subarray(11),
    ]);
    const securityKey = Buffer.concat([
      sshString('sk-ssh-ed25519@openssh.com'),
      sshString(Buffer.alloc(32, 1)),
      sshString('ssh:'),
    ]);

    // Each case names the part of the message that shows it was refused for the right reason.
    const privateKey = /private key; import only the public key/;
    const notRsaOrEd25519 = /Only RSA and ED25519 keys can be imported/;
    const rsaSize = /RSA keys must be 1024 to 4096 bits long/;
    const moreThanOne = /more than one key/;
    const unreadable =
      /is not (valid|a valid|an SSH public key|a public key|in a format)|is malformed/;
    const cases: [string, string | Buffer, RegExp][] = [
      ['empty text', '', /empty/],
      ['only whitespace', ' \n\t\n', /empty/],
      ['empty bytes', Buffer.alloc(0), /empty/],
      ['a word', 'garbage', unreadable],
      ['words', 'this is not a key!', unreadable],
      ['binary noise', Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80]), unreadable],
      ['DER noise', Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00]), unreadable],
      ['base64 of nothing useful', 'AAAAAAAA', unreadable],
      ['a key type alone', 'ssh-rsa', unreadable],
      ['a key type and a stub', 'ssh-rsa AAAA', unreadable],
      ['not base64', 'ssh-rsa AAAAB3Nza!C1yc2E', unreadable],
      ['truncated key data', `ssh-rsa ${rsaBase64.slice(0, 200)}`, unreadable],
      [
        'key data with trailing bytes',
        `ssh-rsa ${Buffer.concat([rsaBlob(rsa), Buffer.from([0, 0, 0, 1, 9])]).toString('base64')}`,
        unreadable,
      ],
      ['a type that does not match the data', `ssh-ed25519 ${rsaBase64}`, /does not match/],
      ['authorized_keys options', `no-pty ${rsaLine}`, unreadable],
      ['an ED25519 key of 31 bytes', line(shortEd), /wrong length/],
      [
        'RSA private key PEM',
        rsaPrivate.export({ type: 'pkcs1', format: 'pem' }).toString(),
        privateKey,
      ],
      [
        'PKCS#8 private key PEM',
        rsaPrivate.export({ type: 'pkcs8', format: 'pem' }).toString(),
        privateKey,
      ],
      ['OpenSSH private key', created.privateKey, privateKey],
      ['PKCS#8 private key DER', rsaPrivate.export({ type: 'pkcs8', format: 'der' }), privateKey],
      ['PKCS#1 private key DER', rsaPrivate.export({ type: 'pkcs1', format: 'der' }), privateKey],
      [
        'PKCS#8 private key base64 DER',
        rsaPrivate.export({ type: 'pkcs8', format: 'der' }).toString('base64'),
        privateKey,
      ],
      [
        'PuTTY private key',
        'PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: x\nPublic-Lines: 1\nAAAA\n',
        privateKey,
      ],
      ['DSA OpenSSH line', line(dssBlob), /not DSA keys/],
      [
        'DSA base64 DER',
        dsa.export({ type: 'spki', format: 'der' }).toString('base64'),
        /not DSA keys/,
      ],
      ['ECDSA OpenSSH line', line(ecBlob), /not ECDSA keys/],
      [
        'ECDSA base64 DER',
        ec.export({ type: 'spki', format: 'der' }).toString('base64'),
        /not ECDSA keys/,
      ],
      ['an OpenSSH certificate', line(cert), notRsaOrEd25519],
      ['a security key', line(securityKey), notRsaOrEd25519],
      ['RSA of 1023 bits', line(fakeRsaBlob(1023)), rsaSize],
      [
        'RSA of 512 bits',
        line(rsaBlob(generateKeyPairSync('rsa', { modulusLength: 512 }).publicKey)),
        rsaSize,
      ],
      ['RSA of 4097 bits', line(fakeRsaBlob(4097)), rsaSize],
      ['RSA of 8192 bits', line(fakeRsaBlob(8192)), rsaSize],
      ['two OpenSSH lines', `${rsaLine}\n${line(ed25519Blob(ed))}\n`, moreThanOne],
      ['two RFC 4716 files', rfc4716(rsaBlob(rsa)) + rfc4716(ed25519Blob(ed)), moreThanOne],
      ['two DER keys, base64', Buffer.concat([rsaSpki, edSpki]).toString('base64'), moreThanOne],
      ['two DER keys, raw', Buffer.concat([rsaSpki, edSpki]), moreThanOne],
      [
        'RFC 4716 without its END line',
        rfc4716(rsaBlob(rsa)).replace('---- END SSH2 PUBLIC KEY ----', ''),
        /no END line/,
      ],
      [
        'a valid key padded past 16 KiB',
        rsaLine + ' '.repeat(16 * 1024),
        /larger than 16384 bytes/,
      ],
      ['16 KiB and one byte', Buffer.alloc(16 * 1024 + 1, 0x41), /larger than 16384 bytes/],
      ['not text or bytes', undefined as unknown as string, /text or bytes/],
      ['a number', 42 as unknown as string, /text or bytes/],
    ];
    for (const [what, material, message] of cases) assertBadKey(material, what, message);
  });

  it('accepts 16 KiB of material exactly', () => {
    const material = line(ed25519Blob(ed));
    assert.deepEqual(parsePublicKey(material.padEnd(16 * 1024, ' ')), edExpected);
  });

  it('agrees with ssh-keygen on keys it made', needs('ssh'), () => {
    for (const [keyType, args] of [
      ['rsa', ['-t', 'rsa', '-b', '3072']],
      ['ed25519', ['-t', 'ed25519']],
    ] as const) {
      const file = path.join(tmp, `imported-${keyType}`);
      run(SSH_KEYGEN, ['-q', ...args, '-N', '', '-C', 'made by ssh-keygen', '-f', file]);
      const openSsh = fs.readFileSync(`${file}.pub`);
      const parsed = parsePublicKey(openSsh);
      assert.equal(parsed.keyType, keyType);
      assert.equal(parsed.publicKey, openSsh.toString().split(' ').slice(0, 2).join(' '));
      // ssh-keygen -e writes RFC 4716 by default.
      assert.deepEqual(
        parsePublicKey(run(SSH_KEYGEN, ['-e', '-f', `${file}.pub`])),
        parsed,
        keyType,
      );

      if (keyType === 'rsa') {
        assert.equal(parsed.bits, 3072);
        // ssh-keygen -e -m PKCS8 | openssl pkey -pubin -outform DER | openssl md5 -c
        const pem = run(SSH_KEYGEN, ['-e', '-m', 'PKCS8', '-f', `${file}.pub`]).toString();
        const der = Buffer.from(
          pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''),
          'base64',
        );
        assert.equal(parsed.fingerprint, colonHex(hash('md5', der)));
      } else {
        const listed = run(SSH_KEYGEN, ['-l', '-f', `${file}.pub`])
          .toString()
          .trim();
        assert.equal(
          listed,
          `256 ${asSshKeygenShows(parsed.fingerprint)} made by ssh-keygen (ED25519)`,
        );
      }
    }
  });
});
