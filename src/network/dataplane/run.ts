// Runs the host tools the data plane is built from (ip, nft, dnsmasq, dhcp_release) and turns
// a failure into an error that names the command and shows what it printed.
import { execFile } from 'node:child_process';
import { StratusError } from '../../errors.js';

export interface RunOptions {
  /** Written to the command's standard input. */
  input?: string;
  /** Milliseconds before the command is killed; 15 s unless told. */
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs `cmd args`; rejects with an `internal` error (stderr in the message) on a non-zero exit. */
export function run(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 15_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const text = `${stderr}`.trim() || err.message;
          reject(
            new StratusError('internal', `The command '${cmd} ${args.join(' ')}' failed: ${text}`, {
              cause: err,
            }),
          );
          return;
        }
        resolve({ stdout: `${stdout}`, stderr: `${stderr}` });
      },
    );
    // A command that exits before reading its input (nft refusing a script, a probe that
    // failed at once) closes the pipe: that is its exit status's business, not a crash.
    child.stdin?.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Like `run`, but resolves to false instead of rejecting when the command fails. */
export async function tryRun(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<boolean> {
  try {
    await run(cmd, args, opts);
    return true;
  } catch {
    return false;
  }
}
