// Runs the real stratus binary as users do: as a child process.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

export const STRATUS_BIN = fileURLToPath(new URL('../../../bin/stratus.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `stratus ARGS` to completion. */
export function stratus(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [STRATUS_BIN, ...args],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface RunningStratus {
  child: ChildProcess;
  /** Everything printed to stdout so far. */
  output(): string;
  /** Waits until stdout matches `pattern`; rejects if the process exits first or after `ms`. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts a long-running `stratus ARGS` (e.g. all-in-one). `wrapper` is a command line that
 * runs it (e.g. `unshare -m ...`), given node, the binary and ARGS as its last arguments.
 */
export function startStratus(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  options: { wrapper?: readonly string[] } = {},
): RunningStratus {
  const [command, ...rest] = [...(options.wrapper ?? []), process.execPath, STRATUS_BIN, ...args];
  const child = spawn(command as string, rest, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return {
    child,
    output: () => out,
    waitFor(pattern, ms = 30_000) {
      return new Promise((resolve, reject) => {
        const deadline = setTimeout(
          () => done(new Error(`timed out waiting for ${pattern}; stdout: ${out}\nstderr: ${err}`)),
          ms,
        );
        const poll = setInterval(() => {
          const m = out.match(pattern);
          if (m) done(undefined, m);
        }, 20);
        const onExit = (code: number | null) =>
          done(
            new Error(
              `stratus exited with ${code} before printing ${pattern}; stdout: ${out}\nstderr: ${err}`,
            ),
          );
        child.once('exit', onExit);
        function done(e?: Error, m?: RegExpMatchArray) {
          clearTimeout(deadline);
          clearInterval(poll);
          child.off('exit', onExit);
          if (e) reject(e);
          else resolve(m as RegExpMatchArray);
        }
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Parses the `export K='V'` lines of an rc file. */
export function readRcFile(file: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^export ([A-Z0-9_]+)='(.*)'$/.exec(line);
    if (m) vars[m[1] as string] = (m[2] as string).replace(/'\\''/g, "'");
  }
  return vars;
}
