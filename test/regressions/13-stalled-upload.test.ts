// Issue 13: an image upload whose client sent the headers and then went silent kept the image
// `saving` for as long as the socket stayed open. Every API listener now closes a connection
// on which nothing moves for --api-idle-timeout-seconds: the upload ends, the image goes
// `killed` and no file is left; a stalled EC2 request body is cut off the same way.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IdentityService } from '../../src/identity/index.js';
import { startTestCloud, waitUntil, type TestCloud } from '../support/ec2.js';
import { login, PASSWORD } from '../support/openstack.js';

/**
 * Opens a connection, sends `head` and part of a body, then nothing; `closed` resolves when the
 * server closes it.
 */
async function stall(
  url: string,
  head: string,
  partialBody: Buffer,
): Promise<{ closed: Promise<void> }> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  socket.on('data', () => {});
  socket.write(head);
  socket.write(partialBody);
  return { closed };
}

/** `closed`, or a failure after a generous limit: a hang must fail the test, not stall it. */
async function closedWithin(closed: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the server kept the stalled connection open for ${ms} ms`)),
      ms,
    );
  });
  try {
    await Promise.race([closed, limit]);
  } finally {
    clearTimeout(timer);
  }
}

describe('issue 13: stalled requests hit the idle timeout', () => {
  let t: TestCloud;
  let token: string;
  let imageUrl: string;

  before(async () => {
    t = await startTestCloud({ 'api-idle-timeout-seconds': '1' });
    await new IdentityService(t.cloud.database.db).setPassword('admin', PASSWORD);
    token = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
    imageUrl = t.cloud.urls?.image as string;
  });
  after(async () => {
    await t.stop();
  });

  it('a stalled image upload ends: the image goes killed and keeps no file', async () => {
    const created = await fetch(`${imageUrl}/v2/images`, {
      method: 'POST',
      headers: { 'x-auth-token': token, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'stalled', disk_format: 'raw', container_format: 'bare' }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const { id } = (await created.json()) as { id: string };
    const { host } = new URL(imageUrl);
    const { closed } = await stall(
      imageUrl,
      [
        `PUT /v2/images/${id}/file HTTP/1.1`,
        `Host: ${host}`,
        `X-Auth-Token: ${token}`,
        'Content-Type: application/octet-stream',
        `Content-Length: ${10 * 1024 * 1024}`,
        '',
        '',
      ].join('\r\n'),
      Buffer.alloc(64 * 1024, 1),
    );
    const status = async () => {
      const r = await fetch(`${imageUrl}/v2/images/${id}`, { headers: { 'x-auth-token': token } });
      return ((await r.json()) as { status: string }).status;
    };
    // The data began to arrive: the upload is under way.
    await waitUntil(async () => (await status()) === 'saving', 10_000, 'the upload to start');
    await closedWithin(closed, 15_000);
    await waitUntil(async () => (await status()) === 'killed', 10_000, 'the image to be killed');
    const dir = path.join(t.cloud.config.stateDir, 'images');
    const left = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.startsWith(id)) : [];
    assert.deepEqual(left, [], 'no file, whole or partial, is left');
  });

  it('a stalled EC2 request body is cut off too', async () => {
    const { host } = new URL(t.endpoint);
    const { closed } = await stall(
      t.endpoint,
      [
        'POST / HTTP/1.1',
        `Host: ${host}`,
        'Content-Type: application/x-www-form-urlencoded',
        'Content-Length: 1000',
        '',
        '',
      ].join('\r\n'),
      Buffer.from('Action=DescribeRegions&Version=2016-11-15'),
    );
    await closedWithin(closed, 15_000);
  });

  it('a connection that keeps sending is not cut off, however long it takes', async () => {
    // Bytes every 300 ms for 3 s: three times the idle timeout, never idle for one.
    const { host } = new URL(t.endpoint);
    const body = 'Action=DescribeRegions&Version=2016-11-15';
    const { port, hostname } = new URL(t.endpoint);
    const socket = net.connect(Number(port), hostname);
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(
      `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    );
    const pieces = body.match(/.{1,4}/g) as string[];
    for (const piece of pieces) {
      socket.write(piece);
      await new Promise((r) => setTimeout(r, 3000 / pieces.length));
    }
    await closedWithin(ended, 15_000);
    // Unsigned, so refused, but answered: the request was read to its end.
    assert.match(answer, /^HTTP\/1\.1 (400|401|403)/);
    assert.match(answer, /<Code>/);
  });
});
