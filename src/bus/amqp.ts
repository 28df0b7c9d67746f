// The AMQP transport (RabbitMQ), for services spread over processes and hosts.
//
// Topology, all names prefixed by the exchange name (default 'stratus'):
//   <ex>          durable topic exchange; routing key = topic
//   <ex>.<topic>  durable queue shared by every server of the topic (calls and casts)
//   <ex>.fanout   durable topic exchange; each fanout server binds its own exclusive queue
// Calls use RabbitMQ's direct reply-to and are published `mandatory`, so a call to a topic
// nobody has ever served fails at once instead of waiting out its timeout; the message also
// expires with the call, so a late server never does work nobody waits for. Casts are
// persistent and confirmed by the broker before `cast` resolves. A server acks a message only
// after its handler is done: work in hand when a process dies is delivered again.
//
// Across a broker restart: the exchanges, the topics' queues and the casts they hold are
// durable, so they outlive it. The connection's loss fails the calls in flight at once
// ('unavailable'), and the bus reconnects by itself, declaring its exchanges and queues again
// and consuming again for every server. While the broker is unreachable a call or cast fails
// at once; a broker that stops answering (hung, or the network dropped without a reset) is
// found by the AMQP heartbeat, and no call, cast or fanout waits past the call timeout.
import amqp, {
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  type ConsumeMessage,
} from 'amqplib';
import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../context.js';
import { asStratusError, StratusError } from '../errors.js';
import type { Logger } from '../log.js';
import type {
  Bus,
  CallOptions,
  Envelope,
  Handler,
  Reply,
  ServeOptions,
  Subscription,
} from './bus.js';
import { encodeEnvelope, openEnvelope, timeoutError, unavailableError } from './envelope.js';

const REPLY_TO = 'amq.rabbitmq.reply-to';

/** Publishing errors that came from the connection's loss (publishing again may succeed). */
const lostOnTheWay = new WeakSet<object>();

export interface AmqpBusOptions {
  /** amqp://user:password@host:port/vhost */
  url: string;
  logger: Logger;
  callTimeoutMs: number;
  /**
   * How long opening the connection (TCP and the AMQP handshake) may take before it fails
   * (default 5000), so a broker that does not answer is reported at start, not waited for.
   */
  connectTimeoutMs?: number;
  /** Prefix of every exchange and queue; lets several clouds (or test runs) share a broker. */
  exchange?: string;
  /**
   * The AMQP heartbeat asked of the broker (default 10 s): a connection silent for two of
   * these is taken as lost. A `heartbeat` in the URL wins.
   */
  heartbeatSeconds?: number;
}

interface PendingCall {
  topic: string;
  method: string;
  resolve: (value: unknown) => void;
  reject: (err: StratusError) => void;
  timer: NodeJS.Timeout;
}

interface Server {
  topic: string;
  handler: Handler;
  fanout: boolean;
  concurrency: number;
  channel: Channel | undefined;
  consumerTags: string[];
  active: number;
  closed: boolean;
  idle: Array<() => void>;
}

/** Everything that lives and dies with one connection. */
interface Link {
  connection: ChannelModel;
  /** Publishes calls and receives their replies (direct reply-to needs one channel for both). */
  calls: Channel;
  /** Publishes casts, fanouts and replies, confirmed by the broker. */
  publish: ConfirmChannel;
  /** Topics whose queue this connection has declared. */
  declared: Set<string>;
}

export class AmqpBus implements Bus {
  readonly #opts: Required<AmqpBusOptions>;
  readonly #log: Logger;
  readonly #pending = new Map<string, PendingCall>();
  readonly #servers = new Set<Server>();
  #link: Link | undefined;
  #connecting: Promise<Link> | undefined;
  #closed = false;

  private constructor(options: AmqpBusOptions) {
    this.#opts = { exchange: 'stratus', connectTimeoutMs: 5000, heartbeatSeconds: 10, ...options };
    this.#log = options.logger;
  }

  get connected(): boolean {
    return !this.#closed && this.#link !== undefined;
  }

  /** Connects to the broker; rejects with 'unavailable' if it cannot be reached. */
  static async connect(options: AmqpBusOptions): Promise<AmqpBus> {
    const bus = new AmqpBus(options);
    await bus.#ready();
    return bus;
  }

