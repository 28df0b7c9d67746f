// Key pair cryptography for CreateKeyPair, ImportKeyPair and DescribeKeyPairs: generating
// keys, reading the public key formats EC2 accepts, and fingerprinting keys the way EC2
// shows them. node:crypto does the keys and digests; sshpk converts to and from SSH formats.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import sshpk from 'sshpk';
import { invalid, StratusError } from '../errors.js';

export type KeyType = 'rsa' | 'ed25519';

export interface GeneratedKeyPair {
  keyType: KeyType;
  /** One line: 'ssh-rsa AAAA... ' / 'ssh-ed25519 AAAA...' (with the comment given, if any). */
  publicKey: string;
  /** Returned once by CreateKeyPair and never stored: RSA as PKCS#1 PEM, ED25519 as an OpenSSH private key. */
  privateKey: string;
  /** The fingerprint EC2 shows for a key it created. */
  fingerprint: string;
}

export interface ParsedPublicKey {
  keyType: KeyType;
  /** One-line OpenSSH form, without a comment. */
  publicKey: string;
  /** The fingerprint EC2 shows for an imported key. */
  fingerprint: string;
  bits?: number;
}

/** Public key material larger than this is refused before any parsing. */
const MAX_MATERIAL_BYTES = 16 * 1024;
const MIN_RSA_BITS = 1024;
const MAX_RSA_BITS = 4096;

const SSH_ALGORITHM: Record<KeyType, string> = { rsa: 'ssh-rsa', ed25519: 'ssh-ed25519' };
/** The wire form of an ED25519 public key: string "ssh-ed25519" (4 + 11) and a 32-byte point (4 + 32). */
const ED25519_BLOB_BYTES = 51;

/**
 * Creates a key pair as CreateKeyPair does: RSA 2048 or ED25519. Only the 'pem' format is
 * produced; sshpk cannot write PuTTY private keys, so 'ppk' is refused.
 */
export function generateKeyPair(
  keyType: KeyType,
  options: { format?: 'pem' | 'ppk'; comment?: string } = {},
): GeneratedKeyPair {
  if (keyType !== 'rsa' && keyType !== 'ed25519') {
    throw invalid(`The key type '${String(keyType)}' is not supported; use 'rsa' or 'ed25519'.`, {
      resource: 'keypair',
      reason: 'key_type',
    });
  }
  const format = options.format ?? 'pem';
  if (format === 'ppk') {
    throw invalid('Private keys in PuTTY (ppk) format are not supported; use the pem format.', {
      resource: 'keypair',
    });
  }
  if (format !== 'pem') {
    throw invalid(`The key format '${String(format)}' is not supported; use 'pem'.`, {
      resource: 'keypair',
    });
  }
  const comment = options.comment ?? '';
  // The public key is stored and handed to instances as one authorized_keys line.
  if ([...comment].some((c) => c < ' ' || c === '\x7f')) {
    throw invalid('A key comment must be a single line of printable text.', {
      resource: 'keypair',
    });
  }
  return keyType === 'rsa' ? generateRsa(comment) : generateEd25519(comment);
}

function generateRsa(comment: string): GeneratedKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicExponent: 0x10001,
  });
  return {
    keyType: 'rsa',
    publicKey: withComment(openSshLine('rsa', sshBlob(publicKey)), comment),
    privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    // EC2 fingerprints RSA keys it created by the private half: SHA-1 of its PKCS#8 DER form.
    fingerprint: colonHex(digest('sha1', privateKey.export({ type: 'pkcs8', format: 'der' }))),
  };
}

function generateEd25519(comment: string): GeneratedKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  // node:crypto cannot write the OpenSSH private key format; sshpk converts from PKCS#8.
  const sshPrivate = sshpk.parsePrivateKey(
    privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    'pkcs8',
  );
  sshPrivate.comment = comment;
  const blob = sshBlob(publicKey);
  return {
    keyType: 'ed25519',
    publicKey: withComment(openSshLine('ed25519', blob), comment),
    privateKey: sshPrivate.toString('openssh'),
    fingerprint: sha256Fingerprint(blob),
  };
}

/**
 * Reads public key material as ImportKeyPair accepts it: an OpenSSH public key line, an SSH2
 * (RFC 4716) public key file, or DER (SubjectPublicKeyInfo or PKCS#1) as raw bytes, base64
 * or PEM. Anything else throws invalid() with reason 'key_format'.
 */
