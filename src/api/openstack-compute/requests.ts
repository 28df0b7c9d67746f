// The Compute API's request bodies, checked: what a server create, a server action and a key
// pair create may carry. Anything else is a 400 badRequest naming what is wrong; fields this
// cloud cannot honour are refused, not ignored.
import { isIPv4, isIPv6 } from 'node:net';
import { invalid } from '../../errors.js';
import { SERVER_NAME, textProblem } from '../../text-rules.js';
import { atLeast, MIN_VERSION, type Microversion } from './microversion.js';

export interface CreateServer {
  name: string;
  /** "auto" and "none" (and no list) keep the server on the flat network alone. */
  networks: 'auto' | 'none' | ServerNetwork[];
  imageRef: string;
  flavorRef: string;
  minCount: number;
  maxCount: number;
  keyName: string | undefined;
  securityGroups: string[];
  userData: string | undefined;
  availabilityZone: string | undefined;
  /** The password given (`adminPass`), if any; the API makes one up otherwise. */
  adminPass: string | undefined;
  accessIpv4: string | undefined;
  accessIpv6: string | undefined;
  metadata: Record<string, string>;
  /** Answer `{"reservation_id": ...}` instead of the server. */
  returnReservationId: boolean;
  /** The server group the servers join (the `group` scheduler hint), a UUID. */
  group: string | undefined;
  /** 2.19: a description (null: none). */
  description: string | null | undefined;
  /** 2.52: tags. */
  tags: string[];
  /** 2.90: the hostname the guest is given. */
  hostname: string | undefined;
  /** 2.74: the host (and hypervisor) asked for, admins only. */
  host: string | undefined;
  hypervisorHostname: string | undefined;
  /** Data volumes to make for each server (block_device_mapping_v2). */
  blockDevices: ServerBlockDevice[];
}

/**
 * A block_device_mapping_v2 entry that makes a volume: a data volume (blank or from a
 * snapshot), or the root volume the server boots from (`boot`: from an image, a snapshot or
 * an existing volume).
 */
export interface ServerBlockDevice {
  source: 'blank' | 'snapshot' | 'image' | 'volume';
  /** The snapshot's, image's or volume's id, for those sources. */
  uuid: string | undefined;
  /** Kept for callers of data volumes: the snapshot's id, for source `snapshot`. */
  snapshotId: string | undefined;
  sizeGb: number | undefined;
  /** The device name asked for (vdb, /dev/vdc), if any. */
  deviceName: string | undefined;
  volumeType: string | undefined;
  deleteOnTermination: boolean;
  /** boot_index 0: the server boots from this volume. */
  boot: boolean;
}

const BDM_KEYS = [
  'source_type',
  'destination_type',
  'boot_index',
  'uuid',
  'volume_size',
  'delete_on_termination',
  'device_name',
  'volume_type',
  'disk_bus',
  'device_type',
  'guest_format',
  'tag',
  'no_device',
];

/**
 * block_device_mapping_v2 as this cloud takes it: the image's own root (source `image`,
 * destination `local`, boot_index 0); a root volume (boot_index 0, destination `volume`) from
 * an image (its uuid, with a volume_size), a snapshot or an existing volume; data volumes made
 * at create (source `blank` with a volume_size, or `snapshot` with its uuid). Refused:
 * existing volumes and images as data volumes (attach them once the server runs), ephemeral
 * and swap disks, and more than one boot device.
 */
