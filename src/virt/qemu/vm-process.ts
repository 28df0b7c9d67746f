// The qemu process of one VM: found by the pid it wrote, told apart from an unrelated process
// that reused the pid by its command line, waited for, and ended.
import fs from 'node:fs';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether `pid` is alive and is the qemu whose command line mentions `marker`. */
export function isVmProcess(pid: number, marker: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    // A zombie has an empty command line: it is gone as far as the VM is concerned.
    return cmdline.includes(marker);
  } catch {
    return false;
  }
}

/** Resolves true once the process is gone, false if it still runs after `timeoutMs`. */
export async function waitGone(pid: number, marker: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isVmProcess(pid, marker)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
}

/** Sends `signal` if the process is still the VM's. */
export function signalVm(pid: number, marker: string, signal: NodeJS.Signals): void {
  if (!isVmProcess(pid, marker)) return;
  try {
    process.kill(pid, signal);
  } catch {
    // Gone in between.
  }
}
