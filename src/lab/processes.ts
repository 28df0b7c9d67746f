// The lab's OS processes: each service started detached from the stratus binary a real host
// runs, with its config file, output file and pid file; found again by its pid file and told
// apart from an unrelated process that reused the pid by its command line; stopped with
// SIGTERM, then SIGKILL.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { LabProcess } from './plan.js';

/** The script the `stratus` launcher runs (this checkout's bin/stratus.js). */
export const STRATUS_SCRIPT = fileURLToPath(new URL('../../../bin/stratus.js', import.meta.url));

/** Whether `pid` is alive and its command line mentions `marker` (a zombie's is empty). */
export function runs(pid: number, marker: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
  } catch {
    return false;
  }
}

export function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The pid of the lab process if it runs. */
export function livePid(p: LabProcess): number | undefined {
  const pid = readPid(p.pidFile);
  return pid !== undefined && runs(pid, p.configFile) ? pid : undefined;
}

/** Starts `stratus <binary> --config <file>` detached; records its pid. */
export function startProcess(p: LabProcess): number {
  for (const f of [p.outFile, p.pidFile]) fs.mkdirSync(path.dirname(f), { recursive: true });
  const out = fs.openSync(p.outFile, 'a');
  try {
    const child = spawn(process.execPath, [STRATUS_SCRIPT, p.binary, '--config', p.configFile], {
      detached: true,
      stdio: ['ignore', out, out],
      // The config file says everything: no STRATUS_* variable of the caller's leaks in.
      env: Object.fromEntries(
        Object.entries(process.env).filter(([k]) => !k.startsWith('STRATUS_')),
      ),
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${p.name}`);
    fs.writeFileSync(p.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    fs.closeSync(out);
  }
}

/**
 * Stops the process whose pid `pidFile` holds, if it still is the one whose command line
 * mentions `marker`: SIGTERM, then SIGKILL after `graceMs`. Succeeds when it is already gone.
 */
export async function stopProcess(
  pidFile: string,
  marker: string,
  graceMs = 10_000,
): Promise<void> {
  const pid = readPid(pidFile);
  if (pid === undefined) return;
  await stopPid(pid, marker, graceMs);
  fs.rmSync(pidFile, { force: true });
}

export async function stopPid(pid: number, marker: string, graceMs: number): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    if (!runs(pid, marker)) return;
    try {
      process.kill(pid, s);
    } catch {
      // Gone in between.
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (runs(pid, marker) && Date.now() < deadline) await sleep(50);
  if (runs(pid, marker)) {
    signal('SIGKILL');
    for (let i = 0; i < 100 && runs(pid, marker); i++) await sleep(50);
  }
}

/** The last `n` lines of a file, for saying why a process ended. */
export function tail(file: string, n = 10): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}