function blockDevices(s: Obj): ServerBlockDevice[] {
  const v = s.block_device_mapping_v2;
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    throw bad('Invalid input for field/attribute block_device_mapping_v2. It must be a list.');
  }
  const out: ServerBlockDevice[] = [];
  for (const item of v) {
    const m = object(item, 'block_device_mapping_v2');
    onlyKeys(m, BDM_KEYS, 'block_device_mapping_v2');
    const source = string(m, 'source_type') ?? 'volume';
    const destination = string(m, 'destination_type') ?? (source === 'image' ? 'local' : 'volume');
    const bootRaw = m.boot_index;
    const bootIndex =
      bootRaw === undefined || bootRaw === null ? undefined : Number.parseInt(String(bootRaw), 10);
    if (bootRaw !== undefined && bootRaw !== null && Number.isNaN(bootIndex)) {
      throw bad(`Invalid input for field/attribute boot_index. Value: ${JSON.stringify(bootRaw)}.`);
    }
    if (source === 'image' && destination === 'local' && bootIndex === 0) continue;
    if (destination !== 'volume') {
      throw bad(
        `Block devices with destination_type '${destination}' (ephemeral and swap disks) are not supported by this cloud.`,
      );
    }
    if (source !== 'blank' && source !== 'snapshot' && source !== 'image' && source !== 'volume') {
      throw bad(`Invalid input for field/attribute source_type. Value: ${JSON.stringify(source)}.`);
    }
    const boot = bootIndex === 0;
    if (boot && source === 'blank') {
      throw bad('Blank volumes cannot be the boot device (boot_index 0) of a server.');
    }
    if (!boot && (source === 'volume' || source === 'image')) {
      throw bad(
        `Block devices with source_type '${source}' are supported at server create only as the boot device (boot_index 0); create the volume, then attach it to the running server.`,
      );
    }
    const sizeRaw = m.volume_size;
    let sizeGb: number | undefined;
    if (sizeRaw !== undefined && sizeRaw !== null) {
      sizeGb = Number(sizeRaw);
      if (!Number.isInteger(sizeGb) || sizeGb < 1) {
        throw bad(
          `Invalid input for field/attribute volume_size. Value: ${JSON.stringify(sizeRaw)}. It must be a positive integer.`,
        );
      }
    }
    const uuid = string(m, 'uuid', { min: 1 });
    if (source === 'blank' && sizeGb === undefined) {
      throw bad('A blank volume block device needs a volume_size.');
    }
    if (source !== 'blank' && uuid === undefined) {
      throw bad(`A block device from a ${source} needs its uuid.`);
    }
    if (source === 'image' && sizeGb === undefined) {
      throw bad('Images with destination_type volume need to have a non-zero size specified.');
    }
    if (boot && out.some((d) => d.boot)) {
      throw bad(
        'Boot sequence for the server is invalid: more than one block device has boot_index 0.',
      );
    }
    out.push({
      source,
      uuid,
      snapshotId: source === 'snapshot' ? uuid : undefined,
      sizeGb,
      deviceName: string(m, 'device_name', { min: 1 }),
      volumeType: string(m, 'volume_type', { min: 1 }),
      deleteOnTermination: flag(m, 'delete_on_termination') ?? false,
      boot,
    });
  }
  return out;
}

/** A server update: its name, the addresses recorded for reaching it, its description and hostname. */
export interface UpdateServer {
  name: string | undefined;
  accessIpv4: string | undefined;
  accessIpv6: string | undefined;
  /** 2.19; null clears it. */
  description: string | null | undefined;
  /** 2.90. */
  hostname: string | undefined;
}

export type ServerAction =
  | { kind: 'os-stop' }
  | { kind: 'os-start' }
  | { kind: 'reboot'; hard: boolean }
  | { kind: 'os-getConsoleOutput'; length: number | undefined };

export interface CreateKeypair {
  name: string;
  publicKey: string | undefined;
  /** The user an admin makes the key pair for (2.10). */
  userId?: string;
}

/** A JSON object of a request body. */
export type Obj = Record<string, unknown>;

/** A refusal of a request body or query: 400 `badRequest` with `message`. */
export const bad = (message: string) => invalid(message, { resource: 'request' });

/** `v` as an object, or a refusal naming `what`. */
export function object(v: unknown, what: string): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw bad(`Invalid input for field/attribute ${what}. It must be an object.`);
  }
  return v as Obj;
}

