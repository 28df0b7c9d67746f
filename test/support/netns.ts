// Test support for the data plane: unique namespace names, a "guest" that is a namespace with
// a veth into a host's bridge running busybox's udhcpc, and a registry that removes every
// namespace a test made, also when it fails. Everything stays inside namespaces made here.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  HostDataPlane,
  Namespace,
  type HostDataPlaneOptions,
} from '../../src/network/dataplane/index.js';
import { formatIpv4, parseCidr } from '../../src/network/index.js';

export const BUSYBOX = ['/usr/bin/busybox', '/bin/busybox'].find((p) => fs.existsSync(p));

/** A namespace name no other test or run uses: `st-t` and 8 hex digits. */
export function uniqueName(prefix = 'st-t'): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-np-'));
}

/**
 * A test's data plane on `cidr` (gateway .1, DHCP from .2 to the last address), in a new
 * namespace with bridge br100 and a state directory of its own, leases going nowhere unless
 * `options` say otherwise; started, and removed by `cleanup` whatever happens.
 */
export async function startDataPlane(
  cleanup: Cleanup,
  cidr: string,
  options: Partial<HostDataPlaneOptions> = {},
): Promise<HostDataPlane> {
  const c = parseCidr(cidr);
  if (!c) throw new Error(`not a CIDR: ${cidr}`);
  const stateDir = options.stateDir ?? tempDir();
  cleanup.add(async () => fs.rmSync(stateDir, { recursive: true, force: true }));
  const dp = new HostDataPlane({
    namespace: uniqueName(),
    bridge: 'br100',
    network: {
      cidr,
      gateway: formatIpv4(c.base + 1),
      dhcpStart: formatIpv4(c.base + 2),
      dhcpEnd: formatIpv4(c.base + c.size - 2),
      dns: '',
    },
    leaseSeconds: 120,
    leases: { onEvent: async () => undefined, knownLeases: async () => [] },
    ...options,
    stateDir,
  });
  cleanup.add(() => dp.teardown());
  await dp.start();
  return dp;
}

/** Namespaces and processes a test made, removed by `cleanup` whatever happened. */
export class Cleanup {
  readonly #steps: (() => Promise<void>)[] = [];

  add(step: () => Promise<void>): void {
    this.#steps.push(step);
  }

  namespace(name: string): Namespace {
    const ns = new Namespace(name);
    this.add(() => ns.destroy());
    return ns;
  }

  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) await step().catch(() => undefined);
  }
}

const UDHCPC_SCRIPT = `#!/bin/sh
# udhcpc calls this with deconfig, bound, renew or nak.
BB=${BUSYBOX}
case "$1" in
  deconfig) $BB ip addr flush dev "$interface"; $BB ip link set "$interface" up ;;
  bound|renew)
    $BB ip addr flush dev "$interface"
    $BB ip addr add "$ip/$mask" dev "$interface"
    if [ -n "$router" ]; then $BB ip route replace default via "\${router%% *}" dev "$interface"; fi
    echo "$ip" > "$STRATUS_GUEST_DIR/ip" ;;
esac
exit 0
`;

/**
 * A namespace standing in for a VM: its `eth0` is the far end of a veth the data plane puts
 * on the bridge (port spec `{ kind: 'veth', peerNamespace: guest.ns, peerName: 'eth0' }`).
 */
export class FakeGuest {
  readonly ns: Namespace;
  readonly dir: string;
  readonly #children: ChildProcess[] = [];

