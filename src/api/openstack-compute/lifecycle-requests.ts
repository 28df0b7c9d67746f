// The bodies of the server actions beyond power (pause, suspend, rescue, rebuild, resize and
// its confirm and revert, lock), checked as the Compute API reference documents them for the
// requested microversion. Anything else is a 400 naming what is wrong.

import { atLeast, type Microversion } from './microversion.js';
import { bad, object, onlyKeys, type Obj } from './requests.js';

export type LifecycleRequest =
  | { kind: 'pause' | 'unpause' | 'suspend' | 'resume' | 'unrescue' | 'unlock' }
  | { kind: 'confirmResize' | 'revertResize' }
  | { kind: 'lock'; reason: string | null }
  | { kind: 'rescue'; adminPass: string | undefined; imageRef: string | undefined }
  | { kind: 'resize'; flavorRef: string }
  | ({ kind: 'rebuild' } & RebuildRequest);

export interface RebuildRequest {
  imageRef: string;
  adminPass: string | undefined;
  name: string | undefined;
  metadata: Record<string, string> | undefined;
  accessIpv4: string | undefined;
  accessIpv6: string | undefined;
  description: string | null | undefined;
  /** A new key pair (2.54+); null removes it. */
  keyName: string | null | undefined;
  /** New user data, base64 (2.57+); null removes it. */
  userData: string | null | undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const NO_ARGUMENTS = [
  'pause',
  'unpause',
  'suspend',
  'resume',
  'unrescue',
  'unlock',
  'confirmResize',
  'revertResize',
] as const;

/** The action names this module parses. */
export const LIFECYCLE_ACTIONS: readonly string[] = [
  ...NO_ARGUMENTS,
  'lock',
  'rescue',
  'resize',
  'rebuild',
];

function text(
  o: Obj,
  key: string,
  opts: { max?: number; min?: number; nullable?: boolean } = {},
): string | null | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (v === null && opts.nullable) return null;
  if (typeof v !== 'string') {
    throw bad(
      `Invalid input for field/attribute ${key}. Value: ${JSON.stringify(v)}. ${JSON.stringify(v)} is not of type 'string'.`,
    );
  }
  if (opts.min !== undefined && v.length < opts.min) {
    throw bad(`Invalid input for field/attribute ${key}. Value: ${v}. It is too short.`);
  }
  if (opts.max !== undefined && v.length > opts.max) {
    throw bad(
      `Invalid input for field/attribute ${key}. It is longer than ${opts.max} characters.`,
    );
  }
  return v;
}

function address(o: Obj, key: string, version: 4 | 6): string | undefined {
  const v = text(o, key);
  if (v === undefined || v === null || v === '') return v === '' ? '' : undefined;
  const ok =
    version === 4
      ? /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(v) &&
        v.split('.').every((p) => Number(p) <= 255)
      : /^[0-9a-f:.]+$/i.test(v) && v.includes(':');
  if (!ok) {
    throw bad(
      `Invalid input for field/attribute ${key}. Value: ${v}. '${v}' is not a 'ipv${version}'.`,
    );
  }
  return v;
}

/**
 * The request if its one action is one of LIFECYCLE_ACTIONS, undefined for other actions
 * (parsed elsewhere).
 */
