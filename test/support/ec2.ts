// A whole cloud in this process (fake virt driver, SQLite, in-process bus) with the real AWS
// SDK pointed at its EC2 endpoint: what every EC2 test drives.
import { EC2Client } from '@aws-sdk/client-ec2';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import type { ImageKind, ImageRow } from '../../src/db/index.js';
import { IdentityService } from '../../src/identity/index.js';
import { silentLogger } from '../../src/log.js';
import { startCloud, type Cloud } from '../../src/main.js';
import type { Binary } from '../../src/service/index.js';
import type { VirtDriver } from '../../src/virt/index.js';
import { insertImage } from './images.js';
import { FREE_PORTS } from './ports.js';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface TestCloud {
  cloud: Cloud;
  /** The EC2 endpoint URL. */
  endpoint: string;
  region: string;
  /** An EC2 client with the admin's credentials (admin project, admin role). */
  admin: EC2Client;
  adminCredentials: Credentials;
  /** A new project with a member user; returns its client and credentials. */
  newProject(
    name?: string,
  ): Promise<{ client: EC2Client; credentials: Credentials; projectId: string }>;
  /** Registers an active image directly in the registry (public unless `ownerProjectId`). */
  addImage(options?: {
    name?: string;
    kind?: ImageKind;
    ownerProjectId?: string | null;
    isPublic?: boolean;
    status?: ImageRow['status'];
  }): Promise<ImageRow>;
  stop(): Promise<void>;
}

export function ec2Client(endpoint: string, region: string, credentials: Credentials): EC2Client {
  return new EC2Client({ endpoint, region, credentials, maxAttempts: 1 });
}

/**
 * Starts a test cloud; `flags` are extra config flags (e.g. quotas). `services` leaves some
 * out (a test that runs its own compute host); `driver` is the compute service's virt driver
 * (a fake told to fail or wait).
 */
export async function startTestCloud(
  flags: Record<string, string> = {},
  options: { services?: readonly Binary[]; driver?: VirtDriver } = {},
): Promise<TestCloud> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-ec2-'));
  const config = loadConfig({
    env: {},
    flags: {
      'state-dir': stateDir,
      ...FREE_PORTS,
      'log-level': 'warn',
      'power-sync-seconds': '0.5',
      ...flags,
    },
  });
  const cloud = await startCloud(
    config,
    options.services ?? ['network', 'scheduler', 'compute', 'api'],
    {
      bootstrap: true,
      logger: silentLogger(),
      ...(options.driver ? { driver: options.driver } : {}),
    },
  );
  const endpoint = cloud.urls?.ec2 as string;
  const admin = cloud.admin;
  if (!admin) throw new Error('the test cloud has no admin');
  const adminCredentials = {
    accessKeyId: admin.credential.accessKey,
    secretAccessKey: admin.credential.secretKey,
  };
  const identity = new IdentityService(cloud.database.db);
  const clients: EC2Client[] = [];
  const client = (c: Credentials) => {
    const e = ec2Client(endpoint, config.region, c);
    clients.push(e);
    return e;
  };
  return {
    cloud,
    endpoint,
    region: config.region,
    admin: client(adminCredentials),
    adminCredentials,
    async newProject(name = `p-${randomUUID().slice(0, 8)}`) {
      const project = await identity.createProject({ name });
      const user = await identity.createUser({ name: `${name}-user` });
      await identity.grantRole(user.id, project.id, 'member');
      const cred = await identity.createEc2Credential(user.id, project.id);
      const credentials = { accessKeyId: cred.accessKey, secretAccessKey: cred.secretKey };
      return { client: client(credentials), credentials, projectId: project.id };
    },
    async addImage(options = {}) {
      const at = Date.now();
      return insertImage(cloud.database.db, {
        name: options.name ?? `image-${at}`,
        kind: options.kind ?? 'machine',
        ownerProjectId: options.ownerProjectId ?? null,
        isPublic: (options.isPublic ?? !options.ownerProjectId) ? 1 : 0,
        status: options.status ?? 'active',
      });
    },
    async stop() {
      for (const c of clients) c.destroy();
      await cloud.stop();
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a value; fails after `ms`. Waiting, not retrying failures. */
export async function waitUntil<T>(
  check: () => Promise<T | undefined | false>,
  ms = 10_000,
  what = 'condition',
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface RawResponse {
  status: number;
  body: string;
  /** The `<Code>` of an error response, if it is one. */
  code: string | undefined;
}

/**
 * Sends an EC2 Query request with exactly these parameters, signed with Signature V4 as the SDK
 * would sign it: for inputs the SDK refuses to send (missing, malformed, oversized values).
 */
export async function rawEc2(
  endpoint: string,
  region: string,
  credentials: Credentials,
  params: Record<string, string>,
  options: { method?: 'GET' | 'POST'; path?: string; service?: 'ec2' | 'sts' | 'iam' } = {},
): Promise<RawResponse> {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { Sha256 } = await import('@aws-crypto/sha256-js');
  const url = new URL(options.path ?? '/', endpoint);
  const method = options.method ?? 'POST';
  const body = new URLSearchParams(params).toString();
  const signer = new SignatureV4({
    credentials,
    region: options.service === 'iam' ? 'us-east-1' : region,
    service: options.service ?? 'ec2',
    sha256: Sha256,
  });
  const query: Record<string, string> = method === 'GET' ? { ...params } : {};
  const request = await signer.sign({
    method,
    protocol: 'http:',
    hostname: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    query,
    headers: {
      host: url.host,
      ...(method === 'POST'
        ? { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }
        : {}),
    },
    body: method === 'POST' ? body : undefined,
  });
  const enc = (v: string) =>
    encodeURIComponent(v).replace(
      /[!'()*]/g,
      (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
    );
  const qs = Object.entries(query)
    .map(([k, v]) => `${enc(k)}=${enc(v)}`)
    .join('&');
  const res = await fetch(`${url.origin}${url.pathname}${qs ? `?${qs}` : ''}`, {
    method,
    headers: request.headers,
    body: method === 'POST' ? body : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text, code: /<Code>([^<]+)<\/Code>/.exec(text)?.[1] };
}
