// The metadata service's HTTP edge: EC2's /latest/meta-data/, /latest/user-data and
// OpenStack's /openstack/latest/meta_data.json, for the instance whose fixed IP the data
// plane's proxy names in X-Forwarded-For. It listens on a unix socket only the proxy (root)
// can reach, so that header is trusted; a caller it cannot place gets 404 and nothing else.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Logger } from '../../log.js';
import type { MetadataService } from './metadata-service.js';
import { answer, NOT_FOUND, type Answer } from './metadata-tree.js';

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
    return answer(req.method ?? 'GET', req.url ?? '/', md);
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