export function parsePublicKey(material: string | Buffer): ParsedPublicKey {
  try {
    return describe(readPublicKey(material));
  } catch (err) {
    if (err instanceof StratusError) throw err;
    // Library parse errors are not for users; they all mean the material is not a usable key.
    throw badKey('The public key material is not a valid RSA or ED25519 public key.', err);
  }
}

function readPublicKey(material: unknown): KeyObject {
  if (typeof material !== 'string' && !Buffer.isBuffer(material)) {
    throw badKey('The public key material must be text or bytes.');
  }
  const size = typeof material === 'string' ? Buffer.byteLength(material) : material.length;
  if (size > MAX_MATERIAL_BYTES) {
    throw badKey(`The public key material is larger than ${MAX_MATERIAL_BYTES} bytes.`);
  }
  // Every DER key starts with a SEQUENCE tag; no text form starts with that byte.
  if (Buffer.isBuffer(material) && material[0] === 0x30) return fromDer(material);

  const text = (typeof material === 'string' ? material : material.toString('utf8')).trim();
  if (text === '') throw badKey('The public key material is empty.');
  if (/PRIVATE KEY/.test(text) || /^PuTTY-User-Key-File-/i.test(text)) throw privateKeyGiven();
  if ((text.match(/BEGIN /g) ?? []).length > 1) throw moreThanOneKey();

  if (text.startsWith('---- BEGIN SSH2 PUBLIC KEY ----')) return fromRfc4716(text);
  const pem =
    /^-----BEGIN (RSA )?PUBLIC KEY-----\r?\n([\s\S]*)\r?\n-----END \1PUBLIC KEY-----$/.exec(text);
  if (pem) return fromDer(strictBase64(pem[2] ?? ''));
  // An OpenSSH line starts with its key type and a space; base64 DER has no spaces.
  if (/^\S+[ \t]/.test(text)) return fromOpenSsh(text);
  if (/^[A-Za-z0-9+/=\s]+$/.test(text)) return fromDer(strictBase64(text));
  throw badKey(
    'The public key material is not in a format that can be imported: use an OpenSSH public key, an SSH2 (RFC 4716) public key file or base64-encoded DER.',
  );
}

function fromOpenSsh(text: string): KeyObject {
  // authorized_keys style: blank lines and '#' lines carry no key.
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  if (lines.length > 1) throw moreThanOneKey();
  const m = /^(\S+)[ \t]+([A-Za-z0-9+/]+={0,2})(?:[ \t]+.*)?$/.exec(lines[0] ?? '');
  if (!m) throw badKey('The OpenSSH public key line is malformed.');
  return fromSshBlob(strictBase64(m[2] ?? ''), m[1]);
}

/** RFC 4716: header lines ('Tag: value', continued by a trailing backslash), then base64. */
function fromRfc4716(text: string): KeyObject {
  const lines = text.split(/\r?\n/).map((line) => line.trim());
  if (lines[lines.length - 1] !== '---- END SSH2 PUBLIC KEY ----') {
    throw badKey('The SSH2 public key file has no END line.');
  }
  const body: string[] = [];
  let continued = false;
  for (const line of lines.slice(1, -1)) {
    if (continued || /^[^:\s]{1,64}:/.test(line)) continued = line.endsWith('\\');
    else body.push(line);
  }
  return fromSshBlob(strictBase64(body.join('')));
}

/** An SSH wire-format public key (RFC 4253), optionally checked against the type named beside it. */
function fromSshBlob(blob: Buffer, declaredAlgorithm?: string): KeyObject {
  const algorithm = sshAlgorithm(blob);
  if (algorithm === undefined) throw badKey('The key data is not an SSH public key.');
  if (declaredAlgorithm !== undefined && declaredAlgorithm !== algorithm) {
    throw badKey('The key type written before the key data does not match the key data.');
  }
  if (algorithm !== SSH_ALGORITHM.rsa && algorithm !== SSH_ALGORITHM.ed25519) {
    throw unsupportedType(sshTypeName(algorithm));
  }
  if (algorithm === SSH_ALGORITHM.ed25519 && blob.length !== ED25519_BLOB_BYTES) {
    throw badKey('The ED25519 key data has the wrong length.');
  }
  const key = sshpk.parseKey(blob, 'rfc4253');
  // sshpk reads a blob with private parts as a private key.
  if (key instanceof sshpk.PrivateKey) throw privateKeyGiven();
  return createPublicKey(key.toString('pkcs8'));
}

