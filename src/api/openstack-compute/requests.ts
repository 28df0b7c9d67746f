// The Compute API's request bodies, checked: what a server create, a server action and a key
// pair create may carry. Anything else is a 400 badRequest naming what is wrong; fields this
// cloud cannot honour are refused, not ignored.
import { invalid } from '../../errors.js';
import { SERVER_NAME, textProblem } from '../../text-rules.js';

export interface CreateServer {
  name: string;
  imageRef: string;
  flavorRef: string;
  minCount: number;
  maxCount: number;
  keyName: string | undefined;
  securityGroups: string[];
  userData: string | undefined;
  availabilityZone: string | undefined;
}

export type ServerAction =
  | { kind: 'os-stop' }
  | { kind: 'os-start' }
  | { kind: 'reboot'; hard: boolean }
  | { kind: 'os-getConsoleOutput'; length: number | undefined };

export interface CreateKeypair {
  name: string;
  publicKey: string | undefined;
}

type Obj = Record<string, unknown>;

const bad = (message: string) => invalid(message, { resource: 'request' });

function object(v: unknown, what: string): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw bad(`Invalid input for field/attribute ${what}. It must be an object.`);
  }
  return v as Obj;
}

function onlyKeys(o: Obj, allowed: readonly string[], what: string): void {
  const extra = Object.keys(o).filter((k) => !allowed.includes(k));
  if (extra.length > 0) {
    throw bad(
      `Invalid input for ${what}: additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length === 1 ? 'was' : 'were'} unexpected).`,
    );
  }
}

function string(
  o: Obj,
  key: string,
  opts: { required?: boolean; max?: number; min?: number } = {},
): string | undefined {
  const v = o[key];
  if (v === undefined || (v === null && !opts.required)) {
    if (opts.required) throw bad(`Invalid input: '${key}' is a required property.`);
    return undefined;
  }
  if (typeof v !== 'string') {
    throw bad(
      `Invalid input for field/attribute ${key}. Value: ${JSON.stringify(v)}. It must be a string.`,
    );
  }
  const min = opts.min ?? 0;
  if (v.length < min || v.length > (opts.max ?? 255)) {
    throw bad(
      `Invalid input for field/attribute ${key}. It must be ${min} to ${opts.max ?? 255} characters long.`,
    );
  }
  return v;
}

/** A positive count given as a number or a numeric string (clients send both). */
function count(o: Obj, key: string): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 1000) {
    throw bad(
      `Invalid input for field/attribute ${key}. Value: ${JSON.stringify(v)}. It must be an integer from 1 to 1000.`,
    );
  }
  return n;
}

const SERVER_KEYS = [
  'name',
  'imageRef',
  'flavorRef',
  'min_count',
  'max_count',
  'key_name',
  'security_groups',
  'user_data',
  'networks',
  'availability_zone',
  'metadata',
  'config_drive',
  'OS-DCF:diskConfig',
  'return_reservation_id',
] as const;

export function parseCreateServer(body: unknown): CreateServer {
  const top = object(body, 'the request body');
  onlyKeys(top, ['server', 'os:scheduler_hints', 'OS-SCH-HNT:scheduler_hints'], 'the request body');
  if (top.server === undefined) throw bad("Invalid input: 'server' is a required property.");
  const s = object(top.server, 'server');
  onlyKeys(s, SERVER_KEYS, 'server');
  const name = serverName(string(s, 'name', { required: true, min: 1 }) as string);
  const imageRef = string(s, 'imageRef', { required: true, min: 1 }) as string;
  const flavorRef = String(
    typeof s.flavorRef === 'number'
      ? s.flavorRef
      : (string(s, 'flavorRef', { required: true, min: 1 }) as string),
  );
  const minCount = count(s, 'min_count') ?? 1;
  const maxCount = count(s, 'max_count') ?? minCount;
  if (maxCount < minCount) {
    throw bad(`min_count (${minCount}) must not be larger than max_count (${maxCount}).`);
  }
  const securityGroups: string[] = [];
  if (s.security_groups !== undefined) {
    if (!Array.isArray(s.security_groups)) {
      throw bad('Invalid input for field/attribute security_groups. It must be a list.');
    }
    for (const g of s.security_groups) {
      const gname = string(object(g, 'security_groups item'), 'name', { required: true, min: 1 });
      securityGroups.push(gname as string);
    }
  }
  const networks = s.networks;
  if (
    networks !== undefined &&
    networks !== 'auto' &&
    networks !== 'none' &&
    !(Array.isArray(networks) && networks.length === 0)
  ) {
    throw bad(
      'This cloud has one network for every server: \'networks\' may only be "auto" or "none".',
    );
  }
  if (s.metadata !== undefined && Object.keys(object(s.metadata, 'metadata')).length > 0) {
    throw bad('Server metadata is not supported by this cloud.');
  }
  if (s.config_drive !== undefined && s.config_drive !== false && s.config_drive !== '') {
    throw bad('Config drives are not supported by this cloud; guests read the metadata service.');
  }
  const disk = s['OS-DCF:diskConfig'];
  if (disk !== undefined && disk !== 'AUTO' && disk !== 'MANUAL') {
    throw bad(
      "Invalid input for field/attribute OS-DCF:diskConfig. It must be 'AUTO' or 'MANUAL'.",
    );
  }
  return {
    name,
    imageRef,
    flavorRef,
    minCount,
    maxCount,
    keyName: string(s, 'key_name', { min: 1 }),
    securityGroups,
    userData: string(s, 'user_data', { max: 65535 }),
    availabilityZone: string(s, 'availability_zone', { min: 1 }),
  };
}

