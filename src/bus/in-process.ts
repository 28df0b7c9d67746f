// The in-process transport: every service in one Node process. Messages still travel as JSON
// text, so anything that works here also survives AMQP; nothing is shared by reference.
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
import {
  encodeEnvelope as encode,
  openEnvelope,
  timeoutError,
  unavailableError,
} from './envelope.js';

export interface InProcessBusOptions {
  logger: Logger;
  callTimeoutMs: number;
}

interface Message {
  /** The envelope as JSON text, as it would be on a wire. */
  body: string;
  /** Present for calls: where the reply goes. */
  reply?: (reply: string) => void;
}

interface Server {
  topic: string;
  handler: Handler;
  concurrency: number;
  active: number;
  closed: boolean;
  idle: Array<() => void>;
}

interface TopicQueue {
  waiting: Message[];
  servers: Server[];
  next: number;
}

export class InProcessBus implements Bus {
  readonly #log: Logger;
  readonly #callTimeoutMs: number;
  readonly #topics = new Map<string, TopicQueue>();
  readonly #fanout = new Map<string, Set<Server>>();
  readonly #pendingCalls = new Set<(err: StratusError) => void>();
  #closed = false;

  constructor(options: InProcessBusOptions) {
    this.#log = options.logger;
    this.#callTimeoutMs = options.callTimeoutMs;
  }

  get connected(): boolean {
    return !this.#closed;
  }

  call<T = unknown>(
    context: RequestContext,
    topic: string,
    method: string,
    args: unknown,
    options: CallOptions = {},
  ): Promise<T> {
    if (this.#closed) return Promise.reject(unavailableError('The bus is closed.'));
    const timeoutMs = options.timeoutMs ?? this.#callTimeoutMs;
    const body = encode(context, topic, method, args);
    return new Promise<T>((resolve, reject) => {
      const queue = this.#queue(topic);
      const fail = (err: StratusError): void => {
        clearTimeout(timer);
        this.#pendingCalls.delete(fail);
        const at = queue.waiting.indexOf(message);
        if (at >= 0) queue.waiting.splice(at, 1);
        reject(err);
      };
      const message: Message = {
        body,
        reply: (text) => {
          if (!this.#pendingCalls.has(fail)) return; // already timed out
          clearTimeout(timer);
          this.#pendingCalls.delete(fail);
          const reply = JSON.parse(text) as Reply;
          if (reply.ok) resolve(reply.result as T);
          else reject(StratusError.fromWire(reply.error));
        },
      };
      const timer = setTimeout(() => fail(timeoutError(topic, method, timeoutMs)), timeoutMs);
      this.#pendingCalls.add(fail);
      queue.waiting.push(message);
      this.#pump(queue);
    });
  }

  async cast(context: RequestContext, topic: string, method: string, args: unknown): Promise<void> {
    this.#assertOpen();
    const queue = this.#queue(topic);
    queue.waiting.push({ body: encode(context, topic, method, args) });
    this.#pump(queue);
  }

  async fanout(
    context: RequestContext,
    topic: string,
    method: string,
    args: unknown,
  ): Promise<void> {
    this.#assertOpen();
    const body = encode(context, topic, method, args);
    for (const server of this.#fanout.get(topic) ?? []) {
      if (server.closed) continue;
      server.active += 1;
      void this.#run(server, { body }).finally(() => this.#done(server));
    }
  }

  async serve(topic: string, handler: Handler, options: ServeOptions = {}): Promise<Subscription> {
    this.#assertOpen();
    const server: Server = {
      topic,
      handler,
      concurrency: Math.max(1, options.concurrency ?? 16),
      active: 0,
      closed: false,
      idle: [],
    };
    const queue = this.#queue(topic);
    queue.servers.push(server);
    if (options.fanout) {
      const set = this.#fanout.get(topic) ?? new Set<Server>();
      set.add(server);
      this.#fanout.set(topic, set);
    }
    this.#pump(queue);
    return { close: () => this.#unserve(server) };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const fail of [...this.#pendingCalls]) fail(unavailableError('The bus was closed.'));
    const servers = [...this.#topics.values()].flatMap((q) => q.servers);
    await Promise.all(servers.map((s) => this.#unserve(s)));
  }

  #assertOpen(): void {
    if (this.#closed) throw unavailableError('The bus is closed.');
  }

  #queue(topic: string): TopicQueue {
    let queue = this.#topics.get(topic);
    if (!queue) {
      queue = { waiting: [], servers: [], next: 0 };
      this.#topics.set(topic, queue);
    }
    return queue;
  }

  /** Hands waiting messages to servers with room, round-robin. */
  #pump(queue: TopicQueue): void {
    while (queue.waiting.length > 0) {
      const server = this.#pick(queue);
      if (!server) return;
      const message = queue.waiting.shift() as Message;
      server.active += 1;
      // Deliver on a later tick, as a real transport would, so callers never run handlers
      // inside their own stack.
      setImmediate(() => {
        void this.#run(server, message).finally(() => {
          this.#done(server);
          this.#pump(queue);
        });
      });
    }
  }

  #pick(queue: TopicQueue): Server | undefined {
    const n = queue.servers.length;
    for (let i = 0; i < n; i++) {
      const server = queue.servers[(queue.next + i) % n] as Server;
      if (!server.closed && server.active < server.concurrency) {
        queue.next = (queue.next + i + 1) % n;
        return server;
      }
    }
    return undefined;
  }

  async #run(server: Server, message: Message): Promise<void> {
    let reply: Reply;
    let envelope: Envelope | undefined;
    try {
      envelope = openEnvelope(message.body);
      const result = await server.handler(envelope.method, envelope.args, envelope.context);
      reply = { ok: true, result: result === undefined ? null : result };
    } catch (err) {
      const error = asStratusError(err);
      if (error.kind === 'internal') {
        this.#log.error({ err, topic: server.topic, method: envelope?.method }, 'handler failed');
      }
      reply = { ok: false, error: error.toWire() };
    }
    message.reply?.(JSON.stringify(reply));
  }

  #done(server: Server): void {
    server.active -= 1;
    if (server.active === 0) for (const wake of server.idle.splice(0)) wake();
  }

  async #unserve(server: Server): Promise<void> {
    if (!server.closed) {
      server.closed = true;
      const queue = this.#queue(server.topic);
      queue.servers = queue.servers.filter((s) => s !== server);
      queue.next = 0;
      this.#fanout.get(server.topic)?.delete(server);
    }
    if (server.active > 0) await new Promise<void>((resolve) => server.idle.push(resolve));
  }
}