/** Refuses any key of `o` not in `allowed`, as the API's schemas refuse additional properties. */
export function onlyKeys(o: Obj, allowed: readonly string[], what: string): void {
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

/** The fields of a server create the Compute API takes at every microversion. */
const SERVER_KEYS = [
  'name',
  'imageRef',
  'flavorRef',
  'adminPass',
  'accessIPv4',
  'accessIPv6',
  'min_count',
  'max_count',
  'key_name',
  'security_groups',
  'user_data',
  'networks',
  'availability_zone',
  'metadata',
  'config_drive',
  'block_device_mapping',
  'block_device_mapping_v2',
  'OS-DCF:diskConfig',
  'return_reservation_id',
] as const;

/** The create fields that came (or went) with a microversion: [field, first, last]. */
const VERSIONED_SERVER_KEYS: readonly [string, number, number][] = [
  // File injection (personality) was taken away at 2.57.
  ['personality', 1, 56],
  ['description', 19, Infinity],
  ['tags', 52, Infinity],
  ['trusted_image_certificates', 63, Infinity],
  ['host', 74, Infinity],
  ['hypervisor_hostname', 74, Infinity],
  ['hostname', 90, Infinity],
];

function serverKeys(v: Microversion): string[] {
  return [
    ...SERVER_KEYS,
    ...VERSIONED_SERVER_KEYS.filter(([, from, to]) => atLeast(v, from) && !atLeast(v, to + 1)).map(
      ([k]) => k,
    ),
  ];
}

/** The most tags a server may have (the Compute API's limit). */
export const MAX_TAGS = 50;

/** A server tag: 1-60 characters, neither '/' nor ',' (the Compute API's schema). */
export function checkTag(tag: unknown, what = 'tag'): string {
  if (typeof tag !== 'string' || tag.length < 1 || tag.length > 60 || /[/,]/.test(tag)) {
    throw bad(
      `Invalid input for field/attribute ${what}. Value: ${JSON.stringify(tag)}. A tag is a string of 1 to 60 characters without '/' or ','.`,
    );
  }
  return tag;
}

/** A list of server tags, at most MAX_TAGS, each once. */
export function checkTags(v: unknown, what = 'tags'): string[] {
  if (!Array.isArray(v)) throw bad(`Invalid input for field/attribute ${what}. It must be a list.`);
  if (v.length > MAX_TAGS) {
    throw bad(`Invalid input for field/attribute ${what}. It must have at most ${MAX_TAGS} items.`);
  }
  const tags = v.map((t) => checkTag(t, what));
  if (new Set(tags).size !== tags.length) {
    throw bad(`Invalid input for field/attribute ${what}. Its items must be unique.`);
  }
  return tags;
}

/** A hostname as 2.90 takes it: 2-63 letters, digits and '-', not '-' at either end. */
function hostname(o: Obj): string | undefined {
  const v = o.hostname;
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9-]{0,61}[a-zA-Z0-9]$/.test(v)) {
    throw bad(
      `Invalid input for field/attribute hostname. Value: ${JSON.stringify(v)}. It must be 2 to 63 letters, digits and '-', not starting or ending with '-'.`,
    );
  }
  return v;
}

/** A description (2.19): at most 255 printable characters, or null. */
function description(o: Obj): string | null | undefined {
  if (o.description === null) return null;
  const d = string(o, 'description');
  // eslint-disable-next-line no-control-regex
  if (d !== undefined && /[\u0000-\u001f\u007f]/.test(d)) {
    throw bad('Invalid input for field/attribute description. It has control characters.');
  }
  return d;
}

/** The most characters of a server name (the Compute API's limit). */
const MAX_NAME = 255;

/** A metadata key: 1-255 of letters, digits and `-_:. ` (the Compute API's schema). */
const METADATA_KEY = /^[a-zA-Z0-9_:. -]{1,255}$/;

/** A boolean as the Compute API's schemas take it: true/false, or their usual spellings. */
function flag(o: Obj, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v === 'boolean') return v;
  const word = typeof v === 'string' ? v.trim().toLowerCase() : undefined;
  if (word !== undefined && ['true', 't', '1', 'on', 'y', 'yes'].includes(word)) return true;
  if (word !== undefined && ['false', 'f', '0', 'off', 'n', 'no'].includes(word)) return false;
  throw bad(
    `Invalid input for field/attribute ${key}. Value: ${JSON.stringify(v)}. It must be a boolean.`,
  );
}

