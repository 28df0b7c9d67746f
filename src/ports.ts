// Free loopback ports for processes started here (the lab's API processes, the tests' private
// servers). They are drawn below the kernel's ephemeral range (32768-60999 by default), from
// which every outgoing connection takes its local port: a port found free there can be taken
// by some client's connection before the server that was meant to have it binds it, which a
// busy machine (many tests connecting at once) does often enough to matter.
import { randomInt } from 'node:crypto';
import net from 'node:net';

const LOW = 20_000;
const HIGH = 32_767;

function tryListen(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server));
  });
}

/** `n` distinct loopback ports that nothing listened on a moment ago. */
export async function freePorts(n: number): Promise<number[]> {
  const held: net.Server[] = [];
  try {
    for (let tries = 0; held.length < n; tries++) {
      if (tries > 1000) throw new Error(`no free port between ${LOW} and ${HIGH}`);
      const server = await tryListen(randomInt(LOW, HIGH + 1));
      if (server) held.push(server);
    }
    return held.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
}

/** One free loopback port (see `freePorts`). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0] as number;
}
