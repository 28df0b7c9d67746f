// Encoding and checking of envelopes, and the errors every transport raises the same way.
import type { RequestContext } from '../context.js';
import { StratusError } from '../errors.js';
import { ENVELOPE_VERSION, type Envelope } from './bus.js';

export function encodeEnvelope(
  context: RequestContext,
  topic: string,
  method: string,
  args: unknown,
): string {
  const envelope: Envelope = {
    version: ENVELOPE_VERSION,
    topic,
    method,
    args: args === undefined ? null : args,
    context,
    sentAt: Date.now(),
  };
  return JSON.stringify(envelope);
}

/** Parses and checks an envelope; anything malformed is an 'invalid' error. */
export function openEnvelope(text: string): Envelope {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new StratusError('invalid', 'The message is not valid JSON.', { resource: 'message' });
  }
  if (typeof value !== 'object' || value === null) {
    throw new StratusError('invalid', 'The message is not an envelope.', { resource: 'message' });
  }
  const e = value as Partial<Envelope>;
  if (e.version !== ENVELOPE_VERSION) {
    throw new StratusError(
      'invalid',
      `The message has envelope version ${String(e.version)}; this service speaks version ${ENVELOPE_VERSION}.`,
      { resource: 'message', reason: 'envelope_version' },
    );
  }
  if (typeof e.method !== 'string' || typeof e.topic !== 'string' || !isContext(e.context)) {
    throw new StratusError(
      'invalid',
      'The message envelope is missing its topic, method or context.',
      {
        resource: 'message',
      },
    );
  }
  return e as Envelope;
}

function isContext(value: unknown): value is RequestContext {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Record<string, unknown>;
  return typeof c['requestId'] === 'string' && Array.isArray(c['roles']);
}

export function timeoutError(topic: string, method: string, timeoutMs: number): StratusError {
  return new StratusError(
    'unavailable',
    `No reply to '${method}' on topic '${topic}' within ${timeoutMs} ms; is a service serving '${topic}' running?`,
    { resource: 'topic', id: topic, reason: 'timeout' },
  );
}

export function unavailableError(message: string, topic?: string): StratusError {
  return new StratusError('unavailable', message, { resource: 'topic', id: topic });
}