/** A server update: only the name can change here. */
export function parseUpdateServer(body: unknown): { name: string | undefined } {
  const top = object(body, 'the request body');
  onlyKeys(top, ['server'], 'the request body');
  if (top.server === undefined) throw bad("Invalid input: 'server' is a required property.");
  const s = object(top.server, 'server');
  onlyKeys(s, ['name'], 'server');
  const name = string(s, 'name', { min: 1 });
  return { name: name === undefined ? undefined : serverName(name) };
}

/** The Compute API's rules for a server name (text-rules.ts), in its own words. */
function serverName(name: string): string {
  const problem = textProblem(name, SERVER_NAME);
  if (problem !== undefined) throw bad(`Invalid input for field/attribute name. ${problem}`);
  return name;
}

export function parseServerAction(body: unknown): ServerAction {
  const o = object(body, 'the request body');
  const keys = Object.keys(o);
  if (keys.length !== 1) throw bad('A server action request names exactly one action.');
  const kind = keys[0] as string;
  const arg = o[kind];
  switch (kind) {
    case 'os-stop':
    case 'os-start':
      if (arg !== null && (typeof arg !== 'object' || Object.keys(arg as Obj).length > 0)) {
        throw bad(`Invalid input for ${kind}: it takes no arguments.`);
      }
      return { kind };
    case 'reboot': {
      const r = object(arg, 'reboot');
      onlyKeys(r, ['type'], 'reboot');
      const type = string(r, 'type', { required: true });
      if (!type || !['SOFT', 'HARD'].includes(type.toUpperCase())) {
        throw bad("Invalid input for field/attribute type. It must be 'SOFT' or 'HARD'.");
      }
      return { kind, hard: type.toUpperCase() === 'HARD' };
    }
    case 'os-getConsoleOutput': {
      const c = object(arg, 'os-getConsoleOutput');
      onlyKeys(c, ['length'], 'os-getConsoleOutput');
      const raw = c.length;
      if (raw === undefined || raw === null) return { kind, length: undefined };
      const n = typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < -1) {
        throw bad('Invalid input for field/attribute length. It must be an integer, -1 for all.');
      }
      return { kind, length: n === -1 ? undefined : n };
    }
    default:
      throw bad(`There is no such action: ${kind}.`);
  }
}

export function parseCreateKeypair(body: unknown, withType: boolean): CreateKeypair {
  const top = object(body, 'the request body');
  onlyKeys(top, ['keypair'], 'the request body');
  if (top.keypair === undefined) throw bad("Invalid input: 'keypair' is a required property.");
  const k = object(top.keypair, 'keypair');
  onlyKeys(k, withType ? ['name', 'public_key', 'type'] : ['name', 'public_key'], 'keypair');
  const name = string(k, 'name', { required: true, min: 1 }) as string;
  if (!/^[A-Za-z0-9 _.@-]+$/.test(name) || name.trim() !== name) {
    throw bad(
      'Keypair name contains unsafe characters: use letters, digits, spaces (not at either end), and _ - . @.',
    );
  }
  const type = string(k, 'type');
  if (type !== undefined && type !== 'ssh') {
    throw bad("Invalid input for field/attribute type. Only 'ssh' key pairs are supported.");
  }
  return { name, publicKey: string(k, 'public_key', { min: 1, max: 16 * 1024 }) };
}
