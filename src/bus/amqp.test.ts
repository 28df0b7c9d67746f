// Runs the bus suite against a real RabbitMQ. Each pair gets its own exchange prefix, and
// everything it declared is deleted afterwards.
import amqp from 'amqplib';
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { AMQP_URL, needs } from '../../test/support/capabilities.js';
import { silentLogger } from '../log.js';
import { AmqpBus } from './amqp.js';
import type { Bus } from './bus.js';
import { busSuite } from './bus.suite.js';

const prefixes: string[] = [];
const queues = new Set<string>();

busSuite({
  name: 'amqp',
  ...needs('rabbitmq'),
  async pair({ callTimeoutMs }) {
    const exchange = `stratus-test-${randomBytes(4).toString('hex')}`;
    prefixes.push(exchange);
    const open = async () =>
      recording(
        await AmqpBus.connect({ url: AMQP_URL, logger: silentLogger(), callTimeoutMs, exchange }),
        exchange,
      );
    const [client, server, server2] = await Promise.all([open(), open(), open()]);
    return {
      client,
      server,
      server2,
      close: async () => {
        await Promise.all([client.close(), server.close(), server2.close()]);
      },
    };
  },
});

after(async () => {
  // Nothing to remove when the suite did not run (no RabbitMQ here).
  if (prefixes.length === 0) return;
  const connection = await amqp.connect(AMQP_URL);
  try {
    const channel = await connection.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue);
    for (const prefix of prefixes) {
      await channel.deleteExchange(prefix);
      await channel.deleteExchange(`${prefix}.fanout`);
    }
    await channel.close();
  } finally {
    await connection.close();
  }
});

/** Notes the queue of every topic served or cast to, so the test leaves nothing behind. */
function recording(bus: AmqpBus, exchange: string): Bus {
  return {
    call: (c, t, m, a, o) => bus.call(c, t, m, a, o),
    cast: (c, t, m, a) => (queues.add(`${exchange}.${t}`), bus.cast(c, t, m, a)),
    fanout: (c, t, m, a) => bus.fanout(c, t, m, a),
    serve: (t, h, o) => (queues.add(`${exchange}.${t}`), bus.serve(t, h, o)),
    close: () => bus.close(),
    get connected() {
      return bus.connected;
    },
  };
}
