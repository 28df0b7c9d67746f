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

/** The daemon's node of the copy tagged `tag` (a snapshot id) while it is made. */
function backupNode(tag: string): string {
  return `b${tag.replace(/[^0-9a-zA-Z]/g, '').slice(0, 30)}`;
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
   * The virtual size in bytes of the volume's node in the daemon (opened on `file` for the
   * question when no export holds it), for a copy of the same size.
   */
  virtualSize(volumeId: string, file: string): Promise<number> {
    return this.#serial(async () => {
      await this.#ensure();
      return this.#withQmp(async (qmp) => {
        const added = await this.#openNode(qmp, volumeId, file);
        try {
          return await this.#nodeSize(qmp, volumeNode(volumeId));
        } finally {
          if (added) await qmp.execute('blockdev-del', { 'node-name': volumeNode(volumeId) });
        }
      });
    });
  }

  /**
   * Copies the volume as it is at this instant into `target` (an empty qcow2 file of the
   * volume's virtual size), through the daemon that has the volume open: `blockdev-backup`
   * with `sync: full` from the volume's node into a node opened on `target`. The job copies a
   * block the guest is about to overwrite before the write goes through (copy-before-write), so
   * the guest keeps writing over NBD and the copy is one instant of the volume (crash
   * consistent, as after a power cut). `tag` names the job and node (a snapshot id): a copy
   * with the same tag left by an earlier run cut short is cancelled and removed first, so this
   * may run again. Each QMP step takes the daemon only briefly (other exports go on while the
   * job runs); the job may take `timeoutMs`, after which it is cancelled. On any failure the
   * target's node is removed (the caller removes the file).
   */
  async backup(
    volumeId: string,
    file: string,
    target: string,
    tag: string,
    timeoutMs = 600_000,
  ): Promise<void> {
    const node = backupNode(tag);
    const job = `j-${tag.replace(/[^0-9a-zA-Z-]/g, '')}`;
    let added = false;
    await this.#serial(async () => {
      await this.#ensure();
      await this.#withQmp(async (qmp) => {
        await this.#dropBackup(qmp, node, job);
        added = await this.#openNode(qmp, volumeId, file);
        await qmp.execute('blockdev-add', {
          driver: 'qcow2',
          'node-name': node,
          file: { driver: 'file', filename: target },
        });
        await qmp.execute('blockdev-backup', {
          'job-id': job,
          device: volumeNode(volumeId),
          target: node,
          sync: 'full',
          'auto-finalize': true,
          'auto-dismiss': false,
        });
      });
    });
    try {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const state = await this.#serial(() =>
          this.#withQmp(async (qmp) => {
            const jobs =
              await qmp.execute<{ id: string; status: string; error?: string }[]>('query-jobs');
            return jobs.find((j) => j.id === job);
          }),
        );
        if (!state) throw new Error(`The copy job of volume '${volumeId}' is gone.`);
        if (state.status === 'concluded') {
          if (state.error !== undefined) {
            throw new Error(`The copy of volume '${volumeId}' failed: ${state.error}`);
          }
          break;
        }
        if (Date.now() > deadline) {
          throw new Error(`The copy of volume '${volumeId}' did not finish in ${timeoutMs} ms.`);
        }
        await sleep(100);
      }
    } finally {
      await this.#serial(() =>
        this.#withQmp(async (qmp) => {
          await this.#dropBackup(qmp, node, job);
          if (added && !(await this.#exports(qmp)).has(exportId(volumeId))) {
            await qmp.execute('blockdev-del', { 'node-name': volumeNode(volumeId) });
          }
        }),
      ).catch((err: unknown) =>
        this.#opts.logger?.error({ err, volumeId }, 'removing a volume copy job failed'),
      );
    }
  }

  /** Cancels and dismisses the job and removes the node of a copy, whichever are there. */
  async #dropBackup(qmp: QmpClient, node: string, job: string): Promise<void> {
    const jobs = await qmp.execute<{ id: string; status: string }[]>('query-jobs');
    const found = jobs.find((j) => j.id === job);
    if (found && found.status !== 'concluded' && found.status !== 'null') {
      await qmp.execute('job-cancel', { id: job });
      const deadline = Date.now() + 30_000;
      for (;;) {
        const now = (await qmp.execute<{ id: string; status: string }[]>('query-jobs')).find(
          (j) => j.id === job,
        );
        if (!now || now.status === 'concluded' || Date.now() > deadline) break;
        await sleep(50);
      }
    }
    if (found) await qmp.execute('job-dismiss', { id: job }).catch(() => undefined);
    if ((await this.#nodes(qmp)).has(node)) {
      await qmp.execute('blockdev-del', { 'node-name': node });
    }
  }

  /** Opens the volume's node on `file` unless the daemon has it; true when it opened it. */
  async #openNode(qmp: QmpClient, volumeId: string, file: string): Promise<boolean> {
    if ((await this.#nodes(qmp)).has(volumeNode(volumeId))) return false;
    if (!fs.existsSync(file)) {
      throw new StratusError('not_found', `The file of volume '${volumeId}' is gone.`, {
        resource: 'volume',
        id: volumeId,
      });
    }
    await qmp.execute('blockdev-add', {
      driver: 'qcow2',
      'node-name': volumeNode(volumeId),
      file: { driver: 'file', filename: file },
    });
    return true;
  }

  async #nodeSize(qmp: QmpClient, node: string): Promise<number> {
    const list = await qmp.execute<{ 'node-name': string; image: { 'virtual-size': number } }[]>(
      'query-named-block-nodes',
      { flat: true },
    );
    const found = list.find((n) => n['node-name'] === node);
    if (!found) throw new Error(`The storage daemon has no node ${node}.`);
    return found.image['virtual-size'];
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
