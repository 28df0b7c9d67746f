// Test support: every test that uses the machine's shared RabbitMQ works under an exchange
// prefix of its own, so test files running at the same time never answer each other's calls,
// and removes what it declared when it is done.
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { NETWORK_TOPIC } from '../../src/network/index.js';
import { SCHEDULER_TOPIC } from '../../src/scheduler/index.js';
import { AMQP_URL } from './capabilities.js';

/** A fresh exchange prefix (`--bus-exchange`). */
export function testBusExchange(label = 'test'): string {
  return `stratus-${label}-${randomBytes(4).toString('hex')}`;
}

/**
 * Removes the durable queues and exchanges `exchange` declared: the controller's topics and
 * those of the compute hosts named, on the broker at `url` (the shared one unless a test runs
 * its own). Fanout queues are exclusive and went with their servers.
 */
export async function removeBusExchange(
  exchange: string,
  computeHosts: readonly string[] = [],
  url: string = AMQP_URL,
): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    const topics = [SCHEDULER_TOPIC, NETWORK_TOPIC, ...computeHosts.map((h) => `compute.${h}`)];
    for (const t of topics) await channel.deleteQueue(`${exchange}.${t}`);
    await channel.deleteExchange(exchange);
    await channel.deleteExchange(`${exchange}.fanout`);
    await channel.close();
  } finally {
    await connection.close();
  }
}
