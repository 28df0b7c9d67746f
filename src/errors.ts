// The domain's error kinds. Edges (EC2, OpenStack, CLI) map kind + resource to their own
// wire format from a table; nothing here knows HTTP statuses or API error codes.

export const ERROR_KINDS = [
  'not_found',
  'already_exists',
  'invalid',
  'missing',
  'conflict',
  'over_quota',
  'forbidden',
  'unauthenticated',
  'unavailable',
  'internal',
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

export interface StratusErrorOptions {
  /** What kind of thing the error is about: 'instance', 'keypair', 'user', ... */
  resource?: string;
  /** The id or name of that thing, as the caller gave it. */
  id?: string;
  /** A finer reason inside a kind, for edges that distinguish them (e.g. which quota). */
  reason?: string;
  cause?: unknown;
}

/** The one error type of the domain. Messages are full sentences users can read. */
export class StratusError extends Error {
  readonly kind: ErrorKind;
  readonly resource: string | undefined;
  readonly id: string | undefined;
  readonly reason: string | undefined;

  constructor(kind: ErrorKind, message: string, options: StratusErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StratusError';
    this.kind = kind;
    this.resource = options.resource;
    this.id = options.id;
    this.reason = options.reason;
  }

  /** The form an error takes on the bus; `fromWire` rebuilds the same typed error. */
  toWire(): WireError {
    return {
      kind: this.kind,
      message: this.message,
      resource: this.resource,
      id: this.id,
      reason: this.reason,
    };
  }

  static fromWire(wire: WireError): StratusError {
    const kind = (ERROR_KINDS as readonly string[]).includes(wire.kind)
      ? (wire.kind as ErrorKind)
      : 'internal';
    return new StratusError(kind, wire.message, {
      resource: wire.resource,
      id: wire.id,
      reason: wire.reason,
    });
  }
}

export interface WireError {
  kind: string;
  message: string;
  resource?: string | undefined;
  id?: string | undefined;
  reason?: string | undefined;
}

export function notFound(resource: string, id: string, message?: string): StratusError {
  return new StratusError('not_found', message ?? `The ${resource} '${id}' does not exist.`, {
    resource,
    id,
  });
}

export function alreadyExists(resource: string, id: string, message?: string): StratusError {
  return new StratusError('already_exists', message ?? `The ${resource} '${id}' already exists.`, {
    resource,
    id,
  });
}

export function invalid(message: string, options: StratusErrorOptions = {}): StratusError {
  return new StratusError('invalid', message, options);
}

/** Turns anything thrown into a StratusError, keeping the original as `cause`. */
export function asStratusError(err: unknown): StratusError {
  if (err instanceof StratusError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StratusError('internal', `Internal error: ${message}`, { cause: err });
}
