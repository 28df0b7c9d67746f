// The bus: the only way services reach each other. One interface, two transports
// (in-process and AMQP); callers never know which one they hold.
import type { RequestContext } from '../context.js';
import type { WireError } from '../errors.js';

/** Version of the envelope format; a receiver refuses envelopes of another major version. */
export const ENVELOPE_VERSION = 1;

/** What travels for every message, whatever the transport. JSON only. */
export interface Envelope {
  version: number;
  topic: string;
  method: string;
  args: unknown;
  context: RequestContext;
  /** Milliseconds since the epoch at which the sender gave the message to the bus. */
  sentAt: number;
}

/** The answer to a `call`. */
export type Reply = { ok: true; result: unknown } | { ok: false; error: WireError };

/**
 * Does the work for one message. Its result is the reply to a `call` (ignored for casts and
 * fanouts); a thrown StratusError reaches the caller as the same kind of error.
 */
export type Handler = (method: string, args: unknown, context: RequestContext) => Promise<unknown>;

export interface CallOptions {
  /** How long to wait for the reply; the bus default (config `bus.callTimeoutMs`) if absent. */
  timeoutMs?: number;
}

export interface ServeOptions {
  /**
   * Also receive `fanout` messages for this topic. Every server of the topic that sets this
   * gets each fanout message once; `call` and `cast` still go to exactly one server.
   */
  fanout?: boolean;
  /** How many messages this server works on at once (default 16). */
  concurrency?: number;
}

export interface Subscription {
  /** Stops taking new messages; resolves once the ones in hand are done. */
  close(): Promise<void>;
}

export interface Bus {
  /**
   * Sends a request to one server of `topic` and waits for its reply.
   * Resolves with the handler's result. Rejects with the handler's error rebuilt as the same
   * StratusError kind, or with kind 'unavailable' when no reply comes within the timeout
   * (including when nothing listens on the topic). Never hangs past the timeout.
   */
  call<T = unknown>(
    context: RequestContext,
    topic: string,
    method: string,
    args: unknown,
    options?: CallOptions,
  ): Promise<T>;

  /**
   * Sends a message to one server of `topic` without waiting for the work. Resolves once the
   * transport has accepted the message (for AMQP: stored and confirmed by the broker), so a
   * cast that resolved is not lost if no server is listening yet: it waits in the topic's queue.
   */
  cast(context: RequestContext, topic: string, method: string, args: unknown): Promise<void>;

  /** Sends a message to every server of `topic` that serves with `fanout: true`. */
  fanout(context: RequestContext, topic: string, method: string, args: unknown): Promise<void>;

  /** Starts serving `topic` with `handler`. Several servers of one topic share its messages. */
  serve(topic: string, handler: Handler, options?: ServeOptions): Promise<Subscription>;

  /** Stops all servers of this bus and releases the transport. Pending calls reject. */
  close(): Promise<void>;

  /**
   * Whether the transport can carry messages now: false while an AMQP bus has lost its broker
   * and reconnects, and after `close`. For health reports; reading it does no I/O. Both
   * transports report it; a wrapper that leaves it out (a test's) is taken as connected.
   */
  readonly connected?: boolean;
}

/** The topic of the service on one host: `compute.<host>`, `network.<host>`. */
export function hostTopic(service: string, host: string): string {
  return `${service}.${host}`;
}

/**
 * A closed set of methods a service offers over the bus: method name -> argument and result
 * types. Clients and managers are both checked against the same protocol.
 */
export type Protocol = Record<string, { args: unknown; result: unknown }>;

/** What a manager implements for a protocol: one async method per message. */
export type ProtocolHandlers<P extends Protocol> = {
  [M in keyof P]: (args: P[M]['args'], context: RequestContext) => Promise<P[M]['result']>;
};
