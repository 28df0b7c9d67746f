// dnsmasq serving DHCP on a host's bridge, inside the host namespace. It gives addresses only
// to the MACs in its hosts file (a `static` range), which Stratus rewrites and signals with
// SIGHUP; a reload counts as done when dnsmasq logs that it read the file again, so a guest
// plugged after `setHost` resolves never asks before dnsmasq knows it.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StratusError } from '../../errors.js';
import { formatIpv4 } from '../ipv4.js';
import type { Namespace } from './namespace.js';

export interface DnsmasqOptions {
  ns: Namespace;
  bridge: string;
  gateway: string;
  /** Prefix length of the guest network. */
  prefix: number;
  /** First address of the DHCP range. */
  dhcpStart: string;
  /** Number of addresses dnsmasq may lease at once. */
  maxLeases: number;
  leaseSeconds: number;
  /** DNS servers handed to guests, comma separated; none when empty. */
  dns: string;
  /** Where the hosts file, pid file, log and hook wrapper live. */
  stateDir: string;
  /** The `--dhcp-script` program (shell) that reports lease events. */
  hookScript: string;
  /** Milliseconds to wait for start-up and each reload; 10 s unless told. */
  timeoutMs?: number;
  /**
   * The router handed to guests (DHCP option 3); `gateway` unless told, none when null (a
   * network without a gateway). `gateway` stays the address dnsmasq listens on.
   */
  router?: string | null;
  /** More `--dhcp-option=` values (without the flag), e.g. `option:mtu,1450`. */
  extraOptions?: readonly string[];
  /**
   * Further subnets served on the same interface (which holds `listen` on each): their own
   * static range, router, DNS servers and options. With these, every option is tagged with
   * its range, so none of one subnet's reaches a guest of another.
   */
  moreRanges?: readonly DnsmasqRange[];
}

/** A further subnet dnsmasq serves. */
export interface DnsmasqRange {
  /** dnsmasq's address on the subnet. */
  listen: string;
  prefix: number;
  dhcpStart: string;
  maxLeases: number;
  router: string | null;
  dns: string;
  extraOptions?: readonly string[];
}

export interface HostEntry {
  mac: string;
  hostname: string;
  ip: string;
}

/** dnsmasq log lines that mean it refused a guest the address Stratus configured. */
export const REFUSAL_PATTERNS: readonly RegExp[] = [
  /not using configured address .* because it is leased to/,
  /not using configured address .* because it is in use by/,
  /not using configured address .* because it was previously declined/,
  /DHCPNAK/,
  /no address available/,
  /address in use/,
];

export class Dnsmasq {
  readonly #o: DnsmasqOptions;
  readonly #hosts = new Map<string, HostEntry>();
  readonly hostsPath: string;
  readonly logPath: string;
  readonly pidPath: string;
  readonly scriptPath: string;
  #logOffset = 0;
  #reads = 0;
  #queued: Promise<void> | undefined;
  #running: Promise<void> = Promise.resolve();

  constructor(options: DnsmasqOptions) {
    this.#o = options;
    this.hostsPath = path.join(options.stateDir, 'dhcp-hosts');
    this.logPath = path.join(options.stateDir, 'dnsmasq.log');
    this.pidPath = path.join(options.stateDir, 'dnsmasq.pid');
    this.scriptPath = path.join(options.stateDir, 'lease-hook.sh');
  }