  async call<T = unknown>(
    context: RequestContext,
    topic: string,
    method: string,
    args: unknown,
    options: CallOptions = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.#opts.callTimeoutMs;
    const body = Buffer.from(encodeEnvelope(context, topic, method, args));
    const link = await this.#ready(timeoutMs);
    const id = randomUUID();
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(timeoutError(topic, method, timeoutMs));
      }, timeoutMs);
      this.#pending.set(id, {
        topic,
        method,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer,
      });
      link.calls.publish(this.#opts.exchange, topic, body, {
        correlationId: id,
        replyTo: REPLY_TO,
        mandatory: true,
        expiration: String(timeoutMs),
        contentType: 'application/json',
      });
    });
  }

  async cast(context: RequestContext, topic: string, method: string, args: unknown): Promise<void> {
    await this.#publish(topic, method, encodeEnvelope(context, topic, method, args), true);
  }

  async fanout(
    context: RequestContext,
    topic: string,
    method: string,
    args: unknown,
  ): Promise<void> {
    await this.#publish(topic, method, encodeEnvelope(context, topic, method, args), false);
  }

  /**
   * Publishes a cast (persistent, to the topic's durable queue) or a fanout, and resolves once
   * the broker has confirmed it. If the connection is lost before the confirmation, the message
   * is published once more on a new connection (the broker may then hold it twice: handlers
   * are safe to run twice). Never waits past the call timeout: a broker that does not confirm
   * in time makes it fail as 'unavailable'.
   */
  async #publish(topic: string, method: string, body: string, cast: boolean): Promise<void> {
    const timeoutMs = this.#opts.callTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    /** One try; an error that came with the connection's loss goes into lostOnTheWay. */
    const attempt = async (): Promise<void> => {
      const link = await this.#ready(Math.max(1, deadline - Date.now()));
      try {
        if (cast) await this.#declareTopic(link, topic);
        await confirmPublish(
          link.publish,
          cast ? this.#opts.exchange : this.#fanoutExchange,
          topic,
          body,
          cast
            ? { persistent: true, contentType: 'application/json' }
            : { contentType: 'application/json' },
        );
      } catch (err) {
        const message = (err as Error)?.message ?? String(err);
        const error =
          err instanceof StratusError
            ? err
            : unavailableError(`The message broker did not take the message: ${message}`, topic);
        if (this.#link !== link || /closed/i.test(message)) lostOnTheWay.add(error);
        throw error;
      }
    };
    const work = (async () => {
      try {
        await attempt();
      } catch (err) {
        // Lost with its connection (not refused by a live broker): once more, on a new one.
        if (!lostOnTheWay.has(err as object) || this.#closed || Date.now() >= deadline) throw err;
        this.#log.info({ topic, method }, 'publishing again after the broker connection was lost');
        await attempt();
      }
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            unavailableError(
              `The message broker did not confirm '${method}' on topic '${topic}' within ${timeoutMs} ms.`,
              topic,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
      work.catch(() => undefined); // settled later, if the timeout won
    }
  }

  async serve(topic: string, handler: Handler, options: ServeOptions = {}): Promise<Subscription> {
    const server: Server = {
      topic,
      handler,
      fanout: options.fanout ?? false,
      concurrency: Math.max(1, options.concurrency ?? 16),
      channel: undefined,
      consumerTags: [],
      active: 0,
      closed: false,
      idle: [],
    };
    const link = await this.#ready();
    await this.#startServer(link, server);
    this.#servers.add(server);
    return { close: () => this.#stopServer(server) };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#servers].map((s) => this.#stopServer(s)));
    this.#failPending(unavailableError('The bus was closed.'));
    const link = this.#link;
    this.#link = undefined;
    await bounded(link?.connection.close());
  }

  get #fanoutExchange(): string {
    return `${this.#opts.exchange}.fanout`;
  }

  #queueName(topic: string): string {
    return `${this.#opts.exchange}.${topic}`;
  }

  /** The current connection, connecting (once, shared) if there is none. */
  async #ready(waitMs?: number): Promise<Link> {
    if (this.#closed) throw unavailableError('The bus is closed.');
    if (this.#link) return this.#link;
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    if (waitMs === undefined) return this.#connecting;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(unavailableError('The message broker is not reachable.')),
        waitMs,
      );
    });
    try {
      return await Promise.race([this.#connecting, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #connect(): Promise<Link> {
    let connection: ChannelModel;
    try {
      connection = await amqp.connect(withHeartbeat(this.#opts.url, this.#opts.heartbeatSeconds), {
        timeout: this.#opts.connectTimeoutMs,
      });
    } catch (err) {
      throw new StratusError(
        'unavailable',
        `Cannot connect to the message broker at ${redact(this.#opts.url)}: ${(err as Error).message}`,
        { resource: 'transport', cause: err },
      );
    }
    try {
      const calls = await connection.createChannel();
      const publish = await connection.createConfirmChannel();
      await publish.assertExchange(this.#opts.exchange, 'topic', { durable: true });
      await publish.assertExchange(this.#fanoutExchange, 'topic', { durable: true });
      calls.on('return', (msg: ConsumeMessage) => this.#onReturn(msg));
      await calls.consume(REPLY_TO, (msg) => msg && this.#onReply(msg), { noAck: true });
      const link: Link = { connection, calls, publish, declared: new Set() };
      const lost = (why: string, err?: unknown): void => this.#onLost(link, why, err);
      connection.on('error', (err) => lost('connection error', err));
      connection.on('close', () => lost('connection closed'));
      for (const ch of [calls, publish]) {
        ch.on('error', (err) => lost('channel error', err));
        ch.on('close', () => lost('channel closed'));
      }
      this.#link = link;
      for (const server of this.#servers) {
        if (!server.closed) await this.#startServer(link, server);
      }
      return link;
    } catch (err) {
      await connection.close().catch(() => undefined);
      throw err;
    }
  }

  /** The connection or one of its channels died: fail calls in flight and reconnect. */
  #onLost(link: Link, why: string, err?: unknown): void {
    if (this.#link !== link) return; // already handled
    this.#link = undefined;
    void link.connection.close().catch(() => undefined);
    for (const server of this.#servers) server.channel = undefined;
    this.#failPending(unavailableError(`Lost the message broker (${why}).`));
    if (this.#closed) return;
    this.#log.warn({ err, why }, 'message broker lost; reconnecting');
    void this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    for (let attempt = 0; !this.#closed && !this.#link; attempt++) {
      // Soon after the broker is back, whatever the outage's length: at most 1 s apart.
      await sleep(Math.min(1000, 100 * 2 ** attempt));
      if (this.#closed || this.#link) return;
      try {
        await this.#ready();
        this.#log.info({ attempt }, 'message broker reconnected');
      } catch (err) {
        this.#log.warn({ err, attempt }, 'reconnect failed');
      }
    }
  }

  #failPending(err: StratusError): void {
    for (const [id, call] of this.#pending) {
      clearTimeout(call.timer);
      this.#pending.delete(id);
      call.reject(err);
    }
  }

  #onReply(msg: ConsumeMessage): void {
    const call = this.#pending.get(String(msg.properties.correlationId));
    if (!call) return; // timed out already
    this.#pending.delete(String(msg.properties.correlationId));
    clearTimeout(call.timer);
    try {
      const reply = JSON.parse(msg.content.toString('utf8')) as Reply;
      if (reply.ok) call.resolve(reply.result);
      else call.reject(StratusError.fromWire(reply.error));
    } catch (err) {
      call.reject(asStratusError(err));
    }
  }

  /** A mandatory call that no queue takes: nothing has ever served its topic. */
  #onReturn(msg: ConsumeMessage): void {
    const id = String(msg.properties.correlationId);
    const call = this.#pending.get(id);
    if (!call) return;
    this.#pending.delete(id);
    clearTimeout(call.timer);
    call.reject(
      new StratusError(
        'unavailable',
        `Nothing serves topic '${call.topic}' (call to '${call.method}'); is its service running?`,
        { resource: 'topic', id: call.topic, reason: 'no_route' },
      ),
    );
  }

  async #declareTopic(link: Link, topic: string): Promise<void> {
    if (link.declared.has(topic)) return;
    const queue = this.#queueName(topic);
    await link.publish.assertQueue(queue, { durable: true });
    await link.publish.bindQueue(queue, this.#opts.exchange, topic);
    link.declared.add(topic);
  }

  async #startServer(link: Link, server: Server): Promise<void> {
    const channel = await link.connection.createChannel();
    channel.on('error', (err) => this.#onLost(link, 'server channel error', err));
    channel.on('close', () => {
      if (server.channel === channel && !server.closed) this.#onLost(link, 'server channel closed');
    });
    await channel.prefetch(server.concurrency);
    await this.#declareTopic(link, server.topic);
    server.channel = channel;
    server.consumerTags = [];
    const onMessage = (msg: ConsumeMessage | null): void => {
      if (msg) void this.#handle(link, server, channel, msg);
    };
    const shared = await channel.consume(this.#queueName(server.topic), onMessage);
    server.consumerTags.push(shared.consumerTag);
    if (server.fanout) {
      const own = await channel.assertQueue('', { exclusive: true, autoDelete: true });
      await channel.bindQueue(own.queue, this.#fanoutExchange, server.topic);
      const sub = await channel.consume(own.queue, onMessage);
      server.consumerTags.push(sub.consumerTag);
    }
  }

  async #handle(link: Link, server: Server, channel: Channel, msg: ConsumeMessage): Promise<void> {
    server.active += 1;
    let envelope: Envelope | undefined;
    let reply: Reply;
    try {
      envelope = openEnvelope(msg.content.toString('utf8'));
      const result = await server.handler(envelope.method, envelope.args, envelope.context);
      reply = { ok: true, result: result === undefined ? null : result };
    } catch (err) {
      const error = asStratusError(err);
      if (error.kind === 'internal') {
        this.#log.error({ err, topic: server.topic, method: envelope?.method }, 'handler failed');
      }
      reply = { ok: false, error: error.toWire() };
    }
    try {
      const replyTo = msg.properties.replyTo as string | undefined;
      if (replyTo) {
        link.publish.publish('', replyTo, Buffer.from(JSON.stringify(reply)), {
          correlationId: msg.properties.correlationId as string,
          contentType: 'application/json',
        });
      }
      channel.ack(msg);
    } catch (err) {
      // The channel went away while the handler ran; the broker delivers the message again.
      this.#log.warn({ err, topic: server.topic }, 'could not acknowledge a message');
    } finally {
      server.active -= 1;
      if (server.active === 0) for (const wake of server.idle.splice(0)) wake();
    }
  }

  async #stopServer(server: Server): Promise<void> {
    if (!server.closed) {
      server.closed = true;
      this.#servers.delete(server);
      const channel = server.channel;
      if (channel) {
        for (const tag of server.consumerTags) await bounded(channel.cancel(tag));
      }
    }
    if (server.active > 0) await new Promise<void>((resolve) => server.idle.push(resolve));
    const channel = server.channel;
    server.channel = undefined;
    await bounded(channel?.close());
  }
}

function confirmPublish(
  channel: ConfirmChannel,
  exchange: string,
  routingKey: string,
  body: string,
  options: amqp.Options.Publish,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: unknown): void =>
      reject(
        unavailableError(
          `The message broker did not accept the message: ${(err as Error)?.message ?? String(err)}`,
          routingKey,
        ),
      );
    try {
      // The callback's error is a nack (the broker refused it) or 'channel closed'.
      channel.publish(exchange, routingKey, Buffer.from(body), options, (err) =>
        err ? fail(err) : resolve(),
      );
    } catch (err) {
      fail(err); // the channel was closed already
    }
  });
}

/** `url` with `heartbeat=SECONDS` in its query, unless it has one. */
function withHeartbeat(url: string, seconds: number): string {
  try {
    const u = new URL(url);
    if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(seconds));
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * Waits for a step of closing (which needs the broker's answer) at most 2 s, ignoring its
 * failure: a broker that stopped answering must not keep a process from stopping.
 */
async function bounded(step: Promise<unknown> | undefined): Promise<void> {
  if (!step) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    step.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 2000);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
