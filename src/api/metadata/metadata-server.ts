// The metadata service's HTTP edge: EC2's /latest/meta-data/, /latest/user-data and
// OpenStack's /openstack/latest/meta_data.json, for the instance whose fixed IP the data
// plane's proxy names in X-Forwarded-For. It listens on a unix socket only the proxy (root)
// can reach, so that header is trusted; a caller it cannot place gets 404 and nothing else.
// The X-Forwarded-For the guest itself sent, if any, comes in CLIENT_FORWARDED_FOR.
//
// IMDSv2 as EC2 serves it (user guide, "Use the Instance Metadata Service to access instance
// metadata"): `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds` (1-21600;
// 400 otherwise) answers a session token for the calling instance; a PUT that went through a
// proxy (it carries X-Forwarded-For) is refused with 403, so a guest's own forwarding proxy
// cannot fetch tokens for others. A request carrying `X-aws-ec2-metadata-token` must carry a
// valid one (401 otherwise, also when tokens are optional); with HttpTokens=required a request
// without one is 401. With HttpEndpoint=disabled the service refuses the instance with 403.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { InstanceRow } from '../../db/index.js';
import type { Logger } from '../../log.js';
import type { MetadataService } from './metadata-service.js';
import { answer, NOT_FOUND, type Answer } from './metadata-tree.js';
import { checkSessionToken, issueSessionToken, requestedTtl } from './session-tokens.js';

/** The header in which a project network's proxy names its network. */
const NETWORK_ID = 'x-stratus-network-id';

/**
 * The header in which the data plane's proxy passes on the X-Forwarded-For the guest sent
 * (its own X-Forwarded-For names the guest).
 */
export const CLIENT_FORWARDED_FOR = 'x-stratus-client-forwarded-for';
const TOKEN_PATH = '/latest/api/token';
const TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'x-aws-ec2-metadata-token';

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
          res.writeHead(a.status, {
            'content-type': a.type,
            'content-length': a.body.length,
            ...a.headers,
          });
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
    const caller = header(req, 'x-forwarded-for')?.split(',')[0]?.trim();
    if (!caller) return NOT_FOUND;
    // A project network's proxy names its network (replacing any a guest sent): addresses
    // are only unique within one network there. The flat network's proxy names none.
    const networkId = header(req, NETWORK_ID);
    const md =
      networkId !== undefined
        ? await this.service.byNetworkAddress(networkId, caller)
        : await this.service.byFixedIp(caller);
    if (!md) {
      this.logger?.info({ caller, url: req.url }, 'metadata request from an unknown address');
      return NOT_FOUND;
    }
    const inst = md.instance;
    if (inst.metadataHttpEndpoint === 'disabled') {
      return refusal(403, 'The instance metadata service is turned off for this instance.');
    }
    await this.service.recordFetch(inst);
    const p = (req.url ?? '/').split('?')[0]?.replace(/\/{2,}/g, '/') ?? '/';
    if (p === TOKEN_PATH && req.method === 'PUT') return this.#issueToken(req, inst);
    const token = header(req, TOKEN_HEADER);
    if (token !== undefined) {
      const check = checkSessionToken(await this.service.tokenKey(), token, inst.id);
      if (check !== 'valid') return refusal(401, 'Unauthorized');
    } else if (inst.metadataHttpTokens === 'required') {
      return refusal(401, 'Unauthorized');
    }
    if (PASSWORD_PATH.test(p)) return this.#password(req, inst);
    return answer(req.method ?? 'GET', req.url ?? '/', md);
  }

  /** `PUT /latest/api/token`: a session token for the calling instance. */
  async #issueToken(req: http.IncomingMessage, inst: InstanceRow): Promise<Answer> {
    if (header(req, CLIENT_FORWARDED_FOR) !== undefined) {
      return refusal(403, 'Forbidden');
    }
    const ttl = requestedTtl(header(req, TTL_HEADER));
    if (ttl === undefined) return refusal(400, 'Missing or Invalid Parameters');
    const token = issueSessionToken(await this.service.tokenKey(), inst.id, ttl);
    return { status: 200, type: 'text/plain', body: token, headers: { [TTL_HEADER]: String(ttl) } };
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

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function refusal(status: number, text: string): Answer {
  return { status, type: 'text/plain', body: `${text}\n` };
}
