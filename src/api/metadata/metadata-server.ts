// The metadata service's HTTP edge: EC2's /latest/meta-data/, /latest/user-data and
// OpenStack's /openstack/latest/meta_data.json, for the instance whose fixed IP the data
// plane's proxy names in X-Forwarded-For. It listens on a unix socket only the proxy (root)
// can reach, so that header is trusted; a caller it cannot place gets 404 and nothing else.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { InstanceRow } from '../../db/index.js';
import type { Logger } from '../../log.js';
import type { MetadataService } from './metadata-service.js';
import { answer, NOT_FOUND, type Answer } from './metadata-tree.js';

/** Where a guest posts its password data (OpenStack's metadata path; any version). */
const PASSWORD_PATH = /^\/openstack\/(latest|\d{4}-\d{2}-\d{2})\/password\/?$/;
/** The most password data kept: Nova's four chunks of 255 bytes. */
const MAX_PASSWORD = 1020;

export class MetadataServer {
  readonly #server: http.Server;

  constructor(
    private readonly service: MetadataService,
    private readonly logger?: Logger,
  ) {
    this.#server = http.createServer((req, res) => {
      void this.#handle(req).then(
        (a) => {
          res.writeHead(a.status, { 'content-type': a.type, 'content-length': a.body.length });
          res.end(req.method === 'HEAD' ? undefined : a.body);
        },
        (err: unknown) => {
          this.logger?.error({ err }, 'metadata request failed');
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('Internal error\n');
        },
      );
    });
  }

  async #handle(req: http.IncomingMessage): Promise<Answer> {
    const header = req.headers['x-forwarded-for'];
    const caller = (Array.isArray(header) ? header[0] : header)?.split(',')[0]?.trim();
    if (!caller) return NOT_FOUND;
    const md = await this.service.byFixedIp(caller);
    if (!md) {
      this.logger?.info({ caller, url: req.url }, 'metadata request from an unknown address');
      return NOT_FOUND;
    }
    await this.service.recordFetch(md.instance);
    const p = (req.url ?? '/').split('?')[0]?.replace(/\/{2,}/g, '/') ?? '/';
    if (PASSWORD_PATH.test(p)) return this.#password(req, md.instance);
    return answer(req.method ?? 'GET', req.url ?? '/', md);
  }

  /**
   * The guest's password data: POST keeps it (once; 409 after that, as Nova answers), GET
   * reads it back. The body is kept as posted, base64 text of at most MAX_PASSWORD bytes.
   */
  async #password(req: http.IncomingMessage, inst: InstanceRow): Promise<Answer> {
    const text = (body: string, status = 200): Answer => ({
      status,
      type: 'text/plain',
      body,
    });
    if (req.method === 'GET' || req.method === 'HEAD') return text(inst.passwordData ?? '');
    if (req.method !== 'POST') return text('Method Not Allowed\n', 405);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_PASSWORD) return text('Request Entity Too Large\n', 413);
      chunks.push(chunk);
    }
    const data = Buffer.concat(chunks).toString('latin1').trim();
    if (!/^[A-Za-z0-9+/=\r\n]*$/.test(data)) return text('The password data is not base64.\n', 400);
    if (!(await this.service.recordPassword(inst, data))) return text('Conflict\n', 409);
    return text('');
  }

  /** Listens on a unix socket that only root may use. */
  async listen(socketPath: string): Promise<void> {
    fs.mkdirSync(path.dirname(socketPath), { recursive: true });
    fs.rmSync(socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(socketPath, () => resolve());
    });
    fs.chmodSync(socketPath, 0o600);
  }

  async close(): Promise<void> {
    if (!this.#server.listening) return;
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
