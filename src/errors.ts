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

/**
 * What an error can be about: the domain's things, plus the parts of a request or of the
 * cloud itself that can be at fault. A closed set, so an edge's table that names a resource
 * is checked by the compiler, and a new resource must be added here (and mapped) first.
 */
export const ERROR_RESOURCES = [
  // the domain's things
  'instance',
  'image',
  'image_file',
  'image_member',
  'flavor',
  'keypair',
  'launch_template',
  'launch_template_version',
  'security_group',
  'security_group_rule',
  'server_group',
  'volume',
  'attachment',
  'snapshot',
  'address',
  'allocation',
  'association',
  'floating_ip',
  'network',
  'subnet',
  'port',
  'router',
  'internet_gateway',
  'route',
  'zone',
  'region',
  'host',
  'aggregate',
  'user',
  'project',
  'domain',
  'role',
  'role_assignment',
  'group',
  'application_credential',
  'credential',
  'token',
  'service',
  // quotas, named as the limits are
  'instances',
  'cores',
  'ram',
  'addresses',
  'keypairs',
  'launch_templates',
  'security_groups',
  'security_group_rules',
  'tags',
  'metadata_items',
  'server_groups',
  'server_group_members',
  'volumes',
  'gigabytes',
  'snapshots',
  // a request and its parts
  'request',
  'parameter',
  'name',
  'limit',
  'marker',
  'microversion',
  'resource',
  'identity',
  // the cloud's own machinery
  'config',
  'database',
  'message',
  'method',
  'topic',
  'transport',
  'namespace',
  'qemu-img',
] as const;

export type ErrorResource = (typeof ERROR_RESOURCES)[number];

/** A finer reason inside a kind, for edges that distinguish them. A closed set, like resources. */
export const ERROR_REASONS = [
  // invalid
  'malformed',
  'name',
  'combination',
  'reserved',
  'key_format',
  'key_type',
  'user_data',
  'image_state',
  'disk_format',
  'external_data',
  'too_large',
  'visibility',
  'envelope_version',
  'unsupported',
  'unrecognized',
  'attribute_not_kept',
  'range',
  'not_external',
  'query',
  // not_found
  'no_external_gateway',
  // conflict
  'in_use',
  'cannot_delete',
  'already_associated',
  'address_in_use',
  'instance_state',
  'protected',
  'not_attached',
  // over_quota: which limit
  'instances',
  'cores',
  'ram',
  'addresses',
  'keypairs',
  'security_groups',
  'security_group_rules',
  'tags',
  'metadata_items',
  'server_groups',
  'server_group_members',
  'volumes',
  'gigabytes',
  'snapshots',
  // unavailable
  'no_valid_host',
  'no_address',
  'no_route',
  'timeout',
  // unauthenticated
  'signature',
  'expired',
] as const;

export type ErrorReason = (typeof ERROR_REASONS)[number];

export interface StratusErrorOptions {
  /** What kind of thing the error is about: 'instance', 'keypair', 'user', ... */
  resource?: ErrorResource | undefined;
  /** The id or name of that thing, as the caller gave it. */
  id?: string | undefined;
  /** A finer reason inside a kind, for edges that distinguish them (e.g. which quota). */
  reason?: ErrorReason | undefined;
  cause?: unknown;
}

/** The one error type of the domain. Messages are full sentences users can read. */
export class StratusError extends Error {
  readonly kind: ErrorKind;
  readonly resource: ErrorResource | undefined;
  readonly id: string | undefined;
  readonly reason: ErrorReason | undefined;

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

  /** Values from a peer that this version does not know are dropped (the kind: internal). */
  static fromWire(wire: WireError): StratusError {
    return new StratusError(oneOf(ERROR_KINDS, wire.kind) ?? 'internal', wire.message, {
      resource: oneOf(ERROR_RESOURCES, wire.resource),
      id: wire.id,
      reason: oneOf(ERROR_REASONS, wire.reason),
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

function oneOf<T extends string>(set: readonly T[], value: string | undefined): T | undefined {
  return (set as readonly string[]).includes(value ?? '') ? (value as T) : undefined;
}

export function notFound(resource: ErrorResource, id: string, message?: string): StratusError {
  return new StratusError('not_found', message ?? `The ${resource} '${id}' does not exist.`, {
    resource,
    id,
  });
}

export function alreadyExists(resource: ErrorResource, id: string, message?: string): StratusError {
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