  /** The pid of the running dnsmasq, if there is one. */
  pid(): number | undefined {
    try {
      const pid = Number(fs.readFileSync(this.pidPath, 'utf8').trim());
      if (!Number.isInteger(pid) || pid <= 0) return undefined;
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  }

  /** Starts dnsmasq with the entries given so far; waits until it has read its hosts file. */
  async start(): Promise<void> {
    const o = this.#o;
    // dnsmasq drops to an unprivileged user and re-reads the hosts file as that user.
    fs.mkdirSync(o.stateDir, { recursive: true, mode: 0o755 });
    fs.chmodSync(o.stateDir, 0o755);
    fs.writeFileSync(this.scriptPath, o.hookScript, { mode: 0o755 });
    this.#writeHosts();
    if (this.pid() !== undefined) await this.stop();
    this.#logOffset = fs.existsSync(this.logPath) ? fs.statSync(this.logPath).size : 0;
    this.#reads = 0;
    const netmaskOf = (prefix: number): string =>
      formatIpv4(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
    const more = o.moreRanges ?? [];
    const args = [
      '--strict-order',
      '--bind-interfaces',
      '--conf-file=',
      `--listen-address=${o.gateway}`,
      ...more.map((r) => `--listen-address=${r.listen}`),
      '--except-interface=lo',
      `--interface=${o.bridge}`,
      `--dhcp-range=set:net,${o.dhcpStart},static,${netmaskOf(o.prefix)},${o.leaseSeconds}s`,
      ...more.map(
        (r, i) =>
          `--dhcp-range=set:net${i + 1},${r.dhcpStart},static,${netmaskOf(r.prefix)},${o.leaseSeconds}s`,
      ),
      `--dhcp-hostsfile=${this.hostsPath}`,
      `--dhcp-script=${this.scriptPath}`,
      `--dhcp-lease-max=${Math.max(1, o.maxLeases + more.reduce((n, r) => n + r.maxLeases, 0))}`,
      '--leasefile-ro',
      '--no-hosts',
      '--no-resolv',
      '--no-ping',
      '--port=0',
      '--log-dhcp',
      `--log-facility=${this.logPath}`,
      `--pid-file=${this.pidPath}`,
    ];
    const options = (
      tag: string,
      router: string | null,
      dns: string,
      extra: readonly string[],
    ): void => {
      if (router !== null) args.push(`--dhcp-option=${tag}option:router,${router}`);
      if (dns.trim() !== '') args.push(`--dhcp-option=${tag}option:dns-server,${dns.trim()}`);
      for (const opt of extra) args.push(`--dhcp-option=${tag}${opt}`);
    };
    const tagged = more.length > 0;
    options(
      tagged ? 'tag:net,' : '',
      o.router === undefined ? o.gateway : o.router,
      o.dns,
      o.extraOptions ?? [],
    );
    more.forEach((r, i) => options(`tag:net${i + 1},`, r.router, r.dns, r.extraOptions ?? []));
    fs.rmSync(this.pidPath, { force: true });
    await o.ns.exec('dnsmasq', args);
    await this.#waitForRead(1);
  }

  /** Stops dnsmasq; succeeds when it is not running. */
  async stop(): Promise<void> {
    const pid = this.pid();
    if (pid === undefined) return;
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100; i++) {
      await sleep(20);
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
    }
    process.kill(pid, 'SIGKILL');
  }

  /** Adds or replaces a guest's entry and waits for dnsmasq to have read it. */
  async setHost(entry: HostEntry): Promise<void> {
    this.#hosts.set(entry.mac.toLowerCase(), { ...entry, mac: entry.mac.toLowerCase() });
    await this.reload();
  }

  /** Removes a guest's entry (no-op when absent) and waits for dnsmasq to have read that. */
  async removeHost(mac: string): Promise<void> {
    if (!this.#hosts.delete(mac.toLowerCase())) return;
    await this.reload();
  }

  /** Sets the entries dnsmasq starts with (adopting a running host); no reload. */
  preload(entries: readonly HostEntry[]): void {
    for (const e of entries)
      this.#hosts.set(e.mac.toLowerCase(), { ...e, mac: e.mac.toLowerCase() });
  }

  hosts(): HostEntry[] {
    return [...this.#hosts.values()];
  }

  /**
   * Rewrites the hosts file and has dnsmasq read it (starting dnsmasq again if it is not
   * running). Calls made while one reload waits to run share it; one that starts later writes
   * whatever the entries are by then.
   */
  reload(): Promise<void> {
    if (this.#queued) return this.#queued;
    const p = this.#running
      .catch(() => undefined)
      .then(async () => {
        this.#queued = undefined;
        this.#writeHosts();
        const pid = this.pid();
        // dnsmasq died (killed, crashed): start it again, which reads the current file.
        if (pid === undefined) return this.start();
        const want = this.#reads + 1;
        process.kill(pid, 'SIGHUP');
        await this.#waitForRead(want);
      });
    this.#queued = p;
    this.#running = p;
    return p;
  }

  /**
   * Makes dnsmasq drop the lease of `ip` for `mac` at once (dnsmasq-utils' `dhcp_release`), as
   * when the guest that held it is gone; dnsmasq then reports `del`. Harmless when there is no
   * such lease.
   */
  async release(ip: string, mac: string): Promise<void> {
    await this.#o.ns.exec('dhcp_release', [this.#o.bridge, ip, mac]);
  }

  /** The log lines written since this dnsmasq started. */
  logSinceStart(): string {
    try {
      const fd = fs.openSync(this.logPath, 'r');
      try {
        const size = fs.fstatSync(fd).size;
        const buf = Buffer.alloc(Math.max(0, size - this.#logOffset));
        fs.readSync(fd, buf, 0, buf.length, this.#logOffset);
        return buf.toString('utf8');
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return '';
    }
  }

  #writeHosts(): void {
    const lines = [...this.#hosts.values()].map((h) => `${h.mac},${h.hostname},${h.ip}`);
    const tmp = `${this.hostsPath}.tmp`;
    fs.writeFileSync(tmp, lines.join('\n') + (lines.length > 0 ? '\n' : ''), { mode: 0o644 });
    fs.renameSync(tmp, this.hostsPath);
  }

  /** Waits until dnsmasq has logged reading the hosts file `count` times since it started. */
  async #waitForRead(count: number): Promise<void> {
    const deadline = Date.now() + (this.#o.timeoutMs ?? 10_000);
    const needle = `read ${this.hostsPath}`;
    while (Date.now() < deadline) {
      const text = this.logSinceStart();
      let n = 0;
      for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) n++;
      if (n >= count) {
        this.#reads = n;
        return;
      }
      await sleep(5);
    }
    throw new StratusError(
      'unavailable',
      `dnsmasq in namespace ${this.#o.ns.name} did not read its hosts file in time; see ${this.logPath}.`,
    );
  }
}

/** A hostname dnsmasq accepts: lower-case letters, digits and '-', at most 63 characters. */
export function dhcpHostname(text: string): string {
  const h = text
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
  return h === '' ? 'guest' : h;
}