function fromDer(der: Buffer): KeyObject {
  // node:crypto derives a public key from private DER too, so private keys are caught first.
  for (const type of ['pkcs8', 'pkcs1'] as const) {
    if (succeeds(() => createPrivateKey({ key: der, format: 'der', type }))) {
      throw privateKeyGiven();
    }
  }
  for (const type of ['spki', 'pkcs1'] as const) {
    let key: KeyObject;
    try {
      key = createPublicKey({ key: der, format: 'der', type });
    } catch {
      continue;
    }
    // OpenSSL ignores bytes after the key; anything there (a second key, say) is refused.
    if (!key.export({ type, format: 'der' }).equals(der)) throw moreThanOneKey();
    return key;
  }
  throw badKey('The DER data is not a public key.');
}

/** The checks and the stored form shared by every input format. */
function describe(key: KeyObject): ParsedPublicKey {
  const type = key.asymmetricKeyType;
  if (type !== 'rsa' && type !== 'ed25519') {
    throw unsupportedType(type === 'ec' ? 'ECDSA' : (type ?? 'unknown').toUpperCase());
  }
  const blob = sshBlob(key);
  if (type === 'ed25519') {
    return {
      keyType: 'ed25519',
      publicKey: openSshLine('ed25519', blob),
      fingerprint: sha256Fingerprint(blob),
      bits: 256,
    };
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
    throw badKey(
      `RSA keys must be ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits long; this one is ${bits} bits.`,
    );
  }
  return {
    keyType: 'rsa',
    publicKey: openSshLine('rsa', blob),
    // EC2 fingerprints imported RSA keys by MD5 of the DER SubjectPublicKeyInfo.
    fingerprint: colonHex(digest('md5', key.export({ type: 'spki', format: 'der' }))),
    bits,
  };
}

/** The SSH wire form of a public key, which the OpenSSH line and ED25519 fingerprints use. */
function sshBlob(key: KeyObject): Buffer {
  const spki = key.export({ type: 'spki', format: 'pem' }).toString();
  return sshpk.parseKey(spki, 'pkcs8').toBuffer('rfc4253');
}

/** The algorithm name a wire-format key starts with, if it starts with a plausible one. */
function sshAlgorithm(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (length < 1 || length > 64 || 4 + length > blob.length) return undefined;
  const name = blob.toString('latin1', 4, 4 + length);
  return /^[\x21-\x7e]+$/.test(name) ? name : undefined;
}

function sshTypeName(algorithm: string): string {
  if (algorithm === 'ssh-dss') return 'DSA';
  if (algorithm.startsWith('ecdsa-')) return 'ECDSA';
  return `'${algorithm}'`;
}

function openSshLine(keyType: KeyType, blob: Buffer): string {
  return `${SSH_ALGORITHM[keyType]} ${blob.toString('base64')}`;
}

function withComment(line: string, comment: string): string {
  return comment === '' ? line : `${line} ${comment}`;
}

/** EC2's ED25519 fingerprint: base64 SHA-256 of the wire form, '=' padding kept, no 'SHA256:' prefix. */
function sha256Fingerprint(blob: Buffer): string {
  return digest('sha256', blob).toString('base64');
}

function digest(algorithm: 'md5' | 'sha1' | 'sha256', data: Buffer): Buffer {
  return createHash(algorithm).update(data).digest();
}

function colonHex(bytes: Buffer): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Decodes base64 (whitespace allowed), refusing anything Buffer.from would silently skip. */
function strictBase64(text: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  const bytes = Buffer.from(compact, 'base64');
  if (compact === '' || bytes.toString('base64') !== compact) {
    throw badKey('The key data is not valid base64.');
  }
  return bytes;
}

function succeeds(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch {
    return false;
  }
}

function badKey(message: string, cause?: unknown): StratusError {
  return invalid(message, { resource: 'keypair', reason: 'key_format', cause });
}

function privateKeyGiven(): StratusError {
  return badKey('The material is a private key; import only the public key.');
}

function moreThanOneKey(): StratusError {
  return badKey('The public key material holds more than one key; import one key at a time.');
}

function unsupportedType(name: string): StratusError {
  return badKey(`Only RSA and ED25519 keys can be imported, not ${name} keys.`);
}
