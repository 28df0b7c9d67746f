// Disks: the per-host cache of base images (each image file copied from the store once) and
// the copy-on-write qcow2 overlay each instance writes to.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ImageInfo {
  format: string;
  virtualSize: number;
}

export class BaseImageCache {
  readonly #dir: string;
  readonly #qemuImg: string;
  readonly #copying = new Map<string, Promise<string>>();

  constructor(dir: string, qemuImg: string) {
    this.#dir = dir;
    this.#qemuImg = qemuImg;
  }

  /**
   * This host's copy of `source`, made once: keyed by the file's path, size and modification
   * time, written under a temporary name and renamed, so concurrent spawns (in this process or
   * another) never see half a file.
   */
  async ensure(source: string, suffix: string): Promise<string> {
    const st = await fs.promises.stat(source).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`The image file ${source} cannot be read (${err.code ?? err.message}).`);
    });
    if (!st.isFile()) throw new Error(`The image file ${source} is not a regular file.`);
    const key = createHash('sha256')
      .update(`${path.resolve(source)}\0${st.size}\0${st.mtimeMs}`)
      .digest('hex')
      .slice(0, 32);
    const target = path.join(this.#dir, `${key}.${suffix}`);
    const busy = this.#copying.get(target);
    if (busy) return busy;
    const work = (async () => {
      if (fs.existsSync(target)) return target;
      await fs.promises.mkdir(this.#dir, { recursive: true });
      const tmp = `${target}.tmp-${randomBytes(4).toString('hex')}`;
      try {
        await fs.promises.copyFile(source, tmp, fs.constants.COPYFILE_FICLONE);
        await fs.promises.chmod(tmp, 0o444);
        await fs.promises.rename(tmp, target);
      } catch (err) {
        await fs.promises.rm(tmp, { force: true });
        throw err;
      }
      return target;
    })();
    this.#copying.set(target, work);
    try {
      return await work;
    } finally {
      this.#copying.delete(target);
    }
  }

  /** Removes temporary files a crashed copy left behind. */
  sweep(): void {
    if (!fs.existsSync(this.#dir)) return;
    for (const f of fs.readdirSync(this.#dir)) {
      if (f.includes('.tmp-')) fs.rmSync(path.join(this.#dir, f), { force: true });
    }
  }

  async info(file: string): Promise<ImageInfo> {
    const { stdout } = await run(this.#qemuImg, ['info', '--output=json', '-U', file]);
    const j = JSON.parse(stdout) as { format: string; 'virtual-size': number };
    return { format: j.format, virtualSize: j['virtual-size'] };
  }

  /**
   * Creates the instance's qcow2 overlay over `base` (whose format is `format`, probed when it
   * is neither 'qcow2' nor 'raw'), at least `sizeGb` GiB and never smaller than the base.
   */
  async createOverlay(
    base: string,
    format: string,
    overlay: string,
    sizeGb: number,
  ): Promise<void> {
    const info = await this.info(base);
    const fmt = format === 'qcow2' || format === 'raw' ? format : info.format;
    if (fmt !== 'qcow2' && fmt !== 'raw') {
      throw new Error(`The image ${base} is in the unsupported format '${fmt}'.`);
    }
    const size = Math.max(sizeGb * 1024 ** 3, info.virtualSize);
    await run(this.#qemuImg, [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-F',
      fmt,
      '-b',
      base,
      overlay,
      String(size),
    ]);
  }

  /** Grows the qcow2 `file` to `sizeGb` GiB; a disk already that large or larger is left alone. */
  async grow(file: string, sizeGb: number): Promise<void> {
    const info = await this.info(file);
    const size = sizeGb * 1024 ** 3;
    if (size <= info.virtualSize) return;
    await run(this.#qemuImg, ['resize', '-q', '-f', 'qcow2', file, String(size)]);
  }
}
