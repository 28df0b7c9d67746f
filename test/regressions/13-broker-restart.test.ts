// Issue 13, "messages are not lost": a RabbitMQ node of the test's own is killed and started
// again on the same data under buses (and a distributed cloud) that stay up. A cast whose
// promise resolved is delivered after the restart, to a handler that is safe to run twice;
// a call in flight when the broker goes, or whose peer is gone, fails with a clear
// 'unavailable' error within its timeout; and the same bus objects serve and send again once
// the broker is back, without restarting anything.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AmqpBus } from '../../src/bus/index.js';
import { systemContext } from '../../src/context.js';
import { StratusError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { needs } from '../support/capabilities.js';
import {
  SETTLE_BOUND_MS,
  startDistributedCrashCloud,
  type CrashCloud,
  type RoundResult,
} from '../support/crash-rounds.js';
import { startPrivateRabbitMq, type PrivateRabbitMq } from '../support/private-rabbitmq.js';

const ctx = systemContext();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`not in ${ms} ms: ${what}`);
    await sleep(20);
  }
}

function isUnavailable(err: unknown): err is StratusError {
  return err instanceof StratusError && err.kind === 'unavailable';
}

// One private node for the whole file (starting one takes 10-60 s here), removed at the end.
let node: Promise<PrivateRabbitMq> | undefined;
const privateBroker = () => (node ??= startPrivateRabbitMq());
after(async () => {
  if (node) await (await node).remove();
});

