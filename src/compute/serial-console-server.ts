// The serial consoles of this host's VMs over TCP, for api processes on other machines (as
// Nova's serial proxy connects to a port on the compute host). Nothing reaches a serial port
// without a secret: the api asks this host over the bus for a one-time secret bound to one VM,
// opens a connection to the address given with it, and sends the secret and a newline first;
// what follows is joined byte for byte to the VM's serial port (a Unix socket of the driver).
// A wrong, used or expired secret, or none within a few seconds, closes the connection.
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Logger } from '../log.js';

/** How an api process reaches a VM's serial port: this host's address and a one-time secret. */
export interface SerialConnection {
  address: string;
  port: number;
  /** Sent first, followed by '\n'; good for one connection within `secretTtlMs`. */
  secret: string;
}

export interface SerialConsoleServerOptions {
  /** The address of this host api processes connect to (default 127.0.0.1). */
  address: string;
  /** The TCP port; 0: one the system picks when the first console is asked for. */
  port: number;
  /** How long a secret may wait for its connection, in milliseconds (default 30 s). */
  secretTtlMs?: number;
  /** How long a connection may take to send its secret, in milliseconds (default 5 s). */
  handshakeMs?: number;
  logger: Logger;
  now?: () => number;
}

interface Pending {
  instanceId: string;
  /** The VM's serial port on this host. */
  path: string;
  expiresAt: number;
}

const MAX_SECRET_LINE = 128;

function hash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export class SerialConsoleServer {
  readonly #opts: SerialConsoleServerOptions;
  /** By the secret's SHA-256, so looking one up takes no time that depends on the secret. */
  readonly #pending = new Map<string, Pending>();
  readonly #open = new Set<net.Socket>();
  #server: net.Server | undefined;
  #listening: Promise<number> | undefined;

  constructor(options: SerialConsoleServerOptions) {
    this.#opts = options;
  }

  #now(): number {
    return (this.#opts.now ?? Date.now)();
  }

  /** A one-time secret for the VM whose serial port is at `path`, and where to present it. */
  async grant(instanceId: string, path: string): Promise<SerialConnection> {
    const port = await this.#listen();
    const now = this.#now();
    for (const [k, p] of this.#pending) if (p.expiresAt <= now) this.#pending.delete(k);
    const secret = randomBytes(24).toString('base64url');
    this.#pending.set(hash(secret), {
      instanceId,
      path,
      expiresAt: now + (this.#opts.secretTtlMs ?? 30_000),
    });
    return { address: this.#opts.address, port, secret };
  }

  /** Closes the listener and every console joined through it. */
  async close(): Promise<void> {
    for (const s of this.#open) s.destroy();
    this.#pending.clear();
    const server = this.#server;
    this.#server = undefined;
    this.#listening = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #listen(): Promise<number> {
    this.#listening ??= new Promise<number>((resolve, reject) => {
      const server = net.createServer((socket) => this.#accept(socket));
      server.once('error', (err) => {
        this.#listening = undefined;
        reject(err);
      });
      server.listen(this.#opts.port, this.#opts.address, () => {
        this.#server = server;
        const port = (server.address() as net.AddressInfo).port;
        this.#opts.logger.info(
          { address: this.#opts.address, port },
          'serving serial consoles to api processes',
        );
        resolve(port);
      });
    });
    return this.#listening;
  }

  #accept(socket: net.Socket): void {
    this.#open.add(socket);
    socket.once('close', () => this.#open.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(this.#opts.handshakeMs ?? 5000, () => socket.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf(0x0a);
      if (nl < 0) {
        if (head.length > MAX_SECRET_LINE) socket.destroy();
        return;
      }
      socket.off('data', onData);
      socket.pause();
      socket.setTimeout(0);
      const key = hash(head.subarray(0, nl).toString('utf8').trim());
      const pending = this.#pending.get(key);
      this.#pending.delete(key);
      if (!pending || pending.expiresAt <= this.#now()) {
        this.#opts.logger.warn(
          { remote: socket.remoteAddress },
          'a serial console connection without a valid secret was refused',
        );
        socket.destroy();
        return;
      }
      this.#join(socket, pending, head.subarray(nl + 1));
    };
    socket.on('data', onData);
  }

  #join(socket: net.Socket, pending: Pending, rest: Buffer): void {
    const guest = net.connect(pending.path);
    const end = () => {
      guest.destroy();
      socket.destroy();
    };
    guest.once('error', (err) => {
      this.#opts.logger.warn(
        { err, instance: pending.instanceId },
        'the serial port could not be reached',
      );
      end();
    });
    guest.once('connect', () => {
      if (rest.length > 0) guest.write(rest);
      socket.pipe(guest);
      guest.pipe(socket);
      socket.resume();
    });
    guest.once('close', end);
    socket.once('close', end);
  }
}