/** An address of one family, as `accessIPv4`/`accessIPv6` take it. */
function address(o: Obj, key: 'accessIPv4' | 'accessIPv6'): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  const ok = typeof v === 'string' && (key === 'accessIPv4' ? isIPv4(v) : isIPv6(v));
  if (!ok) {
    throw bad(
      `Invalid input for field/attribute ${key}. Value: ${JSON.stringify(v)}. It is not an ${key === 'accessIPv4' ? 'IPv4' : 'IPv6'} address.`,
    );
  }
  return v;
}

/**
 * Server metadata as the Compute API's schema takes it: an object of keys of 1-255 letters,
 * digits and `-_:. ` with string values of at most 255 characters. `size` bounds how many
 * items (the item endpoint takes exactly one).
 */
export function parseMetadata(
  v: unknown,
  what: string,
  size: { min?: number; max?: number } = {},
): Record<string, string> {
  const o = object(v, what);
  const entries = Object.entries(o);
  if (size.min !== undefined && entries.length < size.min) {
    throw bad(`Invalid input for field/attribute ${what}. It must have at least ${size.min} item.`);
  }
  if (size.max !== undefined && entries.length > size.max) {
    throw bad(`Invalid input for field/attribute ${what}. It must have at most ${size.max} item.`);
  }
  for (const [key, value] of entries) {
    if (!METADATA_KEY.test(key)) {
      throw bad(
        `Invalid input for field/attribute ${what}. The key ${JSON.stringify(key.slice(0, 300))} must be 1 to 255 characters of letters, digits, spaces and - _ : .`,
      );
    }
    if (typeof value !== 'string') {
      throw bad(
        `Invalid input for field/attribute ${what}. The value of '${key}' must be a string.`,
      );
    }
    if (value.length > 255) {
      throw bad(
        `Invalid input for field/attribute ${what}. The value of '${key}' is longer than 255 characters.`,
      );
    }
  }
  return o as Record<string, string>;
}

/** `{"metadata": {...}}`, the body of a server's metadata create (merge) and update (replace). */
export function parseMetadataBody(body: unknown): Record<string, string> {
  const top = object(body, 'the request body');
  onlyKeys(top, ['metadata'], 'the request body');
  if (top.metadata === undefined) throw bad("Invalid input: 'metadata' is a required property.");
  return parseMetadata(top.metadata, 'metadata');
}

/** `{"meta": {"<key>": "<value>"}}`, one item, whose key must be the one the URL names. */
export function parseMetadataItem(body: unknown, key: string): string {
  const top = object(body, 'the request body');
  onlyKeys(top, ['meta'], 'the request body');
  if (top.meta === undefined) throw bad("Invalid input: 'meta' is a required property.");
  const meta = parseMetadata(top.meta, 'meta', { min: 1, max: 1 });
  const value = meta[key];
  if (value === undefined) throw bad('Request body and URI mismatch');
  return value;
}

