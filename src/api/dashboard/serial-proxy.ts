// The serial console's WebSocket proxy on the dashboard's listener: GET /serial?token=T
// upgrades to a WebSocket joined byte for byte to the guest's serial port, once per token
// (issued by the Compute API's remote-consoles, bound to one instance and user, short-lived).
// The port is reached on the guest's host over TCP (ConsoleTokens.connect), wherever it runs.
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage } from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData } from 'ws';
import type { ConsoleTokens } from '../console-tokens.js';

export interface SerialProxyOptions {
  /** This listener's origin as a browser names it, from the request's Host header. */
  ownOrigin: (host: string) => string;
  /** The user id of the dashboard session a Cookie header names, if any. */
  sessionUser: (cookieHeader: string | undefined) => Promise<string | undefined>;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  500: 'Internal Server Error',
};

function refuse(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed) return;
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`,
    () => socket.destroy(),
  );
}

export function serialProxy(
  app: FastifyInstance,
  consoles: ConsoleTokens,
  options: SerialProxyOptions,
): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const open = new Set<{ ws: import('ws').WebSocket; guest: net.Socket }>();

  const upgrade = async (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname !== '/serial') return refuse(socket, 400, 'No such WebSocket endpoint.');
    // A page of another site cannot open a console here, whatever token it holds.
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== options.ownOrigin(request.headers.host ?? '')) {
      return refuse(socket, 403, 'Cross-site console connection refused.');
    }
    const grant = await consoles.take(url.searchParams.get('token') ?? '');
    if (!grant) return refuse(socket, 403, 'The console URL is unknown, used or expired.');
    // From the dashboard, the signed-in user must be the one the URL was made for.
    const user = await options.sessionUser(request.headers.cookie);
    if (user !== undefined && user !== grant.userId) {
      return refuse(socket, 403, 'The console URL was made for another user.');
    }
    let guest: net.Socket;
    try {
      guest = await consoles.connect(grant);
    } catch (err) {
      app.log.warn({ err, instance: grant.instanceId }, 'the serial port could not be reached');
      return refuse(socket, 403, 'The serial port is not reachable.');
    }
    if (socket.destroyed) {
      guest.destroy();
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const pair = { ws, guest };
      open.add(pair);
      guest.on('data', (d: Buffer) => ws.send(d));
      ws.on('message', (m: RawData) => {
        guest.write(Array.isArray(m) ? Buffer.concat(m) : Buffer.from(m as ArrayBuffer));
      });
      const end = () => {
        open.delete(pair);
        guest.destroy();
        ws.close();
      };
      guest.on('close', end);
      guest.on('error', end);
      ws.on('close', end);
      ws.on('error', end);
    });
  };

  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrade(request, socket, head).catch((err: unknown) => {
      app.log.error({ err }, 'a serial console connection failed');
      refuse(socket, 500, 'The console connection failed.');
    });
  });
  app.addHook('onClose', async () => {
    for (const { ws, guest } of open) {
      guest.destroy();
      ws.terminate();
    }
    wss.close();
  });
}
