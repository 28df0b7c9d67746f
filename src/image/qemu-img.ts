// What `qemu-img` says about a disk image file: its format and virtual size, and whether its
// metadata is consistent (`qemu-img check`), so a cut-short or corrupt file is refused before
// it is stored.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { invalid, StratusError } from '../errors.js';

/** What a probed image file is. */
export interface ImageFileInfo {
  /** qemu-img's format name: 'raw', 'qcow2', 'vmdk', ... */
  format: string;
  /** The size of the disk the guest sees, in bytes. */
  virtualSizeBytes: number;
}

export interface QemuImgOptions {
  /** The qemu-img binary; 'qemu-img' from PATH when absent. */
  binary?: string;
  /** How long one qemu-img run may take before it is stopped, in milliseconds. */
  timeoutMs?: number;
  /**
   * The prlimit binary that caps `qemu-img info` at 1 GiB of address space and 30 s of CPU,
   * since a crafted image can make it use far more (CVE-2015-5162);
   * `/usr/bin/prlimit` when it exists. Null: no caps.
   */
  prlimit?: string | null;
}

/** Caps for `qemu-img info` on data from users. */
const INFO_LIMITS = ['--as=1073741824', '--cpu=30'];

/** Exit codes of `qemu-img check`: 3 is leaked clusters (harmless), 63 "no check for this format". */
const CHECK_OK = new Set([0, 3, 63]);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export class QemuImg {
  readonly #binary: string;
  readonly #timeoutMs: number;
  readonly #prlimit: string | null;

  constructor(options: QemuImgOptions = {}) {
    this.#binary = options.binary ?? 'qemu-img';
    this.#timeoutMs = options.timeoutMs ?? 120_000;
    this.#prlimit =
      options.prlimit !== undefined
        ? options.prlimit
        : fs.existsSync('/usr/bin/prlimit')
          ? '/usr/bin/prlimit'
          : null;
  }

  /**
   * Probes `file`: its format (detected by qemu-img), virtual size and consistency. Throws an
   * `invalid` error naming the file (or `label`, e.g. "The uploaded data", which then replaces
   * the path in qemu-img's words) when qemu-img cannot open it or finds it corrupt, and an
   * `unavailable` error when qemu-img itself cannot be run.
   */
  async probe(
    file: string,
    options: { label?: string } = {},
  ): Promise<ImageFileInfo & { backingFile: string | null }> {
    // An upload's messages name the data, not the server's own path for it.
    const what = options.label ?? `The file ${file}`;
    const hide = (text: string) => (options.label ? text.split(file).join('the data') : text);
    const info = await this.#run(['info', '--output=json', file], { limited: true });
    if (info.code !== 0) {
      throw invalid(`${what} is not a readable disk image: ${hide(reason(info))}`, {
        resource: 'image_file',
        id: options.label ? undefined : file,
      });
    }
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(info.stdout) as Record<string, unknown>;
    } catch (err) {
      throw new StratusError('internal', `qemu-img info printed no JSON for ${file}.`, {
        cause: err,
      });
    }
    const format = typeof parsed['format'] === 'string' ? parsed['format'] : '';
    const virtualSizeBytes = Number(parsed['virtual-size'] ?? 0);
    const backing = parsed['backing-filename'] ?? parsed['full-backing-filename'];
    // An image over a backing file is refused by the callers, before `check` would open it.
    if (typeof backing === 'string') return { format, virtualSizeBytes, backingFile: backing };
    refuseExternalData(what, parsed);
    const check = await this.#run(['check', '--output=json', '-f', format, file]);
    if (!CHECK_OK.has(check.code)) {
      throw invalid(
        `${what} is a damaged or incomplete ${format} image (it may be cut short): ${hide(checkFindings(check))}.`,
        { resource: 'image_file', id: options.label ? undefined : file },
      );
    }
    return {
      format,
      virtualSizeBytes,
      backingFile: typeof backing === 'string' ? backing : null,
    };
  }

  /**
   * Makes a new, empty qcow2 file of `sizeBytes` virtual size (sparse: it takes little room
   * until written). Throws `internal` naming the file when qemu-img refuses.
   */
  async createQcow2(file: string, sizeBytes: number): Promise<void> {
    const run = await this.#run(['create', '-q', '-f', 'qcow2', file, String(sizeBytes)]);
    if (run.code !== 0) {
      throw new StratusError('internal', `qemu-img could not create ${file}: ${reason(run)}`, {
        resource: 'qemu-img',
      });
    }
  }

  /** Grows a qcow2 file's virtual size to `sizeBytes`. Throws `internal` when qemu-img refuses. */
  async growQcow2(file: string, sizeBytes: number): Promise<void> {
    const run = await this.#run(['resize', '-q', '-f', 'qcow2', file, String(sizeBytes)]);
    if (run.code !== 0) {
      throw new StratusError('internal', `qemu-img could not resize ${file}: ${reason(run)}`, {
        resource: 'qemu-img',
      });
    }
  }

  /**
   * Copies the image `source` (in `sourceFormat`, read through any backing chain) into a new
   * self-contained file `target` in `targetFormat` (no backing file; unwritten clusters stay
   * unallocated in qcow2). qemu-img opens `source` without sharing write access (no `-U`), so it
   * refuses an image another process has open for writing instead of copying it while it
   * changes. Throws `internal` naming both files when qemu-img refuses; nothing is left at
   * `target` then.
   */
  async convert(
    source: string,
    sourceFormat: string,
    target: string,
    targetFormat: 'raw' | 'qcow2',
  ): Promise<void> {
    const run = await this.#run([
      'convert',
      '-q',
      '-f',
      sourceFormat,
      '-O',
      targetFormat,
      source,
      target,
    ]);
    if (run.code !== 0) {
      fs.rmSync(target, { force: true });
      throw new StratusError(
        'internal',
        `qemu-img could not copy ${source} to ${target}: ${reason(run)}`,
        { resource: 'qemu-img' },
      );
    }
  }

  #run(args: readonly string[], options: { limited?: boolean } = {}): Promise<Run> {
    const prlimit = options.limited ? this.#prlimit : null;
    const [command, argv] = prlimit
      ? [prlimit, [...INFO_LIMITS, this.#binary, ...args]]
      : [this.#binary, [...args]];
    return new Promise((resolve, reject) => {
      execFile(
        command,
        argv,
        {
          timeout: this.#timeoutMs,
          maxBuffer: 4 * 1024 * 1024,
          env: { ...process.env, LC_ALL: 'C' },
        },
        (err, stdout, stderr) => {
          const e = err as (NodeJS.ErrnoException & { code?: unknown; killed?: boolean }) | null;
          if (e && typeof e.code === 'string') {
            reject(
              new StratusError(
                'unavailable',
                `Cannot run ${this.#binary} (${e.code}); install qemu-utils.`,
                { resource: 'qemu-img', cause: e },
              ),
            );
            return;
          }
          // prlimit itself ran but could not start qemu-img.
          const notStarted =
            prlimit !== null && Number(e?.code) === 127 && /failed to execute/.test(stderr);
          if (notStarted) {
            reject(
              new StratusError('unavailable', `Cannot run ${this.#binary}; install qemu-utils.`, {
                resource: 'qemu-img',
              }),
            );
            return;
          }
          if (e?.killed) {
            resolve({ code: -1, stdout, stderr: `timed out after ${this.#timeoutMs} ms` });
            return;
          }
          resolve({ code: e ? Number(e.code ?? 1) : 0, stdout, stderr });
        },
      );
    });
  }
}

/**
 * Refuses images that keep their data in other files, which a guest booting them would read:
 * a qcow2 with an external data file, a vmdk whose extents are separate files.
 */
function refuseExternalData(what: string, info: Record<string, unknown>): void {
  const specific = info['format-specific'] as { type?: string; data?: Record<string, unknown> };
  const data = specific?.data ?? {};
  if (specific?.type === 'qcow2' && typeof data['data-file'] === 'string') {
    throw invalid(
      `${what} is a qcow2 image with an external data file; import a self-contained image (qemu-img convert makes one).`,
      { resource: 'image_file', reason: 'external_data' },
    );
  }
  const createType = data['create-type'];
  if (
    specific?.type === 'vmdk' &&
    createType !== 'monolithicSparse' &&
    createType !== 'streamOptimized'
  ) {
    throw invalid(
      `${what} is a vmdk image of type ${String(createType)}, which keeps its data in other files; only monolithicSparse and streamOptimized vmdk images are accepted.`,
      { resource: 'image_file', reason: 'external_data' },
    );
  }
}

/** What `qemu-img check` found, briefly: the counts and its first complaint. */
function checkFindings(run: Run): string {
  let counts = '';
  try {
    const r = JSON.parse(run.stdout) as Record<string, unknown>;
    const n = Number(r['corruptions'] ?? 0) + Number(r['check-errors'] ?? 0);
    if (n > 0) counts = `qemu-img check found ${n} error${n === 1 ? '' : 's'}`;
  } catch {
    // no JSON: qemu-img could not even start the check
  }
  const first = reason({ ...run, stdout: '' })
    .split('; ')[0]
    ?.replace(/^ERROR:?\s*/, '')
    .replace(/:\s*offset .*$/, '');
  return [counts, first].filter((x) => x).join(', first: ') || `exit code ${run.code}`;
}

/** qemu-img's own complaint, on one line. */
function reason(run: Run): string {
  const text = `${run.stderr}\n${run.stdout}`
    .split('\n')
    .map((l) => l.replace(/^qemu-img:\s*/, '').trim())
    .filter((l) => l && !l.startsWith('{') && !l.startsWith('}') && !l.startsWith('"'));
  const shown = text.slice(0, 3).join('; ');
  return shown || `exit code ${run.code}`;
}
