// A network namespace Stratus creates and owns: creating it, running commands inside it and
// removing it with everything in it. Deleting a namespace does not stop the processes inside
// it, so `destroy` kills them first (by the pids `ip netns pids` lists, nothing else).
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { invalid } from '../../errors.js';
import { run, tryRun, type RunOptions, type RunResult } from './run.js';

/** Names `ip netns` accepts and Stratus uses: letters, digits, '-', '_' and '.', at most 64. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export class Namespace {
  constructor(readonly name: string) {
    if (!NAME.test(name)) {
      throw invalid(`The network namespace name '${name}' is not valid.`, {
        resource: 'namespace',
        id: name,
      });
    }
  }

  exists(): boolean {
    return fs.existsSync(`/run/netns/${this.name}`);
  }

  /** Creates the namespace (no-op when it exists) with its loopback up. */
  async create(): Promise<void> {
    if (!this.exists()) await run('ip', ['netns', 'add', this.name]);
    await this.ip(['link', 'set', 'lo', 'up']);
  }

  /** `ip -n NAME args`. */
  ip(args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return run('ip', ['-n', this.name, ...args], opts);
  }

  /** Runs a command inside the namespace. */
  exec(cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], opts);
  }

  /** Sets a sysctl of this namespace (the `net.*` ones are per namespace). */
  async sysctl(key: string, value: string): Promise<void> {
    await this.exec('sysctl', ['-q', '-w', `${key}=${value}`]);
  }

  /** The pids of the processes running in the namespace. */
  async pids(): Promise<number[]> {
    if (!this.exists()) return [];
    const { stdout } = await run('ip', ['netns', 'pids', this.name]);
    return stdout
      .split(/\s+/)
      .filter((s) => /^\d+$/.test(s))
      .map(Number);
  }

  /**
   * Stops every process in the namespace (SIGTERM, then SIGKILL after `graceMs`) and deletes
   * it. Succeeds when the namespace is already gone.
   */
  async destroy(graceMs = 1000): Promise<void> {
    if (!this.exists()) return;
    let pids = await this.pids();
    const signalled = new Set(pids);
    for (const pid of pids) signal(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (pids.length > 0 && Date.now() < deadline) {
      await sleep(25);
      pids = (await this.pids()).filter(alive);
    }
    for (const pid of pids) signal(pid, 'SIGKILL');
    // A dying process leaves the namespace's list before it is gone: wait for the pids
    // themselves (bounded, in case nobody reaps them).
    for (const pid of await this.pids()) signalled.add(pid);
    for (let i = 0; i < 80 && [...signalled].some(alive); i++) await sleep(25);
    if (!(await tryRun('ip', ['netns', 'delete', this.name])) && this.exists()) {
      await run('ip', ['netns', 'delete', this.name]);
    }
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
