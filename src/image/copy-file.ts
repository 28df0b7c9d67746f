// Streamed writes of image files that compute the SHA-256 (and the MD5 and SHA-512 the Image
// API shows) of what they write and report
// progress: a copy of a local file, or data arriving on a stream (an upload).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { invalid } from '../errors.js';

/** How far a copy has come. */
export interface CopyProgress {
  copiedBytes: number;
  totalBytes: number;
}

export interface CopyResult {
  bytes: number;
  /** Lower-case hex SHA-256 of the bytes copied. */
  sha256: string;
  /** Lower-case hex MD5 and SHA-512 of the bytes copied (null when not known). */
  md5: string | null;
  sha512: string | null;
}

/**
 * Copies `from` to `to`, which must not exist yet (it is created exclusively, mode 0600), and
 * flushes it to disk. `onProgress` is called after each chunk; if it throws, the copy stops
 * with that error. On any failure `to` may be left partly written: the caller removes it.
 */
export function copyFile(
  from: string,
  to: string,
  totalBytes: number,
  onProgress?: (p: CopyProgress) => void,
): Promise<CopyResult> {
  return writeStream(fs.createReadStream(from, { highWaterMark: 1024 * 1024 }), to, {
    totalBytes,
    onProgress,
  });
}

/**
 * Writes everything `source` yields to `to` (created exclusively, mode 0600) and flushes it
 * to disk. Stops with an error when the source fails (a client that went away), when more
 * than `maxBytes` arrive (an `invalid` error, reason 'too_large'), or when `onProgress` throws. On any failure `to` may be left partly
 * written: the caller removes it.
 */
export async function writeStream(
  source: Readable,
  to: string,
  options: {
    /** The expected size, for progress reports. */
    totalBytes?: number;
    maxBytes?: number;
    onProgress?: (p: CopyProgress) => void;
  } = {},
): Promise<CopyResult> {
  const hash = createHash('sha256');
  const md5 = createHash('md5');
  const sha512 = createHash('sha512');
  let copiedBytes = 0;
  const totalBytes = options.totalBytes ?? 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      md5.update(chunk);
      sha512.update(chunk);
      copiedBytes += chunk.length;
      if (options.maxBytes !== undefined && copiedBytes > options.maxBytes) {
        done(
          invalid(`The data is larger than the limit of ${options.maxBytes} bytes.`, {
            resource: 'image_file',
            reason: 'too_large',
          }),
        );
        return;
      }
      try {
        options.onProgress?.({ copiedBytes, totalBytes });
      } catch (err) {
        done(err as Error);
        return;
      }
      done(null, chunk);
    },
  });
  const out = fs.createWriteStream(to, { flags: 'wx', mode: 0o600 });
  await pipeline(source, tap, out);
  const fd = await fs.promises.open(to, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
  return {
    bytes: copiedBytes,
    sha256: hash.digest('hex'),
    md5: md5.digest('hex'),
    sha512: sha512.digest('hex'),
  };
}
