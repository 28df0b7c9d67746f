// A small QMP (QEMU Machine Protocol) client over a unix socket: the greeting and capability
// handshake, commands with their replies, and waiting for events.
import net from 'node:net';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

export class QmpError extends Error {
  constructor(
    message: string,
    readonly errorClass?: string,
  ) {
    super(message);
    this.name = 'QmpError';
  }
}

/** One QMP session. QEMU serves one session at a time per socket, so keep them short. */
export class QmpClient {
  readonly #sock: net.Socket;
  readonly #pending: Pending[] = [];
  readonly #events: QmpEvent[] = [];
  readonly #waiters = new Set<{ name: string; resolve(e: QmpEvent | undefined): void }>();
  #buf = '';
  #closed: Error | undefined;

  private constructor(sock: net.Socket) {
    this.#sock = sock;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.#onData(chunk));
    const fail = (err: Error) => {
      this.#closed ??= err;
      for (const p of this.#pending.splice(0)) p.reject(this.#closed);
      // No event will come any more (e.g. the VM ended).
      for (const w of [...this.#waiters]) w.resolve(undefined);
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new QmpError('The QMP connection closed.')));
  }

  /** Connects and completes the handshake within `timeoutMs`. */
  static async connect(path: string, timeoutMs = 5000): Promise<QmpClient> {
    const sock = net.connect(path);
    const client = new QmpClient(sock);
    const timer = setTimeout(
      () => sock.destroy(new QmpError(`QMP at ${path} did not answer within ${timeoutMs} ms.`)),
      timeoutMs,
    );
    try {
      // The greeting arrives as the first "reply"; then capabilities negotiation.
      await new Promise<unknown>((resolve, reject) => client.#pending.push({ resolve, reject }));
      await client.execute('qmp_capabilities');
      return client;
    } catch (err) {
      sock.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs a command; resolves with its `return` value, rejects with a QmpError. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ resolve: resolve as (v: unknown) => void, reject });
      this.#sock.write(
        `${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`,
      );
    });
  }

  /**
   * Resolves with the first event called `name` since the session began; undefined after
   * `timeoutMs` or when the connection closes.
   */
  waitEvent(name: string, timeoutMs: number): Promise<QmpEvent | undefined> {
    const seen = this.#events.find((e) => e.event === name);
    if (seen) return Promise.resolve(seen);
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter = {
        name,
        resolve: (e: QmpEvent | undefined) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(e);
        },
      };
      const timer = setTimeout(() => waiter.resolve(undefined), timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /**
   * Resolves with the first event called `name` since the session began for which `match`
   * holds; undefined after `timeoutMs` or when the connection closes.
   */
  async waitEventWhere(
    name: string,
    match: (e: QmpEvent) => boolean,
    timeoutMs: number,
  ): Promise<QmpEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = this.#events.find((e) => e.event === name && match(e));
      if (seen) return seen;
      if (this.#closed) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      // Any event of that name wakes the wait; the match is checked again above.
      await this.waitEventAfter(name, this.#events.length, left);
    }
  }

  /** Waits for an event called `name` among those after the first `seen` of the session. */
  private waitEventAfter(name: string, seen: number, timeoutMs: number): Promise<void> {
    if (this.#events.slice(seen).some((e) => e.event === name)) return Promise.resolve();
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        name,
        resolve: () => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve();
        },
      };
      const timer = setTimeout(() => waiter.resolve(), timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  close(): void {
    this.#sock.destroy();
  }

  #onData(chunk: string): void {
    this.#buf += chunk;
    let nl: number;
    while ((nl = this.#buf.indexOf('\n')) >= 0) {
      const line = this.#buf.slice(0, nl).trim();
      this.#buf = this.#buf.slice(nl + 1);
      if (line === '') continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (typeof msg.event === 'string') {
        const event: QmpEvent = { event: msg.event, data: msg.data as Record<string, unknown> };
        this.#events.push(event);
        for (const w of [...this.#waiters]) if (w.name === event.event) w.resolve(event);
        continue;
      }
      const pending = this.#pending.shift();
      if (!pending) continue;
      if ('error' in msg) {
        const e = msg.error as { class?: string; desc?: string };
        pending.reject(new QmpError(e.desc ?? 'QMP command failed.', e.class));
      } else {
        pending.resolve('QMP' in msg ? msg.QMP : msg.return);
      }
    }
  }
}

/** Connects, runs one command and disconnects, all within `timeoutMs`. */
export async function qmpExecute<T = unknown>(
  path: string,
  command: string,
  args?: Record<string, unknown>,
  timeoutMs = 5000,
): Promise<T> {
  const qmp = await QmpClient.connect(path, timeoutMs);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      qmp.execute<T>(command, args),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new QmpError(`QMP '${command}' had no answer within ${timeoutMs} ms.`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    qmp.close();
  }
}