export function parseCreateServer(body: unknown, v: Microversion = MIN_VERSION): CreateServer {
  const top = object(body, 'the request body');
  onlyKeys(top, ['server', 'os:scheduler_hints', 'OS-SCH-HNT:scheduler_hints'], 'the request body');
  const group = schedulerHints(top['os:scheduler_hints'] ?? top['OS-SCH-HNT:scheduler_hints']);
  if (top.server === undefined) throw bad("Invalid input: 'server' is a required property.");
  const s = object(top.server, 'server');
  onlyKeys(s, serverKeys(v), 'server');
  const name = serverName(string(s, 'name', { required: true, min: 1 }) as string);
  const devices = blockDevices(s);
  // A server that boots from a volume needs no image (it may be given as '').
  const bootsFromVolume = devices.some((d) => d.boot);
  const imageRef = bootsFromVolume
    ? (string(s, 'imageRef') ?? '')
    : (string(s, 'imageRef', { required: true, min: 1 }) as string);
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
  // Servers created together are named name-1 ... name-N; each name stays within the limit.
  if (maxCount > 1 && name.length + 1 + String(maxCount).length > MAX_NAME) {
    throw bad(
      `Invalid input for field/attribute name. Servers created together are named '<name>-<n>', and that must be at most ${MAX_NAME} characters.`,
    );
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
  const networks = serverNetworks(s, v);
  // File injection went away in the Compute API at 2.57; through 2.56 clients (Apache Libcloud
  // always) send an empty list, which is nothing to do.
  if (s.personality !== undefined) {
    if (!Array.isArray(s.personality)) {
      throw bad('Invalid input for field/attribute personality. It must be a list.');
    }
    if (s.personality.length > 0) {
      throw bad(
        'File injection (personality) is not supported by this cloud; pass files to the server in user_data instead.',
      );
    }
  }
  for (const key of ['block_device_mapping']) {
    const v = s[key];
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) {
      throw bad(
        `Block device mappings (${key}) are not supported by this cloud: it has no volumes, and a server boots from its image.`,
      );
    }
  }
  const metadata = s.metadata === undefined ? {} : parseMetadata(s.metadata, 'metadata');
  if (s.config_drive !== undefined && s.config_drive !== '' && flag(s, 'config_drive')) {
    throw bad('Config drives are not supported by this cloud; guests read the metadata service.');
  }
  const disk = s['OS-DCF:diskConfig'];
  if (disk !== undefined && disk !== 'AUTO' && disk !== 'MANUAL') {
    throw bad(
      "Invalid input for field/attribute OS-DCF:diskConfig. It must be 'AUTO' or 'MANUAL'.",
    );
  }
  const adminPass = s.adminPass;
  if (adminPass !== undefined && typeof adminPass !== 'string') {
    throw bad('Invalid input for field/attribute adminPass. It must be a string.');
  }
  const certificates = s.trusted_image_certificates;
  if (certificates !== undefined && certificates !== null) {
    if (!Array.isArray(certificates)) {
      throw bad('Invalid input for field/attribute trusted_image_certificates. It must be a list.');
    }
    throw bad(
      'Image signature verification (trusted_image_certificates) is not supported by this cloud.',
    );
  }
  const host = string(s, 'host', { min: 1 });
  const hypervisorHostname = string(s, 'hypervisor_hostname', { min: 1 });
  const givenHostname = hostname(s);
  if (givenHostname !== undefined && maxCount > 1) {
    throw bad('A hostname cannot be given to servers created together (max_count > 1).');
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
    adminPass,
    accessIpv4: address(s, 'accessIPv4'),
    accessIpv6: address(s, 'accessIPv6'),
    metadata,
    returnReservationId: flag(s, 'return_reservation_id') ?? false,
    group,
    description: description(s),
    tags: s.tags === undefined ? [] : checkTags(s.tags),
    hostname: givenHostname,
    host,
    hypervisorHostname,
    blockDevices: devices,
    networks,
  };
}

/** One entry of `networks`: a network (with a fixed IP, if given) or a port. */
export interface ServerNetwork {
  uuid?: string | undefined;
  port?: string | undefined;
  fixedIp?: string | undefined;
}

/**
 * `networks` as the Compute API's schema takes it: from 2.37 required, "auto", "none" or a
 * list; before it a list (and, as this API always took them, "auto" and "none" too). Each
 * entry names a network (`uuid`, with an optional IPv4 `fixed_ip`) or a `port`; `tag` from 2.32.
 */
