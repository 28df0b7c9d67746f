// The volume host's NBD exports: one qemu-storage-daemon per volume host, started detached
// (it outlives the volume service, which adopts it again at start), controlled over its QMP
// socket. Each exported volume is a qcow2 node of the daemon and an NBD export named by the
// volume id on the daemon's one NBD server (a TCP address of the host).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { StratusError } from '../errors.js';
import type { Logger } from '../log.js';
import { freePort } from '../ports.js';
import { isQemuProcess, QmpClient } from '../virt/index.js';

/** Where a compute host reaches an exported volume. */
export interface NbdExport {
  host: string;
  port: number;
  exportName: string;
}

export interface NbdExportsOptions {
  /** The daemon's own directory (QMP socket, pid file, its settings). */
  directory: string;
  /** The address the NBD server listens on and compute hosts connect to. */
  address: string;
  /** Its TCP port; 0: one chosen at the first start and kept in the directory. */
  port: number;
  /**
   * A network namespace the daemon runs in (its NBD server listens on `address` there), for a
   * volume host whose address lives in a namespace (the multi-host lab's storage host).
   */
  namespace?: string | undefined;
  /** Default: qemu-storage-daemon from PATH. */
  binary?: string;
  logger?: Logger;
}

const FILES = { socket: 'qsd.sock', pid: 'qsd.pid', settings: 'qsd.json' } as const;

/** The daemon's node of a volume (node names: at most 31 characters, a letter first). */
export function volumeNode(volumeId: string): string {
  return `v${volumeId.replace(/[^0-9a-zA-Z]/g, '').slice(0, 30)}`;
}

