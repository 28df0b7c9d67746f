// The behaviour every bus transport must have. Each transport's test file runs this suite.
// `pair()` gives a client bus and a server bus: for AMQP they are two connections, as two
// processes would hold; in-process they are the same bus.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { systemContext, userContext } from '../context.js';
import { notFound, StratusError } from '../errors.js';
import type { Bus, Handler } from './bus.js';
import { dispatch } from './dispatch.js';
import { openEnvelope } from './envelope.js';

export interface BusPair {
  client: Bus;
  server: Bus;
  /** Another server bus, as a second process serving the same topics. */
  server2: Bus;
  close(): Promise<void>;
}

export interface BusFixture {
  name: string;
  /** Why the transport cannot run here (a skip reason), or false. */
  skip?: string | false;
  pair(options: { callTimeoutMs: number }): Promise<BusPair>;
}

const ctx = systemContext();

function topic(): string {
  return `t${randomBytes(4).toString('hex')}`;
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function withPair(
  fixture: BusFixture,
  fn: (p: BusPair) => Promise<void>,
  callTimeoutMs = 2000,
): Promise<void> {
  const p = await fixture.pair({ callTimeoutMs });
  try {
    await fn(p);
  } finally {
    await p.close();
  }
}

export function busSuite(fixture: BusFixture): void {
  describe(`bus: ${fixture.name}`, { skip: fixture.skip ?? false }, () => {
    it('call returns the result, with arguments and context carried as JSON', () =>
      withPair(fixture, async ({ client, server }) => {
        const t = topic();
        const seen: unknown[] = [];
        await server.serve(t, async (method, args, context) => {
          if (method === 'nothing') return undefined;
          seen.push({ method, args, context });
          return { echoed: args, when: new Date(0), gone: undefined };
        });
        const user = userContext({ userId: 'u1', projectId: 'p1', roles: ['member'] });
        const result = await client.call(user, t, 'echo', {
          n: 1,
          list: [1, 'two'],
          nothing: undefined,
        });
        assert.deepEqual(result, {
          echoed: { n: 1, list: [1, 'two'] },
          when: '1970-01-01T00:00:00.000Z',
        });
        assert.deepEqual(seen, [
          {
            method: 'echo',
            args: { n: 1, list: [1, 'two'] },
            context: {
              requestId: user.requestId,
              userId: 'u1',
              projectId: 'p1',
              roles: ['member'],
            },
          },
        ]);
        assert.equal(await client.call(ctx, t, 'nothing', undefined), null);
      }));

    it('a handler error reaches the caller as the same kind of StratusError', () =>
      withPair(fixture, async ({ client, server }) => {
        const t = topic();
        await server.serve(t, async (method) => {
          if (method === 'missing') throw notFound('instance', 'i-123');
          throw new Error('boom');
        });
        await assert.rejects(client.call(ctx, t, 'missing', {}), (err: unknown) => {
          assert.ok(err instanceof StratusError);
          assert.equal(err.kind, 'not_found');
          assert.equal(err.resource, 'instance');
          assert.equal(err.id, 'i-123');
          assert.equal(err.message, "The instance 'i-123' does not exist.");
          return true;
        });
        await assert.rejects(client.call(ctx, t, 'crash', {}), (err: unknown) => {
          assert.ok(err instanceof StratusError);
          assert.equal(err.kind, 'internal');
          assert.match(err.message, /boom/);
          return true;
        });
      }));

    it('dispatch refuses a method the protocol does not have', () =>
      withPair(fixture, async ({ client, server }) => {
        const t = topic();
        await server.serve(
          t,
          dispatch<{ ping: { args: null; result: string } }>(t, { ping: async () => 'pong' }),
        );
        assert.equal(await client.call(ctx, t, 'ping', null), 'pong');
        for (const method of ['nope', 'toString', '__proto__']) {
          await assert.rejects(client.call(ctx, t, method, null), (err: unknown) => {
            assert.ok(err instanceof StratusError);
            assert.equal(err.kind, 'invalid');
            assert.match(err.message, new RegExp(`no method '${method}'`));
            return true;
          });
        }
      }));

    // The bus's own timeout is a minute, the call's 300 ms: a transport may fail at once (AMQP
    // sees the message unroutable) or when the call's timeout ends, never wait for the bus's
    // (the test's own timeout catches that). No wall-clock bound: timings are bench figures.
    it(
      'a call nobody serves fails as unavailable, naming the topic, within its own timeout',
      { timeout: 30_000 },
      () =>
        withPair(
          fixture,
          async ({ client }) => {
            const t = topic();
            await assert.rejects(
              client.call(ctx, t, 'hello', {}, { timeoutMs: 300 }),
              (err: unknown) => {
                assert.ok(err instanceof StratusError);
                assert.equal(err.kind, 'unavailable');
                assert.match(err.message, new RegExp(t));
                assert.match(err.message, /'hello'/);
                return true;
              },
            );
          },
          60_000,
        ),
    );

    it('a slow handler makes the call time out; its late reply is dropped', () =>
      withPair(fixture, async ({ client, server }) => {
        const t = topic();
        const release = deferred();
        await server.serve(t, async () => {
          await release.promise;
          return 'late';
        });
        await assert.rejects(client.call(ctx, t, 'slow', {}, { timeoutMs: 200 }), /within 200 ms/);
        release.resolve();
        assert.equal(await client.call(ctx, t, 'again', {}, { timeoutMs: 2000 }), 'late');
      }));

    it('a cast sent before any server exists waits and is delivered once', () =>
      withPair(fixture, async ({ client, server }) => {
        const t = topic();
        // Declare the topic's queue the way a deployed cloud has it: a server served it once.
        const first = await server.serve(t, async () => null);
        await first.close();
        await client.cast(ctx, t, 'work', { id: 1 });
        await client.cast(ctx, t, 'work', { id: 2 });
        const got: unknown[] = [];
        await server.serve(t, async (_m, args) => {
          got.push(args);
          return null;
        });
        await waitFor(() => got.length === 2);
        await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(got, [{ id: 1 }, { id: 2 }]);
      }));

    it('servers of one topic share its messages; each message goes to exactly one', () =>
      withPair(fixture, async ({ client, server, server2 }) => {
        const t = topic();
        const byServer = [0, 0];
        const handler =
          (i: number): Handler =>
          async () => {
            byServer[i] = (byServer[i] ?? 0) + 1;
            await new Promise((r) => setTimeout(r, 5));
            return i;
          };
        await server.serve(t, handler(0), { concurrency: 1 });
        await server2.serve(t, handler(1), { concurrency: 1 });
        const results = await Promise.all(
          Array.from({ length: 20 }, () => client.call(ctx, t, 'which', {})),
        );
        assert.equal(results.length, 20);
        assert.equal((byServer[0] ?? 0) + (byServer[1] ?? 0), 20);
        assert.ok(
          (byServer[0] ?? 0) > 0 && (byServer[1] ?? 0) > 0,
          `both servers worked: ${byServer.join('/')}`,
        );
      }));

    it('fanout reaches every fanout server once and no other', () =>
      withPair(fixture, async ({ client, server, server2 }) => {
        const t = topic();
        const got: string[] = [];
        await server.serve(t, async (_m, args) => void got.push(`a:${String(args)}`), {
          fanout: true,
        });
        await server2.serve(t, async (_m, args) => void got.push(`b:${String(args)}`), {
          fanout: true,
        });
        await server2.serve(t, async (_m, args) => void got.push(`plain:${String(args)}`));
        await client.fanout(ctx, t, 'refresh', 'x');
        await waitFor(() => got.length >= 2);
        await new Promise((r) => setTimeout(r, 150));
        assert.deepEqual(got.sort(), ['a:x', 'b:x']);
      }));

    it('a server never works on more messages at once than its concurrency', () =>
      withPair(fixture, async ({ client, server }) => {
        const t = topic();
        let active = 0;
        let peak = 0;
        await server.serve(
          t,
          async () => {
            active += 1;
            peak = Math.max(peak, active);
            await new Promise((r) => setTimeout(r, 20));
            active -= 1;
            return null;
          },
          { concurrency: 3 },
        );
        await Promise.all(Array.from({ length: 12 }, () => client.call(ctx, t, 'w', {})));
        assert.equal(peak, 3);
      }));

    it('closing a subscription lets the work in hand finish, and later messages go elsewhere', () =>
      withPair(fixture, async ({ client, server, server2 }) => {
        const t = topic();
        const entered = deferred();
        const release = deferred();
        const sub = await server.serve(t, async () => {
          entered.resolve();
          await release.promise;
          return 'first';
        });
        const inHand = client.call(ctx, t, 'a', {});
        await entered.promise;
        let closed = false;
        const closing = sub.close().then(() => (closed = true));
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(closed, false, 'close waits for the work in hand');
        release.resolve();
        await closing;
        assert.equal(await inHand, 'first');
        await server2.serve(t, async () => 'second');
        assert.equal(await client.call(ctx, t, 'b', {}), 'second');
      }));

    it('closing the bus rejects calls in flight as unavailable', () =>
      withPair(fixture, async ({ client, server }) => {
        const t = topic();
        const entered = deferred();
        await server.serve(t, async () => {
          entered.resolve();
          await new Promise((r) => setTimeout(r, 300));
          return null;
        });
        const call = client.call(ctx, t, 'a', {}, { timeoutMs: 5000 });
        const rejected = assert.rejects(
          call,
          (err: unknown) => err instanceof StratusError && err.kind === 'unavailable',
        );
        await entered.promise;
        await client.close();
        await rejected;
        await assert.rejects(client.call(ctx, t, 'a', {}), /closed/);
      }));

    it('says it is connected until it is closed', () =>
      withPair(fixture, async ({ client }) => {
        assert.equal(client.connected, true);
        await client.close();
        assert.equal(client.connected, false);
      }));

    it('envelopes of another version or shape are refused', () => {
      assert.throws(
        () => openEnvelope('{"version":2,"topic":"t","method":"m","context":{}}'),
        /version 2/,
      );
      assert.throws(() => openEnvelope('not json'), /not valid JSON/);
      assert.throws(() => openEnvelope('{"version":1,"topic":"t"}'), /missing/);
    });
  });
}
