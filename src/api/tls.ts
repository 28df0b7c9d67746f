// The API listeners' certificate and key: read from the PEM files the config names and checked
// before anything starts, so a wrong file is one clear error naming it, not a half-started
// cloud or a listener that fails its first handshake.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import type { TlsFiles } from '../config/index.js';
import { StratusError } from '../errors.js';

/** What an HTTPS listener is built from. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** When the files were read as they are now (mtime of each), to notice a rotation. */
  stamp: string;
  /** The end of the certificate's validity. */
  notAfter: Date;
}

function invalid(id: string, message: string, cause?: unknown): StratusError {
  return new StratusError('invalid', message, {
    resource: 'config',
    id,
    ...(cause === undefined ? {} : { cause }),
  });
}

function readFile(file: string, what: string, key: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw invalid(key, `Cannot read the ${what} '${file}': ${(err as Error).message}`, err);
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----/;

function parseCertificate(pem: Buffer, file: string, what: string, key: string): X509Certificate {
  if (!PEM_CERT.test(pem.toString('latin1')))
    throw invalid(key, `The ${what} '${file}' holds no PEM certificate (BEGIN CERTIFICATE).`);
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw invalid(
      key,
      `The ${what} '${file}' is not a valid PEM certificate: ${(err as Error).message}`,
      err,
    );
  }
}

/** A stamp that changes when either file is replaced or rewritten. */
export function tlsStamp(files: TlsFiles): string {
  return [files.certFile, files.keyFile]
    .map((f) => {
      try {
        const s = fs.statSync(f);
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}

/**
 * Reads and checks the certificate (with its chain), the key, and the CA bundle if one is
 * named: each must be PEM, the key must be the certificate's, and node must accept the pair.
 * Throws a config error naming the file at fault.
 */
export function readTls(files: TlsFiles): TlsMaterial {
  const stamp = tlsStamp(files);
  const cert = readFile(files.certFile, 'TLS certificate file', 'api.tlsCertFile');
  const key = readFile(files.keyFile, 'TLS key file', 'api.tlsKeyFile');
  const x509 = parseCertificate(cert, files.certFile, 'TLS certificate file', 'api.tlsCertFile');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw invalid(
      'api.tlsKeyFile',
      `The TLS key file '${files.keyFile}' is not a usable PEM private key (an unencrypted one is needed): ${(err as Error).message}`,
      err,
    );
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw invalid(
      'api.tlsKeyFile',
      `The TLS key file '${files.keyFile}' does not hold the private key of the certificate in '${files.certFile}'.`,
    );
  }
  try {
    tls.createSecureContext({ cert, key });
  } catch (err) {
    throw invalid(
      'api.tlsCertFile',
      `The TLS certificate '${files.certFile}' and key '${files.keyFile}' cannot serve HTTPS: ${(err as Error).message}`,
      err,
    );
  }
  if (files.caFile !== undefined) {
    const ca = readFile(files.caFile, 'TLS CA file', 'api.tlsCaFile');
    parseCertificate(ca, files.caFile, 'TLS CA file', 'api.tlsCaFile');
  }
  return { cert, key, stamp, notAfter: new Date(x509.validTo) };
}