  constructor(cleanup: Cleanup, name = uniqueName('st-g')) {
    this.ns = cleanup.namespace(name);
    this.dir = tempDir();
    fs.writeFileSync(path.join(this.dir, 'udhcpc.sh'), UDHCPC_SCRIPT, { mode: 0o755 });
    cleanup.add(async () => {
      for (const c of this.#children) if (c.exitCode === null) c.kill('SIGKILL');
      fs.rmSync(this.dir, { recursive: true, force: true });
    });
  }

  async create(): Promise<this> {
    await this.ns.create();
    return this;
  }

  get port(): { kind: 'veth'; peerNamespace: Namespace; peerName: string } {
    return { kind: 'veth', peerNamespace: this.ns, peerName: 'eth0' };
  }

  /**
   * Runs udhcpc once (it quits once it has a lease, without releasing it, like a guest that
   * keeps its address); the address it got, or undefined when it got none in time.
   */
  async dhcp(attempts = 4): Promise<string | undefined> {
    fs.rmSync(path.join(this.dir, 'ip'), { force: true });
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(
        'ip',
        [
          'netns',
          'exec',
          this.ns.name,
          BUSYBOX as string,
          'udhcpc',
          '-i',
          'eth0',
          '-f',
          '-q',
          '-n',
          '-t',
          String(attempts),
          '-T',
          '1',
          '-A',
          '1',
          '-s',
          path.join(this.dir, 'udhcpc.sh'),
        ],
        { stdio: 'ignore', env: { ...process.env, STRATUS_GUEST_DIR: this.dir } },
      );
      this.#children.push(child);
      child.on('exit', (c) => resolve(c));
    });
    if (code !== 0) return undefined;
    try {
      return fs.readFileSync(path.join(this.dir, 'ip'), 'utf8').trim();
    } catch {
      return undefined;
    }
  }

  /** Starts a long-running command in the guest (a listener); killed at cleanup. */
  spawn(cmd: string, args: readonly string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.ns.name, cmd, ...args], { stdio: 'ignore' });
    this.#children.push(child);
    return child;
  }

  async destroy(): Promise<void> {
    for (const c of this.#children) if (c.exitCode === null) c.kill('SIGKILL');
    await this.ns.destroy();
  }
}

/** Polls `check` every 10 ms until it returns a value other than undefined/false. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}.`);
    await sleep(10);
  }
}

/** The link names of the machine's own (root) namespace, to check nothing was added there. */
export async function rootLinks(): Promise<string[]> {
  const { execFileSync } = await import('node:child_process');
  return execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
    .filter((n) => n !== '')
    .sort();
}

/**
 * Joins a "client machine" namespace to a host namespace by a veth pair made from inside the
 * namespaces: `uplink` in the host with `hostAddress`, `eth0` in the client with
 * `clientAddress` (both /24) and a default route via the host.
 */
export async function joinClient(
  host: Namespace,
  client: Namespace,
  uplink: string,
  hostAddress: string,
  clientAddress: string,
): Promise<void> {
  await host.ip([
    'link',
    'add',
    uplink,
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    client.name,
  ]);
  await host.ip(['addr', 'add', `${hostAddress}/24`, 'dev', uplink]);
  await host.ip(['link', 'set', uplink, 'up']);
  await client.ip(['addr', 'add', `${clientAddress}/24`, 'dev', 'eth0']);
  await client.ip(['link', 'set', 'eth0', 'up']);
  await client.ip(['route', 'add', 'default', 'via', hostAddress]);
}

/**
 * Opens a TCP connection from inside `from` to `address:port` and reads what the listener
 * says; undefined when the connection is refused or dropped (no answer within `seconds`).
 */
export async function tcpProbe(
  from: Namespace,
  address: string,
  port: number,
  seconds = 1,
): Promise<string | undefined> {
  try {
    const { stdout } = await from.exec(
      'timeout',
      [String(seconds + 1), BUSYBOX as string, 'nc', '-w', String(seconds), address, String(port)],
      { input: '' },
    );
    return stdout.trim() === '' ? undefined : stdout.trim();
  } catch {
    return undefined;
  }
}

/** Starts `busybox nc` listening on `port` in the guest, answering every connection with `reply`. */
export function listen(guest: FakeGuest, port: number, reply: string): void {
  guest.spawn(BUSYBOX as string, [
    'nc',
    '-ll',
    '-p',
    String(port),
    '-e',
    BUSYBOX as string,
    'echo',
    reply,
  ]);
}

/** GETs `url` from inside `from` with busybox wget; the body, or undefined on any failure. */
export async function httpGet(
  from: Namespace,
  url: string,
  headers: readonly string[] = [],
): Promise<string | undefined> {
  const args = ['5', BUSYBOX as string, 'wget', '-q', '-O', '-'];
  for (const h of headers) args.push('--header', h);
  try {
    return (await from.exec('timeout', [...args, url])).stdout;
  } catch {
    return undefined;
  }
}

/** Like `httpGet` for a request expected to fail: what wget printed about the failure. */
export async function httpError(
  from: Namespace,
  url: string,
  headers: readonly string[] = [],
): Promise<string> {
  const args = ['5', BUSYBOX as string, 'wget', '-q', '-O', '-'];
  for (const h of headers) args.push('--header', h);
  try {
    await from.exec('timeout', [...args, url]);
    return '';
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