function serverNetworks(s: Obj, v: Microversion): 'auto' | 'none' | ServerNetwork[] {
  const networks = s.networks;
  if (atLeast(v, 37) && networks === undefined) {
    throw bad("Invalid input: 'networks' is a required property.");
  }
  if (networks === undefined) return 'auto';
  if (networks === 'auto' || networks === 'none') return networks;
  if (!Array.isArray(networks)) {
    throw bad('Invalid input for field/attribute networks. It must be a list, "auto" or "none".');
  }
  if (networks.length === 0) return 'auto';
  return networks.map((item) => {
    const o = object(item, 'networks item');
    onlyKeys(o, ['uuid', 'port', 'fixed_ip', ...(atLeast(v, 32) ? ['tag'] : [])], 'networks item');
    const uuid = string(o, 'uuid', { min: 1 });
    const port = o.port === null ? undefined : string(o, 'port', { min: 1 });
    const fixedIp = string(o, 'fixed_ip', { min: 1 });
    if (fixedIp !== undefined && !isIPv4(fixedIp)) {
      throw bad(
        `Invalid input for field/attribute fixed_ip. Value: ${JSON.stringify(fixedIp)}. It is not an IPv4 address.`,
      );
    }
    if (uuid !== undefined && port === undefined && !UUID.test(uuid)) {
      throw bad(`Bad networks format: network uuid is not in proper format (${uuid}).`);
    }
    if (port !== undefined && !UUID.test(port)) {
      throw bad(
        `Invalid input for field/attribute port. Value: ${JSON.stringify(port)}. It is not a valid UUID.`,
      );
    }
    if (uuid === undefined && port === undefined) {
      throw bad('Bad networks format: each item names a network (uuid) or a port.');
    }
    if (port !== undefined && fixedIp !== undefined) {
      throw bad('Bad networks format: a fixed_ip is given with a network (uuid), not a port.');
    }
    return { uuid: port === undefined ? uuid : undefined, port, fixedIp };
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The scheduler hints of a server create: `group` (a server group's UUID) is honoured; the
 * others the Compute API defines (same_host, different_host, query, ...) are refused by name,
 * since this scheduler does not know them, rather than ignored.
 */
function schedulerHints(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  const hints = object(v, 'os:scheduler_hints');
  const unknown = Object.keys(hints).filter((k) => k !== 'group');
  if (unknown.length > 0) {
    throw bad(
      `The scheduler hint${unknown.length === 1 ? '' : 's'} ${unknown.map((k) => `'${k}'`).join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not supported by this cloud; only 'group' is.`,
    );
  }
  const group = hints.group;
  if (group === undefined) return undefined;
  if (typeof group !== 'string' || !UUID.test(group)) {
    throw bad(
      `Invalid input for field/attribute group. Value: ${JSON.stringify(group)}. It is not a valid UUID.`,
    );
  }
  return group.toLowerCase();
}

/** A server update: what the microversion lets a caller change. */
export function parseUpdateServer(body: unknown, v: Microversion = MIN_VERSION): UpdateServer {
  const top = object(body, 'the request body');
  onlyKeys(top, ['server'], 'the request body');
  if (top.server === undefined) throw bad("Invalid input: 'server' is a required property.");
  const s = object(top.server, 'server');
  onlyKeys(
    s,
    [
      'name',
      'accessIPv4',
      'accessIPv6',
      'OS-DCF:diskConfig',
      ...(atLeast(v, 19) ? ['description'] : []),
      ...(atLeast(v, 90) ? ['hostname'] : []),
    ],
    'server',
  );
  const disk = s['OS-DCF:diskConfig'];
  if (disk !== undefined && disk !== 'AUTO' && disk !== 'MANUAL') {
    throw bad(
      "Invalid input for field/attribute OS-DCF:diskConfig. It must be 'AUTO' or 'MANUAL'.",
    );
  }
  const name = string(s, 'name', { min: 1 });
  return {
    name: name === undefined ? undefined : serverName(name),
    accessIpv4: address(s, 'accessIPv4'),
    accessIpv6: address(s, 'accessIPv6'),
    description: description(s),
    hostname: hostname(s),
  };
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

export function parseCreateKeypair(body: unknown, v: Microversion): CreateKeypair {
  const top = object(body, 'the request body');
  onlyKeys(top, ['keypair'], 'the request body');
  if (top.keypair === undefined) throw bad("Invalid input: 'keypair' is a required property.");
  const k = object(top.keypair, 'keypair');
  // 2.2 adds the type, 2.10 the user an admin makes it for.
  const allowed = ['name', 'public_key', ...(atLeast(v, 2) ? ['type'] : [])];
  onlyKeys(k, [...allowed, ...(atLeast(v, 10) ? ['user_id'] : [])], 'keypair');
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
  // From 2.92 the server no longer generates key pairs: the public key must be given.
  const publicKey = string(k, 'public_key', {
    required: atLeast(v, 92),
    min: 1,
    max: 16 * 1024,
  });
  const userId = string(k, 'user_id', { min: 1, max: 255 });
  return { name, publicKey, ...(userId === undefined ? {} : { userId }) };
}
