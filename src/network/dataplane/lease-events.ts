// The lease hook between dnsmasq and the network service. dnsmasq runs its `--dhcp-script`
// for every lease change, one at a time, and waits for it; a Node.js program there costs
// ~0.2 s per event on a small machine, which lets events pile up under churn. So the hook is
// a few lines of shell that write each event as one file into a spool directory (create,
// then rename, so a reader never sees half an event), and the network agent records the
// files in order, deleting each once recorded. The database stays with the network service.
// For `init` (dnsmasq starting with `--leasefile-ro`) the hook prints the known leases the
// agent wrote before it started dnsmasq.
import fs from 'node:fs';
import path from 'node:path';

export type LeaseAction = 'add' | 'old' | 'del';

/** One lease event as dnsmasq reported it. */
export interface LeaseEvent {
  action: LeaseAction;
  mac: string;
  ip: string;
  hostname: string | null;
  /** When the lease ends, ms since the epoch (absent for `del`). */
  expiresAt: number | null;
}

/** A lease to hand back to dnsmasq when it starts (its `init` call). */
export interface KnownLease {
  mac: string;
  ip: string;
  hostname: string | null;
  expiresAt: number;
}

export interface LeaseEventHandlers {
  /** Records an event. When it throws, the event is kept and offered again later. */
  onEvent(event: LeaseEvent): Promise<void>;
  /** The live leases on this host's network, for a (re)starting dnsmasq. */
  knownLeases(): Promise<KnownLease[]>;
}

/** How often the spool is looked at even without a change notice, ms. */
const POLL_MS = 250;

export class LeaseSpool {
  readonly dir: string;
  readonly knownLeasesPath: string;
  readonly #handlers: LeaseEventHandlers;
  readonly #onError: (err: unknown) => void;
  #watcher: fs.FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #draining: Promise<void> | undefined;
  #again = false;

  constructor(stateDir: string, handlers: LeaseEventHandlers, onError: (err: unknown) => void) {
    this.dir = path.join(stateDir, 'lease-events');
    this.knownLeasesPath = path.join(stateDir, 'known-leases');
    this.#handlers = handlers;
    this.#onError = onError;
  }

  /** The hook program for dnsmasq's `--dhcp-script`. */
  hookScript(): string {
    for (const p of [this.dir, this.knownLeasesPath]) {
      if (/['\n]/.test(p)) throw new Error(`The path '${p}' cannot be quoted for the shell.`);
    }
    return [
      '#!/bin/sh',
      '# dnsmasq lease hook written by Stratus: spools each lease event for the network agent.',
      'case "$1" in',
      `  init) cat '${this.knownLeasesPath}' 2>/dev/null; exit 0 ;;`,
      '  add|old|del) ;;',
      '  *) exit 0 ;;',
      'esac',
      `f='${this.dir}'/.$$`,
      'printf \'%s %s %s %s %s\\n\' "$1" "$2" "$3" "${DNSMASQ_LEASE_EXPIRES:-0}" "${4:-*}" > "$f"',
      `mv "$f" '${this.dir}'/"$(date +%s%N)-$$"`,
      '',
    ].join('\n');
  }

  /** Writes the known leases for `init`, then starts recording events. */
  async start(): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    await this.writeKnownLeases();
    this.#watcher = fs.watch(this.dir, () => this.#kick());
    this.#watcher.on('error', (err) => this.#onError(err));
    this.#timer = setInterval(() => this.#kick(), POLL_MS);
    this.#timer.unref();
    this.#kick();
  }

  async writeKnownLeases(): Promise<void> {
    const leases = await this.#handlers.knownLeases();
    // The lease file format dnsmasq reads back: EXPIRY MAC IP HOSTNAME CLIENT-ID.
    const text = leases
      .map((l) => `${Math.floor(l.expiresAt / 1000)} ${l.mac} ${l.ip} ${l.hostname ?? '*'} *\n`)
      .join('');
    fs.writeFileSync(`${this.knownLeasesPath}.tmp`, text, { mode: 0o600 });
    fs.renameSync(`${this.knownLeasesPath}.tmp`, this.knownLeasesPath);
  }

  /** Records whatever is spooled now; resolves when done. */
  flush(): Promise<void> {
    this.#kick();
    return this.#draining ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#watcher?.close();
    this.#watcher = undefined;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#draining;
  }

  #kick(): void {
    if (this.#draining) {
      this.#again = true;
      return;
    }
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined;
      if (this.#again) {
        this.#again = false;
        this.#kick();
      }
    });
  }

  async #drain(): Promise<void> {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir).filter((n) => !n.startsWith('.'));
    } catch {
      return;
    }
    names.sort(byTimeThenPid);
    for (const name of names) {
      const file = path.join(this.dir, name);
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      const event = parseEvent(text);
      if (event) {
        try {
          await this.#handlers.onEvent(event);
        } catch (err) {
          this.#onError(err);
          return; // keep it and what follows, in order, for the next round
        }
      }
      fs.rmSync(file, { force: true });
    }
  }
}

function byTimeThenPid(a: string, b: string): number {
  const [ta = '', pa = ''] = a.split('-');
  const [tb = '', pb = ''] = b.split('-');
  if (ta.length !== tb.length) return ta.length - tb.length;
  if (ta !== tb) return ta < tb ? -1 : 1;
  return Number(pa) - Number(pb);
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IP = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Parses a spooled line: ACTION MAC IP EXPIRES-EPOCH-SECONDS HOSTNAME. */
export function parseEvent(text: string): LeaseEvent | undefined {
  const [action, rawMac, ip, expires, hostname] = text.trim().split(' ');
  if (action !== 'add' && action !== 'old' && action !== 'del') return undefined;
  const mac = (rawMac ?? '').toLowerCase();
  if (!MAC.test(mac) || !IP.test(ip ?? '')) return undefined;
  const seconds = Number(expires);
  return {
    action,
    mac,
    ip: ip as string,
    hostname: hostname && hostname !== '*' ? hostname : null,
    expiresAt: action !== 'del' && Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : null,
  };
}