function exportId(volumeId: string): string {
  return `x-${volumeId}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class NbdExports {
  readonly #opts: NbdExportsOptions;
  /** One daemon change (start, export, unexport) at a time. */
  #queue: Promise<unknown> = Promise.resolve();
  #port: number | undefined;
  /** A daemon was started (by any call) since ensure() last said so. */
  #started = false;

  constructor(options: NbdExportsOptions) {
    this.#opts = options;
  }

  /** The daemon's pid when it runs. */
  pid(): number | undefined {
    try {
      const pid = Number(fs.readFileSync(this.#file('pid'), 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 && isQemuProcess(pid, this.#file('socket'))
        ? pid
        : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Makes sure the daemon runs: adopts the one that runs, or starts one. True when it was
   * started since the last call (it then exported nothing; the caller exports again what
   * should be).
   */
  ensure(): Promise<boolean> {
    return this.#serial(async () => {
      await this.#ensure();
      const started = this.#started;
      this.#started = false;
      return started;
    });
  }

  /** Exports the volume's file (idempotent) and says where it is reached. */
  export(volumeId: string, file: string): Promise<NbdExport> {
    return this.#serial(async () => {
      await this.#ensure();
      if (!fs.existsSync(file)) {
        throw new StratusError('not_found', `The file of volume '${volumeId}' is gone.`, {
          resource: 'volume',
          id: volumeId,
        });
      }
      await this.#withQmp(async (qmp) => {
        if ((await this.#exports(qmp)).has(exportId(volumeId))) return;
        if (!(await this.#nodes(qmp)).has(volumeNode(volumeId))) {
          await qmp.execute('blockdev-add', {
            driver: 'qcow2',
            'node-name': volumeNode(volumeId),
            file: { driver: 'file', filename: file },
          });
        }
        await qmp.execute('block-export-add', {
          type: 'nbd',
          id: exportId(volumeId),
          'node-name': volumeNode(volumeId),
          name: volumeId,
          writable: true,
        });
      });
      return { host: this.#opts.address, port: this.#port as number, exportName: volumeId };
    });
  }

  /** Removes the volume's export (cutting any client) and closes its file. Idempotent. */
  unexport(volumeId: string): Promise<void> {
    return this.#serial(async () => {
      if (this.pid() === undefined) return;
      await this.#withQmp((qmp) => this.#unexport(qmp, volumeId));
    });
  }

  /**
   * Grows an exported volume to `sizeBytes`: the export is removed (an NBD export does not let
   * its node be resized), the node resized and the export made again. Clients reconnect.
   */
  grow(volumeId: string, file: string, sizeBytes: number): Promise<NbdExport> {
    return this.#serial(async () => {
      await this.#ensure();
      await this.#withQmp(async (qmp) => {
        if ((await this.#exports(qmp)).has(exportId(volumeId))) {
          await qmp.execute('block-export-del', { id: exportId(volumeId), mode: 'hard' });
          await this.#waitExportGone(qmp, volumeId);
        }
        if (!(await this.#nodes(qmp)).has(volumeNode(volumeId))) {
          await qmp.execute('blockdev-add', {
            driver: 'qcow2',
            'node-name': volumeNode(volumeId),
            file: { driver: 'file', filename: file },
          });
        }
        await qmp.execute('block_resize', { 'node-name': volumeNode(volumeId), size: sizeBytes });
        await qmp.execute('block-export-add', {
          type: 'nbd',
          id: exportId(volumeId),
          'node-name': volumeNode(volumeId),
          name: volumeId,
          writable: true,
        });
      });
      return { host: this.#opts.address, port: this.#port as number, exportName: volumeId };
    });
  }

  /**
   * Ends the daemon and with it every export (an operator taking the host down, or a test
   * cleaning up); the volume service does not call it, as the daemon outlives it.
   */
  async stop(): Promise<void> {
    const pid = this.pid();
    if (pid === undefined) return;
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (isQemuProcess(pid, this.#file('socket')) && Date.now() < deadline) await sleep(50);
    if (isQemuProcess(pid, this.#file('socket'))) process.kill(pid, 'SIGKILL');
  }

  /** The ids of the volumes exported now ([] when the daemon does not run). */
  exported(): Promise<string[]> {
    return this.#serial(async () => {
      if (this.pid() === undefined) return [];
      return this.#withQmp(async (qmp) =>
        [...(await this.#exports(qmp))].map((id) => id.slice('x-'.length)),
      );
    });
  }

  async #ensure(): Promise<boolean> {
    const dir = this.#opts.directory;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const settings = this.#settings();
    if (this.pid() !== undefined && settings) {
      this.#port = settings.port;
      return false;
    }
    const port = this.#opts.port || settings?.port || (await freePort());
    for (const f of ['socket', 'pid'] as const) fs.rmSync(this.#file(f), { force: true });
    const args = [
      '--chardev',
      `socket,id=qmp0,path=${this.#file('socket')},server=on,wait=off`,
      '--monitor',
      'chardev=qmp0',
      '--nbd-server',
      `addr.type=inet,addr.host=${this.#opts.address},addr.port=${port}`,
      '--pidfile',
      this.#file('pid'),
      '--daemonize',
    ];
    const binary = this.#opts.binary ?? 'qemu-storage-daemon';
    const ns = this.#opts.namespace;
    await new Promise<void>((resolve, reject) => {
      execFile(
        ns ? 'ip' : binary,
        ns ? ['netns', 'exec', ns, binary, ...args] : args,
        { timeout: 30_000 },
        (err, _out, stderr) => {
          if (err) {
            reject(
              new StratusError(
                'unavailable',
                `The storage daemon did not start: ${String(stderr).trim() || err.message}`,
                { resource: 'volume', cause: err },
              ),
            );
          } else resolve();
        },
      );
    });
    fs.writeFileSync(this.#file('settings'), `${JSON.stringify({ port })}\n`);
    this.#port = port;
    this.#started = true;
    this.#opts.logger?.info(
      { pid: this.pid(), address: this.#opts.address, port },
      'storage daemon started',
    );
    return true;
  }

  #settings(): { port: number } | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.#file('settings'), 'utf8')) as { port: number };
    } catch {
      return undefined;
    }
  }

  async #unexport(qmp: QmpClient, volumeId: string): Promise<void> {
    if ((await this.#exports(qmp)).has(exportId(volumeId))) {
      await qmp.execute('block-export-del', { id: exportId(volumeId), mode: 'hard' });
      await this.#waitExportGone(qmp, volumeId);
    }
    if ((await this.#nodes(qmp)).has(volumeNode(volumeId))) {
      await qmp.execute('blockdev-del', { 'node-name': volumeNode(volumeId) });
    }
  }

  /** An export ends after its clients are cut, a moment after block-export-del returns. */
  async #waitExportGone(qmp: QmpClient, volumeId: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    while ((await this.#exports(qmp)).has(exportId(volumeId))) {
      if (Date.now() > deadline) {
        throw new StratusError(
          'unavailable',
          `The export of volume '${volumeId}' did not end in time.`,
          { resource: 'volume', id: volumeId },
        );
      }
      await sleep(50);
    }
  }

  async #exports(qmp: QmpClient): Promise<Set<string>> {
    const list = await qmp.execute<{ id: string }[]>('query-block-exports');
    return new Set(list.map((e) => e.id));
  }

  async #nodes(qmp: QmpClient): Promise<Set<string>> {
    const list = await qmp.execute<{ 'node-name': string }[]>('query-named-block-nodes', {
      flat: true,
    });
    return new Set(list.map((n) => n['node-name']));
  }

  async #withQmp<T>(fn: (qmp: QmpClient) => Promise<T>): Promise<T> {
    let qmp: QmpClient;
    try {
      qmp = await QmpClient.connect(this.#file('socket'), 10_000);
    } catch (err) {
      throw new StratusError(
        'unavailable',
        `The storage daemon does not answer: ${(err as Error).message}`,
        { resource: 'volume', cause: err },
      );
    }
    try {
      return await fn(qmp);
    } finally {
      qmp.close();
    }
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #file(which: keyof typeof FILES): string {
    return path.join(this.#opts.directory, FILES[which]);
  }
}
