// The serial console server of a compute host: only a connection that presents a live one-time
// secret is joined to the VM's serial port (here a Unix socket that echoes), and only once.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../log.js';
import { SerialConsoleServer } from './serial-console-server.js';

/** Connects, sends `first`, and resolves with what came back before the server closed or 1 s. */
function exchange(
  port: number,
  first: string,
  then = '',
): Promise<{ got: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    let closed = false;
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('error', () => undefined);
    s.on('close', () => {
      closed = true;
      resolve({ got, closed });
    });
    s.on('connect', () => {
      s.write(first);
      if (then) setTimeout(() => s.write(then), 100);
    });
    setTimeout(() => {
      s.destroy();
      resolve({ got, closed });
    }, 1000);
  });
}

describe('the serial console server', () => {
  let dir: string;
  let echo: net.Server;
  let sock: string;
  let clock = 1_000_000;
  const server = new SerialConsoleServer({
    address: '127.0.0.1',
    port: 0,
    secretTtlMs: 5000,
    handshakeMs: 300,
    logger: silentLogger(),
    now: () => clock,
  });

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-serial-test-'));
    sock = path.join(dir, 'serial.sock');
    echo = net.createServer((c) => c.on('data', (d: Buffer) => c.write(`echo:${d.toString()}`)));
    await new Promise<void>((r) => echo.listen(sock, r));
  });
  after(async () => {
    await server.close();
    await new Promise<void>((r) => echo.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('joins a connection that sends its secret to the serial port, once', async () => {
    const at = await server.grant('vm-1', sock);
    assert.equal(at.address, '127.0.0.1');
    const r = await exchange(at.port, `${at.secret}\nhello`);
    assert.equal(r.got, 'echo:hello');
    const again = await exchange(at.port, `${at.secret}\nhello`);
    assert.equal(again.got, '');
    assert.equal(again.closed, true);
  });

  it('closes a connection with a wrong secret, an expired one, or none in time', async () => {
    const at = await server.grant('vm-1', sock);
    const wrong = await exchange(at.port, `${at.secret}x\nhello`);
    assert.deepEqual(wrong, { got: '', closed: true });
    const late = await server.grant('vm-1', sock);
    clock += 6000;
    const expired = await exchange(late.port, `${late.secret}\nhello`);
    assert.deepEqual(expired, { got: '', closed: true });
    const silent = await exchange(at.port, 'no newline');
    assert.deepEqual(silent, { got: '', closed: true });
    // A wrong guess used nothing up: a secret still waiting works after it.
    const fresh = await server.grant('vm-1', sock);
    assert.deepEqual(await exchange(fresh.port, 'guess\n'), { got: '', closed: true });
    assert.equal((await exchange(fresh.port, `${fresh.secret}\n`, 'x')).got, 'echo:x');
  });
});
