// A streamed file copy that computes the SHA-256 of what it copies and reports progress.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** How far a copy has come. */
export interface CopyProgress {
  copiedBytes: number;
  totalBytes: number;
}

export interface CopyResult {
  bytes: number;
  /** Lower-case hex SHA-256 of the bytes copied. */
  sha256: string;
}

/**
 * Copies `from` to `to`, which must not exist yet (it is created exclusively, mode 0600), and
 * flushes it to disk. `onProgress` is called after each chunk; if it throws, the copy stops
 * with that error. On any failure `to` may be left partly written: the caller removes it.
 */
export async function copyFile(
  from: string,
  to: string,
  totalBytes: number,
  onProgress?: (p: CopyProgress) => void,
): Promise<CopyResult> {
  const hash = createHash('sha256');
  let copiedBytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      copiedBytes += chunk.length;
      try {
        onProgress?.({ copiedBytes, totalBytes });
      } catch (err) {
        done(err as Error);
        return;
      }
      done(null, chunk);
    },
  });
  const out = fs.createWriteStream(to, { flags: 'wx', mode: 0o600 });
  await pipeline(fs.createReadStream(from, { highWaterMark: 1024 * 1024 }), tap, out);
  const fd = await fs.promises.open(to, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
  return { bytes: copiedBytes, sha256: hash.digest('hex') };
}