export function parseLifecycleAction(body: unknown, v: Microversion): LifecycleRequest | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const keys = Object.keys(body);
  if (keys.length !== 1) return undefined;
  const kind = keys[0] as string;
  if (!LIFECYCLE_ACTIONS.includes(kind)) return undefined;
  const arg = (body as Obj)[kind];
  const none = (k: (typeof NO_ARGUMENTS)[number]) => {
    if (arg !== null && (typeof arg !== 'object' || Object.keys(arg as Obj).length > 0)) {
      throw bad(
        `Invalid input for field/attribute ${k}. Value: ${JSON.stringify(arg)}. It takes no arguments (null).`,
      );
    }
    return { kind: k };
  };
  switch (kind) {
    case 'lock': {
      if (arg === null) return { kind, reason: null };
      const o = object(arg, 'lock');
      // The reason is part of the action from 2.73 on.
      onlyKeys(o, atLeast(v, 73) ? ['locked_reason'] : [], 'lock');
      const reason = text(o, 'locked_reason', { max: 255 });
      return { kind, reason: reason ?? null };
    }
    case 'rescue': {
      if (arg === null) return { kind, adminPass: undefined, imageRef: undefined };
      const o = object(arg, 'rescue');
      onlyKeys(o, ['adminPass', 'rescue_image_ref'], 'rescue');
      const imageRef = text(o, 'rescue_image_ref') ?? undefined;
      if (imageRef !== undefined && !UUID.test(imageRef)) {
        throw bad(
          `Invalid input for field/attribute rescue_image_ref. Value: ${imageRef}. '${imageRef}' is not a 'uuid'.`,
        );
      }
      return { kind, adminPass: text(o, 'adminPass') ?? undefined, imageRef };
    }
    case 'resize': {
      const o = object(arg, 'resize');
      onlyKeys(o, ['flavorRef', 'OS-DCF:diskConfig'], 'resize');
      const ref = o.flavorRef;
      if (ref === undefined)
        throw bad("Invalid input for resize: 'flavorRef' is a required property.");
      if (
        (typeof ref !== 'string' || ref === '') &&
        !(typeof ref === 'number' && Number.isInteger(ref))
      ) {
        throw bad(
          `Invalid input for field/attribute flavorRef. Value: ${JSON.stringify(ref)}. It must be a flavor id.`,
        );
      }
      diskConfig(o);
      return { kind, flavorRef: String(ref) };
    }
    case 'rebuild':
      return { kind, ...parseRebuild(arg, v) };
    default:
      return none(kind as (typeof NO_ARGUMENTS)[number]);
  }
}

function diskConfig(o: Obj): void {
  const dc = o['OS-DCF:diskConfig'];
  if (dc !== undefined && dc !== 'AUTO' && dc !== 'MANUAL') {
    throw bad(
      `Invalid input for field/attribute OS-DCF:diskConfig. Value: ${JSON.stringify(dc)}. It must be 'AUTO' or 'MANUAL'.`,
    );
  }
}

function parseRebuild(arg: unknown, v: Microversion): RebuildRequest {
  const o = object(arg, 'rebuild');
  const allowed = [
    'imageRef',
    'adminPass',
    'name',
    'metadata',
    'accessIPv4',
    'accessIPv6',
    'OS-DCF:diskConfig',
    'preserve_ephemeral',
    ...(atLeast(v, 57) ? [] : ['personality']),
    ...(atLeast(v, 19) ? ['description'] : []),
    ...(atLeast(v, 54) ? ['key_name'] : []),
    ...(atLeast(v, 57) ? ['user_data'] : []),
  ];
  onlyKeys(o, allowed, 'rebuild');
  const imageRef = text(o, 'imageRef', { min: 1 });
  if (imageRef === undefined || imageRef === null) {
    throw bad("Invalid input for rebuild: 'imageRef' is a required property.");
  }
  diskConfig(o);
  if (o.preserve_ephemeral !== undefined && typeof o.preserve_ephemeral !== 'boolean') {
    throw bad('Invalid input for field/attribute preserve_ephemeral. It must be a boolean.');
  }
  if (o.personality !== undefined && (!Array.isArray(o.personality) || o.personality.length > 0)) {
    // Files injected into the guest's disk: nothing here writes into a guest's file system.
    throw bad(
      'Invalid input for field/attribute personality. File injection is not supported; send an empty list.',
    );
  }
  let metadata: Record<string, string> | undefined;
  if (o.metadata !== undefined) {
    const m = object(o.metadata, 'metadata');
    metadata = {};
    for (const [key, value] of Object.entries(m)) {
      if (key.length < 1 || key.length > 255 || typeof value !== 'string' || value.length > 255) {
        throw bad(
          `Invalid input for field/attribute metadata. Key '${key}': keys and values are strings of 1-255 and 0-255 characters.`,
        );
      }
      metadata[key] = value;
    }
  }
  const name = text(o, 'name', { min: 1, max: 255 });
  const userData = text(o, 'user_data', { max: 65535, nullable: true });
  if (typeof userData === 'string' && !/^[A-Za-z0-9+/]*={0,2}$/.test(userData.replace(/\s/g, ''))) {
    throw bad('Invalid input for field/attribute user_data. It must be base64.');
  }
  return {
    imageRef,
    adminPass: text(o, 'adminPass') ?? undefined,
    name: name ?? undefined,
    metadata,
    accessIpv4: address(o, 'accessIPv4', 4),
    accessIpv6: address(o, 'accessIPv6', 6),
    description: text(o, 'description', { max: 255, nullable: true }),
    keyName: text(o, 'key_name', { min: 1, max: 255, nullable: true }),
    userData,
  };
}
