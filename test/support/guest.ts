// What the tests that boot real guests share: where the built guest image is, key pairs, ssh
// over the user-mode forward, and waiting. What they need from the machine: capabilities.ts.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { SSH_BINARY, sshCommandLine } from '../../src/smoke/ssh.js';

export const GUEST_DIR = process.env.STRATUS_GUEST_CACHE || '/var/cache/stratus/guest';
export const GUEST = {
  kernel: path.join(GUEST_DIR, 'vmlinux'),
  ramdisk: path.join(GUEST_DIR, 'initrd.img'),
  disk: path.join(GUEST_DIR, 'disk.qcow2'),
};
export const QEMU = '/usr/bin/qemu-system-x86_64';
export const SSH = SSH_BINARY;
export const SSH_KEYGEN = '/usr/bin/ssh-keygen';
export const BANNER = /=== Stratus guest \d+\.\d+ ===/g;

/** Makes an ed25519 key pair in `dir`; returns the private key's path and the public key. */
export function makeKey(dir: string, comment: string): { keyFile: string; publicKey: string } {
  const keyFile = path.join(dir, 'id_ed25519');
  execFileSync(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', keyFile]);
  return { keyFile, publicKey: fs.readFileSync(`${keyFile}.pub`, 'utf8').trim() };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `command` on the guest over ssh once; never throws. */
export function sshOnce(
  port: number,
  keyFile: string,
  command: string,
  timeoutMs = 20_000,
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const [file, args] = sshCommandLine({ host: '127.0.0.1', port, user: 'root' }, keyFile, command);
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs }, (err, stdout, stderr) =>
      resolve({ ok: !err, stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}

/** Runs `command` once over ssh to `address` from inside `netns`; never throws. */
export function sshFrom(
  netns: string,
  address: string,
  keyFile: string,
  command: string,
  timeoutMs = 20_000,
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const [file, args] = sshCommandLine({ host: address, user: 'root', netns }, keyFile, command, 3);
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) =>
      resolve({ ok: !err, stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}

/**
 * Resolves once a TCP connection to the forward gets an SSH identification string. User-mode
 * networking accepts connections before the guest listens; an ssh started then hangs until the
 * guest appears, so short probes first make the wait as short as the boot.
 */
export async function waitSshServer(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      const done = (v: boolean) => {
        clearTimeout(timer);
        sock.destroy();
        resolve(v);
      };
      const timer = setTimeout(() => done(false), 1000);
      sock.once('data', (d) => done(d.toString('latin1').startsWith('SSH-')));
      sock.once('error', () => done(false));
      sock.once('close', () => done(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`No SSH server answered on 127.0.0.1:${port} within ${timeoutMs} ms.`);
}

/**
 * Whether a TCP connection from inside `netns` to `address`:22 is answered with an SSH
 * identification string within `seconds`. A guest's firewall drops what it does not allow, so
 * a connection refused by a security group is one that is not answered.
 */
export function sshAnswersIn(netns: string, address: string, seconds = 0.3): Promise<boolean> {
  const script = `exec 3<>/dev/tcp/${address}/22 && head -c 7 <&3`;
  const args = ['netns', 'exec', netns, 'timeout', String(seconds), 'bash', '-c', script];
  return new Promise((resolve) => {
    execFile('ip', args, { timeout: seconds * 1000 + 2000 }, (err, stdout) =>
      resolve(!err && String(stdout).startsWith('SSH-2.0')),
    );
  });
}

/** Retries ssh until `command` succeeds; rejects with the last error after `timeoutMs`. */
export async function sshUntil(
  port: number,
  keyFile: string,
  command: string,
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  await waitSshServer(port, timeoutMs);
  let last = { ok: false, stdout: '', stderr: '' };
  while (Date.now() < deadline) {
    last = await sshOnce(port, keyFile, command);
    if (last.ok) return last.stdout;
    await sleep(200);
  }
  throw new Error(
    `ssh to 127.0.0.1:${port} did not succeed within ${timeoutMs} ms: ${last.stderr}`,
  );
}

/** Polls `probe` until it returns something other than undefined. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    await sleep(intervalMs);
  }
}

export function count(text: string, re: RegExp): number {
  return text.match(new RegExp(re.source, 'g'))?.length ?? 0;
}

/**
 * The pids of the qemu processes still running for the VMs kept under `stateDir`: each VM's
 * directory holds its pid, and a process counts only if its command line names that directory
 * (so a recycled pid is never taken for a VM).
 */
export function leftoverGuestPids(stateDir: string): number[] {
  const dir = path.join(stateDir, 'qemu', 'instances');
  if (!fs.existsSync(dir)) return [];
  const pids: number[] = [];
  for (const d of fs.readdirSync(dir)) {
    const pidFile = path.join(dir, d, 'pid');
    if (!fs.existsSync(pidFile)) continue;
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    const cmdline = fs.existsSync(`/proc/${pid}/cmdline`)
      ? fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      : '';
    if (cmdline.includes(path.join(dir, d))) pids.push(pid);
  }
  return pids;
}

/** Ends, by pid, the qemu processes a failed test left running for the VMs under `stateDir`. */
export function killLeftoverGuests(stateDir: string): void {
  for (const pid of leftoverGuestPids(stateDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}
