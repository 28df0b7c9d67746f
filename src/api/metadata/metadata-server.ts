// The metadata service's HTTP edge: EC2's /latest/meta-data/, /latest/user-data and
// OpenStack's /openstack/latest/meta_data.json, for the instance whose fixed IP the data
// plane's proxy names in X-Forwarded-For. It listens on a unix socket only the proxy (root)
// can reach, so that header is trusted; a caller it cannot place gets 404 and nothing else.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Logger } from '../../log.js';
import type { InstanceMetadata, MetadataService } from './metadata-service.js';

type Answer = { status: number; type: string; body: string | Buffer };

const text = (body: string): Answer => ({ status: 200, type: 'text/plain', body });
const NOT_FOUND: Answer = { status: 404, type: 'text/plain', body: 'Not Found\n' };

/** Answers one metadata request for a known instance; pure, for tests. */
export function answer(method: string, url: string, md: InstanceMetadata): Answer {
  const p = url.split('?')[0]?.replace(/\/{2,}/g, '/') ?? '/';
  // IMDSv2: hand out a session token; the caller is already known by its address.
  if (method === 'PUT' && p === '/latest/api/token') return text(randomBytes(24).toString('hex'));
  if (method !== 'GET' && method !== 'HEAD') return { ...NOT_FOUND, status: 405 };
  const meta: Record<string, string | undefined> = {
    'ami-id': md.imageId,
    'ami-launch-index': String(md.instance.launchIndex),
    hostname: md.hostname,
    'instance-id': md.instanceId,
    'instance-type': md.instanceType,
    'local-hostname': md.hostname,
    'local-ipv4': md.localIpv4,
    mac: md.mac ?? undefined,
    'public-ipv4': md.publicIpv4 ?? undefined,
    'reservation-id': md.reservationId,
    'security-groups': md.securityGroups.join('\n'),
  };
  const listing = (names: string[]) => text(names.join('\n'));
  switch (p) {
    case '/':
      return listing(['latest']);
    case '/latest':
    case '/latest/':
      return listing(['meta-data/', ...(md.userData ? ['user-data'] : [])]);
    case '/latest/meta-data':
    case '/latest/meta-data/':
      return listing([
        ...Object.keys(meta).filter((k) => meta[k] !== undefined),
        'placement/',
        ...(md.key ? ['public-keys/'] : []),
      ]);
    case '/latest/meta-data/placement':
    case '/latest/meta-data/placement/':
      return listing(['availability-zone']);
    case '/latest/meta-data/placement/availability-zone':
      return text(md.instance.availabilityZone);
    case '/latest/meta-data/public-keys':
    case '/latest/meta-data/public-keys/':
      return md.key ? listing([`0=${md.key.name}`]) : NOT_FOUND;
    case '/latest/meta-data/public-keys/0':
    case '/latest/meta-data/public-keys/0/':
      return md.key ? listing(['openssh-key']) : NOT_FOUND;
    case '/latest/meta-data/public-keys/0/openssh-key':
      return md.key ? text(`${md.key.openssh}\n`) : NOT_FOUND;
    case '/latest/user-data':
    case '/openstack/latest/user_data':
      return md.userData
        ? { status: 200, type: 'application/octet-stream', body: md.userData }
        : NOT_FOUND;
    case '/openstack':
    case '/openstack/':
      return listing(['latest']);
    case '/openstack/latest':
    case '/openstack/latest/':
      return listing(['meta_data.json', ...(md.userData ? ['user_data'] : [])]);
    case '/openstack/latest/meta_data.json':
      return {
        status: 200,
        type: 'application/json',
        body: JSON.stringify({
          uuid: md.instance.id,
          name: md.hostname,
          hostname: md.hostname,
          availability_zone: md.instance.availabilityZone,
          project_id: md.instance.projectId,
          launch_index: md.instance.launchIndex,
          public_keys: md.key ? { [md.key.name]: md.key.openssh } : {},
          keys: md.key ? [{ name: md.key.name, type: 'ssh', data: md.key.openssh }] : [],
          meta: {},
        }),
      };
  }
  const prefix = '/latest/meta-data/';
  if (p.startsWith(prefix)) {
    const value = meta[p.slice(prefix.length)];
    if (value !== undefined) return text(value);
  }
  return NOT_FOUND;
}

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