describe('the AMQP bus across broker restarts (issue 13)', needs('rabbitmq-server'), () => {
  let broker: PrivateRabbitMq;
  const buses: AmqpBus[] = [];
  const open = async (callTimeoutMs = 5000, heartbeatSeconds = 10) => {
    const bus = await AmqpBus.connect({
      url: broker.url,
      logger: silentLogger(),
      callTimeoutMs,
      heartbeatSeconds,
      exchange: 'restart',
    });
    buses.push(bus);
    return bus;
  };

  before(async () => {
    broker = await privateBroker();
  });
  after(async () => {
    await Promise.all(buses.map((b) => b.close()));
  });

  it(
    'casts accepted before and around a broker kill are each done once in effect after it is back',
    { timeout: 240_000 },
    async (t) => {
      const [client, server] = await Promise.all([open(), open()]);
      const topic = `casts-${randomBytes(3).toString('hex')}`;
      // The work: idempotent by id, as the compute manager's are by instance (a redelivered
      // message finds its work done). Deliveries and effects are counted apart.
      const deliveries = new Map<number, number>();
      const done = new Set<number>();
      let slow = true;
      const handler = async (_m: string, args: unknown) => {
        const id = (args as { id: number }).id;
        deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
        if (slow) await sleep(40);
        done.add(id);
        return null;
      };
      // The topic's queue exists, as in a deployed cloud, but its server is down for now.
      await (await server.serve(topic, handler)).close();

      const accepted = new Set<number>();
      const refused = new Set<number>();
      let next = 0;
      const send = async (id: number) => {
        try {
          await client.cast(ctx, topic, 'work', { id });
          accepted.add(id);
        } catch (err) {
          assert.ok(isUnavailable(err), `a refused cast says unavailable: ${String(err)}`);
          refused.add(id);
        }
      };
      // 1. Accepted while no server runs: they wait in the durable queue.
      await Promise.all(Array.from({ length: 40 }, () => send(next++)));
      assert.equal(accepted.size, 40);
      // 2. A server works through them slowly (concurrency 4), so some are in its hands, some
      //    delivered but unacknowledged and some still queued when the broker dies.
      await server.serve(topic, handler, { concurrency: 4 });
      await waitFor(() => done.size >= 8, 20_000, 'the server to start working');
      // 3. More casts keep coming while the broker is killed.
      let sending = true;
      const stream = (async () => {
        while (sending) {
          await send(next++);
          await sleep(5);
        }
      })();
      await sleep(100);
      const doneAtKill = done.size;
      await broker.stop('kill');
      await sleep(500);
      sending = false;
      await stream;
      // 4. While it is down a cast fails at once, saying so; it is not "accepted".
      const downAt = Date.now();
      await assert.rejects(client.cast(ctx, topic, 'work', { id: -1 }), (err: unknown) => {
        assert.ok(isUnavailable(err));
        assert.match(err.message, /message broker/);
        return true;
      });
      assert.ok(Date.now() - downAt < 5000, 'a cast to a dead broker fails without waiting');
      assert.equal(client.connected, false);
      await broker.start();
      // 5. The same buses reconnect, the server consumes again, and every accepted cast is
      //    done; casts sent after the restart are too.
      slow = false;
      await waitFor(() => client.connected && server.connected, 15_000, 'both buses reconnect');
      for (let i = 0; i < 10; i++) await send(next++);
      await waitFor(
        () => [...accepted].every((id) => done.has(id)),
        30_000,
        `all ${accepted.size} accepted casts done (missing: ${[...accepted]
          .filter((id) => !done.has(id))
          .slice(0, 10)
          .join(',')})`,
      );
      await sleep(300);
      // Nothing done that was never sent, and nothing beyond the accepted ones but the casts
      // whose confirmation the broker's death cut off (the broker may have kept those).
      for (const id of done) {
        assert.ok(accepted.has(id) || refused.has(id), `${id} was done but never sent`);
      }
      const redelivered = [...deliveries.values()].filter((n) => n > 1).length;
      t.diagnostic(
        `${accepted.size} casts accepted (${doneAtKill} done when the broker was killed), ` +
          `${refused.size} refused while it was down; all accepted done once in effect, ` +
          `${redelivered} delivered twice (redelivery after the restart)`,
      );
    },
  );

  it(
    'a call in flight when the broker dies fails at once as unavailable; the buses work again after',
    { timeout: 240_000 },
    async () => {
      const [client, server] = await Promise.all([open(20_000), open(20_000)]);
      const topic = `calls-${randomBytes(3).toString('hex')}`;
      let entered = 0;
      await server.serve(topic, async (method) => {
        entered += 1;
        if (method === 'hang') await sleep(60_000);
        return 'pong';
      });
      assert.equal(await client.call(ctx, topic, 'ping', {}), 'pong');
      const started = Date.now();
      const inFlight = client.call(ctx, topic, 'hang', {});
      const failed = assert.rejects(inFlight, (err: unknown) => {
        assert.ok(isUnavailable(err), String(err));
        assert.match(err.message, /Lost the message broker/);
        return true;
      });
      await waitFor(() => entered === 2, 5000, 'the call reaches its server');
      await broker.stop('graceful');
      await failed;
      assert.ok(Date.now() - started < 20_000, 'well within the call timeout');
      // A call while the broker is down fails at once too, naming the broker.
      await assert.rejects(client.call(ctx, topic, 'ping', {}), (err: unknown) => {
        assert.ok(isUnavailable(err));
        assert.match(err.message, /message broker/);
        return true;
      });
      await broker.start();
      await waitFor(() => client.connected && server.connected, 15_000, 'both buses reconnect');
      // The server consumes again on its own: a call finds it.
      assert.equal(await client.call(ctx, topic, 'ping', {}), 'pong');
    },
  );

  it(
    'a call whose peer is gone fails as unavailable within its timeout, never hangs',
    { timeout: 60_000 },
    async () => {
      const client = await open(1500);
      const peer = await open(1500);
      const topic = `gone-${randomBytes(3).toString('hex')}`;
      await peer.serve(topic, async () => 'here');
      assert.equal(await client.call(ctx, topic, 'ping', {}), 'here');
      // The peer's process ends (its connection goes); the topic's queue stays.
      await peer.close();
      const started = Date.now();
      await assert.rejects(client.call(ctx, topic, 'ping', {}), (err: unknown) => {
        assert.ok(isUnavailable(err));
        assert.match(err.message, /No reply to 'ping'.*within 1500 ms/);
        return true;
      });
      const took = Date.now() - started;
      assert.ok(took >= 1400 && took < 5000, `failed after ${took} ms`);
    },
  );

  it(
    'a hung broker: calls and casts fail within the call timeout, the heartbeat finds it, and it recovers',
    { timeout: 90_000 },
    async () => {
      const [client, server] = await Promise.all([open(2000, 1), open(2000, 1)]);
      const topic = `hung-${randomBytes(3).toString('hex')}`;
      const done = new Set<number>();
      await server.serve(topic, async (method, args) => {
        if (method === 'work') done.add((args as { id: number }).id);
        return 'pong';
      });
      assert.equal(await client.call(ctx, topic, 'ping', {}), 'pong');
      const leaving = await open(2000, 1);
      await leaving.serve(topic, async () => 'pong');
      await broker.pause();
      try {
        for (const attempt of [
          () => client.call(ctx, topic, 'ping', {}),
          () => client.cast(ctx, topic, 'work', { id: 0 }),
        ]) {
          const started = Date.now();
          await assert.rejects(attempt(), (err: unknown) => {
            assert.ok(isUnavailable(err), String(err));
            return true;
          });
          const took = Date.now() - started;
          assert.ok(took < 4000, `failed after ${took} ms, the call timeout being 2000 ms`);
        }
        // A process stopping now is not held up by the broker's silence.
        const closing = Date.now();
        await leaving.close();
        assert.ok(Date.now() - closing < 8000, `close took ${Date.now() - closing} ms`);
        // Silent for two heartbeats: both buses take the connection as lost.
        await waitFor(() => !client.connected && !server.connected, 20_000, 'heartbeat loss');
      } finally {
        broker.resume();
      }
      await waitFor(() => client.connected && server.connected, 20_000, 'both buses reconnect');
      assert.equal(await client.call(ctx, topic, 'ping', {}), 'pong');
      await client.cast(ctx, topic, 'work', { id: 1 });
      await waitFor(() => done.has(1), 10_000, 'a cast after the thaw is done');
    },
  );
});

