// The guest-facing part of the smoke test: OpenSSH's own client, the one users reach guests
// with, run from this machine or from inside a network namespace (another "machine").
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SshTarget {
  host: string;
  port?: number;
  user: string;
  /** The private key, OpenSSH or PEM. */
  privateKey: string;
  /** Run ssh inside this network namespace (`ip netns exec`). */
  netns?: string;
}

export interface SshWait {
  /** How long to keep trying while the guest boots. */
  timeoutMs: number;
  pollMs: number;
  aborted?: () => boolean;
}

export const SSH_BINARY = '/usr/bin/ssh';

/**
 * Runs `command` on the guest once its SSH server lets us in; resolves with its output. Until
 * then (guest still booting, port still closed) it tries again every `pollMs`: waiting for a
 * guest to boot is polling. A command that runs and fails is an error at once.
 */
export async function sshRun(target: SshTarget, command: string, wait: SshWait): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-ssh-'));
  const keyFile = path.join(dir, 'key');
  fs.writeFileSync(
    keyFile,
    target.privateKey.endsWith('\n') ? target.privateKey : `${target.privateKey}\n`,
    {
      mode: 0o600,
    },
  );
  const deadline = Date.now() + wait.timeoutMs;
  let last = '';
  try {
    for (;;) {
      const r = await runSsh(
        target,
        keyFile,
        command,
        Math.max(5_000, Math.min(30_000, deadline - Date.now())),
      );
      if (r.code === 0) return r.stdout;
      // ssh exits 255 for its own failures (refused, timed out, auth); anything else is the command's.
      if (r.code !== 255) {
        throw new Error(`'${command}' exited ${r.code} on ${target.host}: ${r.stderr.trim()}`);
      }
      last = r.stderr.trim().split('\n').pop() ?? '';
      if (Date.now() > deadline) {
        throw new Error(
          `ssh ${target.user}@${target.host} not accepted after ${Math.round(wait.timeoutMs / 1000)} s: ${last}`,
        );
      }
      if (wait.aborted?.()) throw new Error('interrupted');
      await new Promise((resolve) => setTimeout(resolve, wait.pollMs));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The command line that runs `command` on the target with OpenSSH's client: the key file
 * only, no prompts, no known-hosts file (a new guest's host key is new), inside the target's
 * namespace when it has one.
 */
export function sshCommandLine(
  target: Omit<SshTarget, 'privateKey'>,
  keyFile: string,
  command: string,
  connectTimeoutSeconds = 5,
): [file: string, args: string[]] {
  const sshArgs = [
    '-i',
    keyFile,
    '-p',
    String(target.port ?? 22),
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    '-o',
    `ConnectTimeout=${connectTimeoutSeconds}`,
    `${target.user}@${target.host}`,
    command,
  ];
  return target.netns
    ? ['ip', ['netns', 'exec', target.netns, SSH_BINARY, ...sshArgs]]
    : [SSH_BINARY, sshArgs];
}

function runSsh(
  target: SshTarget,
  keyFile: string,
  command: string,
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [file, args] = sshCommandLine(target, keyFile, command);
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 255) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err?.message ?? '') });
    });
  });
}
