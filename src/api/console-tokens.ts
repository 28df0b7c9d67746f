// One-time serial console URLs, as the Compute API's remote-consoles answer gives them, and the
// way from a used URL to the guest's serial port. The grants live in the database (any api
// process honours a URL another issued, once); the port is reached over TCP on the guest's
// host with a one-time secret that host hands out over the bus at connection time, so the api
// process need not run on the guest's machine.
import net from 'node:net';
import type { ConsoleGrant, ConsoleGrants, InstanceOperations } from '../compute/index.js';
import { systemContext } from '../context.js';
import { notFound } from '../errors.js';

export interface ConsoleTokensOptions {
  grants: ConsoleGrants;
  /** Finds the instance and asks its host for the serial port's address and secret. */
  instances: Pick<InstanceOperations, 'list' | 'serialConsole'>;
  /** The dashboard's URL (`http://host:port/`), where the WebSocket proxy listens. */
  baseUrl: () => string;
  /** How long connecting to the guest's host may take, in milliseconds (default 10 s). */
  connectTimeoutMs?: number;
}

export class ConsoleTokens {
  readonly #opts: ConsoleTokensOptions;

  constructor(options: ConsoleTokensOptions) {
    this.#opts = options;
  }

  /** A new token for this grant, and the WebSocket URL that carries it. */
  async issue(grant: Omit<ConsoleGrant, 'expiresAt'>): Promise<{ token: string; url: string }> {
    const token = await this.#opts.grants.issue(grant);
    const url = new URL('serial', this.#opts.baseUrl());
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', token);
    return { token, url: url.toString() };
  }

  /** The grant of a live token, which is used up by this; undefined when unknown or expired. */
  take(token: string): Promise<ConsoleGrant | undefined> {
    return this.#opts.grants.take(token);
  }

  /**
   * A connection joined to the serial port of the grant's instance: its host is asked for a
   * one-time secret, which is sent first. Rejects when the instance is gone or not running,
   * or its host cannot be reached.
   */
  async connect(grant: ConsoleGrant): Promise<net.Socket> {
    const ctx = systemContext();
    const { instances } = this.#opts;
    const row = (await instances.list(ctx, { idPrefixes: [grant.instanceId] })).find(
      (r) => r.id === grant.instanceId && r.vmState !== 'deleted',
    );
    if (!row) throw notFound('instance', grant.instanceId);
    const at = await instances.serialConsole(ctx, row);
    return new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ host: at.address, port: at.port });
      socket.setTimeout(this.#opts.connectTimeoutMs ?? 10_000, () =>
        socket.destroy(new Error('The serial console host did not answer in time.')),
      );
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.setTimeout(0);
        socket.off('error', reject);
        socket.write(`${at.secret}\n`);
        resolve(socket);
      });
    });
  }
}