describe(
  'a distributed cloud across a broker restart (issue 13)',
  needs('rabbitmq-server', 'postgres'),
  () => {
    const describeRound = (r: RoundResult) =>
      `${r.kind} ${r.killedAfterMs} ms into ${r.launches} launches + ${r.terminates} terminates: ` +
      (r.settledMs === null
        ? `${r.stuck.length} of ${r.instances} never settled`
        : `all ${r.instances} settled ${r.settledMs} ms after it was back`) +
      `; this round's launches ended ${JSON.stringify(r.launched)}` +
      `, refused twice: ${JSON.stringify(r.refused)}`;

    /** A launch refused is refused clearly: a 503 saying why (a busy machine's timeouts). */
    const assertRefusedClearly = (r: RoundResult) => {
      for (const key of Object.keys(r.refused)) {
        assert.match(
          key,
          /^(Unavailable|InsufficientInstanceCapacity) 503$/,
          JSON.stringify(r.refused),
        );
      }
    };

    it(
      'api, scheduler, network and compute processes keep launching after RabbitMQ is killed and restarted mid-burst',
      { timeout: 400_000 },
      async (t) => {
        const broker = await privateBroker();
        let cloud: CrashCloud | undefined;
        try {
          cloud = await startDistributedCrashCloud({ amqpUrl: broker.url });
          // A first burst with no fault: the cloud launches (and the queues exist).
          const warm = await cloud.faultRound('no fault', async () => undefined);
          t.diagnostic(describeRound(warm));
          assert.deepEqual(warm.stuck, []);
          assert.ok((warm.launched.active ?? 0) > 0);
          // The broker killed at a random moment of the next burst, and started again on its
          // data; no Stratus process is restarted. Every instance ends active, error or
          // deleted, none stuck pending, with claims, addresses and VMs matching.
          const r = await cloud.faultRound(
            'rabbitmq killed and restarted',
            async () => {
              await broker.stop('kill');
              await broker.start();
            },
            { maxKillMs: 1500 },
          );
          t.diagnostic(describeRound(r));
          assert.deepEqual(r.stuck, [], 'instances stuck after the broker restart');
          assert.deepEqual(r.problems, [], 'inconsistencies after the broker restart');
          assert.ok(r.settledMs !== null && r.settledMs <= SETTLE_BOUND_MS);
          const launchedStates = Object.keys(r.launched).filter((s) => s !== 'deleted');
          assert.ok(
            launchedStates.every((s) => s === 'active' || s === 'error'),
            JSON.stringify(r.launched),
          );
          assertRefusedClearly(r);
          // And the same processes launch again as before.
          const again = await cloud.faultRound(
            'no fault, after the restart',
            async () => undefined,
          );
          t.diagnostic(describeRound(again));
          assert.deepEqual(again.stuck, []);
          assert.deepEqual(again.problems, []);
          // Every launch recorded ends running (none in error: the broker is fine again); one
          // refused is a clear 503 (on a busy machine a 2 s scheduler call may time out).
          assert.deepEqual(Object.keys(again.launched), ['active'], JSON.stringify(again.launched));
          assertRefusedClearly(again);
        } finally {
          await cloud?.stop();
        }
      },
    );
  },
);
